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
  /// planning), "llvm" (LLVM IR of the kernels after O3).
  std::string emit;
  /// If set, the IR after every pass goes to <dir>/<NN>-<pass>.mlir.
  std::string irDumpDir;
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

/// The compiler version recorded in artifacts.
std::string compilerVersion();

} // namespace kiln

#endif
