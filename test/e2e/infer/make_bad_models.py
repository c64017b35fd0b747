#!/usr/bin/env python3
"""Derives damaged export directories from two good ones.

usage: make_bad_models.py GOOD_DIR OTHER_DIR OUTDIR

GOOD_DIR and OTHER_DIR hold inference.kmodel + inference.kparams of two
different models (resnet20 and lenet5). Writes OUTDIR/<case>/ for:
  missing_model     only inference.kparams
  missing_params    only inference.kmodel
  empty_model       a 0-byte inference.kmodel
  truncated_model   the first half of inference.kmodel
  truncated_params  inference.kparams without its last 100 bytes
  bad_magic_model   inference.kmodel with the file identifier overwritten
  other_version     inference.kmodel with schema_version set to 99, as a
                    model from another Kiln version would have
  other_params      GOOD_DIR's model with OTHER_DIR's parameters
(standard library only)
"""
import os
import shutil
import struct
import sys

MODEL, PARAMS = "inference.kmodel", "inference.kparams"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def schema_version_offset(buf):
    """Byte offset of Artifact.schema_version (field 0 of the root table)."""
    root = struct.unpack_from("<I", buf, 0)[0]
    vtable = root - struct.unpack_from("<i", buf, root)[0]
    field = struct.unpack_from("<H", buf, vtable + 4)[0]
    if field == 0:
        sys.exit("make_bad_models.py: the model has no schema_version field to patch")
    return root + field


def main():
    good, other, out = sys.argv[1], sys.argv[2], sys.argv[3]
    model, params = read(os.path.join(good, MODEL)), read(os.path.join(good, PARAMS))
    other_params = read(os.path.join(other, PARAMS))
    if model[4:8] != b"KILN":
        sys.exit(f"make_bad_models.py: {good}/{MODEL} is not a Kiln model")

    def case(name, model_bytes, params_bytes):
        d = os.path.join(out, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for file, payload in ((MODEL, model_bytes), (PARAMS, params_bytes)):
            if payload is not None:
                with open(os.path.join(d, file), "wb") as f:
                    f.write(payload)

    offset = schema_version_offset(model)
    if not 1 <= struct.unpack_from("<I", model, offset)[0] < 99:
        sys.exit("make_bad_models.py: unexpected schema_version in the good model")
    other_version = bytearray(model)
    struct.pack_into("<I", other_version, offset, 99)

    case("missing_model", None, params)
    case("missing_params", model, None)
    case("empty_model", b"", params)
    case("truncated_model", model[: len(model) // 2], params)
    case("truncated_params", model, params[:-100])
    case("bad_magic_model", model[:4] + b"NOPE" + model[8:], params)
    case("other_version", bytes(other_version), params)
    case("other_params", model, other_params)


if __name__ == "__main__":
    main()
