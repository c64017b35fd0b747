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

bool isAnchorOp(mlir::Operation *op) {
  return llvm::isa<Conv2dOp, MatmulOp, LinearOp, MaxPool2dOp, AvgPool2dOp, GlobalAvgPoolOp,
                   SoftmaxOp, LogSoftmaxOp, ReduceSumOp, ReduceMeanOp, TransposeOp,
                   Conv2dGradInputOp, Conv2dGradWeightOp, MaxPool2dGradOp, AvgPool2dGradOp>(op);
}

mlir::Operation *kernelAnchor(mlir::Block &body) {
  for (mlir::Operation &op : body.without_terminator())
    if (isAnchorOp(&op))
      return &op;
  return nullptr;
}

llvm::SmallVector<mlir::Operation *> opsBeforeAnchor(mlir::Block &body, mlir::Operation *anchor) {
  llvm::SmallVector<mlir::Operation *> ops;
  if (!anchor)
    return ops;
  for (mlir::Operation &op : body.without_terminator()) {
    if (&op == anchor)
      break;
    ops.push_back(&op);
  }
  return ops;
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

std::optional<ConvExtents> convExtentsOf(Conv2dOp conv) {
  auto in = llvm::cast<mlir::RankedTensorType>(conv.getInput().getType()).getShape();
  auto out = llvm::cast<mlir::RankedTensorType>(conv.getResult().getType()).getShape();
  llvm::SmallVector<int64_t, 4> wt = conv.getOihwWeightShape();
  for (int64_t d : {in[2], in[3], out[2], out[3], wt[2], wt[3]})
    if (mlir::ShapedType::isDynamic(d))
      return std::nullopt;
  llvm::ArrayRef<int64_t> strides = conv.getStrides(), dilation = conv.getDilation();
  return ConvExtents{in[2],      in[3],      out[2],      out[3],      wt[2],
                     wt[3],      strides[0], strides[1], dilation[0], dilation[1],
                     int64_t(conv.getGroups())};
}

bool directSameConvApplies(const ConvExtents &c) {
  return c.groups == 1 && c.sh == 1 && c.sw == 1 && c.dh == 1 && c.dw == 1 && c.oh == c.h &&
         c.ow == c.w && c.kh * c.kw <= 49;
}

bool directStride2ConvApplies(const ConvExtents &c) {
  return c.groups == 1 && c.sh == 2 && c.sw == 2 && c.dh == 1 && c.dw == 1 && c.kh == 3 &&
         c.kw == 3 && c.h % 2 == 0 && c.w % 2 == 0 && c.oh == c.h / 2 && c.ow == c.w / 2;
}

bool directSubsampledConvApplies(const ConvExtents &c) {
  return c.groups == 1 && c.kh == 1 && c.kw == 1 && c.dh == 1 && c.dw == 1 &&
         (c.sh > 1 || c.sw > 1) && c.oh == (c.h - 1) / c.sh + 1 && c.ow == (c.w - 1) / c.sw + 1;
}

bool hwioConvApplies(const ConvExtents &c) {
  return c.groups == 1 && c.dh == 1 && c.dw == 1 && c.sh == c.sw && (c.sh == 1 || c.sh == 2);
}

} // namespace kiln
