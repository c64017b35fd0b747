#!/usr/bin/env python3
"""Derives the e2e test inputs from a real artifact.

usage: make_files.py ARTIFACT OUTDIR

Writes into OUTDIR:
  truncated.kiln   the first 1000 bytes of ARTIFACT
  bad_magic.kiln   ARTIFACT with its flatbuffers file identifier ("KILN", bytes
                   4..7) overwritten
  random.kiln      4096 seeded random bytes
  empty.kiln       0 bytes
  good.npy         7 images, float32 [7, 1, 28, 28] (the models' input)
  wrong_shape.npy  float32 [7, 1, 27, 28]
  wrong_dtype.npy  float64 [7, 1, 28, 28]
(.npy files are written by npyio.py: numpy is not needed.)
"""
import os
import random
import sys

import npyio


def main():
    artifact, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    with open(artifact, "rb") as f:
        data = f.read()
    if len(data) <= 1000 or data[4:8] != b"KILN":
        sys.exit(f"make_files.py: {artifact} is not a kiln artifact ({len(data)} bytes)")

    def write(name, payload):
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(payload)

    write("truncated.kiln", data[:1000])
    write("bad_magic.kiln", data[:4] + b"NOPE" + data[8:])
    write("random.kiln", random.Random(1234).randbytes(4096))
    write("empty.kiln", b"")

    rng = random.Random(7)

    def images(*shape):
        n = 1
        for d in shape:
            n *= d
        return [rng.random() for _ in range(n)]

    npyio.save(os.path.join(outdir, "good.npy"), (7, 1, 28, 28), images(7, 1, 28, 28))
    npyio.save(os.path.join(outdir, "wrong_shape.npy"), (7, 1, 27, 28), images(7, 1, 27, 28))
    npyio.save(os.path.join(outdir, "wrong_dtype.npy"), (7, 1, 28, 28), images(7, 1, 28, 28),
               descr="<f8")


if __name__ == "__main__":
    main()
