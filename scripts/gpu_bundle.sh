#!/usr/bin/env bash
# Prepares gpu_bundle/: everything the GPU check needs on a lent GPU machine
# that cannot build Kiln (its image has no LLVM/MLIR 19), so that the check
# there needs only the NVIDIA driver and python3 (+ PyTorch, optional):
#   bin/kiln-run                     runtime-only (no MLIR/LLVM), --device gpu, --check-gpu
#   lib/                             libkiln_runtime.so and the shared libraries it and the
#                                    CPU kernels load (fmt, OpenBLAS + gfortran/quadmath)
#   art/<model>.kiln                 lenet5 and resnet20 with --train --target=cpu,cuda:
#                                    train_step, eval_step, infer; CPU .so + sm_90 cubins
# Then (on the GPU machine): bash scripts/gpu_run_bundle.sh gpu_bundle
# KILN_GPU_BUILD: the build dir with kiln-compile/kiln-run (default build/).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${KILN_GPU_BUILD:-$ROOT/build}"
B="${1:-$ROOT/gpu_bundle}"
rm -rf "$B"; mkdir -p "$B/bin" "$B/lib" "$B/art"
cp "$BUILD/bin/kiln-run" "$B/bin/"
cp -L "$BUILD/lib/libkiln_runtime.so" "$B/lib/"
for l in libfmt.so.9 libopenblas.so.0 libgfortran.so.5 libquadmath.so.0; do
  p=$(ldconfig -p | awk -v n="$l" '$1==n {print $NF; exit}')
  [ -n "$p" ] || { echo "gpu_bundle: $l not found (scripts/install_deps.sh)" >&2; exit 1; }
  cp -L "$p" "$B/lib/$l"
done
for m in lenet5 resnet20; do
  "$BUILD/bin/kiln-compile" --model "$m" --train --target=cpu,cuda --cuda-arch sm_90 -o "$B/art/$m.kiln"
done
mkdir -p "$B/bench"
cp "$ROOT/bench/cuda/torch_cuda_bench.py" "$B/bench/"
cp "$ROOT/scripts/gpu_run_bundle.sh" "$B/run.sh"
du -sh "$B"
