//===- PrintCudaPass.cpp - kiln-print-cuda (lit tests of the CUDA codegen) -===//
#include "kiln/Codegen/CudaEmitter.h"
#include "kiln/Transforms/Passes.h"

#include "llvm/Support/raw_ostream.h"

namespace kiln {
#define GEN_PASS_DEF_KILNPRINTCUDA
#include "kiln/Transforms/Passes.h.inc"
} // namespace kiln

namespace kiln::codegen {
namespace {

struct KilnPrintCudaPass : kiln::impl::KilnPrintCudaBase<KilnPrintCudaPass> {
  using KilnPrintCudaBase::KilnPrintCudaBase;
  void runOnOperation() override {
    CudaSource source;
    if (mlir::failed(generateCudaSource(getOperation(), source, withPrelude)))
      return signalPassFailure();
    llvm::outs() << source.text;
    llvm::outs().flush();
    markAllAnalysesPreserved();
  }
};

} // namespace
} // namespace kiln::codegen
