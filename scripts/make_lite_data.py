#!/usr/bin/env python3
"""Builds lite_data.tar (and the demo images) from Debian's Fashion-MNIST, byte for byte.

usage:
  python3 scripts/make_lite_data.py [--source DIR] [--output TAR]
                                    [--per-class-train N] [--per-class-val N]
                                    [--demo-dir DIR] [--check]

The source is the Debian package dataset-fashion-mnist
(/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz;
the same names without .gz are accepted too).

lite_data.tar unpacks to

  lite_data/label_list.txt   "<id> <name>" a line, ids 0..9 (names may hold
                             spaces and slashes: "0 T-shirt/top", "9 Ankle boot")
  lite_data/train/<label>_<index>.png   the first --per-class-train images of
                             each class, in file order, of the training file
  lite_data/val/<label>_<index>.png     the first --per-class-val images of each
                             class, in file order, of the t10k (test) file
  lite_data/train_list.txt   "<relative path> <label>" a line, sorted by path
  lite_data/val_list.txt     the same for val/

(<index> is the image's index in its IDX file, zero-padded to 5 digits). The
images are 28x28 8-bit grayscale PNGs holding the IDX bytes unchanged (0 =
black background), written by the encoder below: IHDR, one IDAT compressed by
zlib at level 9 with filter type 0 on every row, IEND; no time, text or other
chunks. The tar is USTAR, members in sorted order, mtime 0, uid/gid 0, empty
user/group names, mode 0755 for directories and 0644 for files, so two runs
give identical bytes.

--demo-dir DIR also writes DIR/demo_<k>_<class>.png: for each class of
DEMO_CLASSES the LAST image of that class in the t10k file (far from the first
images lite_data's val/ takes; checked), k = 0, 1, ... in that order. Other
demo_*.png files in DIR are removed.

--check builds everything in memory and compares it with the existing TAR (and
the demo images, with --demo-dir) instead of writing; it names every
difference and exits 1 if there is one.

Exit status: 0 done / identical; 1 error or difference; 2 bad arguments;
77 the source directory does not exist (dataset-fashion-mnist not installed:
tests use this as their skip code).
"""
import argparse
import gzip
import io
import os
import re
import struct
import sys
import tarfile
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SOURCE = "/usr/share/datasets/fashion-mnist"
DEFAULT_OUTPUT = os.path.join(REPO, "lite_data.tar")
TOP = "lite_data"

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# Eight classes for the demo images (Coat and Shirt left out: eight is enough
# and these two look most alike to Pullover / T-shirt in a small picture).
DEMO_CLASSES = [0, 1, 2, 3, 5, 7, 8, 9]

MIN_PER_CLASS, MAX_PER_CLASS = 1, 1000
MAX_TAR_BYTES = 1 << 20

EXIT_ERROR = 1
EXIT_NO_SOURCE = 77

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049


class Failure(Exception):
    """An error with the message to print; `code` is the exit status."""

    def __init__(self, message, code=EXIT_ERROR):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------- IDX files

def find_idx(source, stem):
    """source/stem.gz, else source/stem; Failure naming both if neither exists."""
    for name in (stem + ".gz", stem):
        path = os.path.join(source, name)
        if os.path.isfile(path):
            return path
    raise Failure(f"{os.path.join(source, stem + '.gz')}: not found (nor {stem} without .gz); "
                  f"the source directory must hold the four Fashion-MNIST IDX files "
                  f"(Debian package dataset-fashion-mnist)")


def read_bytes(path):
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as e:
        # gzip.BadGzipFile is an OSError; a truncated stream raises EOFError.
        raise Failure(f"{path}: cannot read: {e.__class__.__name__}: {e} "
                      f"(corrupt or truncated file?)") from None


def read_idx(path, magic, ndims):
    """Returns (dims, payload) of an IDX file of unsigned bytes, validated."""
    data = read_bytes(path)
    header = 4 + 4 * ndims
    if len(data) < header:
        raise Failure(f"{path}: corrupt IDX file: {len(data)} bytes, shorter than its "
                      f"{header}-byte header")
    got = struct.unpack(">I", data[:4])[0]
    if got != magic:
        raise Failure(f"{path}: corrupt IDX file: magic number {got}, expected {magic}")
    dims = struct.unpack(">" + "I" * ndims, data[4:header])
    want = 1
    for d in dims:
        want *= d
    have = len(data) - header
    if have != want:
        what = "truncated" if have < want else "trailing data"
        raise Failure(f"{path}: corrupt IDX file ({what}): header dims "
                      f"{'x'.join(map(str, dims))} need {want} data bytes, file has {have}")
    return dims, data[header:]


def load_split(source, prefix):
    """(images: list of 784-byte rows, labels: list of int) of train or t10k."""
    images_path = find_idx(source, f"{prefix}-images-idx3-ubyte")
    labels_path = find_idx(source, f"{prefix}-labels-idx1-ubyte")
    (count, rows, cols), pixels = read_idx(images_path, IMAGES_MAGIC, 3)
    if (rows, cols) != (28, 28):
        raise Failure(f"{images_path}: corrupt IDX file: images are {rows}x{cols}, expected 28x28")
    (nlabels,), labels = read_idx(labels_path, LABELS_MAGIC, 1)
    if nlabels != count:
        raise Failure(f"{labels_path}: {nlabels} labels but {images_path} has {count} images")
    for i, label in enumerate(labels):
        if label >= len(CLASS_NAMES):
            raise Failure(f"{labels_path}: label {label} of image {i} is outside 0..{len(CLASS_NAMES) - 1}")
    size = rows * cols
    images = [pixels[i * size:(i + 1) * size] for i in range(count)]
    return images, list(labels), images_path


# ---------------------------------------------------------------- PNG

def png_chunk(kind, payload):
    return (struct.pack(">I", len(payload)) + kind + payload +
            struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def encode_png_gray8(pixels, width, height):
    """A deterministic 8-bit grayscale PNG: IHDR, one IDAT (zlib level 9, filter 0), IEND."""
    assert len(pixels) == width * height
    raw = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


# ---------------------------------------------------------------- building

def pick_first_per_class(labels, per_class, what):
    """Indices of the first per_class images of each class, in file order."""
    taken = {c: [] for c in range(len(CLASS_NAMES))}
    for i, label in enumerate(labels):
        if len(taken[label]) < per_class:
            taken[label].append(i)
    for c, idx in taken.items():
        if len(idx) < per_class:
            raise Failure(f"{what}: class {c} ({CLASS_NAMES[c]}) has only {len(idx)} images, "
                          f"{per_class} requested")
    return taken


def split_files(split, images, labels, per_class, what):
    """{relative path: bytes} of the split's PNGs and its list file text."""
    files, lines = {}, []
    for c, indices in pick_first_per_class(labels, per_class, what).items():
        for i in indices:
            rel = f"{split}/{c}_{i:05d}.png"
            files[rel] = encode_png_gray8(images[i], 28, 28)
            lines.append(f"{rel} {c}")
    lines.sort()
    files[f"{split}_list.txt"] = ("\n".join(lines) + "\n").encode()
    return files


def label_list_text():
    return "".join(f"{c} {name}\n" for c, name in enumerate(CLASS_NAMES)).encode()


def build_tar(files):
    """USTAR bytes of TOP/ + files, reproducible (see the module docstring)."""
    entries = {TOP: None}
    for rel, data in files.items():
        parts = rel.split("/")
        for n in range(1, len(parts)):
            entries[TOP + "/" + "/".join(parts[:n])] = None
        entries[TOP + "/" + rel] = data
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(entries):
            data = entries[name]
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.type = tarfile.REGTYPE
                info.mode = 0o644
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def class_slug(name):
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def demo_files(test_images, test_labels, val_indices):
    """{file name: PNG bytes}: the last t10k image of each DEMO_CLASSES class."""
    files = {}
    for k, c in enumerate(DEMO_CLASSES):
        last = max((i for i, label in enumerate(test_labels) if label == c), default=None)
        if last is None:
            raise Failure(f"the t10k labels have no image of class {c} ({CLASS_NAMES[c]})")
        if last in val_indices:
            raise Failure(f"demo image t10k[{last}] (class {c}) is also in lite_data's val/; "
                          f"lower --per-class-val")
        files[f"demo_{k}_{class_slug(CLASS_NAMES[c])}.png"] = encode_png_gray8(test_images[last], 28, 28)
    return files


def build(source, per_class_train, per_class_val):
    """(tar bytes, {demo name: PNG bytes})."""
    if not os.path.isdir(source):
        what = "is not a directory" if os.path.exists(source) else "does not exist"
        raise Failure(f"source directory {source} {what}: install the Debian package "
                      f"dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass "
                      f"--source DIR holding the Fashion-MNIST IDX files", EXIT_NO_SOURCE)
    train_images, train_labels, train_path = load_split(source, "train")
    test_images, test_labels, test_path = load_split(source, "t10k")
    files = {"label_list.txt": label_list_text()}
    files.update(split_files("train", train_images, train_labels, per_class_train, train_path))
    files.update(split_files("val", test_images, test_labels, per_class_val, test_path))
    val_indices = {i for idx in pick_first_per_class(test_labels, per_class_val, test_path).values()
                   for i in idx}
    tar = build_tar(files)
    if len(tar) > MAX_TAR_BYTES:
        raise Failure(f"the tar would be {len(tar)} bytes, over the {MAX_TAR_BYTES}-byte limit; "
                      f"lower --per-class-train / --per-class-val")
    return tar, demo_files(test_images, test_labels, val_indices)


# ---------------------------------------------------------------- check

def tar_members(data, path):
    """{name: (header fields, content or None)} in archive order."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            out = {}
            for m in tar.getmembers():
                content = tar.extractfile(m).read() if m.isfile() else None
                out[m.name] = ((m.type, oct(m.mode), m.mtime, m.uid, m.gid, m.uname, m.gname),
                               content)
            return out
    except (tarfile.TarError, EOFError, OSError) as e:
        raise Failure(f"{path}: not a readable tar file: {e}") from None


def compare_tar(expected, path):
    """A list of differences between the tar bytes `expected` and the file at path."""
    if not os.path.isfile(path):
        return [f"{path} does not exist (run without --check to create it)"]
    with open(path, "rb") as f:
        actual = f.read()
    if actual == expected:
        return []
    exp, act = tar_members(expected, "(regenerated)"), tar_members(actual, path)
    diffs = []
    missing = [n for n in exp if n not in act]
    extra = [n for n in act if n not in exp]
    if missing:
        diffs.append(f"{len(missing)} member(s) missing from {path}: " + ", ".join(missing[:5]) +
                     (" ..." if len(missing) > 5 else ""))
    if extra:
        diffs.append(f"{len(extra)} unexpected member(s) in {path}: " + ", ".join(extra[:5]) +
                     (" ..." if len(extra) > 5 else ""))
    changed = [n for n in exp if n in act and exp[n][1] != act[n][1]]
    for n in changed[:10]:
        e, a = exp[n][1], act[n][1]
        diffs.append(f"{n}: content differs ({len(a) if a is not None else 'no'} bytes in {path}, "
                     f"{len(e) if e is not None else 'no'} regenerated)")
    if len(changed) > 10:
        diffs.append(f"... and {len(changed) - 10} more members with different content")
    headers = [n for n in exp if n in act and exp[n][0] != act[n][0]]
    for n in headers[:5]:
        diffs.append(f"{n}: header differs (type, mode, mtime, uid, gid, uname, gname): "
                     f"{act[n][0]} in {path}, {exp[n][0]} regenerated")
    if len(headers) > 5:
        diffs.append(f"... and {len(headers) - 5} more members with different headers")
    if not diffs and list(exp) != [n for n in act if n in exp]:
        diffs.append("member order differs")
    if not diffs:
        diffs.append(f"archive bytes differ ({len(actual)} bytes in {path}, {len(expected)} "
                     f"regenerated) though members, headers and contents agree")
    if changed and all(n.endswith(".png") for n in changed):
        diffs.append(f"(only PNG bytes differ: if the pixels agree, this zlib "
                     f"{zlib.ZLIB_RUNTIME_VERSION} compresses differently from the one that "
                     f"made {path})")
    return diffs


def compare_demo(expected, demo_dir):
    if not os.path.isdir(demo_dir):
        return [f"demo directory {demo_dir} does not exist (run with --demo-dir {demo_dir} "
                f"without --check to create it)"]
    diffs = []
    present = sorted(n for n in os.listdir(demo_dir) if n.lower().endswith(".png"))
    for name in sorted(expected):
        path = os.path.join(demo_dir, name)
        if not os.path.isfile(path):
            diffs.append(f"{path}: missing")
            continue
        with open(path, "rb") as f:
            if f.read() != expected[name]:
                diffs.append(f"{path}: content differs from the regenerated image")
    for name in present:
        if name not in expected:
            diffs.append(f"{os.path.join(demo_dir, name)}: unexpected PNG (not made by this script)")
    return diffs


# ---------------------------------------------------------------- main

def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_demo(files, demo_dir):
    os.makedirs(demo_dir, exist_ok=True)
    for name in os.listdir(demo_dir):
        if re.fullmatch(r"demo_.*\.png", name) and name not in files:
            os.remove(os.path.join(demo_dir, name))
    for name, data in sorted(files.items()):
        write_atomic(os.path.join(demo_dir, name), data)


def per_class(text):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not MIN_PER_CLASS <= n <= MAX_PER_CLASS:
        raise argparse.ArgumentTypeError(f"must be {MIN_PER_CLASS}..{MAX_PER_CLASS}, got {n}")
    return n


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Build lite_data.tar (a class-balanced Fashion-MNIST subset as PNGs) and the "
                    "demo images, byte for byte reproducibly.")
    p.add_argument("--source", default=DEFAULT_SOURCE,
                   help=f"directory with the Fashion-MNIST IDX files (default {DEFAULT_SOURCE})")
    p.add_argument("--output", default=DEFAULT_OUTPUT,
                   help="the tar to write, or to compare with --check (default: lite_data.tar at "
                        "the repository root)")
    p.add_argument("--per-class-train", type=per_class, default=16,
                   help="training images per class (default 16)")
    p.add_argument("--per-class-val", type=per_class, default=10,
                   help="validation images per class (default 10)")
    p.add_argument("--demo-dir", help="also write (or with --check, compare) the demo images here")
    p.add_argument("--check", action="store_true",
                   help="compare with the existing files instead of writing; exit 1 on a difference")
    args = p.parse_args(argv)
    prog = "make_lite_data"
    try:
        tar, demo = build(args.source, args.per_class_train, args.per_class_val)
        if args.check:
            diffs = compare_tar(tar, args.output)
            if args.demo_dir is not None:
                diffs += compare_demo(demo, args.demo_dir)
            if diffs:
                print(f"{prog}: --check FAILED: the committed files differ from what "
                      f"{args.source} regenerates:", file=sys.stderr)
                for d in diffs:
                    print(f"  {d}", file=sys.stderr)
                print(f"{prog}: regenerate with: python3 scripts/make_lite_data.py"
                      + "".join(f" {flag} {value}" for flag, value, default in (
                          ("--source", args.source, DEFAULT_SOURCE),
                          ("--output", args.output, DEFAULT_OUTPUT),
                          ("--per-class-train", args.per_class_train, 16),
                          ("--per-class-val", args.per_class_val, 10),
                          ("--demo-dir", args.demo_dir, None)) if value != default),
                      file=sys.stderr)
                return EXIT_ERROR
            print(f"{prog}: {args.output} is up to date ({len(tar)} bytes)"
                  + (f"; {len(demo)} demo images in {args.demo_dir} up to date" if args.demo_dir else ""))
            return 0
        write_atomic(args.output, tar)
        print(f"{prog}: wrote {args.output} ({len(tar)} bytes, {args.per_class_train} train + "
              f"{args.per_class_val} val images per class)")
        if args.demo_dir is not None:
            write_demo(demo, args.demo_dir)
            print(f"{prog}: wrote {len(demo)} demo images to {args.demo_dir}")
        return 0
    except Failure as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return e.code
    except OSError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
