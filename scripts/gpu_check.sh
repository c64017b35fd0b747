#!/usr/bin/env bash
# The GPU check of the CUDA target (issue 7), in one command on a machine with
# an NVIDIA GPU, its driver and the CUDA toolkit at /usr/local/cuda:
#
#   bash scripts/gpu_check.sh
#
#  1. environment: GPU, driver, toolkit, the Debian packages Kiln needs
#  2. configure + build only what the check needs (build/, Release, Ninja, -j nproc)
#  3. the gpu-labelled tests (ctest -L gpu, verbose): every kernel of lenet5 and
#     resnet20 (infer, eval_step, train_step) against the CPU kernels, 50
#     training steps GPU vs CPU, inference parity, graph replays, parameter sync
#  4. end to end: train --device gpu (1 epoch of lenet5 on lite_data), eval --device gpu
#  5. benchmark: bench_cuda (resnet20, lenet5; train_step and infer; batch 128
#     and 1; images/s; PyTorch eager on the same GPU when importable)
#
# Everything is printed and also written to $OUT (when set) or build/gpu_check/:
# gpu_check.log, bench.json, ctest's JUnit XML. Every step has a time limit so the
# whole script ends in well under 8 minutes on a 16-core machine; the summary at
# the end lists each step's result. Exit status 0 only if every step passed.
# KILN_GPU_BUILD=<dir> builds elsewhere; KILN_GPU_JOBS=<n> sets the parallelism.
set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${KILN_GPU_BUILD:-$ROOT/build}"
JOBS="${KILN_GPU_JOBS:-$(nproc)}"
RESULTS="${OUT:-$BUILD/gpu_check}"
mkdir -p "$RESULTS"
LOG="$RESULTS/gpu_check.log"
: > "$LOG"
exec > >(tee -a "$LOG") 2>&1

START=$(date +%s)
SUMMARY=()
FAILED=0
elapsed() { echo $(( $(date +%s) - START )); }
step() { echo; echo "=== [$(elapsed) s] $*"; }
record() { # name status
  SUMMARY+=("$(printf '%-34s %s' "$1" "$2")")
  if [ "$2" != "ok" ] && [ "${2#skipped}" = "$2" ]; then FAILED=1; fi
}
finish() {
  echo
  echo "=== gpu_check summary ($(elapsed) s)"
  for line in "${SUMMARY[@]}"; do echo "  $line"; done
  echo "  log: $LOG"
  if [ "$FAILED" -eq 0 ]; then echo "gpu_check: PASSED"; else echo "gpu_check: FAILED"; fi
  exit "$FAILED"
}

# ---------------------------------------------------------------------------
step "1. environment"
echo "host: $(uname -srm), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=index,name,driver_version,memory.total,compute_cap --format=csv,noheader \
    || echo "nvidia-smi failed"
else
  echo "nvidia-smi: not found"
fi
if ldconfig -p 2>/dev/null | grep -q 'libcuda.so.1'; then
  echo "driver library: $(ldconfig -p | grep 'libcuda.so.1' | head -1 | sed 's/.*=> //')"
else
  echo "driver library: libcuda.so.1 NOT FOUND by ldconfig (the GPU tests will be skipped)"
fi
CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
if [ -x "$CUDA_HOME/bin/nvcc" ]; then
  echo "CUDA toolkit: $("$CUDA_HOME/bin/nvcc" --version | tail -2 | head -1) at $CUDA_HOME"
else
  echo "CUDA toolkit: NOT FOUND at $CUDA_HOME (NVRTC is needed to build the CUDA kernels)"
fi
missing=()
for tool in cmake ninja c++ flatc; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
for pkg in llvm-19-dev libmlir-19-dev mlir-19-tools libopenblas-dev libflatbuffers-dev \
           libfmt-dev libgtest-dev zlib1g-dev libcli11-dev nlohmann-json3-dev libpng-dev \
           libjpeg62-turbo-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "MISSING: ${missing[*]}"
  echo "install them with: bash scripts/install_deps.sh (Debian packages)"
  echo "or, where the toolchain cannot be installed: build a bundle on a machine that has it"
  echo "(bash scripts/gpu_bundle.sh) and run it here (bash scripts/gpu_run_bundle.sh gpu_bundle)"
  record "environment" "FAILED (missing: ${missing[*]})"
  finish
fi
echo "python3 (Debian): $(/usr/bin/python3 --version 2>&1);" \
     "torch: $(/usr/bin/python3 -c 'import torch; print(torch.__version__, "cuda" if torch.cuda.is_available() else "no-cuda")' 2>/dev/null || echo 'not importable')"
record "environment" "ok"

# ---------------------------------------------------------------------------
step "2. configure and build ($BUILD, $JOBS jobs)"
if [ ! -f "$BUILD/build.ninja" ]; then
  if ! timeout 180 cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
         -DCUDAToolkit_ROOT="$CUDA_HOME" > "$RESULTS/configure.log" 2>&1; then
    tail -40 "$RESULTS/configure.log"
    record "configure" "FAILED (see configure.log)"
    finish
  fi
fi
grep -E "CUDA toolkit" "$RESULTS/configure.log" 2>/dev/null || true
# The inference GPU tests (inference_gpu_tests, e2e_infer_gpu) and their
# fixtures: export_model, export_for_emulator, make_checkpoint, infer.
TARGETS=(cuda_gpu_tests bench_cuda train eval kiln-compile
         inference_gpu_tests infer export_model export_for_emulator make_checkpoint)
if ! timeout 420 cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}" > "$RESULTS/build.log" 2>&1; then
  grep -E "error|FAILED" "$RESULTS/build.log" | head -40
  tail -20 "$RESULTS/build.log"
  record "build" "FAILED (see build.log)"
  finish
fi
echo "built ${TARGETS[*]} in $(elapsed) s so far"
record "build" "ok"

# The NVRTC cache persists across runs of this script.
export KILN_CUDA_CACHE_DIR="${KILN_CUDA_CACHE_DIR:-$BUILD/kiln-cuda-cache}"
export KILN_CACHE_DIR="${KILN_CACHE_DIR:-$BUILD/kiln-cache}"

# ---------------------------------------------------------------------------
step "3. gpu-labelled tests (ctest -L gpu)"
ctest --test-dir "$BUILD" -N -L gpu | tail -1
if timeout 300 ctest --test-dir "$BUILD" -L gpu -V --no-tests=error --timeout 280 \
     --output-junit "$RESULTS/ctest-gpu.xml" > "$RESULTS/ctest-gpu.log" 2>&1; then
  tests_ok=1
else
  tests_ok=0
fi
# The interesting lines: per-kernel error summaries, loss curves, failures.
grep -E "GPU:|GPU session|batch [0-9]+:|^[0-9]+: +[0-9.e+-]+ +|step +[0-9]+:|steps at batch|Failure|Expected|actual|kernel |\[  (FAILED|SKIPPED|  OK) |tests passed|tests failed|Skipped|^[0-9]+/[0-9]+ Test" \
  "$RESULTS/ctest-gpu.log" | sed 's/^[0-9]*: //' | head -250
if [ "$tests_ok" -eq 1 ]; then
  if grep -q "SKIPPED" "$RESULTS/ctest-gpu.log"; then
    record "gpu tests" "skipped (no usable GPU; see ctest-gpu.log)"
  else
    record "gpu tests" "ok"
  fi
else
  record "gpu tests" "FAILED (see ctest-gpu.log)"
fi

# ---------------------------------------------------------------------------
step "4. end to end: train and eval with --device gpu (lenet5, lite_data, 1 epoch)"
E2E="$BUILD/gpu_check_e2e"
rm -rf "$E2E" && mkdir -p "$E2E"
tar -xf "$ROOT/lite_data.tar" -C "$E2E"
if timeout 150 "$BUILD/bin/train" --model lenet5 --device gpu --epochs 1 --batch-size 32 \
     --data-path "$E2E/lite_data" --output-dir "$E2E/out" --log-interval 2 > "$RESULTS/train-gpu.log" 2>&1 \
   && timeout 60 "$BUILD/bin/eval" --model lenet5 --device gpu --data-path "$E2E/lite_data" \
     --pretrained "$E2E/out/best_model.kparams" > "$RESULTS/eval-gpu.log" 2>&1; then
  grep -E "train: lenet5|\[Epoch 1/1, iter [0-9]+/[0-9]+\].*" "$RESULTS/train-gpu.log" | tail -3
  grep -E "\[Eval\]|done" "$RESULTS/train-gpu.log"
  cat "$RESULTS/eval-gpu.log"
  record "train/eval --device gpu" "ok"
else
  tail -5 "$RESULTS/train-gpu.log" "$RESULTS/eval-gpu.log" 2>/dev/null
  record "train/eval --device gpu" "FAILED (see train-gpu.log, eval-gpu.log)"
fi

# ---------------------------------------------------------------------------
step "5. benchmark (bench_cuda)"
if timeout 240 "$BUILD/bin/bench_cuda" --json "$RESULTS/bench.json" --cpu-threads "$(nproc)" \
     > "$RESULTS/bench.log" 2>&1; then
  cat "$RESULTS/bench.log"
  record "benchmark" "ok"
else
  cat "$RESULTS/bench.log"
  record "benchmark" "FAILED (see bench.log)"
fi

finish
