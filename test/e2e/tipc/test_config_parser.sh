#!/usr/bin/env bash
# Tests of the config reader and value rules in test_tipc/common_func.sh:
# key/value splitting, null dropping, MODE=value picking, a|b alternatives,
# key=value emission, and the layout checks (blank lines, short configs,
# shifted headers, ':' in a value). Also checks that every shipped config
# under test_tipc/configs has exactly the 32-line layout and loads cleanly.
#
#   bash test_config_parser.sh <repo root> <scratch dir>
set -u
ROOT=$1
WORK=$2
# shellcheck source=../../../test_tipc/common_func.sh
source "$ROOT/test_tipc/common_func.sh"
mkdir -p "$WORK"

failures=0
checks=0
expect_eq() {
  checks=$((checks + 1))
  if [ "$2" != "$3" ]; then
    echo "FAIL: $1: got '$2', expected '$3'"
    failures=$((failures + 1))
  fi
}
# expect_error DESC REGEX COMMAND...: COMMAND (in a subshell) must exit non-zero
# with exactly one stderr line matching REGEX.
expect_error() {
  local desc=$1 regex=$2 err rc
  shift 2
  err=$( ("$@") 2>&1 >/dev/null)
  rc=$?
  checks=$((checks + 1))
  if [ $rc -eq 0 ]; then
    echo "FAIL: $desc: exit 0, expected an error"
    failures=$((failures + 1))
  elif [ "$(grep -c . <<<"$err")" -ne 1 ] || ! grep -Eq "$regex" <<<"$err"; then
    echo "FAIL: $desc: stderr '$err' is not one line matching /$regex/"
    failures=$((failures + 1))
  fi
}
lines_of() { tr '\n' ',' <<<"$1"; }

# ---- key / value splitting: at the first and the second ':' ----
TIPC_LINES=("" "--epochs:lite_train_lite_infer=2|whole_train_whole_infer=30" "python:" "--pretrained:null"
            "  --lr : 0.1 " "norm_train:build/bin/train --model=lenet5 --lr=0.05" "gpu_list:0|0,1")
TIPC_CONFIG=inline
TIPC_MODE=lite_train_lite_infer
expect_eq "key" "$(tipc_line_key 1)" "--epochs"
expect_eq "key-only line: empty value" "$(tipc_line_raw_value 2)" ""
expect_eq "null value read as text" "$(tipc_line_raw_value 3)" "null"
expect_eq "key trimmed" "$(tipc_line_key 4)" "--lr"
expect_eq "value trimmed" "$(tipc_line_raw_value 4)" "0.1"
expect_eq "command value keeps its '=' flags" "$(tipc_line_value 5)" "build/bin/train --model=lenet5 --lr=0.05"
expect_eq "loop value unchanged by mode picking" "$(tipc_line_value 6)" "0|0,1"

# ---- MODE=value picking ----
expect_eq "pick lite" "$(tipc_line_value 1)" "2"
TIPC_MODE=whole_train_whole_infer
expect_eq "pick whole" "$(tipc_line_value 1)" "30"
TIPC_MODE=whole_infer
expect_eq "mode not listed: dropped" "$(tipc_line_value 1)" ""
expect_eq "plain value" "$(tipc_pick_mode 16 lite_train_lite_infer)" "16"
expect_eq "a|b value without modes" "$(tipc_pick_mode 'True|False' lite_train_lite_infer)" "True|False"
expect_eq "value with '=' that is no MODE" "$(tipc_pick_mode 'a=b' lite_train_lite_infer)" "a=b"
expect_eq "spaces around entries" "$(tipc_pick_mode ' whole_infer = 3 | lite_train_lite_infer=4' whole_infer)" "3"
expect_eq "last listed MODE wins on repeats" \
  "$(tipc_pick_mode 'whole_infer=1|whole_infer=2' whole_infer 2>/dev/null)" "2"
expect_error "MODE list mixed with a plain entry" "mixes MODE=value entries with the plain entry '7'" \
  tipc_pick_mode 'lite_train_lite_infer=2|7' lite_train_lite_infer
warning=$(tipc_pick_mode 'lite_train_lite_infer=2|whole_train_whole_infr=3' lite_train_lite_infer 2>&1 >/dev/null)
expect_eq "misspelt MODE warned about" "$(grep -c "whole_train_whole_infr' in .* is not a MODE" <<<"$warning")" "1"

# ---- a|b alternatives ----
expect_eq "two alternatives" "$(lines_of "$(tipc_alternatives 'True|False')")" "True,False,"
expect_eq "one value" "$(lines_of "$(tipc_alternatives '-1')")" "-1,"
expect_eq "empty value: one empty run" "$(tipc_alternatives '' | wc -l)" "1"
expect_eq "gpu list keeps commas" "$(lines_of "$(tipc_alternatives '0|0,1')")" "0,0,1,"
expect_eq "trimmed alternatives" "$(lines_of "$(tipc_alternatives ' 1 | 8 ')")" "1,8,"
expect_eq "empty alternatives kept" "$(tipc_alternatives '1||8|' | tr '\n' ',')" "1,,8,,"

# ---- key=value emission and null dropping ----
expect_eq "key=value" "$(tipc_param --batch-size 8)" "--batch-size=8"
expect_eq "null value dropped" "$(tipc_param --pretrained null)" ""
expect_eq "empty value dropped" "$(tipc_param --epochs '')" ""
expect_eq "null key dropped" "$(tipc_param null 3)" ""
expect_eq "join skips dropped params" "$(tipc_join a '' "$(tipc_param null x)" b)" "a b"
expect_eq "true spellings" "$(tipc_is_true True && tipc_is_true true && ! tipc_is_true False && echo ok)" "ok"

# ---- the layout checks on files ----
good=$ROOT/test_tipc/configs/lenet5/train_infer_python.txt
shipped=0
for cfg in "$ROOT"/test_tipc/configs/*/train_infer_python.txt; do
  shipped=$((shipped + 1))
  name=$(basename "$(dirname "$cfg")")
  expect_eq "$name: 32 lines" "$(wc -l <"$cfg")" "32"
  expect_eq "$name: no blank line" "$(grep -c '^[[:space:]]*$' "$cfg")" "0"
  expect_eq "$name: ends with a newline" "$(tail -c 1 "$cfg" | od -An -c | tr -d ' ')" '\n'
  out=$( (tipc_load_config "$cfg" && TIPC_MODE=lite_train_lite_infer && tipc_line_value 2) 2>&1)
  expect_eq "$name: loads, model_name line 2" "$out" "$name"
done
expect_eq "shipped configs" "$([ "$shipped" -ge 3 ] && echo ok)" "ok"

# Fixed extra flags of the AdamW config travel in the trainer command (line 14).
(
  tipc_load_config "$ROOT/test_tipc/configs/resnet20_adam/train_infer_python.txt"
  TIPC_MODE=lite_train_lite_infer
  tipc_line_value 14
) >"$WORK/adam_line14" 2>&1
expect_eq "resnet20_adam trainer flags" \
  "$(grep -o -e '--optimizer=adamw' -e '--lr-scheduler=cosine' "$WORK/adam_line14" | tr '\n' ' ')" \
  "--optimizer=adamw --lr-scheduler=cosine "

# A blank line in the middle: rejected, naming the file and the line.
sed '9{x;p;x}' "$good" >"$WORK/blank.txt"
expect_eq "blank fixture has a blank line 9" "$(sed -n 9p "$WORK/blank.txt")" ""
expect_error "blank line" "blank\.txt: line 9 is blank.*shift" tipc_load_config "$WORK/blank.txt"
# Whitespace-only counts as blank.
sed '20s/.*/   /' "$good" >"$WORK/spaces.txt"
expect_error "whitespace-only line" "spaces\.txt: line 20 is blank" tipc_load_config "$WORK/spaces.txt"
# Blank lines after the last line shift nothing: a warning, and the config loads.
{ cat "$good"; printf '\n\n'; } >"$WORK/trailing.txt"
out=$( (tipc_load_config "$WORK/trailing.txt" && echo "loaded $TIPC_NLINES") 2>&1)
expect_eq "trailing blank lines" "$(grep -c 'warning: .*blank line(s) after line 32' <<<"$out"),$(tail -n 1 <<<"$out")" "1,loaded 32"
# CRLF line endings are read like LF.
sed 's/$/\r/' "$good" >"$WORK/crlf.txt"
out=$( (tipc_load_config "$WORK/crlf.txt" && TIPC_MODE=whole_train_whole_infer && tipc_line_value 6) 2>&1)
expect_eq "CRLF config" "$out" "20"
# A missing line shifts the headers: the check names the line that moved.
sed '5d' "$good" >"$WORK/short.txt"
expect_error "31 lines" "short\.txt: has 31 lines; the layout needs 32" tipc_load_config "$WORK/short.txt"
{ sed '5d' "$good"; echo "--extra:1"; } >"$WORK/shifted.txt"
expect_error "shifted layout" "shifted\.txt: line 10 should have the key 'train_model_name' but has '--data-path'" tipc_load_config "$WORK/shifted.txt"
sed '16s/eval_params/evil_params/' "$good" >"$WORK/header.txt"
expect_error "wrong header" "header\.txt: line 16 should be the '====eval_params====' header" tipc_load_config "$WORK/header.txt"
sed '2s/model_name/modelname/' "$good" >"$WORK/key.txt"
expect_error "wrong key" "key\.txt: line 2 should have the key 'model_name' but has 'modelname'" tipc_load_config "$WORK/key.txt"
sed '31s|.*|--img-path:C:/images|' "$good" >"$WORK/colon.txt"
expect_error "':' in a value" "colon\.txt: line 31 .*must not contain ':'" tipc_load_config "$WORK/colon.txt"
sed '6s/.*/--epochs 2/' "$good" >"$WORK/nocolon.txt"
expect_error "no ':'" "nocolon\.txt: line 6 is '--epochs 2'; expected key:value" tipc_load_config "$WORK/nocolon.txt"
expect_error "missing config" "config '$WORK/nothere.txt' not found" tipc_load_config "$WORK/nothere.txt"
expect_error "unknown MODE" "unknown MODE 'lite'" tipc_check_mode lite
expect_error "model name with a slash" "model_name '\.\./x' must be" tipc_check_model_name ../x

if [ $failures -gt 0 ]; then
  echo "$failures of $checks checks failed"
  exit 1
fi
echo "all $checks checks passed"
