#!/usr/bin/env bash
# Runs the GPU check from a bundle made by scripts/gpu_bundle.sh, on a machine
# with an NVIDIA GPU: every kernel of lenet5 and resnet20 (infer, train_step)
# on the GPU against the CPU kernel on the same inputs (kiln-run --check-gpu),
# then images/s of infer and train_step at batch 128 and 1 on the GPU, and
# PyTorch eager on the same card (when importable). Exit 1 on any mismatch.
set -uo pipefail
B="$(cd "${1:-gpu_bundle}" && pwd)"
export LD_LIBRARY_PATH="$B/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
RUN="$B/bin/kiln-run"
fail=0
nvidia-smi -L || true
echo "== kernels: GPU vs CPU (relative error < 1e-5) =="
for m in lenet5 resnet20; do
  for e in infer train_step; do
    if ! "$RUN" "$B/art/$m.kiln" --check-gpu --entry "$e" --batch 8 --threads 4 > "$B/check_${m}_${e}.txt" 2>&1; then
      fail=1; echo "MISMATCH or error: $m $e"; tail -30 "$B/check_${m}_${e}.txt"
    fi
    tail -1 "$B/check_${m}_${e}.txt"
  done
done
echo "== Kiln on the GPU: images/s (median) =="
for m in lenet5 resnet20; do
  for e in infer train_step; do
    for b in 128 1; do
      r=$([ "$b" = 1 ] && echo 200 || echo 50)
      out=$("$RUN" "$B/art/$m.kiln" --device gpu --entry "$e" --batch "$b" --warmup 10 --repeat "$r" 2>&1) || { fail=1; echo "$out" | tail -5; }
      echo "kiln $m $e batch $b: $(echo "$out" | grep -E '^(time|throughput)' | tr '\n' ' ')"
    done
  done
done
echo "== PyTorch eager on the same GPU (bench/cuda/torch_cuda_bench.py) =="
# Run from the repository root: bench/torch_models.py is the models' PyTorch twin.
ROOT="$(pwd)"
mkdir -p "$ROOT/bench/cuda"
[ -f "$ROOT/bench/cuda/torch_cuda_bench.py" ] || cp "$B/bench/torch_cuda_bench.py" "$ROOT/bench/cuda/"
if python3 "$ROOT/bench/cuda/torch_cuda_bench.py" --check; then
  for m in lenet5 resnet20; do
    for e in infer train; do
      for b in 128 1; do
        python3 "$ROOT/bench/cuda/torch_cuda_bench.py" --model "$m" --mode "$e" --batch "$b" \
          --warmup 10 --repeat "$([ "$b" = 1 ] && echo 200 || echo 50)" |
          python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print("torch %s %s batch %d: median %.3f ms, %.1f images/s" % (d["model"], d["mode"], d["batch"], d["median_ms"], 1000.0*d["batch"]/d["median_ms"]))'
      done
    done
  done
fi
exit $fail
