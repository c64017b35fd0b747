#!/usr/bin/env python3
"""Checks the committed lite_data.tar (and images/demo) without extracting anything.

usage: check_lite_data_tar.py TAR [DEMO_DIR]

TAR must hold exactly
  lite_data/  lite_data/train/  lite_data/val/
  lite_data/label_list.txt  lite_data/train_list.txt  lite_data/val_list.txt
  lite_data/train/*.png  lite_data/val/*.png
as plain directories and files (no links, no absolute or '..' paths), with the
reproducible headers (mtime 0, uid/gid 0, no user/group names, 0755/0644),
under 1 MB. The list files parse the way kiln::data::ImageList reads them
("<relative path> <label>", the label being the last field; label_list.txt
"<id> <name>", ids 0..9): every listed path is a PNG in the tar, every PNG is
listed exactly once in its split's list, labels are 0..9, every class has the
same count (10..20) in each split, train and val share no image. Each PNG is a
valid 28x28 8-bit grayscale PNG (chunk CRCs, zlib stream, filter bytes).

With DEMO_DIR: 6..8 files demo_<k>_<class>.png, k = 0..n-1, each a different
class of label_list.txt, each a valid PNG, none of them equal to a val/ image.
Standard library only. Exits 1 naming every problem found.
"""
import io
import os
import re
import struct
import sys
import tarfile
import zlib

TOP = "lite_data"
NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
PER_CLASS_MIN, PER_CLASS_MAX = 10, 20
MAX_BYTES = 1 << 20

problems = []


def problem(msg):
    problems.append(msg)


def png_pixels(data, where):
    """Validates a PNG and returns (width, height, color type, bit depth, rows) or None."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        problem(f"{where}: no PNG signature")
        return None
    pos, chunks = 8, []
    while pos < len(data):
        if pos + 12 > len(data):
            problem(f"{where}: truncated chunk at byte {pos}")
            return None
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        crc = data[pos + 8 + n:pos + 12 + n]
        if len(body) != n or len(crc) != 4:
            problem(f"{where}: truncated {kind!r} chunk")
            return None
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + body) & 0xFFFFFFFF:
            problem(f"{where}: bad CRC in {kind!r} chunk")
            return None
        chunks.append((kind, body))
        pos += 12 + n
    kinds = [k for k, _ in chunks]
    if not kinds or kinds[0] != b"IHDR" or kinds[-1] != b"IEND" or b"IDAT" not in kinds:
        problem(f"{where}: chunks {kinds}, expected IHDR ... IDAT ... IEND")
        return None
    if set(kinds) - {b"IHDR", b"IDAT", b"IEND"}:
        problem(f"{where}: extra chunks {sorted(set(kinds) - {b'IHDR', b'IDAT', b'IEND'})} "
                f"(no time/text chunks allowed)")
    w, h, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    try:
        raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    except zlib.error as e:
        problem(f"{where}: bad zlib stream: {e}")
        return None
    if (depth, ctype, comp, filt, interlace) != (8, 0, 0, 0, 0):
        problem(f"{where}: not 8-bit grayscale non-interlaced (depth {depth}, color type {ctype})")
        return None
    if len(raw) != h * (w + 1):
        problem(f"{where}: {len(raw)} bytes of image data, expected {h * (w + 1)}")
        return None
    rows = [raw[y * (w + 1):(y + 1) * (w + 1)] for y in range(h)]
    if any(r[0] != 0 for r in rows):
        problem(f"{where}: a row uses a filter other than 0 (the generator writes filter 0)")
    return w, h, b"".join(r[1:] for r in rows)


def parse_label_list(text, where):
    ids = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or not parts[0].isdigit():
            problem(f"{where}:{n}: malformed line {line!r}")
            continue
        ids[int(parts[0])] = parts[1].strip()
    if sorted(ids) != list(range(len(NAMES))):
        problem(f"{where}: ids {sorted(ids)}, expected 0..{len(NAMES) - 1}")
    elif [ids[i] for i in range(len(NAMES))] != NAMES:
        problem(f"{where}: names {[ids[i] for i in sorted(ids)]}, expected {NAMES}")
    return ids


def check_tar(path):
    size = os.path.getsize(path)
    if size >= MAX_BYTES:
        problem(f"{path}: {size} bytes, not under 1 MB")
    with tarfile.open(path, "r:") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        if names != sorted(names):
            problem(f"{path}: members are not in sorted order")
        files = {}
        for m in members:
            if m.name.startswith("/") or ".." in m.name.split("/"):
                problem(f"{path}: unsafe member name {m.name!r}")
            if not (m.isdir() or m.isfile()):
                problem(f"{path}: {m.name} is neither a directory nor a regular file")
            want_mode = 0o755 if m.isdir() else 0o644
            if (m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) != (0, 0, 0, "", "", want_mode):
                problem(f"{path}: {m.name} has header mtime={m.mtime} uid={m.uid} gid={m.gid} "
                        f"uname={m.uname!r} gname={m.gname!r} mode={oct(m.mode)}, expected "
                        f"0/0/0/''/''/{oct(want_mode)}")
            if m.isfile():
                files[m.name] = tar.extractfile(m).read()
    dirs = {m.name for m in members if m.isdir()}
    if dirs != {TOP, f"{TOP}/train", f"{TOP}/val"}:
        problem(f"{path}: directories {sorted(dirs)}, expected {TOP}, {TOP}/train, {TOP}/val")
    lists = {f"{TOP}/{n}" for n in ("label_list.txt", "train_list.txt", "val_list.txt")}
    for n in sorted(lists - set(files)):
        problem(f"{path}: {n} missing")
    for n in sorted(files):
        if n not in lists and not re.fullmatch(rf"{TOP}/(train|val)/[^/]+\.png", n):
            problem(f"{path}: unexpected member {n}")
    if problems:
        return None

    parse_label_list(files[f"{TOP}/label_list.txt"].decode(), f"{path}:{TOP}/label_list.txt")
    pixels_of = {}
    for split in ("train", "val"):
        where = f"{path}:{TOP}/{split}_list.txt"
        text = files[f"{TOP}/{split}_list.txt"].decode()
        if not text.endswith("\n"):
            problem(f"{where}: no newline at the end")
        listed, counts, lines = set(), [0] * len(NAMES), []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                problem(f"{where}:{n}: blank line")
                continue
            rel, _, label = line.strip().rpartition(" ")
            lines.append(line)
            if not rel or not label.isdigit():
                problem(f"{where}:{n}: malformed line {line!r}")
                continue
            label = int(label)
            if not 0 <= label < len(NAMES):
                problem(f"{where}:{n}: label {label} outside 0..{len(NAMES) - 1}")
                continue
            if not rel.startswith(f"{split}/"):
                problem(f"{where}:{n}: {rel} is not under {split}/")
            member = f"{TOP}/{rel}"
            if member not in files:
                problem(f"{where}:{n}: {rel} is not in the tar")
                continue
            if member in listed:
                problem(f"{where}:{n}: {rel} listed twice")
            listed.add(member)
            counts[label] += 1
            m = re.fullmatch(rf"{split}/(\d+)_\d+\.png", rel)
            if not m or int(m.group(1)) != label:
                problem(f"{where}:{n}: file name {rel} does not start with its label {label}")
            info = png_pixels(files[member], f"{path}:{member}")
            if info is not None:
                w, h, px = info
                if (w, h) != (28, 28):
                    problem(f"{path}:{member}: {w}x{h}, expected 28x28")
                pixels_of.setdefault(split, {})[member] = px
        if lines != sorted(lines):
            problem(f"{where}: lines are not sorted")
        unlisted = sorted(n for n in files if n.startswith(f"{TOP}/{split}/") and n not in listed)
        for n in unlisted:
            problem(f"{where}: {n} is in the tar but not listed")
        if len(set(counts)) != 1 or not PER_CLASS_MIN <= counts[0] <= PER_CLASS_MAX:
            problem(f"{where}: per-class counts {counts}, expected one count in "
                    f"{PER_CLASS_MIN}..{PER_CLASS_MAX} for every class")
        else:
            print(f"{split}: {counts[0]} images per class, {sum(counts)} in all")
    train_px = set(pixels_of.get("train", {}).values())
    shared = [n for n, px in pixels_of.get("val", {}).items() if px in train_px]
    if shared:
        problem(f"{path}: val images identical to a train image: {shared[:5]}")
    print(f"{path}: {size} bytes, {len(files)} files")
    return set(pixels_of.get("val", {}).values())


def check_demo(demo_dir, val_pixels):
    pngs = sorted(n for n in os.listdir(demo_dir) if n.lower().endswith(".png"))
    if not 6 <= len(pngs) <= 8:
        problem(f"{demo_dir}: {len(pngs)} PNG files, expected 6..8")
    slugs = {re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_"): c for c, name in enumerate(NAMES)}
    seen_k, seen_class = [], set()
    for n in pngs:
        m = re.fullmatch(r"demo_(\d+)_([a-z0-9_]+)\.png", n)
        if not m or m.group(2) not in slugs:
            problem(f"{demo_dir}/{n}: name is not demo_<k>_<class>.png with a class of "
                    f"{sorted(slugs)}")
            continue
        seen_k.append(int(m.group(1)))
        c = slugs[m.group(2)]
        if c in seen_class:
            problem(f"{demo_dir}/{n}: class {NAMES[c]} appears twice")
        seen_class.add(c)
        with open(os.path.join(demo_dir, n), "rb") as f:
            info = png_pixels(f.read(), f"{demo_dir}/{n}")
        if info is not None:
            w, h, px = info
            if (w, h) != (28, 28):
                problem(f"{demo_dir}/{n}: {w}x{h}, expected 28x28")
            if val_pixels is not None and px in val_pixels:
                problem(f"{demo_dir}/{n}: identical to an image of lite_data's val/")
    if sorted(seen_k) != list(range(len(seen_k))):
        problem(f"{demo_dir}: demo numbers {sorted(seen_k)}, expected 0..{len(seen_k) - 1}")
    print(f"{demo_dir}: {len(pngs)} demo images, classes {sorted(seen_class)}")


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.split("\n\n")[1])
    tar_path = sys.argv[1]
    if not os.path.isfile(tar_path):
        print(f"check_lite_data_tar: {tar_path} not found", file=sys.stderr)
        return 1
    try:
        val_pixels = check_tar(tar_path)
    except (tarfile.TarError, OSError, UnicodeDecodeError) as e:
        problem(f"{tar_path}: cannot read: {e}")
        val_pixels = None
    if len(sys.argv) == 3:
        check_demo(sys.argv[2], val_pixels)
    if problems:
        print(f"check_lite_data_tar: FAILED, {len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print("check_lite_data_tar: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
