//===- BroadcastStrides.h - how a fused epilogue reads its inputs -*- C++ -*-===//
//
// Shared by the CPU (Codegen/CPU/Epilogue.cpp) and CUDA (Codegen/CUDA/
// Epilogue.cpp) code generators, so that both read every external input of an
// elementwise epilogue at the same offsets: its strides in the group's output
// index space, 0 on broadcast dims. Shapes carry -1 for the dynamic batch
// (at most one such dim).
//===----------------------------------------------------------------------===//
#ifndef KILN_CODEGEN_BROADCASTSTRIDES_H
#define KILN_CODEGEN_BROADCASTSTRIDES_H

#include "mlir/IR/Value.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>

namespace kiln::codegen {

/// A stride that may be a multiple of the batch (when the dynamic dim lies
/// after it in the operand's layout): coef, or coef * batch.
struct Stride {
  int64_t coef = 0;
  bool perBatch = false;
  bool isZero() const { return coef == 0; }
  bool operator==(const Stride &o) const { return coef == o.coef && perBatch == o.perBatch; }
};

/// Row-major strides of `dims`.
llvm::SmallVector<Stride, 4> rowMajorStrides(llvm::ArrayRef<int64_t> dims);

/// The strides, one per dim of the group's output `outDims`, at which an
/// epilogue op reads `operand` (a kernel block argument): numpy broadcasting,
/// right-aligned, stride 0 where the operand's dim is 1 and the output's is
/// not; batch_norm's per-channel parameters (operands 1-4, shape [C]) step
/// along output dim 1.
llvm::SmallVector<Stride, 4> epilogueOperandStrides(mlir::OpOperand &operand,
                                                    llvm::ArrayRef<int64_t> outDims);

/// Whether output dims d-1 and d (d >= 1, `extent` = outDims[d]) may be
/// iterated as one index for an input read at `strides`: stepping d-1 once
/// equals stepping d `extent` times.
inline bool mergesAcross(llvm::ArrayRef<Stride> strides, int64_t d, int64_t extent) {
  return strides[d - 1].perBatch == strides[d].perBatch &&
         strides[d - 1].coef == strides[d].coef * extent;
}

} // namespace kiln::codegen

#endif
