"""Minimal .npy (format 1.0) reading and writing, so that the e2e tests do not
depend on numpy being installed for the Python that CMake finds."""
import ast
import struct
import sys
from array import array

MAGIC = b"\x93NUMPY"


def save(path, shape, values, descr="<f4"):
    """Writes `values` (a flat list of floats) with `shape` and dtype `descr`
    (<f4 or <f8), laid out like numpy.save does (header padded to 64 bytes)."""
    shape_text = repr(tuple(int(d) for d in shape))  # "(7, 1, 28, 28)", "(7,)"
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}"
    total = len(MAGIC) + 2 + 2 + len(header) + 1
    header += " " * (-total % 64) + "\n"
    data = array("f" if descr == "<f4" else "d", values)
    if sys.byteorder != "little":
        data.byteswap()
    with open(path, "wb") as f:
        f.write(MAGIC + bytes([1, 0]) + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(data.tobytes())


def load(path):
    """Returns (descr, shape, values) of a format 1.0 .npy file."""
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:6] != MAGIC or blob[6] != 1:
        raise ValueError(f"{path}: not a format 1.0 .npy file")
    (hlen,) = struct.unpack("<H", blob[8:10])
    header = ast.literal_eval(blob[10:10 + hlen].decode("latin1"))
    if header["fortran_order"]:
        raise ValueError(f"{path}: Fortran order")
    data = array("f" if header["descr"] == "<f4" else "d")
    data.frombytes(blob[10 + hlen:])
    if sys.byteorder != "little":
        data.byteswap()
    return header["descr"], tuple(header["shape"]), data.tolist()
