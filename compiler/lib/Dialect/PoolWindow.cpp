//===- PoolWindow.cpp - the window of the 2-D pooling ops -----------------===//
#include "kiln/Dialect/PoolWindow.h"

#include "kiln/Dialect/KilnOps.h"

namespace kiln {

namespace {
template <typename PoolOp>
PoolWindow windowOf(PoolOp op) {
  PoolWindow w;
  w.kernelSize = op.getKernelSize();
  std::optional<llvm::ArrayRef<int64_t>> strides = op.getStrides();
  w.strides = strides ? *strides : w.kernelSize;
  w.padding = op.getPadding();
  return w;
}
} // namespace

std::optional<PoolWindow> poolWindowOf(mlir::Operation *op) {
  PoolWindow w;
  if (auto pool = llvm::dyn_cast_or_null<MaxPool2dOp>(op)) {
    w = windowOf(pool);
    w.isMax = true;
  } else if (auto grad = llvm::dyn_cast_or_null<MaxPool2dGradOp>(op)) {
    w = windowOf(grad);
    w.isMax = true;
  } else if (auto pool = llvm::dyn_cast_or_null<AvgPool2dOp>(op)) {
    w = windowOf(pool);
    w.countIncludePad = pool.getCountIncludePad();
  } else if (auto grad = llvm::dyn_cast_or_null<AvgPool2dGradOp>(op)) {
    w = windowOf(grad);
    w.countIncludePad = grad.getCountIncludePad();
  } else {
    return std::nullopt;
  }
  return w;
}

} // namespace kiln
