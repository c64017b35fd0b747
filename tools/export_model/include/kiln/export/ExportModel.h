//===- ExportModel.h - trained weights -> a static inference model -*- C++ -*-===//
//
// export_model's work as a library (the tool and the tests share it):
//
//   <save dir>/inference.kmodel       the artifact with only the `infer` entry,
//                                     the kernels it launches (CPU, and with
//                                     `cuda` also CUDA cubins + PTX) and the
//                                     parameters it reads (no train_step,
//                                     eval_step or optimizer state)
//   <save dir>/inference.kparams      those parameters' values (the Predictor
//                                     loads them over the model's own copy)
//   <save dir>/inference.kmodel.json  what a deployer needs to know: inputs
//                                     (dynamic batch), outputs, kernels,
//                                     compiler version and flags, sha256 of
//                                     the checkpoint and of both files,
//                                     preprocessing, class names, and what
//                                     batch-norm folding and convolution
//                                     weight packing did
//
// Batch-norm folding: every conv2d + batch_norm pair is folded into one
// convolution (kiln-fold-batch-norm, values in double). The folded model is
// kept only if, on the check inputs, no softmax probability (what infer
// reports) differs from the unfolded model's by more than a quarter of the
// tolerance (1e-6; the rest is margin for inputs outside the check and for
// the rounding other batch sizes add, see kFoldMargin) and the top-1 class is
// the same everywhere; otherwise the unfolded model is exported and the json
// says why. Logit differences are measured and reported but not used:
// logits of ~10 carry float rounding of ~1e-6 (ULP 9.5e-7), which the
// unfolded model itself shows between batch sizes. The check inputs are the
// images of `checkImages` plus `syntheticChecks` seeded random images.
//
// Convolution weight packing (`packConvWeights`): the weights of the
// convolutions (stride 1 or 2, small output plane) whose output channels the
// runtime puts in the vector lanes are stored HWIO (kiln-pack-conv-weights,
// after folding; only where the CPU kernels use the direct convolution).
// Where the unpacked model's direct kernels summed in the same order the
// pack is a transposition and the outputs are bitwise those of the unpacked
// model (test/unit/inference checks it); where it ran im2col + sgemm the
// packed model is checked against the unpacked one on the check inputs like
// folding (the same tolerance and margin) and exported unpacked outside them.
//
// CUDA kernels (`cuda`): the folding check compiles and runs CPU-only
// artifacts (no GPU is needed to export). The chosen variant is then compiled
// once more with the CUDA target (NVRTC, once per architecture, through the
// NVRTC disk cache), and its CPU kernels and parameters must be byte-identical
// to the checked artifact's, so the file written holds exactly the CPU
// kernels the check ran. The CUDA kernels are the same fused groups as CUDA C;
// their agreement with the CPU kernels is what test/unit/cuda checks.
//===----------------------------------------------------------------------===//
#ifndef KILN_EXPORT_EXPORTMODEL_H
#define KILN_EXPORT_EXPORTMODEL_H

#include "kiln/runtime/Runtime.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kiln::exporter {

struct ExportOptions {
  std::string model = "lenet5";
  std::string pretrained; // .kparams (a training checkpoint or released weights)
  std::string saveDir;    // created if needed
  bool foldBatchNorm = true;
  double foldTolerance = 1e-6;
  /// Store the weights of small-output-plane convolutions HWIO
  /// (InferenceOptions::packConvWeights).
  bool packConvWeights = true;
  /// Image files (PNG/JPEG) for the folding check, preprocessed as infer does.
  std::vector<std::string> checkImages;
  /// Where checkImages came from, for the json ("./images/demo").
  std::string checkImagesSource;
  int syntheticChecks = 32;
  /// Also store CUDA kernels (kiln-compile --target=cpu,cuda): cubins for
  /// `cudaArchs` plus the PTX of the first one, compiled with NVRTC.
  bool cuda = false;
  std::vector<std::string> cudaArchs = {"sm_80", "sm_90"};
  /// NVRTC cache ("" = $KILN_CUDA_CACHE_DIR or ~/.cache/kiln/cuda, "none" = off).
  std::string cudaCacheDir;
  /// Recorded in the json.
  std::string commandLine;
};

/// What the folding check measured.
struct FoldReport {
  bool requested = false;
  bool applied = false;
  int folds = 0;             // conv + batch_norm pairs folded in the candidate model
  int checkInputs = 0;
  double maxLogitDiff = 0;   // max |folded - unfolded| over the check inputs
  double maxProbDiff = 0;
  int top1Mismatches = 0;
  std::string note;          // one sentence: what was done and why
};

/// What convolution weight packing did to the exported model.
struct PackReport {
  bool requested = false;
  /// (source, packed) parameter names of the weights stored HWIO.
  std::vector<std::pair<std::string, std::string>> packs;
  /// Packs whose convolutions now add their terms in another order than the
  /// unpacked model did (it ran them through im2col + sgemm): the packed
  /// model was checked against the unpacked one on the check inputs, as
  /// folding is, and kept only within the tolerance (-1: nothing to check).
  int reordered = 0;
  double maxLogitDiff = -1, maxProbDiff = -1;
  std::string note; // one sentence
};

struct ExportResult {
  std::string modelPath, paramsPath, jsonPath;
  uint64_t modelBytes = 0, paramsBytes = 0;
  int kernels = 0;
  int params = 0;
  int64_t paramElements = 0;
  FoldReport fold;
  PackReport pack;
  std::string checkpointSha256;
  double compileSeconds = 0;
  /// With `cuda`: the artifact's CUDA modules ("sm_80", "sm_90", "compute_80"),
  /// NVRTC's report ("7 distinct CUDA kernels, NVRTC 13.0: 2 architectures
  /// compiled, 0 from cache, 4.36 s"), the seconds of that compile, and the
  /// CUDA C translation unit the cubins were compiled from (for tests: the
  /// CPU emulator of test/support/cuda_emu runs it).
  std::vector<std::string> cudaModules;
  std::string cudaReport;
  double cudaSeconds = 0;
  std::string cudaSource;
};

/// A one-line failure (bad model name, weights, directory).
class ExportError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Exports; throws ExportError (or kiln::rt::Error / kiln::CompileError).
ExportResult exportModel(const ExportOptions &options);

/// Why CUDA kernels cannot be compiled by this build ("" when NVRTC is there).
std::string cudaTargetUnavailable();

/// Lower-case hex SHA-256 of a file (OpenSSL); throws ExportError naming it.
std::string sha256File(const std::string &path);

/// `count` seeded pseudo-random model inputs (kImageSize floats each): random
/// 8-bit gray images normalised as preprocessImage does.
std::vector<float> syntheticInputs(int count, uint64_t seed);

} // namespace kiln::exporter

#endif
