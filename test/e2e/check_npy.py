#!/usr/bin/env python3
"""usage: check_npy.py FILE DIM...

Checks that FILE is a float32 .npy of shape (DIM...) with finite values."""
import math
import sys

import npyio

path, shape = sys.argv[1], tuple(int(d) for d in sys.argv[2:])
descr, got_shape, values = npyio.load(path)
problems = []
if descr != "<f4":
    problems.append(f"dtype {descr}, expected <f4")
if got_shape != shape:
    problems.append(f"shape {got_shape}, expected {shape}")
if len(values) != math.prod(got_shape):
    problems.append(f"{len(values)} values for shape {got_shape}")
if not all(math.isfinite(v) for v in values):
    problems.append("non-finite values")
if problems:
    sys.exit(f"{path}: " + "; ".join(problems))
print(f"{path}: {descr} {got_shape}, values in [{min(values):.4g}, {max(values):.4g}]")
