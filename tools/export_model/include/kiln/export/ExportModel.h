//===- ExportModel.h - trained weights -> a static inference model -*- C++ -*-===//
//
// export_model's work as a library (the tool and the tests share it):
//
//   <save dir>/inference.kmodel       the artifact with only the `infer` entry,
//                                     the kernels it launches and the
//                                     parameters it reads (no train_step,
//                                     eval_step or optimizer state)
//   <save dir>/inference.kparams      those parameters' values (the Predictor
//                                     loads them over the model's own copy)
//   <save dir>/inference.kmodel.json  what a deployer needs to know: inputs
//                                     (dynamic batch), outputs, kernels,
//                                     compiler version and flags, sha256 of
//                                     the checkpoint and of both files,
//                                     preprocessing, class names, and what
//                                     batch-norm folding did
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
//===----------------------------------------------------------------------===//
#ifndef KILN_EXPORT_EXPORTMODEL_H
#define KILN_EXPORT_EXPORTMODEL_H

#include "kiln/runtime/Runtime.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::exporter {

struct ExportOptions {
  std::string model = "lenet5";
  std::string pretrained; // .kparams (a training checkpoint or released weights)
  std::string saveDir;    // created if needed
  bool foldBatchNorm = true;
  double foldTolerance = 1e-6;
  /// Image files (PNG/JPEG) for the folding check, preprocessed as infer does.
  std::vector<std::string> checkImages;
  /// Where checkImages came from, for the json ("./images/demo").
  std::string checkImagesSource;
  int syntheticChecks = 32;
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

struct ExportResult {
  std::string modelPath, paramsPath, jsonPath;
  uint64_t modelBytes = 0, paramsBytes = 0;
  int kernels = 0;
  int params = 0;
  int64_t paramElements = 0;
  FoldReport fold;
  std::string checkpointSha256;
  double compileSeconds = 0;
};

/// A one-line failure (bad model name, weights, directory).
class ExportError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Exports; throws ExportError (or kiln::rt::Error / kiln::CompileError).
ExportResult exportModel(const ExportOptions &options);

/// Lower-case hex SHA-256 of a file (OpenSSL); throws ExportError naming it.
std::string sha256File(const std::string &path);

/// `count` seeded pseudo-random model inputs (kImageSize floats each): random
/// 8-bit gray images normalised as preprocessImage does.
std::vector<float> syntheticInputs(int count, uint64_t seed);

} // namespace kiln::exporter

#endif
