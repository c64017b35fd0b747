#!/usr/bin/env bash
# Shared helpers of the TIPC scripts (prepare.sh, test_train_inference_python.sh):
# reading a train_infer_python.txt config by line number, the value rules
# (null dropping, MODE=value picking, a|b alternatives, key=value emission),
# GPU detection, and the status bookkeeping behind results_python.log.
# The format is described in docs/test_train_inference_python.md. Sourced, never run.

TIPC_MODES=(lite_train_lite_infer lite_train_whole_infer whole_infer whole_train_whole_infer)
# The layout reads these lines by position; the first 32 are mandatory.
TIPC_CONFIG_LINES=32

# ---- messages ----

tipc_die() {
  echo "tipc: error: $*" >&2
  exit 1
}

tipc_warn() {
  echo "tipc: warning: $*" >&2
}

# ---- small string helpers ----

tipc_trim() {
  local s=$1
  s=${s#"${s%%[![:space:]]*}"}
  s=${s%"${s##*[![:space:]]}"}
  printf '%s' "$s"
}

# True when a value or key means "drop this parameter": empty or the word null.
tipc_is_null() {
  [ -z "$1" ] || [ "$1" = "null" ]
}

tipc_is_mode() {
  local m
  for m in "${TIPC_MODES[@]}"; do
    [ "$m" = "$1" ] && return 0
  done
  return 1
}

# True for the spellings of "yes" a use-gpu / benchmark value may take.
tipc_is_true() {
  case "$1" in
    True|true|TRUE|1|yes|Yes|on) return 0 ;;
    *) return 1 ;;
  esac
}

# ---- the config ----

# tipc_load_config FILE: reads FILE into TIPC_LINES (TIPC_LINES[n] is line n,
# 1-based; CR and trailing blanks stripped) and checks the layout. Blank lines
# are an error: the standard reader drops them and reads by position, so one
# blank line silently shifts every later line onto the wrong meaning. Blank
# lines after the last line shift nothing and only get a warning.
tipc_load_config() {
  local cfg=$1
  [ -e "$cfg" ] || tipc_die "config '$cfg' not found"
  if [ ! -f "$cfg" ] || [ ! -r "$cfg" ]; then
    tipc_die "config '$cfg' is not a readable file"
  fi
  TIPC_CONFIG=$cfg
  TIPC_LINES=("")
  local line n=0 last=0
  local -a blank=()
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line=${line%$'\r'}
    line=${line%"${line##*[![:space:]]}"}
    TIPC_LINES+=("$line")
    if [ -z "${line//[[:space:]]/}" ]; then
      blank+=("$n")
    else
      last=$n
    fi
  done <"$cfg"
  local b
  for b in "${blank[@]}"; do
    if [ "$b" -lt "$last" ]; then
      tipc_die "$cfg: line $b is blank; the config is read by line number and the standard reader drops blank lines, so every line after it would shift (remove the blank line)"
    fi
  done
  if [ "$last" -lt "$n" ]; then
    tipc_warn "$cfg: blank line(s) after line $last (harmless, but better removed)"
  fi
  TIPC_LINES=("${TIPC_LINES[@]:0:$((last + 1))}")
  TIPC_NLINES=$last
  if [ "$last" -lt "$TIPC_CONFIG_LINES" ]; then
    tipc_die "$cfg: has $last lines; the layout needs $TIPC_CONFIG_LINES (see test_tipc/docs/test_train_inference_python.md)"
  fi
  tipc_check_layout
}

# Headers, separators and the keys that name positions: a mismatch means a
# line is missing or extra above it, which would shift every meaning.
tipc_check_layout() {
  local cfg=$TIPC_CONFIG n line key
  local -A header=([1]=train_params [16]=eval_params [19]=infer_params)
  local -A named=([2]=model_name [3]=python [4]=gpu_list [10]=train_model_name [13]=trainer
                  [17]=eval [24]=train_model [25]=infer_export [27]=inference)
  for ((n = 1; n <= TIPC_NLINES; n++)); do
    line=${TIPC_LINES[n]}
    if [ -n "${header[$n]:-}" ]; then
      [[ $line =~ ^=+${header[$n]}=+$ ]] ||
        tipc_die "$cfg: line $n should be the '====${header[$n]}====' header but is '$line' (a line missing or extra above it?)"
      continue
    fi
    case $n in
      12 | 15 | 18 | 23 | 26)
        [ "$line" = "##" ] ||
          tipc_die "$cfg: line $n should be the separator '##' but is '$line' (a line missing or extra above it?)"
        continue ;;
    esac
    [[ $line == *:* ]] || tipc_die "$cfg: line $n is '$line'; expected key:value"
    [[ ${line#*:} == *:* ]] &&
      tipc_die "$cfg: line $n is '$line'; a value must not contain ':' (the standard reader keeps only the text up to the second ':')"
    if [ -n "${named[$n]:-}" ]; then
      key=$(tipc_line_key "$n")
      [ "$key" = "${named[$n]}" ] ||
        tipc_die "$cfg: line $n should have the key '${named[$n]}' but has '$key' (a line missing or extra above it?)"
    fi
  done
}

# The key of line n: the text before the first ':'.
tipc_line_key() {
  local line=${TIPC_LINES[$1]}
  tipc_trim "${line%%:*}"
}

# The raw value of line n: the text between the first and the second ':'.
tipc_line_raw_value() {
  local line=${TIPC_LINES[$1]}
  local value=""
  if [[ $line == *:* ]]; then
    value=${line#*:}
    value=${value%%:*}
  fi
  tipc_trim "$value"
}

# tipc_pick_mode VALUE MODE [WHERE]: a value of the form
# "lite_train_lite_infer=2|whole_train_whole_infer=30" gives the entry for MODE,
# or nothing (the parameter is dropped) when MODE is not listed. Any other value
# comes back unchanged. The form is recognised by a known MODE name before an
# '=' in one of the '|' alternatives.
tipc_pick_mode() {
  local value=$1 mode=$2 where=${3:-value}
  [[ $value == *=* ]] || { printf '%s' "$value"; return 0; }
  local -a parts
  IFS='|' read -r -a parts <<<"$value"
  local p name mode_form=0
  for p in "${parts[@]}"; do
    p=$(tipc_trim "$p")
    [[ $p == *=* ]] || continue
    tipc_is_mode "$(tipc_trim "${p%%=*}")" && mode_form=1
  done
  if [ $mode_form = 0 ]; then
    printf '%s' "$value"
    return 0
  fi
  local picked=""
  for p in "${parts[@]}"; do
    p=$(tipc_trim "$p")
    [[ $p == *=* ]] ||
      tipc_die "$where: '$value' mixes MODE=value entries with the plain entry '$p'"
    name=$(tipc_trim "${p%%=*}")
    tipc_is_mode "$name" || tipc_warn "$where: '$name' in '$value' is not a MODE this harness runs (${TIPC_MODES[*]})"
    [ "$name" = "$mode" ] && picked=${p#*=}
  done
  printf '%s' "$(tipc_trim "$picked")"
}

# The value of line n for the current MODE (TIPC_MODE).
tipc_line_value() {
  tipc_pick_mode "$(tipc_line_raw_value "$1")" "${TIPC_MODE:-}" "$TIPC_CONFIG line $1"
}

# tipc_alternatives VALUE: the '|' alternatives of VALUE, one per line ("run once
# with each"). An empty value gives one empty alternative, so a loop over it
# still runs once, with the parameter dropped.
tipc_alternatives() {
  local value=$1 p
  if [ -z "$value" ]; then
    echo ""
    return 0
  fi
  local -a parts
  IFS='|' read -r -a parts <<<"$value"
  [[ $value == *'|' ]] && parts+=("")
  for p in "${parts[@]}"; do
    tipc_trim "$p"
    echo
  done
}

# tipc_param KEY VALUE: "KEY=VALUE", or nothing when KEY or VALUE is null/empty.
tipc_param() {
  if tipc_is_null "$1" || tipc_is_null "$2"; then
    return 0
  fi
  printf '%s=%s' "$1" "$2"
}

# tipc_join WORD...: the non-empty words joined by single spaces.
tipc_join() {
  local out="" w
  for w in "$@"; do
    [ -n "$w" ] || continue
    out=${out:+$out }$w
  done
  printf '%s' "$out"
}

# A model name becomes a directory name under test_tipc/output.
tipc_check_model_name() {
  [[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] ||
    tipc_die "$TIPC_CONFIG line 2: model_name '$1' must be letters, digits, '_', '-' or '.' (it names the log directory)"
}

tipc_check_mode() {
  tipc_is_mode "$1" || tipc_die "unknown MODE '$1'; expected one of: ${TIPC_MODES[*]}"
}

# The repository root: the parent of test_tipc/ (logical path, so a test_tipc/
# reached through a symlinked tree keeps that tree as its root).
tipc_repo_root() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  dirname "$here"
}

# ---- GPUs ----

# tipc_detect_gpus: sets TIPC_GPU_COUNT (0 when none can be used) and, when 0,
# TIPC_NO_GPU_REASON. TIPC_NO_GPU=1 forces "no GPU" (to certify the CPU part on
# a GPU machine).
tipc_detect_gpus() {
  TIPC_GPU_COUNT=0
  TIPC_NO_GPU_REASON=""
  if [ "${TIPC_NO_GPU:-0}" = 1 ]; then
    TIPC_NO_GPU_REASON="TIPC_NO_GPU=1 is set"
    return 0
  fi
  local libcuda=0
  if ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1'; then
    libcuda=1
  fi
  if command -v nvidia-smi >/dev/null 2>&1; then
    local listing
    listing=$(nvidia-smi -L 2>&1)
    TIPC_GPU_COUNT=$(grep -c '^GPU [0-9]' <<<"$listing")
    if [ "$TIPC_GPU_COUNT" -eq 0 ]; then
      TIPC_NO_GPU_REASON="nvidia-smi lists no GPU ($(head -n 1 <<<"$listing"))"
    elif [ $libcuda = 0 ]; then
      TIPC_GPU_COUNT=0
      TIPC_NO_GPU_REASON="nvidia-smi lists a GPU but the CUDA driver library libcuda.so.1 is not installed"
    fi
    return 0
  fi
  if [ $libcuda = 1 ] && ls /dev/nvidia[0-9]* >/dev/null 2>&1; then
    TIPC_GPU_COUNT=$(ls -d /dev/nvidia[0-9]* | wc -l)
    return 0
  fi
  if [ $libcuda = 1 ]; then
    TIPC_NO_GPU_REASON="libcuda.so.1 is installed but there is no /dev/nvidia* device and no nvidia-smi"
  else
    TIPC_NO_GPU_REASON="no NVIDIA GPU: nvidia-smi is not installed and the CUDA driver library libcuda.so.1 is not present"
  fi
}

# ---- status bookkeeping ----

TIPC_PASSED=0
TIPC_FAILED=0
TIPC_SKIPPED=0

# tipc_status RC COMMAND RESULTS_LOG: one line per command outcome, in exactly
# the standard's two forms, on stdout and appended to RESULTS_LOG.
tipc_status() {
  local rc=$1 command=$2 results=$3 line
  if [ "$rc" -eq 0 ]; then
    line="Run successfully with command - ${command}!"
    TIPC_PASSED=$((TIPC_PASSED + 1))
  else
    line="Run failed with command - ${command}!"
    TIPC_FAILED=$((TIPC_FAILED + 1))
  fi
  echo "$line" >>"$results"
  echo "$line"
}

# tipc_skip WHAT REASON SKIP_LOG: a run that was not attempted. Skips are not
# command outcomes, so they stay out of results_python.log; they go to stdout,
# to SKIP_LOG and into the summary, never silently.
tipc_skip() {
  local line="Skipped $1: $2"
  TIPC_SKIPPED=$((TIPC_SKIPPED + 1))
  echo "$line" >>"$3"
  echo "$line"
}

# tipc_run LOG COMMAND RESULTS_LOG: runs COMMAND (a shell command line, as the
# config writes it) from the current directory with stdout and stderr in LOG,
# and records "COMMAND > LOG 2>&1" as the outcome. Returns the command's status.
# On failure the end of LOG is shown, so the cause is on screen.
tipc_run() {
  local log=$1 command=$2 results=$3 rc start end
  start=$(date +%s%N)
  (eval "$command") >"$log" 2>&1 </dev/null
  rc=$?
  end=$(date +%s%N)
  tipc_status "$rc" "$command > $log 2>&1" "$results"
  local ms=$(((end - start) / 1000000))
  printf '    (exit %d, %d.%03d s, log %s)\n' "$rc" $((ms / 1000)) $((ms % 1000)) "$log"
  if [ "$rc" -ne 0 ]; then
    echo "    ---- last lines of $log ----"
    tail -n 15 "$log" | sed 's/^/    | /'
  fi
  return "$rc"
}
