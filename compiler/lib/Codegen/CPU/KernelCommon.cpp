//===- KernelCommon.cpp - helpers shared by the kernel emitters -----------===//
#include "Kernels.h"

using namespace mlir;

namespace kiln::codegen {

Value linearIndex(KernelIR &ir, ArrayRef<int64_t> dims, ArrayRef<Value> coords, Value batch) {
  Value index = ir.c(0);
  Value stride = ir.c(1);
  for (int64_t i = (int64_t)dims.size() - 1; i >= 0; --i) {
    index = ir.add(index, ir.mul(coords[i], stride));
    stride = ir.mul(stride, dimValue(ir, dims[i], batch));
  }
  return index;
}

void emitSgemm(KernelIR &ir, LLVM::LLVMFuncOp sgemm, bool transA, bool transB, Value m,
               Value n, Value k, Value a, Value lda, Value bPtr, Value ldb, Value beta, Value c,
               Value ldc) {
  SmallVector<Value> args = {ir.i32(kCblasRowMajor),
                             ir.i32(transA ? kCblasTrans : kCblasNoTrans),
                             ir.i32(transB ? kCblasTrans : kCblasNoTrans),
                             ir.truncI32(m),
                             ir.truncI32(n),
                             ir.truncI32(k),
                             ir.f(1.0f),
                             a,
                             ir.truncI32(lda),
                             bPtr,
                             ir.truncI32(ldb),
                             beta,
                             c,
                             ir.truncI32(ldc)};
  ir.b.create<LLVM::CallOp>(ir.loc, sgemm, args);
}


} // namespace kiln::codegen
