//===- CudaTarget.cpp - can this build compile CUDA kernels? --------------===//
//
// A translation unit of its own because the NVRTC query lives in the CUDA
// code generator's header, which includes MLIR; ExportModel.cpp stays
// MLIR-free (kiln/Driver/Compiler.h only).
//===----------------------------------------------------------------------===//
#include "kiln/Codegen/CudaEmitter.h"
#include "kiln/export/ExportModel.h"

namespace kiln::exporter {

std::string cudaTargetUnavailable() {
  if (codegen::nvrtcAvailable())
    return "";
  return "this Kiln was built without NVRTC (no CUDA toolkit at configure time), so it cannot "
         "compile CUDA kernels";
}

} // namespace kiln::exporter
