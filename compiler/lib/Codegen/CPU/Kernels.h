//===- Kernels.h - per-anchor CPU kernel emitters ---------------*- C++ -*-===//
//
// Shared by the emitters of kiln-lower-to-llvm: one file per family of anchors
// (ConvKernels.cpp, GemmKernels.cpp, PointwiseKernels.cpp). Each emitter writes
// the body of one kernel function (KernelABI) and fills in its KernelPlan.
//===----------------------------------------------------------------------===//
#ifndef KILN_CODEGEN_CPU_KERNELS_H
#define KILN_CODEGEN_CPU_KERNELS_H

#include "Epilogue.h"
#include "KernelIR.h"
#include "kiln/Dialect/KilnOps.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace kiln::codegen {

// CBLAS enum values (cblas.h); blasint is 32-bit in Debian's OpenBLAS.
constexpr int32_t kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112;

// Cache budget for one convolution chunk's im2col tile (floats): about half of
// a 512 KiB L2, so the GEMM's packed panels and output tile fit beside it.
constexpr int64_t kIm2colTileFloats = 64 * 1024;
// Elements per unit of a pointwise kernel's innermost loop.
constexpr int64_t kInnerChunk = 8192;

/// What the lowering records on a kernel for the artifact.
struct KernelPlan {
  int64_t workPerItem = 0, workFixed = 0, workPerTask = 1;
  int64_t scratchBytes = 0, flopsPerItem = 0;
};

/// Shared state while emitting one kernel.
struct KernelContext {
  KernelOp kernel;
  KernelIR &ir;
  mlir::Value batch, begin, end, scratch;
  llvm::SmallVector<mlir::Value> buffers; // operand pointers, then the output pointer
  mlir::LLVM::LLVMFuncOp sgemm;           // null when the module needs none
  bool directConv = false; // eligible convolutions use kiln_conv2d_same_f32
  mlir::Value output() const { return buffers.back(); }
  mlir::Value argBuffer(mlir::Value v) const {
    return buffers[llvm::cast<mlir::BlockArgument>(v).getArgNumber()];
  }
};

inline bool isDynamic(int64_t d) { return d < 0; }
inline mlir::Value dimValue(KernelIR &ir, int64_t d, mlir::Value batch) {
  return isDynamic(d) ? batch : ir.c(d);
}
/// Offset of a row-major element; a -1 dim is the batch.
mlir::Value linearIndex(KernelIR &ir, llvm::ArrayRef<int64_t> dims,
                        llvm::ArrayRef<mlir::Value> coords, mlir::Value batch);
/// The runtime's direct "same" convolution (kiln_conv2d_same_f32 in
/// KernelABI.h), declared in the module on first use.
mlir::LLVM::LLVMFuncOp getOrDeclareDirectConv(KernelIR &ir);
/// Its weight gradient (kiln_conv2d_same_grad_weight_f32).
mlir::LLVM::LLVMFuncOp getOrDeclareDirectConvGradWeight(KernelIR &ir);
/// kiln_conv2d_stride2_f32: 3x3 stride-2 convolution rows, phase-split.
mlir::LLVM::LLVMFuncOp getOrDeclareDirectConvStride2(KernelIR &ir);
/// kiln_conv2d_hwio_f32: convolution rows with [kh][kw][cin][cout] weights,
/// stride 1 or 2, any padding (channels in lanes).
mlir::LLVM::LLVMFuncOp getOrDeclareConvHwio(KernelIR &ir);
/// kiln_conv2d_stride2_grad_input_f32: its input gradient, one image.
mlir::LLVM::LLVMFuncOp getOrDeclareDirectConvStride2GradInput(KernelIR &ir);
/// kiln_conv2d_stride2_grad_weight_f32: its weight gradient per channel block.
mlir::LLVM::LLVMFuncOp getOrDeclareDirectConvStride2GradWeight(KernelIR &ir);
/// kiln_conv2d_same_images_f32: several whole images per call.
mlir::LLVM::LLVMFuncOp getOrDeclareDirectConvImages(KernelIR &ir);
/// Whether the CPU the kernels are compiled for has AVX-512 (the direct
/// convolution's fast path; without it im2col + sgemm is faster).
bool targetHasAvx512();

/// C[M,N] = op(A)[M,K] * op(B)[K,N] + beta * C, row-major, through OpenBLAS.
void emitSgemm(KernelIR &ir, mlir::LLVM::LLVMFuncOp sgemm, bool transA, bool transB,
               mlir::Value m, mlir::Value n, mlir::Value k, mlir::Value a, mlir::Value lda,
               mlir::Value b, mlir::Value ldb, mlir::Value beta, mlir::Value c,
               mlir::Value ldc);

// ---- emitters: one per anchor family ----
mlir::LogicalResult emitConv(KernelContext &cx, Conv2dOp conv, Epilogue &epi, KernelPlan &plan);
mlir::LogicalResult emitConvGradInput(KernelContext &cx, mlir::Operation *anchor, Epilogue &epi,
                                      KernelPlan &plan);
mlir::LogicalResult emitConvGradWeight(KernelContext &cx, mlir::Operation *anchor,
                                       Epilogue &epi, KernelPlan &plan);
mlir::LogicalResult emitGemm(KernelContext &cx, mlir::Operation *anchor, Epilogue &epi,
                             KernelPlan &plan);
mlir::LogicalResult emitSoftmax(KernelContext &cx, mlir::Operation *anchor, int64_t axis,
                                bool isLog, Epilogue &epi, KernelPlan &plan);
mlir::LogicalResult emitPointwise(KernelContext &cx, mlir::Operation *anchor, Epilogue &epi,
                                  KernelPlan &plan);

} // namespace kiln::codegen

#endif
