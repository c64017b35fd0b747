#!/usr/bin/env bash
# TIPC harness: reads a 32-line train_infer_python.txt config by line number and
# runs the model's chain for one MODE:
#   train -> eval -> export -> inference (use-gpu x batch size [x cpu threads])
# recording every command's outcome in
# test_tipc/output/<model_name>/<MODE>/results_python.log as
#   "Run successfully with command - <cmd>!" or "Run failed with command - <cmd>!".
# Prints "N passed, N failed, N skipped" at the end; exits 1 if any command failed
# (or none ran). GPU runs on a machine without a usable GPU are reported as
# skipped, with the reason, on stdout and in skipped_python.log.
#
#   bash test_tipc/prepare.sh <config> <MODE>        # data / weights first
#   bash test_tipc/test_train_inference_python.sh <config> <MODE> [GPU_ID]
#
# MODE: lite_train_lite_infer | lite_train_whole_infer | whole_infer |
#       whole_train_whole_infer. GPU_ID (whole_infer) picks the GPU for GPU inference.
# Commands run from the repository root; docs/test_train_inference_python.md
# describes the line semantics.
set -u

usage() {
  echo "usage: bash test_tipc/test_train_inference_python.sh <config> <MODE> [GPU_ID]" >&2
  echo "  MODE: lite_train_lite_infer | lite_train_whole_infer | whole_infer | whole_train_whole_infer" >&2
  exit 1
}
[ $# -ge 2 ] && [ $# -le 3 ] || usage

# shellcheck source=common_func.sh
source "$(dirname "${BASH_SOURCE[0]}")/common_func.sh"

CONFIG_ARG=$1
MODE=$2
GPU_ID=${3:-}
tipc_check_mode "$MODE"
TIPC_MODE=$MODE
[ -f "$CONFIG_ARG" ] || tipc_die "config '$CONFIG_ARG' not found"
CONFIG=$(cd "$(dirname "$CONFIG_ARG")" && pwd)/$(basename "$CONFIG_ARG")
if [ -n "$GPU_ID" ] && ! [[ $GPU_ID =~ ^[0-9]+(,[0-9]+)*$ ]]; then
  tipc_die "GPU_ID '$GPU_ID' must be a GPU index such as 0 (or a list such as 0,1)"
fi

ROOT=$(tipc_repo_root)
cd "$ROOT" || tipc_die "cannot enter the repository root $ROOT"
tipc_load_config "$CONFIG"

# ---- the config, line by line (every value through the MODE and null rules) ----
# Each "$(...) || exit 1" passes a config error (printed by tipc_die) on.
model_name=$(tipc_line_value 2) || exit 1
tipc_check_model_name "$model_name"
python=$(tipc_line_value 3) || exit 1
tipc_is_null "$python" && python=""
gpu_list_value=$(tipc_line_value 4) || exit 1
device_key=$(tipc_line_key 5)
device_value=$(tipc_line_value 5) || exit 1
epoch_key=$(tipc_line_key 6)
epoch_value=$(tipc_line_value 6) || exit 1
output_dir_key=$(tipc_line_key 7)
train_batch_key=$(tipc_line_key 8)
train_batch_value=$(tipc_line_value 8) || exit 1
pretrained_key=$(tipc_line_key 9)
pretrained_value=$(tipc_line_value 9) || exit 1
train_model_name=$(tipc_line_value 10) || exit 1
# Line 11 (data flag) is parsed but, as in the standard harness, passed to no
# command: the tools default to the data prepare.sh lays out for the MODE.
data_key=$(tipc_line_key 11)
data_value=$(tipc_line_value 11) || exit 1
trainer_list_value=$(tipc_line_value 13) || exit 1
trainer_name=$(tipc_line_key 14)
trainer_command=$(tipc_line_value 14) || exit 1
eval_command=$(tipc_line_value 17) || exit 1
save_infer_key=$(tipc_line_key 20)
export_weight_key=$(tipc_line_key 21)
export_command=$(tipc_line_value 22) || exit 1
infer_model_value=$(tipc_line_value 24) || exit 1
infer_export_value=$(tipc_line_value 25) || exit 1
inference_command=$(tipc_line_value 27) || exit 1
use_gpu_key=$(tipc_line_key 28)
use_gpu_value=$(tipc_line_value 28) || exit 1
infer_batch_key=$(tipc_line_key 29)
infer_batch_value=$(tipc_line_value 29) || exit 1
model_dir_key=$(tipc_line_key 30)
img_key=$(tipc_line_key 31)
img_value=$(tipc_line_value 31) || exit 1
benchmark_key=$(tipc_line_key 32)
benchmark_value=$(tipc_line_value 32) || exit 1
# Optional line 33+: a CPU thread-count loop for inference (e.g. --cpu-threads:1|2).
threads_key=""
threads_value=""
for ((n = 33; n <= TIPC_NLINES; n++)); do
  key=$(tipc_line_key "$n")
  case "$key" in
    *cpu-threads* | *cpu_threads* | *cpu-num-threads* | *cpu_num_threads*)
      threads_key=$key
      threads_value=$(tipc_line_value "$n") || exit 1
      ;;
    *) tipc_warn "$CONFIG line $n ('${TIPC_LINES[n]}') is not read by this harness (only a CPU threads line may follow line 32)" ;;
  esac
done

mapfile -t gpu_list < <(tipc_alternatives "$gpu_list_value")
mapfile -t device_values < <(tipc_alternatives "$device_value")
mapfile -t trainer_list < <(tipc_alternatives "$trainer_list_value")
mapfile -t infer_models < <(tipc_alternatives "$infer_model_value")
mapfile -t infer_exports < <(tipc_alternatives "$infer_export_value")
mapfile -t use_gpu_values < <(tipc_alternatives "$use_gpu_value")
mapfile -t infer_batches < <(tipc_alternatives "$infer_batch_value")
mapfile -t thread_values < <(tipc_alternatives "$threads_value")

for name in "$epoch_value" "$train_batch_value" "$pretrained_value" "$img_value" "$benchmark_value"; do
  [[ $name == *'|'* ]] &&
    tipc_die "$CONFIG: '$name' has '|' alternatives on a line that takes one value (loops: lines 4, 13, 24/25, 28, 29)"
done
is_training_mode=1
[ "$MODE" = whole_infer ] && is_training_mode=0
if [ $is_training_mode = 1 ]; then
  tipc_is_null "$output_dir_key" &&
    tipc_die "$CONFIG line 7: the output-dir flag must be named (training's output dir is where eval and export find the weights)"
  for trainer in "${trainer_list[@]}"; do
    tipc_is_null "$trainer" && continue
    [ "$trainer" = "$trainer_name" ] ||
      tipc_die "$CONFIG line 13: trainer '$trainer' has no command; line 14 defines '$trainer_name'"
  done
  tipc_is_null "$trainer_command" && tipc_die "$CONFIG line 14: the training command is null"
fi
if [ -n "$GPU_ID" ] && [ $is_training_mode = 1 ]; then
  tipc_warn "GPU_ID '$GPU_ID' is used by whole_infer only; training modes take their GPUs from line 4 (gpu_list)"
fi

if [ $is_training_mode = 1 ]; then
  # The tools default to ./data; without it they would fall back to whatever
  # else exists (lite_data, the full set) and certify the wrong thing.
  if [ ! -e data ]; then
    tipc_die "./data does not exist; run first: bash test_tipc/prepare.sh $CONFIG_ARG $MODE"
  fi
  data_target=$(readlink -f data)
  data_note="./data -> $data_target (line 11, parsed, not passed: $(tipc_param "$data_key" "$data_value"))"
  case "$MODE" in
    lite_*)
      [ -f "$data_target/train_list.txt" ] ||
        tipc_die "./data points to $data_target, not to lite_data; run first: bash test_tipc/prepare.sh $CONFIG_ARG $MODE" ;;
    whole_*)
      [ -f "$data_target/train_list.txt" ] && [ "$(basename "$data_target")" = lite_data ] &&
        tipc_die "./data points to lite_data, not to the full dataset; run first: bash test_tipc/prepare.sh $CONFIG_ARG $MODE" ;;
  esac
fi
# ---- the log dir ----
LOG_DIR=test_tipc/output/$model_name/$MODE
RESULTS=$LOG_DIR/results_python.log
SKIPS=$LOG_DIR/skipped_python.log
# A fresh log dir for every run, except the drivers' compile cache
# (<output-dir>/../.kiln-cache), so reruns do not recompile.
mkdir -p "$LOG_DIR"
find "$LOG_DIR" -mindepth 1 -maxdepth 1 ! -name .kiln-cache -exec rm -rf {} +
: >"$RESULTS"
: >"$SKIPS"

tipc_detect_gpus
echo "tipc: $model_name, $MODE, config $CONFIG_ARG"
echo "tipc: log dir $LOG_DIR"
if [ "$TIPC_GPU_COUNT" -gt 0 ]; then
  echo "tipc: $TIPC_GPU_COUNT GPU(s) available"
else
  echo "tipc: no GPU: $TIPC_NO_GPU_REASON; GPU runs are skipped"
fi
[ -n "${data_note:-}" ] && echo "tipc: data $data_note"
start_s=$(date +%s)

# ---- inference over use-gpu x (cpu threads) x batch size ----

# run_inference MODEL_DIR GPU_ENV LOG_SUFFIX: one inference command per
# combination, logged to $LOG_DIR/python_infer_<cpu|gpu>[_threads_<t>]_batchsize_<n><suffix>.log.
run_inference() {
  local model_dir=$1 gpu_env=$2 suffix=$3
  if tipc_is_null "$inference_command"; then
    echo "tipc: line 27 (inference) is null: no inference"
    return 0
  fi
  local use_gpu threads batch device log
  for use_gpu in "${use_gpu_values[@]}"; do
    if tipc_is_true "$use_gpu"; then
      device=gpu
      local -a thread_loop=("")
    else
      device=cpu
      local -a thread_loop=("${thread_values[@]}")
    fi
    for threads in "${thread_loop[@]}"; do
      for batch in "${infer_batches[@]}"; do
        local name="python_infer_${device}"
        [ -n "$threads" ] && name+="_threads_${threads}"
        if tipc_is_null "$batch"; then
          name+="_batchsize_default$suffix"
        else
          name+="_batchsize_$batch$suffix"
        fi
        log=$LOG_DIR/$name.log
        local command
        command=$(tipc_join "$([ $device = gpu ] && echo "$gpu_env")" "$python" "$inference_command" \
          "$(tipc_param "$use_gpu_key" "$use_gpu")" \
          "$(tipc_param "$infer_batch_key" "$batch")" \
          "$(tipc_param "$model_dir_key" "$model_dir")" \
          "$(tipc_param "$img_key" "$img_value")" \
          "$(tipc_param "$benchmark_key" "$benchmark_value")" \
          "$(tipc_param "$threads_key" "$threads")")
        if [ $device = gpu ] && [ "$TIPC_GPU_COUNT" -eq 0 ]; then
          tipc_skip "GPU inference ($command)" "$TIPC_NO_GPU_REASON" "$SKIPS"
          continue
        fi
        tipc_run "$log" "$command" "$RESULTS"
      done
    done
  done
}

# skip_chain WHAT REASON: the runs of a chain that cannot start, each reported.
skip_inference_runs() {
  local reason=$1 use_gpu batch
  for use_gpu in "${use_gpu_values[@]}"; do
    for batch in "${infer_batches[@]}"; do
      tipc_skip "inference ($(tipc_param "$use_gpu_key" "$use_gpu") $(tipc_param "$infer_batch_key" "$batch"))" "$reason" "$SKIPS"
    done
  done
}

# ---- the modes ----

if [ "$MODE" = whole_infer ]; then
  gpu_env=""
  [ -n "$GPU_ID" ] && gpu_env="CUDA_VISIBLE_DEVICES=$GPU_ID"
  count=${#infer_models[@]}
  for ((i = 0; i < count; i++)); do
    weights=${infer_models[i]}
    if tipc_is_null "$weights"; then
      continue
    fi
    export_cmd=${infer_exports[i]:-${infer_exports[0]}}
    suffix=""
    [ "$count" -gt 1 ] && suffix="_model_$i"
    if tipc_is_null "$export_cmd"; then
      # Line 25 null: line 24 already names an inference model.
      run_inference "$weights" "$gpu_env" "$suffix"
      continue
    fi
    save_dir=$LOG_DIR/whole_infer_model$suffix
    command=$(tipc_join "$python" "$export_cmd" \
      "$(tipc_param "$export_weight_key" "$weights")" \
      "$(tipc_param "$save_infer_key" "$save_dir")")
    if tipc_run "$LOG_DIR/export_whole_infer$suffix.log" "$command" "$RESULTS"; then
      run_inference "$save_dir" "$gpu_env" "$suffix"
    else
      skip_inference_runs "the export of $weights failed"
    fi
  done
else
  runs=$((${#gpu_list[@]} * ${#trainer_list[@]}))
  for gi in "${!gpu_list[@]}"; do
    gpu=${gpu_list[gi]}
    # Line 5 holds one device value per gpu_list entry (or one for all).
    device=${device_values[gi]:-${device_values[0]:-}}
    gpu_env=""
    skip_reason=""
    if [[ $gpu == *';'* ]]; then
      skip_reason="multi-machine gpu_list entries ('$gpu') are not supported"
    elif tipc_is_null "$gpu" || [ "$gpu" = -1 ]; then
      gpu=-1
    else
      ngpus=$(($(tr -cd ',' <<<"$gpu" | wc -c) + 1))
      gpu_env="CUDA_VISIBLE_DEVICES=$gpu"
      if [ "$TIPC_GPU_COUNT" -eq 0 ]; then
        skip_reason=$TIPC_NO_GPU_REASON
      elif [ "$TIPC_GPU_COUNT" -lt "$ngpus" ]; then
        skip_reason="needs $ngpus GPUs, $TIPC_GPU_COUNT available"
      fi
    fi
    for trainer in "${trainer_list[@]}"; do
      tipc_is_null "$trainer" && continue
      run_dir=$LOG_DIR/${trainer}_gpus_${gpu}
      tag=${trainer}_gpus_${gpu}
      suffix=""
      [ "$runs" -gt 1 ] && suffix="_$tag"
      train_cmd=$(tipc_join "$gpu_env" "$python" "$trainer_command" \
        "$(tipc_param "$output_dir_key" "$run_dir")" \
        "$(tipc_param "$epoch_key" "$epoch_value")" \
        "$(tipc_param "$pretrained_key" "$pretrained_value")" \
        "$(tipc_param "$train_batch_key" "$train_batch_value")" \
        "$(tipc_param "$device_key" "$device")")
      if [ -n "$skip_reason" ]; then
        tipc_skip "training on gpus $gpu ($train_cmd) and its eval, export and inference" "$skip_reason" "$SKIPS"
        continue
      fi
      if ! tipc_run "$LOG_DIR/train_$tag.log" "$train_cmd" "$RESULTS"; then
        tipc_skip "eval, export and inference of $tag" "its training failed" "$SKIPS"
        continue
      fi
      weights=$run_dir/$train_model_name
      if tipc_is_null "$eval_command"; then
        echo "tipc: line 17 (eval) is null: no eval"
      else
        eval_cmd=$(tipc_join "$gpu_env" "$python" "$eval_command" \
          "$(tipc_param "$pretrained_key" "$weights")" \
          "$(tipc_param "$device_key" "$device")")
        tipc_run "$LOG_DIR/eval_$tag.log" "$eval_cmd" "$RESULTS"
      fi
      if tipc_is_null "$export_command"; then
        echo "tipc: line 22 (export) is null: inference reads $run_dir as it is"
      else
        export_cmd=$(tipc_join "$gpu_env" "$python" "$export_command" \
          "$(tipc_param "$export_weight_key" "$weights")" \
          "$(tipc_param "$save_infer_key" "$run_dir")")
        if ! tipc_run "$LOG_DIR/export_$tag.log" "$export_cmd" "$RESULTS"; then
          skip_inference_runs "the export of $tag failed"
          continue
        fi
      fi
      # Inference on GPU uses the training GPU, or GPU 0 after CPU training.
      infer_gpu_env=$gpu_env
      [ -z "$infer_gpu_env" ] && infer_gpu_env="CUDA_VISIBLE_DEVICES=${GPU_ID:-0}"
      run_inference "$run_dir" "$infer_gpu_env" "$suffix"
    done
  done
fi

elapsed=$(($(date +%s) - start_s))
echo "tipc: $model_name $MODE: $TIPC_PASSED passed, $TIPC_FAILED failed, $TIPC_SKIPPED skipped in ${elapsed} s (results: $RESULTS)"
if [ "$TIPC_SKIPPED" -gt 0 ]; then
  echo "tipc: skipped runs are listed in $SKIPS"
fi
if [ "$TIPC_FAILED" -gt 0 ]; then
  exit 1
fi
if [ "$TIPC_PASSED" -eq 0 ]; then
  echo "tipc: nothing ran, nothing certified" >&2
  exit 1
fi
exit 0
