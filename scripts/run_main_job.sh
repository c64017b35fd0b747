#!/usr/bin/env bash
# The main job: install the dependencies, build, compile resnet20 and lenet5
# into output/<model>.kiln and run their "infer" entry at batch 1, 7 and 128,
# then the model-repo chain on the bundled lite_data:
#   train (lenet5, 2 epochs) -> eval -> predict (demo images, pictures)
#   -> export_model (inference.kmodel) -> infer (with its benchmark report).
#
# Idempotent: rerunning rebuilds only what changed and overwrites output/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD="$ROOT/build"
OUT="$ROOT/output"
JOBS="${KILN_JOBS:-2}"
THREADS=2
MODELS=(resnet20 lenet5)

step() { printf '\n==== %s ====\n' "$*"; }

step "dependencies (scripts/install_deps.sh)"
bash scripts/install_deps.sh

step "build ($BUILD, Release, $JOBS jobs)"
if [ ! -f "$BUILD/build.ninja" ]; then
  if [ -f "$BUILD/CMakeCache.txt" ]; then
    echo "run_main_job: $BUILD has a CMakeCache.txt but no build.ninja (another generator?); remove $BUILD and rerun" >&2
    exit 1
  fi
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$BUILD" -j "$JOBS"

mkdir -p "$OUT"
for model in "${MODELS[@]}"; do
  step "compile $model -> output/$model.kiln"
  "$BUILD/bin/kiln-compile" --model "$model" -o "$OUT/$model.kiln" --list-kernels
done

for model in "${MODELS[@]}"; do
  step "run $model: entry 'infer', $THREADS threads"
  "$BUILD/bin/kiln-run" "$OUT/$model.kiln" --list | sed -n 1,6p  # sed reads all of it: no SIGPIPE under pipefail
  # Batch 1 is microseconds per run: more repeats for a stable median.
  for spec in "1 20 200" "7 10 100" "128 2 10"; do
    read -r batch warmup repeat <<<"$spec"
    echo
    echo "-- $model, batch $batch --"
    "$BUILD/bin/kiln-run" "$OUT/$model.kiln" --entry infer --batch "$batch" \
      --threads "$THREADS" --warmup "$warmup" --repeat "$repeat"
  done
done

# The model-repo chain on the bundled data (README sections 4 and 5).
step "train lenet5 on lite_data (2 epochs) -> output/lenet5_lite"
rm -rf "$OUT/lite_data"
tar -xf lite_data.tar -C "$OUT"
"$BUILD/bin/train" --model=lenet5 --data-path="$OUT/lite_data" --epochs=2 --batch-size=16 \
  --lr=0.05 --log-interval=5 --threads="$THREADS" --output-dir="$OUT/lenet5_lite"
step "eval lenet5 (best weights) on lite_data val"
"$BUILD/bin/eval" --model=lenet5 --pretrained="$OUT/lenet5_lite/best_model.kparams" \
  --data-path="$OUT/lite_data" --batch-size=50 --threads="$THREADS"
step "eval the released lenet5 weights on lite_data val"
"$BUILD/bin/eval" --model=lenet5 --pretrained=pretrain_models/lenet5_fashion_mnist.kparams \
  --data-path="$OUT/lite_data" --batch-size=50 --threads="$THREADS"
step "predict the demo images with the released lenet5 weights -> output/predict"
"$BUILD/bin/predict" --model=lenet5 --pretrained=pretrain_models/lenet5_fashion_mnist.kparams \
  --img-path=images/demo --save-dir="$OUT/predict" --threads="$THREADS"
step "export the lite-trained lenet5 -> output/lenet5_lite_infer"
"$BUILD/bin/export_model" --model=lenet5 --pretrained="$OUT/lenet5_lite/best_model.kparams" \
  --save-inference-dir="$OUT/lenet5_lite_infer"
step "infer with the exported model (runtime only) on the demo images"
"$BUILD/bin/infer" --model-dir="$OUT/lenet5_lite_infer" --img-path=images/demo --batch-size=4 \
  --cpu-threads="$THREADS" --benchmark=True

step "done"
ls -l "$OUT"/*.kiln
echo "run_main_job: OK (artifacts, checkpoints, pictures and the inference model in output/; tests: bash scripts/run_tests.sh)"
