//===- OpQueries.cpp - small questions both code generators ask -----------===//
#include "kiln/Dialect/OpQueries.h"

#include "kiln/Dialect/KilnOps.h"

namespace kiln {

std::optional<ReduceAxes> reduceAxesOf(mlir::Operation *op) {
  if (auto sum = llvm::dyn_cast_or_null<ReduceSumOp>(op))
    return ReduceAxes{sum.getAxes(), sum.getKeepdim(), /*isMean=*/false};
  if (auto mean = llvm::dyn_cast_or_null<ReduceMeanOp>(op))
    return ReduceAxes{mean.getAxes(), mean.getKeepdim(), /*isMean=*/true};
  return std::nullopt;
}

llvm::SmallVector<mlir::Operation *> opsAfterAnchor(mlir::Block &body, mlir::Operation *anchor) {
  llvm::SmallVector<mlir::Operation *> ops;
  bool afterAnchor = anchor == nullptr;
  for (mlir::Operation &op : body.without_terminator()) {
    if (&op == anchor) {
      afterAnchor = true;
      continue;
    }
    if (afterAnchor)
      ops.push_back(&op);
  }
  return ops;
}

} // namespace kiln
