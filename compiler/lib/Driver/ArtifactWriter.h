//===- ArtifactWriter.h - lowered module -> flatbuffers artifact -*- C++ -*-===//
#ifndef KILN_DRIVER_ARTIFACTWRITER_H
#define KILN_DRIVER_ARTIFACTWRITER_H

#include "kiln/Codegen/CpuObjectEmitter.h"
#include "kiln/Codegen/CudaEmitter.h"
#include "kiln/Driver/Compiler.h"
#include "mlir/IR/BuiltinOps.h"

#include <map>

namespace kiln {

struct ParamRecord {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
  bool trainable = true;
};

struct EntryNames {
  std::vector<std::string> inputs, outputs;
};

struct ArtifactContents {
  std::string modelName;
  std::string compileFlags;
  std::map<std::string, EntryNames> names; // per function; missing = input<i>/output<i>
  std::vector<ParamRecord> params;         // every kiln.parameter name must be here
  codegen::CpuTarget target;
  const codegen::CpuObject *cpu = nullptr;
  /// The CUDA target (both null without it).
  const codegen::CudaSource *cudaSource = nullptr;
  const std::vector<codegen::CudaBinary> *cudaBinaries = nullptr;
  std::string nvrtcVersion;
};

/// Reads the schedule (kiln.kernel order, memory plan, lowering attributes) of
/// every func.func in a module that went through kiln-lower-to-llvm and
/// serialises the artifact. Fills `entries` with the per-entry summary.
/// Throws CompileError on an inconsistent module.
std::vector<uint8_t> writeArtifact(mlir::ModuleOp module, const ArtifactContents &contents,
                                   std::vector<CompiledEntry> &entries);

} // namespace kiln

#endif
