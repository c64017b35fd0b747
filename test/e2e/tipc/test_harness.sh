#!/usr/bin/env bash
# Tests of test_tipc/prepare.sh and test_train_inference_python.sh with stand-in
# tools (fake_tool.sh records every call): the exact commands the harness emits
# for each line rule (key=value, null dropping, MODE=value, a|b loops, key-only
# lines filled with the harness's dirs, fixed flags in the command value, the
# launcher of line 3, a CPU threads line), results_python.log's two line forms,
# the summary and exit code on failure, GPU runs reported as skipped, and
# prepare.sh's data layout and errors. Runs in a scratch tree whose test_tipc/
# links to the real scripts, so nothing is written into the source tree.
#
#   bash test_harness.sh <repo root> <scratch dir>
set -u
SRC=$1
WORK=$2
FAKE=$SRC/test/e2e/tipc/fake_tool.sh

failures=0
checks=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
expect_eq() {
  checks=$((checks + 1))
  [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
}
# expect_match DESC TEXT REGEX
expect_match() {
  checks=$((checks + 1))
  grep -Eq -- "$3" <<<"$2" || fail "$1: /$3/ not found in: $2"
}

rm -rf "$WORK"
ROOT=$WORK/root
mkdir -p "$ROOT/test_tipc" "$ROOT/weights"
for f in common_func.sh prepare.sh test_train_inference_python.sh; do
  ln -s "$SRC/test_tipc/$f" "$ROOT/test_tipc/$f"
done
ln -s "$SRC/lite_data.tar" "$ROOT/lite_data.tar"
echo weights >"$ROOT/weights/released.kparams"
mkdir -p "$ROOT/weights/exported" && echo model >"$ROOT/weights/exported/inference.kmodel"
mkdir -p "$WORK/full" && touch "$WORK/full/"{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
export FAKE_TOOL_LOG=$WORK/calls.log
export TIPC_NO_GPU=1
cd "$ROOT" || exit 1

# The base config: every line rule appears once.
cat >base.txt <<EOF
===========================train_params===========================
model_name:fake
python:
gpu_list:-1|0
--device:cpu|gpu
--epochs:lite_train_lite_infer=2|whole_train_whole_infer=30
--output-dir:./output/
--batch-size:whole_train_whole_infer=128
--pretrained:null
train_model_name:latest.kparams
--data-path:./lite_data
##
trainer:norm_train
norm_train:$FAKE train --model=m --lr=0.05
##
===========================eval_params===========================
eval:$FAKE eval --model=m
##
===========================infer_params===========================
--save-inference-dir:./output/fake_infer/
--pretrained:
norm_export:$FAKE export --model=m
##
train_model:./weights/released.kparams
infer_export:$FAKE export --model=m
##
inference:$FAKE infer
--use-gpu:True|False
--batch-size:1|8
--model-dir:./output/fake_infer/
--img-path:null
--benchmark:True
EOF
# variant NAME SED-SCRIPT: base.txt edited.
variant() {
  sed "$2" base.txt >"$1"
}
# run_harness CONFIG MODE [GPU_ID]: sets OUT (stdout+stderr), RC, CALLS.
run_harness() {
  : >"$FAKE_TOOL_LOG"
  OUT=$(bash test_tipc/test_train_inference_python.sh "$@" 2>&1)
  RC=$?
  CALLS=$(cat "$FAKE_TOOL_LOG")
}
LOG=test_tipc/output/fake/lite_train_lite_infer
RUN=$LOG/norm_train_gpus_-1

# ---- prepare.sh, lite mode: lite_data unpacked, ./data -> lite_data, idempotent ----
out=$(bash test_tipc/prepare.sh base.txt lite_train_lite_infer 2>&1)
expect_eq "prepare lite: exit" "$?" 0
expect_match "prepare lite: unpacked" "$out" "unpacked lite_data.tar -> lite_data/ \(263 files\)"
expect_eq "prepare lite: ./data link" "$(readlink data)" "lite_data"
expect_eq "prepare lite: lists" "$(wc -l <lite_data/train_list.txt),$(wc -l <lite_data/val_list.txt)" "160,100"
out=$(bash test_tipc/prepare.sh base.txt lite_train_lite_infer 2>&1)
expect_match "prepare lite again: nothing unpacked" "$out" "lite_data/ is complete"
rm lite_data/val/0_00019.png
out=$(bash test_tipc/prepare.sh base.txt lite_train_lite_infer 2>&1)
expect_match "prepare lite: a missing file is restored" "$out" "unpacked lite_data.tar"
expect_eq "prepare lite: restored file" "$([ -f lite_data/val/0_00019.png ] && echo yes)" "yes"

# ---- the chain, lite_train_lite_infer, no GPU ----
run_harness base.txt lite_train_lite_infer
expect_eq "lite: exit" "$RC" 0
expected_calls="train --model=m --lr=0.05 --output-dir=$RUN --epochs=2 --device=cpu
eval --model=m --pretrained=$RUN/latest.kparams --device=cpu
export --model=m --pretrained=$RUN/latest.kparams --save-inference-dir=$RUN
infer --use-gpu=False --batch-size=1 --model-dir=$RUN --benchmark=True
infer --use-gpu=False --batch-size=8 --model-dir=$RUN --benchmark=True"
expect_eq "lite: the commands (null/unlisted MODE dropped, key-only lines filled)" "$CALLS" "$expected_calls"
results=$(cat $LOG/results_python.log)
expect_eq "lite: results lines" "$(grep -c . <<<"$results")" 5
expect_eq "lite: every results line in the standard form" \
  "$(grep -Ecv '^Run successfully with command - .+ > test_tipc/output/fake/lite_train_lite_infer/[^ ]+\.log 2>&1!$' <<<"$results")" 0
expect_eq "lite: first results line" "$(head -n 1 <<<"$results")" \
  "Run successfully with command - $FAKE train --model=m --lr=0.05 --output-dir=$RUN --epochs=2 --device=cpu > $LOG/train_norm_train_gpus_-1.log 2>&1!"
for f in train eval export; do
  expect_match "lite: $f log" "$(cat $LOG/${f}_norm_train_gpus_-1.log)" "fake $f: ok"
done
# Two training runs (gpu_list -1|0): infer logs carry the run in their name.
expect_eq "lite: infer log names" "$(cd $LOG && ls python_infer_* | tr '\n' ' ')" \
  "python_infer_cpu_batchsize_1_norm_train_gpus_-1.log python_infer_cpu_batchsize_8_norm_train_gpus_-1.log "
expect_match "lite: summary" "$OUT" "fake lite_train_lite_infer: 5 passed, 0 failed, 3 skipped"
skips=$(cat $LOG/skipped_python.log)
expect_eq "lite: skipped lines" "$(grep -c . <<<"$skips")" 3
expect_match "lite: GPU inference skipped with the reason" "$skips" \
  "^Skipped GPU inference \(CUDA_VISIBLE_DEVICES=0 $FAKE infer --use-gpu=True --batch-size=1 --model-dir=$RUN --benchmark=True\): TIPC_NO_GPU=1 is set$"
expect_match "lite: GPU training skipped with the reason" "$skips" \
  "^Skipped training on gpus 0 \(CUDA_VISIBLE_DEVICES=0 $FAKE train .* --device=gpu\) and its eval, export and inference: TIPC_NO_GPU=1 is set$"
expect_match "lite: skips on stdout too" "$OUT" "Skipped GPU inference .*batch-size=8"
expect_eq "lite: skips not in results_python.log" "$(grep -c Skipped $LOG/results_python.log)" 0

# A rerun starts a fresh log dir (no stale lines or logs).
touch $LOG/stale.log
run_harness base.txt lite_train_lite_infer
expect_eq "rerun: fresh results" "$(grep -c . $LOG/results_python.log),$([ -e $LOG/stale.log ] && echo stale)" "5,"

# Without GPU_ID-style overrides, real machines decide: the GPU check names a reason.
out=$(env -u TIPC_NO_GPU bash -c "source test_tipc/common_func.sh; tipc_detect_gpus; echo \"\$TIPC_GPU_COUNT|\$TIPC_NO_GPU_REASON\"")
if [ "${out%%|*}" = 0 ]; then
  expect_match "no GPU: a reason" "$out" "^0\|.+"
fi

# ---- failures: the line says failed, the summary counts it, exit 1 ----
FAKE_FAIL=eval run_harness base.txt lite_train_lite_infer
expect_eq "eval fails: exit" "$RC" 1
expect_eq "eval fails: its line" "$(grep -c '^Run failed with command - .* eval --model=m .*!$' $LOG/results_python.log)" 1
expect_match "eval fails: summary" "$OUT" "4 passed, 1 failed, 3 skipped"
expect_match "eval fails: the log's end is shown" "$OUT" "\| fake eval: failing as asked"
FAKE_FAIL=train run_harness base.txt lite_train_lite_infer
expect_eq "train fails: exit" "$RC" 1
expect_eq "train fails: only training ran" "$CALLS" "train --model=m --lr=0.05 --output-dir=$RUN --epochs=2 --device=cpu"
expect_match "train fails: the rest reported as skipped" "$OUT" "Skipped eval, export and inference of norm_train_gpus_-1: its training failed"
expect_match "train fails: summary" "$OUT" "0 passed, 1 failed, 2 skipped"
FAKE_FAIL=export run_harness base.txt lite_train_lite_infer
expect_eq "export fails: exit" "$RC" 1
expect_eq "export fails: no inference ran" "$(grep -c '^infer' <<<"$CALLS")" 0
expect_match "export fails: inference skipped" "$OUT" "Skipped inference \(--use-gpu=False --batch-size=8\): the export of norm_train_gpus_-1 failed"

# ---- loops, launcher, threads line, fixed flags: one training run, 2 x 2 inference ----
variant loops.txt 's/^gpu_list:.*/gpu_list:-1/; s/^--device:.*/--device:cpu/; s/^python:.*/python:bash/;
  s/^--batch-size:whole.*/--batch-size:lite_train_lite_infer=16|whole_train_whole_infer=128/;
  s/^--use-gpu:.*/--use-gpu:False/; s|^--img-path:.*|--img-path:./images/demo|'
echo "--cpu-threads:1|2" >>loops.txt
run_harness loops.txt lite_train_lite_infer
expect_eq "loops: exit" "$RC" 0
expected_calls="train --model=m --lr=0.05 --output-dir=$RUN --epochs=2 --batch-size=16 --device=cpu
eval --model=m --pretrained=$RUN/latest.kparams --device=cpu
export --model=m --pretrained=$RUN/latest.kparams --save-inference-dir=$RUN
infer --use-gpu=False --batch-size=1 --model-dir=$RUN --img-path=./images/demo --benchmark=True --cpu-threads=1
infer --use-gpu=False --batch-size=8 --model-dir=$RUN --img-path=./images/demo --benchmark=True --cpu-threads=1
infer --use-gpu=False --batch-size=1 --model-dir=$RUN --img-path=./images/demo --benchmark=True --cpu-threads=2
infer --use-gpu=False --batch-size=8 --model-dir=$RUN --img-path=./images/demo --benchmark=True --cpu-threads=2"
expect_eq "loops: the commands" "$CALLS" "$expected_calls"
expect_eq "loops: launcher of line 3 first" "$(grep -c "^Run successfully with command - bash $FAKE " $LOG/results_python.log)" 7
expect_eq "loops: infer log names" "$(cd $LOG && ls python_infer_* | tr '\n' ' ')" \
  "python_infer_cpu_threads_1_batchsize_1.log python_infer_cpu_threads_1_batchsize_8.log python_infer_cpu_threads_2_batchsize_1.log python_infer_cpu_threads_2_batchsize_8.log "
expect_match "loops: summary" "$OUT" "7 passed, 0 failed, 0 skipped"

# eval and export null: training, then inference on the training dir as it is.
variant nulls.txt 's/^eval:.*/eval:null/; s/^norm_export:.*/norm_export:null/; s/^--use-gpu:.*/--use-gpu:False/; s/^--batch-size:1|8/--batch-size:null/'
mkdir -p "$RUN"
run_harness nulls.txt lite_train_lite_infer
expect_eq "nulls: exit" "$RC" 1   # fake infer finds no inference.kmodel in the training dir
expect_eq "nulls: calls" "$(cut -d' ' -f1 <<<"$CALLS" | tr '\n' ' ')" "train infer "
expect_eq "nulls: infer without batch size" "$(grep '^infer' <<<"$CALLS")" "infer --use-gpu=False --model-dir=$RUN --benchmark=True"
expect_eq "nulls: log name" "$(cd $LOG && ls python_infer_*)" "python_infer_cpu_batchsize_default_norm_train_gpus_-1.log"

# ---- whole_infer: export the released weights of line 24, infer; GPU_ID ----
out=$(bash test_tipc/prepare.sh base.txt whole_infer 2>&1)
expect_eq "prepare whole_infer: exit" "$?" 0
expect_match "prepare whole_infer: weights found" "$out" "released weights ./weights/released.kparams"
run_harness base.txt whole_infer 3
W=test_tipc/output/fake/whole_infer
expect_eq "whole_infer: exit" "$RC" 0
expected_calls="export --model=m --pretrained=./weights/released.kparams --save-inference-dir=$W/whole_infer_model
infer --use-gpu=False --batch-size=1 --model-dir=$W/whole_infer_model --benchmark=True
infer --use-gpu=False --batch-size=8 --model-dir=$W/whole_infer_model --benchmark=True"
expect_eq "whole_infer: the commands" "$CALLS" "$expected_calls"
expect_match "whole_infer: GPU_ID picks the GPU" "$(cat $W/skipped_python.log)" "^Skipped GPU inference \(CUDA_VISIBLE_DEVICES=3 $FAKE infer --use-gpu=True"
expect_eq "whole_infer: infer log names" "$(cd $W && ls python_infer_* | tr '\n' ' ')" \
  "python_infer_cpu_batchsize_1.log python_infer_cpu_batchsize_8.log "
expect_match "whole_infer: summary" "$OUT" "3 passed, 0 failed, 2 skipped"
# Line 25 null: line 24 is already an inference model.
variant exported.txt 's|^train_model:.*|train_model:./weights/exported|; s/^infer_export:.*/infer_export:null/'
bash test_tipc/prepare.sh exported.txt whole_infer >/dev/null 2>&1
expect_eq "whole_infer, exported model: prepare" "$?" 0
run_harness exported.txt whole_infer
expect_eq "whole_infer, exported model: exit" "$RC" 0
expect_eq "whole_infer, exported model: no export" "$(grep -c '^export' <<<"$CALLS"),$(grep -c "model-dir=./weights/exported " <<<"$CALLS")" "0,2"
variant noweights.txt 's|^train_model:.*|train_model:./weights/missing.kparams|'
out=$(bash test_tipc/prepare.sh noweights.txt whole_infer 2>&1)
expect_eq "prepare whole_infer, missing weights: exit" "$?" 1
expect_match "prepare whole_infer, missing weights: message" "$out" "noweights\.txt line 24: released weights './weights/missing.kparams' not found"

# ---- whole_train_whole_infer: full data layout and the MODE's values ----
out=$(TIPC_FULL_DATA_DIR=$WORK/nothere bash test_tipc/prepare.sh base.txt whole_train_whole_infer 2>&1)
expect_eq "prepare whole, no dataset: exit" "$?" 1
expect_match "prepare whole, no dataset: message" "$out" "full Fashion-MNIST is missing from $WORK/nothere .*apt-get install -y dataset-fashion-mnist"
expect_eq "prepare whole, no dataset: ./data untouched" "$(readlink data)" "lite_data"
run_harness base.txt whole_train_whole_infer
expect_eq "whole on lite data: refused" "$RC,$CALLS" "1,"
expect_match "whole on lite data: message" "$OUT" "./data points to lite_data, not to the full dataset; run first: bash test_tipc/prepare.sh"
out=$(TIPC_FULL_DATA_DIR=$WORK/full bash test_tipc/prepare.sh base.txt whole_train_whole_infer 2>&1)
expect_eq "prepare whole: exit" "$?" 0
expect_eq "prepare whole: ./data link" "$(readlink data)" "$WORK/full"
run_harness base.txt whole_train_whole_infer
expect_eq "whole: exit" "$RC" 0
expect_eq "whole: MODE values" "$(head -n 1 <<<"$CALLS")" \
  "train --model=m --lr=0.05 --output-dir=test_tipc/output/fake/whole_train_whole_infer/norm_train_gpus_-1 --epochs=30 --batch-size=128 --device=cpu"
run_harness base.txt lite_train_lite_infer
expect_eq "lite on the full data: refused" "$RC,$CALLS" "1,"
expect_match "lite on the full data: message" "$OUT" "./data points to $WORK/full, not to lite_data"

# ---- bad configs and arguments: one clear line, exit 1, nothing run ----
variant blank.txt '9{x;p;x}'
run_harness blank.txt lite_train_lite_infer
expect_eq "blank line: refused before running anything" "$RC,$CALLS" "1,"
expect_match "blank line: message" "$OUT" "^tipc: error: .*blank\.txt: line 9 is blank"
out=$(bash test_tipc/prepare.sh blank.txt lite_train_lite_infer 2>&1)
expect_eq "blank line, prepare: exit" "$?" 1
variant trainer.txt 's/^trainer:.*/trainer:norm_train|pact_train/'
run_harness trainer.txt lite_train_lite_infer
expect_match "unknown trainer" "$RC $OUT" "^1 tipc: error: .* line 13: trainer 'pact_train' has no command; line 14 defines 'norm_train'"
variant pipes.txt 's/^--epochs:.*/--epochs:2|3/'
run_harness pipes.txt lite_train_lite_infer
expect_match "a|b on a one-value line" "$RC $OUT" "^1 tipc: error: .*'2\|3' has '\|' alternatives on a line that takes one value"
run_harness base.txt lite_train
expect_match "unknown MODE" "$RC $OUT" "^1 tipc: error: unknown MODE 'lite_train'"
run_harness nothere.txt lite_train_lite_infer
expect_match "missing config" "$RC $OUT" "^1 tipc: error: config 'nothere.txt' not found"
variant notool.txt 's|^norm_train:.*|norm_train:build/bin/no_such_train --model=m|'
out=$(bash test_tipc/prepare.sh notool.txt lite_train_lite_infer 2>&1)
expect_eq "prepare, missing tool: exit" "$?" 1
expect_match "prepare, missing tool: checked first" "$out" "^tipc: error: .*notool\.txt line 14: 'build/bin/no_such_train' not found or not executable"
rm data && mkdir data
out=$(bash test_tipc/prepare.sh base.txt lite_train_lite_infer 2>&1)
expect_eq "prepare, ./data a real dir: exit" "$?" 1
expect_match "prepare, ./data a real dir: message" "$out" "^tipc: error: ./data exists and is not a symlink"
rmdir data
run_harness base.txt lite_train_lite_infer
expect_match "no ./data: run prepare first" "$RC $OUT" "^1 tipc: error: ./data does not exist; run first: bash test_tipc/prepare.sh base.txt lite_train_lite_infer"

if [ $failures -gt 0 ]; then
  echo "$failures of $checks checks failed"
  exit 1
fi
echo "all $checks checks passed"
