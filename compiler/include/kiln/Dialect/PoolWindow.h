//===- PoolWindow.h - the window of the 2-D pooling ops --------*- C++ -*-===//
//
// max_pool2d, avg_pool2d and their gradients carry the same window attributes:
// kernel_size, optional strides (PyTorch's default: the kernel size), padding,
// and for the averages count_include_pad. Passes and both code generators read
// them through poolWindowOf, so the default is applied in one place.
//===----------------------------------------------------------------------===//
#ifndef KILN_DIALECT_POOLWINDOW_H
#define KILN_DIALECT_POOLWINDOW_H

#include "mlir/IR/Operation.h"

#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <optional>

namespace kiln {

/// The window of one pooling op. The arrays point into the op's attributes
/// (owned by the MLIRContext).
struct PoolWindow {
  llvm::ArrayRef<int64_t> kernelSize; // [kh, kw]
  llvm::ArrayRef<int64_t> strides;    // [sh, sw]; the kernel size when the op has none
  llvm::ArrayRef<int64_t> padding;    // [ph, pw]
  bool isMax = false;                 // max_pool2d(_grad), else avg_pool2d(_grad)
  bool countIncludePad = true;        // averages: divide by the window clipped to the padded input
};

/// The window of a max_pool2d, avg_pool2d, max_pool2d_grad or avg_pool2d_grad;
/// nullopt for any other op.
std::optional<PoolWindow> poolWindowOf(mlir::Operation *op);

} // namespace kiln

#endif
