#!/usr/bin/env bash
# A stand-in for train/eval/export_model/infer in the harness tests: appends its
# role and arguments to $FAKE_TOOL_LOG (one line per call), leaves the files the
# next step reads (train: <output-dir>/latest.kparams; export:
# <save-inference-dir>/inference.kmodel), and fails (exit 3) when its role is
# named in $FAKE_FAIL.
role=$1
shift
echo "$role $*" >>"${FAKE_TOOL_LOG:?FAKE_TOOL_LOG not set}"
for fail in ${FAKE_FAIL:-}; do
  if [ "$fail" = "$role" ]; then
    echo "fake $role: failing as asked (FAKE_FAIL)" >&2
    exit 3
  fi
done
value_of() {
  local arg
  for arg in "${@:2}"; do
    case "$arg" in "$1"=*) echo "${arg#*=}" ;; esac
  done
}
case "$role" in
  train)
    dir=$(value_of --output-dir "$@")
    [ -n "$dir" ] || { echo "fake train: no --output-dir" >&2; exit 2; }
    mkdir -p "$dir" && echo weights >"$dir/latest.kparams" ;;
  export)
    dir=$(value_of --save-inference-dir "$@")
    weights=$(value_of --pretrained "$@")
    [ -f "$weights" ] || { echo "fake export: no weights '$weights'" >&2; exit 2; }
    mkdir -p "$dir" && echo model >"$dir/inference.kmodel" ;;
  infer)
    dir=$(value_of --model-dir "$@")
    [ -z "$dir" ] || [ -f "$dir/inference.kmodel" ] || { echo "fake infer: no model in '$dir'" >&2; exit 2; } ;;
esac
echo "fake $role: ok"
