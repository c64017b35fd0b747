//===- BroadcastStrides.cpp - how a fused epilogue reads its inputs -------===//
#include "kiln/Codegen/BroadcastStrides.h"

#include "kiln/Dialect/KilnOps.h"

#include "mlir/IR/BuiltinTypes.h"

namespace kiln::codegen {

llvm::SmallVector<Stride, 4> rowMajorStrides(llvm::ArrayRef<int64_t> dims) {
  llvm::SmallVector<Stride, 4> out(dims.size());
  int64_t coef = 1;
  bool perBatch = false;
  for (int64_t i = (int64_t)dims.size() - 1; i >= 0; --i) {
    out[i] = {coef, perBatch};
    if (dims[i] < 0)
      perBatch = true;
    else
      coef *= dims[i];
  }
  return out;
}

llvm::SmallVector<Stride, 4> epilogueOperandStrides(mlir::OpOperand &operand,
                                                    llvm::ArrayRef<int64_t> outDims) {
  llvm::SmallVector<Stride, 4> strides(outDims.size(), Stride{});
  if (llvm::isa<BatchNormOp>(operand.getOwner()) && operand.getOperandNumber() >= 1) {
    strides[1] = Stride{1, false}; // per-channel [C] along dim 1
    return strides;
  }
  llvm::SmallVector<int64_t, 4> dims;
  for (int64_t d : llvm::cast<mlir::RankedTensorType>(operand.get().getType()).getShape())
    dims.push_back(mlir::ShapedType::isDynamic(d) ? -1 : d);
  auto st = rowMajorStrides(dims);
  size_t k = dims.size(), r = outDims.size();
  for (size_t i = 0; i < k; ++i) {
    size_t j = r - k + i;
    bool broadcast = dims[i] == 1 && outDims[j] != 1;
    strides[j] = broadcast ? Stride{} : st[i];
  }
  return strides;
}

} // namespace kiln::codegen
