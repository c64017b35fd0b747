//===- KernelCommon.cpp - helpers shared by the kernel emitters -----------===//
#include "Kernels.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/TargetParser/Host.h"

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

namespace {

/// Declares `void name(ptr x numPtrs, i64 x numI64, ptr x trailingPtrs)`, a
/// function the runtime provides to kernels, at the top of the kernel's
/// module on first use.
LLVM::LLVMFuncOp getOrDeclareRuntimeFunction(KernelIR &ir, const char *name, int numPtrs,
                                             int numI64, int trailingPtrs = 0) {
  auto module = ir.b.getInsertionBlock()->getParentOp()->getParentOfType<ModuleOp>();
  if (auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>(name))
    return fn;
  OpBuilder::InsertionGuard guard(ir.b);
  ir.b.setInsertionPointToStart(module.getBody());
  MLIRContext *ctx = ir.b.getContext();
  SmallVector<Type> params(numPtrs, LLVM::LLVMPointerType::get(ctx));
  params.append(numI64, ir.b.getI64Type());
  params.append(trailingPtrs, LLVM::LLVMPointerType::get(ctx));
  auto type = LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), params);
  return ir.b.create<LLVM::LLVMFuncOp>(module.getLoc(), name, type);
}

} // namespace

LLVM::LLVMFuncOp getOrDeclareDirectConv(KernelIR &ir) {
  // x, wt, out; ld, cin, h, w, cout, kh, kw, ph, pw, 4 weight strides, oy0, oy1;
  // epilogue
  return getOrDeclareRuntimeFunction(ir, "kiln_conv2d_same_f32", 3, 15, 1);
}

LLVM::LLVMFuncOp getOrDeclareDirectConvImages(KernelIR &ir) {
  // x, wt, out, scratch; images, xImage, outImage, cin, h, w, cout, kh, kw, ph, pw,
  // 4 weight strides; epilogue
  return getOrDeclareRuntimeFunction(ir, "kiln_conv2d_same_images_f32", 4, 15, 1);
}

LLVM::LLVMFuncOp getOrDeclareDirectConvStride2(KernelIR &ir) {
  // x, wt, out, scratch; row0, row1, cin, h, w, cout; epilogue
  return getOrDeclareRuntimeFunction(ir, "kiln_conv2d_stride2_f32", 4, 6, 1);
}

LLVM::LLVMFuncOp getOrDeclareConvHwio(KernelIR &ir) {
  // x, wt, out; row0, row1, cin, h, w, cout, kh, kw, stride, ph, pw; epilogue
  return getOrDeclareRuntimeFunction(ir, "kiln_conv2d_hwio_f32", 3, 11, 1);
}

LLVM::LLVMFuncOp getOrDeclareDirectConvStride2GradInput(KernelIR &ir) {
  // dy, wt, dx, scratch; cin, h, w, cout
  return getOrDeclareRuntimeFunction(ir, "kiln_conv2d_stride2_grad_input_f32", 4, 4);
}

LLVM::LLVMFuncOp getOrDeclareDirectConvStride2GradWeight(KernelIR &ir) {
  // x, dy, dw, scratch; batch, cin, h, w, cout, ci0, ci1
  return getOrDeclareRuntimeFunction(ir, "kiln_conv2d_stride2_grad_weight_f32", 4, 7);
}

LLVM::LLVMFuncOp getOrDeclareDirectConvGradWeight(KernelIR &ir) {
  // x, dy, dw, scratch; batch, cin, h, w, cout, kh, kw, ph, pw, ci0, ci1
  return getOrDeclareRuntimeFunction(ir, "kiln_conv2d_same_grad_weight_f32", 4, 11);
}

bool targetHasAvx512() {
  // The CPU module is compiled for the host (ObjectEmitter.cpp), so the host
  // decides.
  static const bool yes = [] {
    llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    auto it = features.find("avx512f");
    return it != features.end() && it->second;
  }();
  return yes;
}

} // namespace kiln::codegen
