//===- ItemIndependence.cpp - may an entry's batch be split? --------------===//
//
// A forward walk over the scheduling function (kernel bodies included) that
// marks the values holding batch items: the function's inputs, and every
// result of an op that reads one. Each such op must keep items apart: its
// result has the batch as dimension 0 again (a reduction over the batch would
// drop or fix it) and the op is one of a short list of per-item ops, with its
// own condition where it has axes. Unknown ops answer false.
//===----------------------------------------------------------------------===//
#include "ItemIndependence.h"

#include "kiln/Dialect/KilnOps.h"

#include "llvm/ADT/DenseSet.h"

#include <fmt/format.h>

using namespace mlir;

namespace kiln {
namespace {

RankedTensorType rankedOf(Value v) { return llvm::dyn_cast<RankedTensorType>(v.getType()); }

/// Dimension 0 is the dynamic batch.
bool batched(Value v) {
  RankedTensorType t = rankedOf(v);
  return t && t.getRank() >= 1 && t.isDynamicDim(0);
}

/// Elements per item (dims 1..), or -1 if one of them is dynamic.
int64_t itemElements(Value v) {
  int64_t n = 1;
  for (int64_t d : rankedOf(v).getShape().drop_front()) {
    if (ShapedType::isDynamic(d))
      return -1;
    n *= d;
  }
  return n;
}

int64_t normalizedAxis(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

class ItemFlow {
public:
  /// Empty when `op`, reading items, keeps them apart; else why not.
  std::string check(Operation *op) {
    bool readsItems = false;
    for (Value v : op->getOperands())
      readsItems |= items.contains(v);
    if (isa<UpdateOp>(op))
      return "it updates a parameter";
    if (auto kernel = dyn_cast<KernelOp>(op))
      return checkKernel(kernel);
    if (!readsItems || isa<YieldOp, func::ReturnOp>(op))
      return "";
    if (op->getNumResults() != 1 || !batched(op->getResult(0)))
      return fmt::format("'{}' turns batch items into a value without the batch dimension",
                         op->getName().getStringRef().str());
    if (std::string rule = perItemRule(op); !rule.empty())
      return rule;
    items.insert(op->getResult(0));
    return "";
  }

  llvm::DenseSet<Value> items;

private:
  std::string checkKernel(KernelOp kernel) {
    Block &body = kernel.getBody().front();
    for (auto [arg, operand] : llvm::zip(body.getArguments(), kernel.getOperands()))
      if (items.contains(operand))
        items.insert(arg);
    for (Operation &inner : body)
      if (std::string why = check(&inner); !why.empty())
        return why;
    Value yielded = cast<YieldOp>(body.getTerminator()).getValue();
    if (items.contains(yielded))
      items.insert(kernel.getResult());
    return "";
  }

  /// The op-specific condition for an op that reads items (result batched).
  std::string perItemRule(Operation *op) {
    const std::string name = op->getName().getStringRef().str();
    auto onlyFirstOperandItems = [&]() -> std::string {
      for (Value v : op->getOperands().drop_front())
        if (items.contains(v))
          return fmt::format("'{}' reads batch items in an operand other than its input",
                             name);
      return "";
    };
    // Elementwise: item n of the result reads item n of each batched operand;
    // the others (parameters) broadcast.
    if (isa<AddOp, SubOp, MulOp, DivOp, ReluOp, Relu6Op, SigmoidOp, HardswishOp, SqrtOp, RsqrtOp,
            NegOp, StopGradientOp, ReluGradOp, Relu6GradOp, HardswishGradOp, SigmoidGradOp>(op)) {
      const int64_t rank = rankedOf(op->getResult(0)).getRank();
      for (Value v : op->getOperands())
        if (items.contains(v) && rankedOf(v).getRank() != rank)
          return fmt::format("'{}' broadcasts batch items to a higher rank", name);
      return "";
    }
    // Per image / per row, with parameters for the other operands.
    if (isa<Conv2dOp, MaxPool2dOp, AvgPool2dOp, GlobalAvgPoolOp, BatchNormOp, LinearOp,
            MatmulOp>(op))
      return onlyFirstOperandItems();
    auto normalisesOverBatch = [&](auto softmax) -> std::string {
      return normalizedAxis(softmax.getAxis(), rankedOf(softmax.getInput()).getRank()) == 0
                 ? fmt::format("'{}' normalises over the batch", name)
                 : "";
    };
    if (auto softmax = dyn_cast<SoftmaxOp>(op))
      return normalisesOverBatch(softmax);
    if (auto softmax = dyn_cast<LogSoftmaxOp>(op))
      return normalisesOverBatch(softmax);
    if (isa<ReduceSumOp, ReduceMeanOp>(op)) {
      auto axes = op->getAttrOfType<DenseI64ArrayAttr>("axes");
      const int64_t rank = rankedOf(op->getOperand(0)).getRank();
      for (int64_t axis : axes.asArrayRef())
        if (normalizedAxis(axis, rank) == 0)
          return fmt::format("'{}' reduces over the batch", name);
      return "";
    }
    if (isa<ReshapeOp, FlattenOp>(op)) {
      const int64_t in = itemElements(op->getOperand(0)), out = itemElements(op->getResult(0));
      return in >= 0 && in == out ? "" : fmt::format("'{}' moves elements between items", name);
    }
    if (auto transpose = dyn_cast<TransposeOp>(op)) {
      ArrayRef<int64_t> perm = transpose.getPerm();
      return !perm.empty() && perm[0] == 0 ? "" : "transpose moves the batch dimension";
    }
    if (isa<BroadcastToOp>(op))
      return rankedOf(op->getOperand(0)).getRank() == rankedOf(op->getResult(0)).getRank()
                 ? ""
                 : "broadcast_to moves the batch dimension";
    return fmt::format("'{}' is not known to keep batch items apart", name);
  }
};

} // namespace

bool entryItemsIndependent(func::FuncOp func, std::string *why) {
  auto fail = [&](std::string reason) {
    if (why)
      *why = std::move(reason);
    return false;
  };
  if (func.getNumArguments() == 0)
    return fail("no inputs");
  ItemFlow flow;
  for (BlockArgument arg : func.getArguments()) {
    if (!batched(arg))
      return fail(fmt::format("input {} has no batch dimension", arg.getArgNumber()));
    flow.items.insert(arg);
  }
  for (Operation &op : func.getBody().front())
    if (std::string reason = flow.check(&op); !reason.empty())
      return fail(reason);
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  for (Value v : ret.getOperands())
    if (!batched(v))
      return fail("an output has no batch dimension");
  return true;
}

} // namespace kiln
