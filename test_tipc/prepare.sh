#!/usr/bin/env bash
# Lays out what one TIPC MODE needs, from the repository root (idempotent):
#   lite_train_lite_infer, lite_train_whole_infer: unpacks lite_data.tar into
#       lite_data/ (only if something is missing) and points ./data at it;
#   whole_train_whole_infer: points ./data at the full Fashion-MNIST of the
#       Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist,
#       or $TIPC_FULL_DATA_DIR);
#   whole_infer: checks that the released weights of line 24 exist.
# ./data is where train and eval look first when the harness passes no data flag
# (their default: ./data, ./lite_data, /usr/share/datasets/fashion-mnist).
# Every mode also checks that the commands it will run exist.
#
#   bash test_tipc/prepare.sh <config> <MODE>
set -u

usage() {
  echo "usage: bash test_tipc/prepare.sh <config> <MODE>" >&2
  echo "  MODE: lite_train_lite_infer | lite_train_whole_infer | whole_infer | whole_train_whole_infer" >&2
  exit 1
}
[ $# -eq 2 ] || usage

# shellcheck source=common_func.sh
source "$(dirname "${BASH_SOURCE[0]}")/common_func.sh"

CONFIG_ARG=$1
MODE=$2
tipc_check_mode "$MODE"
TIPC_MODE=$MODE
[ -f "$CONFIG_ARG" ] || tipc_die "config '$CONFIG_ARG' not found"
CONFIG=$(cd "$(dirname "$CONFIG_ARG")" && pwd)/$(basename "$CONFIG_ARG")
ROOT=$(tipc_repo_root)
cd "$ROOT" || tipc_die "cannot enter the repository root $ROOT"
tipc_load_config "$CONFIG"
model_name=$(tipc_line_value 2) || exit 1
tipc_check_model_name "$model_name"
FULL_DATA_DIR=${TIPC_FULL_DATA_DIR:-/usr/share/datasets/fashion-mnist}

# point_data TARGET: ./data -> TARGET, replacing an older link but never a real
# directory or file someone put there.
point_data() {
  local target=$1
  if [ -e data ] || [ -L data ]; then
    [ -L data ] || tipc_die "./data exists and is not a symlink; move it away (prepare.sh points ./data at the dataset of the MODE)"
  fi
  ln -sfn "$target" data || tipc_die "cannot create the ./data link"
  echo "prepare: ./data -> $target"
}

# unpack_lite_data: lite_data.tar -> lite_data/, skipped when every file of the
# archive is already there.
unpack_lite_data() {
  [ -f lite_data.tar ] || tipc_die "lite_data.tar not found in $ROOT"
  local listing missing=0 entry
  listing=$(tar -tf lite_data.tar) || tipc_die "lite_data.tar is not a readable tar archive"
  while IFS= read -r entry; do
    [ -e "$entry" ] || { missing=1; break; }
  done <<<"$listing"
  if [ $missing = 0 ]; then
    echo "prepare: lite_data/ is complete ($(grep -vc '/$' <<<"$listing") files)"
    return 0
  fi
  tar -xf lite_data.tar || tipc_die "unpacking lite_data.tar failed"
  echo "prepare: unpacked lite_data.tar -> lite_data/ ($(grep -vc '/$' <<<"$listing") files)"
}

check_full_data() {
  local f missing=()
  for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz \
           t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    [ -f "$FULL_DATA_DIR/$f" ] || missing+=("$f")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    tipc_die "the full Fashion-MNIST is missing from $FULL_DATA_DIR (${missing[*]}); install the Debian package: apt-get install -y dataset-fashion-mnist (or set TIPC_FULL_DATA_DIR)"
  fi
}

# check_command LINE: the program of a command line (its first word after any
# VAR=value) must exist, so a missing build is reported here and not as a
# failed chain.
check_command() {
  local n=$1 command word
  command=$(tipc_line_value "$n") || exit 1
  tipc_is_null "$command" && return 0
  local -a alternatives
  mapfile -t alternatives < <(tipc_alternatives "$command")
  for command in "${alternatives[@]}"; do
    tipc_is_null "$command" && continue
    for word in $command; do
      [[ $word == *=* ]] || break
    done
    if [ -n "$python" ]; then
      # A script run by the launcher of line 3 only has to exist.
      [ -f "$word" ] || tipc_die "$CONFIG line $n: '$word' not found (run by '$python')"
    elif [[ $word == */* ]]; then
      [ -x "$word" ] || tipc_die "$CONFIG line $n: '$word' not found or not executable (build first: bash scripts/run_tests.sh, or cmake --build build)"
    else
      command -v "$word" >/dev/null 2>&1 || tipc_die "$CONFIG line $n: '$word' is not on PATH"
    fi
  done
}

# The programs first, so a missing build is reported before anything changes.
python=$(tipc_line_value 3) || exit 1
tipc_is_null "$python" && python=""
if [ -n "$python" ]; then
  for word in $python; do
    [[ $word == *=* ]] || break
  done
  command -v "$word" >/dev/null 2>&1 || tipc_die "$CONFIG line 3: launcher '$word' is not on PATH"
fi
if [ "$MODE" = whole_infer ]; then
  check_command 25
else
  check_command 14
  check_command 17
  check_command 22
fi
check_command 27

case "$MODE" in
  lite_train_lite_infer | lite_train_whole_infer)
    unpack_lite_data
    point_data lite_data
    ;;
  whole_train_whole_infer)
    check_full_data
    point_data "$FULL_DATA_DIR"
    ;;
  whole_infer)
    weights_value=$(tipc_line_value 24) || exit 1
    export_value=$(tipc_line_value 25) || exit 1
    mapfile -t weights_list < <(tipc_alternatives "$weights_value")
    found=0
    for weights in "${weights_list[@]}"; do
      tipc_is_null "$weights" && continue
      if tipc_is_null "$export_value"; then
        # Line 25 null: line 24 is an exported inference model (a directory).
        [ -d "$weights" ] || tipc_die "$CONFIG line 24: inference model directory '$weights' not found"
      else
        [ -f "$weights" ] || tipc_die "$CONFIG line 24: released weights '$weights' not found (from $ROOT)"
      fi
      echo "prepare: released weights $weights ($(stat -c %s "$weights") bytes)"
      found=1
    done
    [ $found = 1 ] || tipc_die "$CONFIG line 24: no released weights named (whole_infer needs them)"
    ;;
esac

echo "prepare: $model_name ready for $MODE"
