//===- Compiler.h - model -> artifact ---------------------------*- C++ -*-===//
//
// The compiler's entry point for tools and tests. MLIR-free on purpose: a
// translation unit that only wants "compile this model" does not pay for MLIR
// headers.
//
//   kiln::CompileOptions options;
//   kiln::CompileResult r = kiln::compileModel("resnet20", /*seed=*/42, options);
//   // r.artifact holds the flatbuffers artifact (runtime/schema/kiln_artifact.fbs)
//===----------------------------------------------------------------------===//
#ifndef KILN_DRIVER_COMPILER_H
#define KILN_DRIVER_COMPILER_H

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln {
namespace fe {
class Graph;
}

/// A compile failure; what() is the diagnostic (with the layer's location).
class CompileError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct CompileOptions {
  /// false: every op its own kernel (the unfused reference).
  bool fusion = true;
  /// Stop early and return IR text instead of an artifact:
  /// "kiln" (after canonicalisation), "fused" (after fusion and memory
  /// planning), "llvm" (LLVM IR of the kernels after O3), "cuda" (the CUDA C
  /// of the kernels, as handed to NVRTC).
  std::string emit;
  /// Also build the CUDA target: every kernel compiled by NVRTC into a cubin
  /// per architecture in `cudaArchs` plus the PTX of the first one (the JIT
  /// fallback), stored in the artifact beside the CPU module.
  bool cuda = false;
  std::vector<std::string> cudaArchs = {"sm_80", "sm_90"};
  /// NVRTC results are cached here ("" = codegen::defaultCudaCacheDir(),
  /// "none" = no cache).
  std::string cudaCacheDir;
  /// If set, the IR after every pass goes to <dir>/<NN>-<pass>.mlir.
  std::string irDumpDir;
  /// CPU convolutions: "auto" (direct on AVX-512 hosts), "direct" or "im2col"
  /// (kiln-lower-to-llvm's conv-algorithm); for benchmarks and A/B checks.
  std::string convAlgorithm = "auto";
  /// The model name recorded in the artifact (compileGraph only).
  std::string modelName = "model";
};

struct CompiledKernel {
  std::string name;
  std::string ops;  // "conv2d+batch_norm+relu"
  std::string kind; // fusion kind of the anchor
  int64_t flopsPerItem = 0;
};

struct CompiledEntry {
  std::string name;
  std::vector<CompiledKernel> kernels; // launch order
  int64_t arenaBytesPerItem = 0;
  int64_t arenaBytesFixed = 0;
  int64_t peakBytesPerItem = 0;
};

struct CompileResult {
  std::vector<uint8_t> artifact; // empty when options.emit is set
  std::string text;              // the IR asked for by options.emit
  std::vector<CompiledEntry> entries;
  double seconds = 0;
  /// With options.cuda: the CUDA C translation unit, its number of distinct
  /// kernels, and how NVRTC went ("2 compiled in 31.2 s" / "2 from cache").
  std::string cudaSource;
  size_t cudaDistinctKernels = 0;
  std::string cudaReport;
};

/// The initial value of one kiln.parameter.
struct ParamValue {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
  bool trainable = true;
};

/// Compiles kiln-dialect MLIR text: every func.func becomes an entry of the
/// artifact (inputs/outputs named input<i>/output<i>). `params` must give a
/// value for every kiln.parameter name the text reads.
CompileResult compileMlir(const std::string &mlirText, const std::vector<ParamValue> &params,
                          const CompileOptions &options);

/// Compiles a frontend graph into an artifact with the entry "infer".
CompileResult compileGraph(const fe::Graph &graph, const CompileOptions &options);

/// Compiles a registered model (kiln::fe::buildModel) with seeded initial weights.
CompileResult compileModel(const std::string &modelName, uint64_t seed,
                           const CompileOptions &options);

/// How the training entry updates the parameters (kiln-optimizer's options;
/// PyTorch 1.13 semantics, see docs/dialect.md "Optimizers").
struct TrainingOptions {
  std::string optimizer = "sgd"; // sgd | adam | adamw
  double momentum = 0.9;
  bool nesterov = false;
  double weightDecay = 0.0;
  bool noDecayBnBias = false; // no weight decay on rank-1 parameters
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
  float labelSmoothing = 0.0f;
};

/// One artifact with three entries over the same parameters:
///   train_step(image, target, lr[, bias_correction1, bias_correction2])
///       -> (loss, grad:<param>...)  forward in training mode, backward, and
///          the optimizer update of every parameter and its state, in place;
///   eval_step(image, target) -> (loss, logits)   inference-mode forward;
///   infer(image) -> logits.
/// `target` is the one-hot label matrix; optimizer state parameters
/// (<param>.momentum_buffer, .exp_avg, .exp_avg_sq) start at zero.
CompileResult compileTraining(const fe::Graph &graph, const TrainingOptions &training,
                              const CompileOptions &options);
CompileResult compileTrainingModel(const std::string &modelName, uint64_t seed,
                                   const TrainingOptions &training,
                                   const CompileOptions &options);

/// One batch_norm folded into the convolution before it by compileInference
/// (kiln-fold-batch-norm): per output channel c, with s = gamma / sqrt(var + epsilon),
///   foldedWeight[c] = convWeight[c] * s[c]
///   foldedBias[c]   = (convBias[c] - mean[c]) * s[c] + beta[c]   (convBias 0 if absent)
/// computed in double from the f32 parameters and rounded to f32 once.
struct BatchNormFold {
  std::string convWeight, convBias; // convBias empty: the convolution had no bias
  std::string bnWeight, bnBias, bnMean, bnVar;
  float epsilon = 0;
  std::string foldedWeight, foldedBias;
};

/// One convolution weight stored HWIO by compileInference
/// (kiln-pack-conv-weights): a new parameter `packed` of shape
/// [KH, KW, Cin, Cout] holding the OIHW parameter `source` transposed:
///   packed[((ky * KW + kx) * Cin + ci) * Cout + co] =
///       source[((co * Cin + ci) * KH + ky) * KW + kx]
struct ConvWeightPack {
  std::string source, packed;
  /// Whether every convolution reading it keeps its sums (a transposition:
  /// outputs bitwise those of the unpacked model); false where the unpacked
  /// lowering summed in another order (im2col + sgemm), which export_model
  /// checks against the unpacked model.
  bool exact = true;
};

struct InferenceOptions {
  /// Fold every batch_norm that follows a convolution into it (see BatchNormFold).
  bool foldBatchNorm = false;
  /// Store the weights of the convolutions (stride 1 or 2, small output
  /// plane) whose output channels the runtime puts in the vector lanes
  /// (kiln_conv2d_channels_in_lanes in KernelABI.h) as HWIO (see
  /// ConvWeightPack), after folding. Only where the CPU lowering computes
  /// them with the direct convolution (CompileOptions::convAlgorithm
  /// "direct", or "auto" on an AVX-512 host); bitwise the same outputs for
  /// the packs marked exact, float rounding apart for the others.
  bool packConvWeights = true;
};

/// The inference artifact of a graph (export_model): the single entry "infer"
/// (the graph's input and output names) and only the parameters it reads, with
/// the graph's current values. `folds` and `packs` (if given) receive the
/// folds and the packed weights made.
CompileResult compileInference(const fe::Graph &graph, const InferenceOptions &inference,
                               const CompileOptions &options,
                               std::vector<BatchNormFold> *folds = nullptr,
                               std::vector<ConvWeightPack> *packs = nullptr);

/// The compiler version recorded in artifacts.
std::string compilerVersion();

} // namespace kiln

#endif
