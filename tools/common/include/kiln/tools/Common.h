//===- Common.h - shared by the train and eval drivers ----------*- C++ -*-===//
//
// - the compile cache: compileTrainingCached() keys the artifact by
//   hash(model, seed, training options, target, compiler build id) and keeps
//   it as <cacheDir>/<key>.kiln (written then renamed), so a second run only
//   loads it; evalArtifactCached() finds the artifact train last used for the
//   model through <cacheDir>/<model>-eval-<hash>.ref, so eval and predict
//   reuse it instead of compiling their own;
// - evaluate(): the eval_step loop over a split (top-1, top-5, mean loss);
// - TrainState: the driver's position, stored inside latest.kopt as tensors;
// - Log: prints to stdout and appends to a log file.
//===----------------------------------------------------------------------===//
#ifndef KILN_TOOLS_COMMON_H
#define KILN_TOOLS_COMMON_H

#include "kiln/Driver/Compiler.h"
#include "kiln/data/DataLoader.h"
#include "kiln/runtime/Runtime.h"

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace kiln::tools {

/// A one-line failure the drivers print as "<tool>: <what>" before exiting 1.
class ToolError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// 64-bit FNV-1a.
uint64_t fnv1a(const void *data, size_t size, uint64_t h = 1469598103934665603ull);

/// The cache directory: $KILN_CACHE_DIR if set, else `fallback`.
std::string cacheDir(const std::string &fallback);

/// Identifies the compiler that produced a cached artifact: 16 hex digits of
/// a SHA-256 over the built compiler libraries (frontend, dialect, passes,
/// codegen, driver) and the LLVM/NVRTC versions, computed at build time
/// (tools/common/CompilerBuildId.cmake, which says why). Any change to the
/// compiler changes it, so the cache never hands out a stale artifact.
std::string compilerBuildId();

/// The cache name (file name without ".kiln") of the training artifact of
/// `model` with these seed, options and target, built by compiler `buildId`.
std::string trainingCacheKey(const std::string &model, uint64_t seed,
                             const TrainingOptions &training, bool cuda,
                             const std::string &buildId);

/// The cache name (without ".ref") of the pointer to a training artifact
/// whose eval_step and infer suit evaluation. Keyed only by what changes those
/// two entries: the model, the label smoothing of eval_step's loss, the target
/// and the compiler. Not by the seed (eval and predict import every model
/// parameter over the initial ones) nor by the optimizer options (they only
/// shape train_step).
std::string evalCacheKey(const std::string &model, float labelSmoothing, bool cuda,
                         const std::string &buildId);

/// compileTrainingModel through the cache (see above). `note` receives
/// "compiled in X s" or "loaded from cache". With `cuda` the artifact also
/// carries the CUDA kernels (kiln-compile --target=cpu,cuda; a separate
/// cache entry; NVRTC's own cache is $KILN_CUDA_CACHE_DIR or ~/.cache/kiln/cuda).
/// Also points the eval entry (evalCacheKey) at the artifact it returns.
std::shared_ptr<const rt::Artifact> compileTrainingCached(const std::string &model, uint64_t seed,
                                                          const TrainingOptions &training,
                                                          const std::string &cacheDir,
                                                          std::string &note, bool cuda = false);

/// An artifact for eval_step and infer of `model` (label smoothing 0, as eval
/// reports the plain cross-entropy): the one train last compiled or loaded
/// for the model when the cache points at one (so eval after train compiles
/// nothing, whatever the optimizer flags), else compileTrainingCached with
/// seed 42 and the default TrainingOptions. Callers must import every model
/// parameter (importModelWeights): the artifact's initial values are those of
/// whichever seed built it.
std::shared_ptr<const rt::Artifact> evalArtifactCached(const std::string &model,
                                                       const std::string &cacheDir,
                                                       std::string &note, bool cuda = false);

/// Session options for a --device value: cpu, gpu (= cuda), gpu:N / cuda:N
/// (GPU number N). Throws ToolError otherwise.
rt::SessionOptions sessionOptions(const std::string &device, int threads);
/// For a GPU: throws ToolError saying why the GPU is unusable (no driver, no
/// such device), checked without compiling anything. Nothing for the CPU.
void requireDevice(const rt::SessionOptions &options);

/// True for optimizer-state parameters (<p>.momentum_buffer, .exp_avg, .exp_avg_sq).
bool isOptimizerState(const std::string &name);

/// False for the compiler's folded constants ("constant.<n>", artifact-specific):
/// they are never written to or read from checkpoints.
bool isCheckpointed(const std::string &name);
/// A model parameter or buffer (weights, BN running stats): checkpointed, not optimizer state.
bool isModelParam(const std::string &name);

/// Checks the model name against the zoo; throws ToolError naming the known ones.
void checkModelName(const std::string &model);

/// Opens a split, turning a missing path into a message that says how to get the data.
std::shared_ptr<const data::Dataset> openSplit(const std::string &path, data::Split split);

/// Sets the model parameters of `session` (every one must be given).
void importModelWeights(rt::Session &session, const std::vector<rt::NamedTensor> &tensors,
                        const std::string &origin);

/// Loads a .kparams and checks it against the model's parameters (names and
/// shapes, from the frontend: no compile needed), optimizer-state tensors
/// ignored. Throws ToolError listing the mismatches in one line. Returns the
/// model tensors.
std::vector<rt::NamedTensor> readModelWeights(const std::string &model, const std::string &path);

/// One-line version of an exception message (newlines -> "; ").
std::string oneLine(const std::string &s);

struct EvalResult {
  double top1 = 0, top5 = 0, loss = 0, imagesPerSecond = 0, seconds = 0;
  int64_t count = 0;
};
/// Runs eval_step over every batch of `loader`'s epoch 0 (no shuffle/augment expected).
EvalResult evaluate(rt::Session &session, data::DataLoader &loader, int numClasses);

/// One-hot targets of a batch.
void oneHot(const data::Batch &batch, int numClasses, std::vector<float> &target);

/// Prints to stdout and to the log file (flushed every line).
class Log {
public:
  Log() = default;
  ~Log();
  void open(const std::string &path, bool append);
  void line(const std::string &text);

private:
  FILE *file_ = nullptr;
};

/// The training position kept in latest.kopt beside the optimizer state.
struct TrainState {
  int64_t version = 1;
  int64_t nextEpoch = 0;     // the epoch to (continue to) run, 0-based
  int64_t nextBatch = 0;     // the first batch of nextEpoch not yet trained
  int64_t globalStep = 0;    // optimizer steps done (Adam's t)
  int64_t seed = 0;
  int64_t batchSize = 0;
  int64_t paramsHash = 0;    // fnv1a of latest.kparams' tensors: pairs the two files
  int64_t epochsPlanned = 0;
  double bestTop1 = -1;
  double nextLr = 0;
};

/// Tensors "kiln.train_state" (each int64 as four exact 16-bit floats) and
/// "kiln.train_state_f" (bestTop1, nextLr as f32).
std::vector<rt::NamedTensor> encodeState(const TrainState &s);
/// Finds and decodes them in `tensors` (and removes them); throws ToolError if absent.
TrainState decodeState(std::vector<rt::NamedTensor> &tensors, const std::string &origin);

/// fnv1a over the names, shapes and data of `tensors`.
uint64_t hashTensors(const std::vector<rt::NamedTensor> &tensors);

/// Parses True/False/true/false/1/0/yes/no/on/off ("" is true: the flag given
/// alone; kiln/tools/BoolFlags.h declares such flags); throws ToolError otherwise.
bool parseBool(const std::string &flag, const std::string &value);

} // namespace kiln::tools

#endif
