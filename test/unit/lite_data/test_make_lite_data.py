#!/usr/bin/env python3
"""Tests scripts/make_lite_data.py on small synthetic IDX files (no dataset needed).

usage: test_make_lite_data.py REPO_ROOT

Determinism, --check (agreeing and each kind of difference), the demo images,
and the errors: missing source directory (exit 77), missing file, corrupt gzip,
truncated IDX, bad magic number, bad label, too few images of a class. Also
runs check_lite_data_tar.py on a good and on broken tars, so the layout checker
is known to catch what it claims to. Everything is written under a temporary
directory; nothing in the repository is touched.
"""
import gzip
import io
import os
import random
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import unittest

REPO = None
HERE = os.path.dirname(os.path.abspath(__file__))


def idx_images(count, seed):
    return struct.pack(">IIII", 2051, count, 28, 28) + random.Random(seed).randbytes(count * 784)


def idx_labels(labels):
    return struct.pack(">II", 2049, len(labels)) + bytes(labels)


def write_source(d, train_per_class=25, test_per_class=20, gz=True):
    os.makedirs(d, exist_ok=True)
    rng = random.Random(7)
    for prefix, per, seed in (("train", train_per_class, 1), ("t10k", test_per_class, 2)):
        labels = [c for c in range(10) for _ in range(per)]
        rng.shuffle(labels)
        for stem, data in ((f"{prefix}-images-idx3-ubyte", idx_images(len(labels), seed)),
                           (f"{prefix}-labels-idx1-ubyte", idx_labels(labels))):
            if gz:
                with open(os.path.join(d, stem + ".gz"), "wb") as f:
                    f.write(gzip.compress(data, mtime=0))
            else:
                with open(os.path.join(d, stem), "wb") as f:
                    f.write(data)


class MakeLiteDataTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lite_data_test_")
        self.src = os.path.join(self.tmp, "src")
        write_source(self.src)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def run_script(self, *args):
        p = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "make_lite_data.py"),
                            *args], capture_output=True, text=True, cwd=self.tmp)
        return p.returncode, p.stdout + p.stderr

    def make(self, out="a.tar", *extra, src=None):
        path = os.path.join(self.tmp, out)
        rc, text = self.run_script("--source", src or self.src, "--output", path,
                                   "--per-class-train", "12", "--per-class-val", "10", *extra)
        self.assertEqual(rc, 0, text)
        return path

    def check(self, out, *extra):
        return self.run_script("--source", self.src, "--output", out, "--per-class-train", "12",
                               "--per-class-val", "10", "--check", *extra)

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def test_deterministic_and_check_agrees(self):
        a, b = self.make("a.tar"), self.make("b.tar")
        self.assertEqual(self.read(a), self.read(b))
        rc, text = self.check(a)
        self.assertEqual(rc, 0, text)
        self.assertIn("up to date", text)

    def test_uncompressed_idx_gives_the_same_tar(self):
        raw = os.path.join(self.tmp, "raw")
        write_source(raw, gz=False)
        self.assertEqual(self.read(self.make("a.tar")), self.read(self.make("b.tar", src=raw)))

    def test_layout(self):
        path = self.make("a.tar")
        with tarfile.open(path) as tar:
            names = tar.getnames()
            self.assertEqual(names, sorted(names))
            self.assertEqual(names[:3], ["lite_data", "lite_data/label_list.txt", "lite_data/train"])
            self.assertEqual(len([n for n in names if n.startswith("lite_data/train/")]), 120)
            self.assertEqual(len([n for n in names if n.startswith("lite_data/val/")]), 100)
            labels = tar.extractfile("lite_data/label_list.txt").read().decode()
            self.assertIn("0 T-shirt/top\n", labels)
            self.assertIn("9 Ankle boot\n", labels)
        rc, text = self.checker(path)
        self.assertEqual(rc, 0, text)

    def test_check_reports_a_changed_member(self):
        path = self.make("a.tar")
        with tarfile.open(path) as tar:
            members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar]
        victim = [m.name for m, _ in members if m.name.startswith("lite_data/val/")][3]
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for m, data in members:
                if m.name == victim:
                    data = data[:-13] + bytes(13)
                tar.addfile(m, io.BytesIO(data) if data is not None else None)
        with open(path, "wb") as f:
            f.write(buf.getvalue())
        rc, text = self.check(path)
        self.assertEqual(rc, 1, text)
        self.assertIn("--check FAILED", text)
        self.assertIn(f"{victim}: content differs", text)

    def test_check_reports_other_parameters(self):
        path = self.make("a.tar")
        rc, text = self.run_script("--source", self.src, "--output", path, "--per-class-train",
                                   "11", "--per-class-val", "10", "--check")
        self.assertEqual(rc, 1, text)
        self.assertIn("member(s)", text)

    def test_check_missing_or_not_a_tar(self):
        rc, text = self.check(os.path.join(self.tmp, "none.tar"))
        self.assertEqual(rc, 1, text)
        self.assertIn("does not exist", text)
        junk = os.path.join(self.tmp, "junk.tar")
        with open(junk, "wb") as f:
            f.write(b"not a tar at all" * 100)
        rc, text = self.check(junk)
        self.assertEqual(rc, 1, text)
        self.assertIn("not a readable tar file", text)

    def test_demo_images(self):
        demo = os.path.join(self.tmp, "demo")
        os.makedirs(demo)
        with open(os.path.join(demo, "demo_9_stale.png"), "wb") as f:
            f.write(b"old")
        path = self.make("a.tar", "--demo-dir", demo)
        files = sorted(os.listdir(demo))
        self.assertEqual(files, ["demo_0_t_shirt_top.png", "demo_1_trouser.png",
                                 "demo_2_pullover.png", "demo_3_dress.png", "demo_4_sandal.png",
                                 "demo_5_sneaker.png", "demo_6_bag.png", "demo_7_ankle_boot.png"])
        rc, text = self.check(path, "--demo-dir", demo)
        self.assertEqual(rc, 0, text)
        rc, text = self.checker(path, demo)
        self.assertEqual(rc, 0, text)
        with open(os.path.join(demo, "extra.png"), "wb") as f:
            f.write(b"x")
        os.remove(os.path.join(demo, "demo_3_dress.png"))
        rc, text = self.check(path, "--demo-dir", demo)
        self.assertEqual(rc, 1, text)
        self.assertIn("demo_3_dress.png: missing", text)
        self.assertIn("extra.png: unexpected PNG", text)

    def test_demo_overlapping_val_is_refused(self):
        # 20 test images per class: taking all 20 for val/ leaves none for the demo.
        rc, text = self.run_script("--source", self.src, "--output", os.path.join(self.tmp, "a.tar"),
                                   "--per-class-val", "20", "--per-class-train", "12")
        self.assertEqual(rc, 1, text)
        self.assertIn("also in lite_data's val/", text)

    def test_missing_source_dir_exits_77(self):
        rc, text = self.run_script("--source", os.path.join(self.tmp, "nowhere"),
                                   "--output", os.path.join(self.tmp, "a.tar"))
        self.assertEqual(rc, 77, text)
        self.assertIn("does not exist", text)
        self.assertIn("dataset-fashion-mnist", text)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "a.tar")))

    def expect_error(self, *fragments):
        out = os.path.join(self.tmp, "a.tar")
        rc, text = self.run_script("--source", self.src, "--output", out,
                                   "--per-class-train", "12", "--per-class-val", "10")
        self.assertEqual(rc, 1, text)
        self.assertIn("make_lite_data: error:", text)
        self.assertNotIn("Traceback", text)
        for frag in fragments:
            self.assertIn(frag, text)
        self.assertFalse(os.path.exists(out))

    def rewrite(self, stem, data, gz=True):
        with open(os.path.join(self.src, stem + (".gz" if gz else "")), "wb") as f:
            f.write(gzip.compress(data, mtime=0) if gz else data)

    def test_missing_file(self):
        os.remove(os.path.join(self.src, "t10k-labels-idx1-ubyte.gz"))
        self.expect_error("t10k-labels-idx1-ubyte.gz: not found")

    def test_corrupt_gzip(self):
        with open(os.path.join(self.src, "train-images-idx3-ubyte.gz"), "wb") as f:
            f.write(b"\x1f\x8b\x08\x00garbage" * 20)
        self.expect_error("train-images-idx3-ubyte.gz: cannot read", "corrupt or truncated")

    def test_truncated_gzip_stream(self):
        path = os.path.join(self.src, "train-images-idx3-ubyte.gz")
        data = self.read(path)
        with open(path, "wb") as f:
            f.write(data[:len(data) // 2])
        self.expect_error("train-images-idx3-ubyte.gz: cannot read")

    def test_truncated_idx(self):
        self.rewrite("t10k-images-idx3-ubyte", idx_images(200, 2)[:-100])
        self.expect_error("t10k-images-idx3-ubyte.gz: corrupt IDX file (truncated)")

    def test_trailing_data(self):
        self.rewrite("t10k-images-idx3-ubyte", idx_images(200, 2) + b"\x00")
        self.expect_error("corrupt IDX file (trailing data)")

    def test_short_header(self):
        self.rewrite("train-labels-idx1-ubyte", b"\x00\x00\x08")
        self.expect_error("train-labels-idx1-ubyte.gz: corrupt IDX file: 3 bytes")

    def test_bad_magic(self):
        data = bytearray(idx_images(250, 1))
        data[3] = 1
        self.rewrite("train-images-idx3-ubyte", bytes(data))
        self.expect_error("magic number 2049, expected 2051")

    def test_label_out_of_range_and_count_mismatch(self):
        self.rewrite("train-labels-idx1-ubyte", idx_labels([c % 10 for c in range(249)] + [10]))
        self.expect_error("label 10 of image 249 is outside 0..9")
        self.rewrite("train-labels-idx1-ubyte", idx_labels([c % 10 for c in range(240)]))
        self.expect_error("240 labels but", "has 250 images")

    def test_too_few_images_of_a_class(self):
        self.rewrite("train-labels-idx1-ubyte", idx_labels([c % 9 for c in range(250)]))
        self.expect_error("class 9 (Ankle boot) has only 0 images, 12 requested")

    def test_bad_arguments(self):
        rc, text = self.run_script("--per-class-train", "0")
        self.assertEqual(rc, 2, text)

    # ---- the layout checker catches what it claims to

    def checker(self, *args):
        p = subprocess.run([sys.executable, os.path.join(HERE, "check_lite_data_tar.py"), *args],
                           capture_output=True, text=True)
        return p.returncode, p.stdout + p.stderr

    def retar(self, path, edit):
        """Rewrites the tar at path with edit(list of (TarInfo, data)) applied."""
        with tarfile.open(path) as tar:
            members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar]
        members = edit(members)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for m, data in members:
                if data is not None:
                    m.size = len(data)
                tar.addfile(m, io.BytesIO(data) if data is not None else None)
        with open(path, "wb") as f:
            f.write(buf.getvalue())

    def test_checker_catches_an_unlisted_image(self):
        path = self.make("a.tar")

        def edit(ms):
            out = []
            for m, d in ms:
                if m.name == "lite_data/val_list.txt":
                    d = b"".join(line + b"\n" for line in d.splitlines()[1:])
                out.append((m, d))
            return out
        self.retar(path, edit)
        rc, text = self.checker(path)
        self.assertEqual(rc, 1, text)
        self.assertIn("is in the tar but not listed", text)
        self.assertIn("per-class counts", text)

    def test_checker_catches_a_bad_label_and_a_missing_path(self):
        path = self.make("a.tar")

        def edit(ms):
            out = []
            for m, d in ms:
                if m.name == "lite_data/train_list.txt":
                    d += b"train/0_99999.png 0\ntrain/0_00001.png 12\n"
                out.append((m, d))
            return out
        self.retar(path, edit)
        rc, text = self.checker(path)
        self.assertEqual(rc, 1, text)
        self.assertIn("train/0_99999.png is not in the tar", text)
        self.assertIn("label 12 outside 0..9", text)

    def test_checker_catches_an_extra_member_and_bad_headers(self):
        path = self.make("a.tar")

        def edit(ms):
            info = tarfile.TarInfo("lite_data/README")
            info.mtime, info.mode = 0, 0o644
            ms = ms + [(info, b"hi\n")]
            ms[0][0].mtime = 12345
            return sorted(ms, key=lambda md: md[0].name)
        self.retar(path, edit)
        rc, text = self.checker(path)
        self.assertEqual(rc, 1, text)
        self.assertIn("unexpected member lite_data/README", text)
        self.assertIn("mtime=12345", text)

    def test_checker_catches_a_corrupt_png(self):
        path = self.make("a.tar")

        def edit(ms):
            out = []
            for m, d in ms:
                if m.name.startswith("lite_data/train/") and m.isfile() and "corrupt" not in vars(self):
                    self.corrupt = m.name
                    d = d[:40] + bytes([d[40] ^ 0xFF]) + d[41:]
                out.append((m, d))
            return out
        self.retar(path, edit)
        rc, text = self.checker(path)
        self.assertEqual(rc, 1, text)
        self.assertIn(f"{self.corrupt}: bad CRC", text)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_make_lite_data.py REPO_ROOT [unittest args]")
    REPO = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
