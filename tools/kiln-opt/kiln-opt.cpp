//===- kiln-opt.cpp - run kiln passes on .mlir files (lit tests) ------------===//
//
// Registers only the dialects Kiln uses (not InitAllDialects: that header alone
// costs ~90 s of compile time) plus the kiln passes and the upstream
// canonicalize/cse passes that the kiln folders plug into.
//===----------------------------------------------------------------------===//
#include "kiln/Dialect/KilnOps.h"
#include "kiln/Transforms/Passes.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<kiln::KilnDialect, mlir::func::FuncDialect, mlir::arith::ArithDialect,
                  mlir::scf::SCFDialect, mlir::cf::ControlFlowDialect,
                  mlir::math::MathDialect, mlir::LLVM::LLVMDialect>();
  kiln::registerKilnPasses();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Kiln optimizer driver\n", registry));
}
