#!/usr/bin/env bash
# The real chain of one shipped config, as a user runs it:
#   bash test_tipc/prepare.sh <config> <MODE> && bash test_tipc/test_train_inference_python.sh <config> <MODE>
# in a scratch tree whose test_tipc/, lite_data.tar, images/ and pretrain_models/
# link to the source tree and whose build/ links to the build dir under test, so
# the source tree gets no output/ or ./data. Then checks what the harness says:
# exit 0, EXPECTED_LINES lines in results_python.log, every one "Run successfully",
# and that each inference log has predictions and the benchmark report.
#
#   bash run_chain.sh <repo root> <build dir> <scratch dir> <model> <MODE> <expected lines>
set -u
SRC=$1
BUILD=$2
WORK=$3
MODEL=$4
MODE=$5
EXPECTED_LINES=$6

mkdir -p "$WORK/test_tipc"
cd "$WORK" || exit 1
for f in common_func.sh prepare.sh test_train_inference_python.sh configs; do
  ln -sfn "$SRC/test_tipc/$f" "test_tipc/$f"
done
for f in lite_data.tar images pretrain_models; do
  ln -sfn "$SRC/$f" "$f"
done
ln -sfn "$BUILD" build
CONFIG=test_tipc/configs/$MODEL/train_infer_python.txt

bash test_tipc/prepare.sh "$CONFIG" "$MODE" || { echo "FAIL: prepare.sh exited $?"; exit 1; }
bash test_tipc/test_train_inference_python.sh "$CONFIG" "$MODE"
rc=$?
LOG=test_tipc/output/$MODEL/$MODE
status=0
fail() { echo "FAIL: $*"; status=1; }
[ $rc -eq 0 ] || fail "the harness exited $rc"
lines=$(grep -c . "$LOG/results_python.log")
[ "$lines" -eq "$EXPECTED_LINES" ] || fail "$lines lines in results_python.log, expected $EXPECTED_LINES"
bad=$(grep -vc '^Run successfully with command - .*!$' "$LOG/results_python.log")
[ "$bad" -eq 0 ] || fail "$bad lines of results_python.log are not 'Run successfully with command - ...!'"
shopt -s nullglob
logs=("$LOG"/python_infer_cpu_*.log)
[ ${#logs[@]} -gt 0 ] || fail "no CPU inference log in $LOG"
for log in "${logs[@]}"; do
  grep -q 'class_id' "$log" || fail "$log: no 'class_id' prediction line"
  for field in 'preprocess_time(ms)' 'inference_time(ms)' 'postprocess_time(ms)' 'cpu_rss(MB)'; do
    grep -qF "$field" "$log" || fail "$log: the benchmark report has no '$field'"
  done
done
[ $status -eq 0 ] && echo "chain OK: $MODEL $MODE, $lines commands, all successful"
exit $status
