//===- Autodiff.cpp - kiln-autodiff: reverse-mode gradients as kiln ops ----===//
//
// Clones the forward function into the training-step function and appends,
// after the recomputed forward, the reverse sweep: every op on a path from a
// trainable parameter to the loss, visited in reverse program order, turns the
// adjoint of its result into adjoints of its operands (the "rules" below);
// adjoints of values with several uses are summed with kiln.add.
//
// Invariant: the adjoint of a value has exactly that value's type. Rules whose
// natural result type differs (a static dim where the value has '?', or the
// other way round) end in castTo, a kiln.broadcast_to that changes nothing but
// the type.
//
// Rules (g = adjoint of the result y; unbroadcast(t, T) sums t over the dims
// that broadcasting added or stretched so that it has type T):
//   add(a, b)            ga = unbroadcast(g), gb = unbroadcast(g)
//   sub(a, b)            ga = unbroadcast(g), gb = neg(unbroadcast(g))
//   mul(a, b)            ga = unbroadcast(g * b), gb = unbroadcast(g * a)
//                        (mul(x, x): g * x once, accumulated twice)
//   div(a, b)            ga = unbroadcast(g / b), gb = neg(unbroadcast(g * y / b))
//   matmul(a, b)         ga = g . bT, gb = aT . g
//   linear(x, W, b)      gx = g . W, gW = gT . x, gb = reduce_sum(g, [0])
//   conv2d(x, w, b)      gx = conv2d_grad_input(g, w), gw = conv2d_grad_weight(x, g),
//                        gb = reduce_sum(g, [0, 2, 3])
//   relu                 gx = relu_grad(y, g) (y > 0 exactly where x > 0)
//   relu6/hardswish      gx = <op>_grad(x, g);  sigmoid: gx = sigmoid_grad(y, g)
//   sqrt                 gx = g / y * 0.5;  rsqrt: gx = g * (y / x) * -0.5;  neg: -g
//   broadcast_to         gx = unbroadcast(g)
//   batch_norm           the inference form: y = (x - mean) * inv * w + b with
//                        inv = rsqrt(var + eps); gradients w.r.t. all five operands
//                        (x with the statistics as constants, as the formula says)
//   max_pool2d           gx = max_pool2d_grad(x, g);  avg_pool2d: avg_pool2d_grad(g)
//   global_avg_pool      gx = broadcast_to(g) * 1/(H*W)
//   reshape / flatten    gx = reshape(g) to x's shape;  transpose: inverse permutation
//   softmax              gx = y * (g - reduce_sum(g * y, axis, keepdim))
//   log_softmax          gx = g - softmax(x) * reduce_sum(g, axis, keepdim)
//   reduce_sum           gx = broadcast_to(g with the reduced dims as 1)
//   reduce_mean          as reduce_sum, times 1/count; a reduced '?' (the batch)
//                        counts as reduce_sum(broadcast_to(1, [-1]), [0])
//   second order: relu_grad / relu6_grad (x, dy): gdy = <op>_grad(x, g), gx = 0 a.e.;
//                 hardswish_grad: gdy = hardswish_grad(x, g),
//                                 gx = relu6_grad(x + 3, g * dy) / 3;
//                 sigmoid_grad (y, dy): gdy = sigmoid_grad(y, g), gy = g * dy * (1 - 2y);
//                 conv2d_grad_input (dy, w): gdy = conv2d(g, w), gw = conv2d_grad_weight(g, dy);
//                 conv2d_grad_weight (x, dy): gx = conv2d_grad_input(dy, g), gdy = conv2d(x, g);
//                 avg_pool2d_grad (dy): gdy = avg_pool2d(g);
//                 the activation gradients broadcast like add, so their parts
//                 are unbroadcast to each operand's type
//   parameter, constant  leaves;  update: no result, never on a gradient path
//   no rule:             kiln.kernel, kiln.yield (run before kiln-fuse),
//                        kiln.max_pool2d_grad, ops of other dialects -> error
//
//===----------------------------------------------------------------------===//
#include "kiln/Transforms/Passes.h"

#include "ParameterReaders.h"
#include "kiln/Dialect/PoolWindow.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"

#include <numeric>
#include <optional>
#include <string>

namespace kiln {
#define GEN_PASS_DEF_KILNAUTODIFF
#include "kiln/Transforms/Passes.h.inc"

namespace {

using mlir::FailureOr;
using mlir::Location;
using mlir::LogicalResult;
using mlir::Operation;
using mlir::RankedTensorType;
using mlir::Type;
using mlir::Value;
using mlir::failure;
using mlir::success;

constexpr int64_t kDynamic = mlir::ShapedType::kDynamic;

/// A shape as a kiln shape attribute: '?' written as -1.
llvm::SmallVector<int64_t, 4> shapeAttrOf(RankedTensorType type) {
  llvm::SmallVector<int64_t, 4> shape(type.getShape());
  for (int64_t &dim : shape)
    if (dim == kDynamic)
      dim = -1;
  return shape;
}

RankedTensorType tensorTypeOf(Value value) {
  return llvm::cast<RankedTensorType>(value.getType());
}

/// Axes normalised to [0, rank).
llvm::SmallVector<int64_t, 4> normalizeAxes(llvm::ArrayRef<int64_t> axes, int64_t rank) {
  llvm::SmallVector<int64_t, 4> result;
  for (int64_t axis : axes)
    result.push_back(axis < 0 ? axis + rank : axis);
  return result;
}

/// Builds the backward ops of one function at the builder's insertion point.
class GradientBuilder {
public:
  GradientBuilder(mlir::OpBuilder &builder, unsigned &opCount)
      : builder(builder), opCount(opCount) {}

  /// The adjoints of `op`'s operands from the adjoint `grad` of its result;
  /// `needed[i]` says whether operand i needs one. Entries left null get no
  /// contribution (the operand is not needed or the derivative is zero).
  LogicalResult differentiate(Operation *op, Value grad, llvm::ArrayRef<bool> needed,
                              llvm::SmallVectorImpl<Value> &grads);

  /// `value` (of `type`'s shape up to '?') with exactly `type`.
  FailureOr<Value> castTo(Location loc, Value value, RankedTensorType type);
  /// Sum `grad` + `other` of the same type.
  FailureOr<Value> accumulate(Location loc, Value grad, Value other) {
    return make<AddOp>(loc, grad, other);
  }
  Value constant(Location loc, RankedTensorType type, float value) {
    ++opCount;
    return builder.create<ConstantOp>(loc, type, mlir::DenseElementsAttr::get(type, value))
        .getResult();
  }

private:
  /// Creates OpT through its explicit-result-type builder after inferring the
  /// type with OpT::inferReturnTypes, so that an invalid shape becomes a
  /// diagnostic and a failure instead of the inferring builder's fatal error.
  template <typename OpT, typename... Args>
  FailureOr<Value> make(Location loc, Args &&...args) {
    mlir::OperationState state(loc, OpT::getOperationName());
    OpT::build(builder, state, builder.getNoneType(), std::forward<Args>(args)...);
    llvm::SmallVector<Type, 1> types;
    if (failed(OpT::inferReturnTypes(builder.getContext(), loc, state.operands,
                                     state.attributes.getDictionary(builder.getContext()),
                                     state.getRawProperties(), state.regions, types)))
      return failure();
    state.types.assign(types.begin(), types.end());
    ++opCount;
    return builder.create(state)->getResult(0);
  }

  Value scalar(Location loc, float value) {
    return constant(loc, RankedTensorType::get({}, builder.getF32Type()), value);
  }

  FailureOr<Value> unbroadcast(Location loc, Value grad, RankedTensorType target);
  FailureOr<Value> expandReduced(Location loc, Value grad, RankedTensorType inputType,
                                 llvm::ArrayRef<int64_t> axes, bool keepdim);
  FailureOr<Value> batchSize(Location loc);
  FailureOr<Value> reshapeChannels(Location loc, Value perChannel, int64_t rank);

  LogicalResult binaryRule(Operation *op, Value grad, llvm::ArrayRef<bool> needed,
                           llvm::SmallVectorImpl<Value> &grads);
  LogicalResult batchNormRule(BatchNormOp op, Value grad, llvm::ArrayRef<bool> needed,
                              llvm::SmallVectorImpl<Value> &grads);

  mlir::OpBuilder &builder;
  unsigned &opCount;
  Value cachedBatchSize;
};

FailureOr<Value> GradientBuilder::castTo(Location loc, Value value, RankedTensorType type) {
  if (value.getType() == type)
    return value;
  FailureOr<Value> cast = make<BroadcastToOp>(loc, value, shapeAttrOf(type));
  if (failed(cast) || cast->getType() != type) {
    mlir::emitError(loc) << "kiln-autodiff: cannot give the gradient of type "
                         << value.getType() << " the type " << type;
    return failure();
  }
  return cast;
}

FailureOr<Value> GradientBuilder::unbroadcast(Location loc, Value grad, RankedTensorType target) {
  RankedTensorType type = tensorTypeOf(grad);
  int64_t lead = type.getRank() - target.getRank();
  if (lead < 0) {
    mlir::emitError(loc) << "kiln-autodiff: gradient " << type
                         << " has a lower rank than its operand " << target;
    return failure();
  }
  // One reduction over the leading dims the operand lacks and the dims it
  // stretched from 1 (a per-channel [C,1,1] operand of [N,C,H,W]: N, H and W
  // in one pass, not N then H and W).
  llvm::SmallVector<int64_t, 4> axes(lead), kept;
  std::iota(axes.begin(), axes.end(), 0);
  for (int64_t i = 0; i < target.getRank(); ++i) {
    if (target.getDimSize(i) == 1 && type.getDimSize(lead + i) != 1)
      axes.push_back(lead + i);
    else
      kept.push_back(target.getDimSize(i));
  }
  if (axes.empty())
    return castTo(loc, grad, target);
  Value result = grad;
  if (int64_t(axes.size()) == lead || lead == 0) {
    // Only leading dims (their absence is the target's shape), or no leading
    // dims (keepdim leaves the 1s in place).
    FailureOr<Value> reduced = make<ReduceSumOp>(loc, grad, axes, /*keepdim=*/lead == 0);
    if (failed(reduced))
      return failure();
    result = *reduced;
  } else if (!kept.empty() && kept[0] == target.getDimSize(0) && !target.isDynamicDim(0)) {
    // Both kinds: reduce without keepdim, then re-insert the 1s (a reshape
    // keeps dim 0, which the kept dims and the target share).
    FailureOr<Value> reduced = make<ReduceSumOp>(loc, grad, axes, /*keepdim=*/false);
    if (failed(reduced))
      return failure();
    FailureOr<Value> reshaped = make<ReshapeOp>(loc, *reduced, shapeAttrOf(target));
    if (failed(reshaped))
      return failure();
    result = *reshaped;
  } else {
    // Otherwise in two steps: the leading dims, then the stretched ones.
    llvm::SmallVector<int64_t, 4> leading(lead), stretched;
    std::iota(leading.begin(), leading.end(), 0);
    for (int64_t a : axes)
      if (a >= lead)
        stretched.push_back(a - lead);
    FailureOr<Value> reduced = make<ReduceSumOp>(loc, grad, leading, false);
    if (failed(reduced))
      return failure();
    reduced = make<ReduceSumOp>(loc, *reduced, stretched, true);
    if (failed(reduced))
      return failure();
    result = *reduced;
  }
  return castTo(loc, result, target);
}

FailureOr<Value> GradientBuilder::expandReduced(Location loc, Value grad,
                                                RankedTensorType inputType,
                                                llvm::ArrayRef<int64_t> axes, bool keepdim) {
  int64_t rank = inputType.getRank();
  llvm::SmallVector<int64_t, 4> normalized = normalizeAxes(axes, rank);
  Value result = grad;
  if (!keepdim) {
    // Numpy broadcasting re-adds the leading reduced dims by itself; the others
    // need to come back as 1 first. reshape keeps dim 0, which is the first
    // dim after the leading reduced ones.
    llvm::SmallVector<bool, 4> reduced(rank, false);
    for (int64_t axis : normalized)
      reduced[axis] = true;
    int64_t leading = 0;
    while (leading < rank && reduced[leading])
      ++leading;
    llvm::SmallVector<int64_t, 4> kept;
    for (int64_t i = leading; i < rank; ++i)
      kept.push_back(reduced[i] ? 1 : inputType.getDimSize(i));
    RankedTensorType type = tensorTypeOf(result);
    if (static_cast<int64_t>(kept.size()) != type.getRank()) {
      if (llvm::any_of(type.getShape().drop_front(),
                       [](int64_t dim) { return dim == kDynamic; })) {
        mlir::emitError(loc) << "kiln-autodiff: cannot re-insert the reduced dims into "
                             << type << ": only dim 0 may be '?'";
        return failure();
      }
      kept[0] = type.isDynamicDim(0) ? -1 : type.getDimSize(0);
      FailureOr<Value> reshaped = make<ReshapeOp>(loc, result, kept);
      if (failed(reshaped))
        return failure();
      result = *reshaped;
    }
  }
  return make<BroadcastToOp>(loc, result, shapeAttrOf(inputType));
}

/// The batch as a rank-0 tensor: the sum of a [?] tensor of ones. Built once
/// per function; everything later in the backward can use it.
FailureOr<Value> GradientBuilder::batchSize(Location loc) {
  if (cachedBatchSize)
    return cachedBatchSize;
  llvm::SmallVector<int64_t, 1> batchShape = {-1};
  FailureOr<Value> ones = make<BroadcastToOp>(loc, scalar(loc, 1.0f), batchShape);
  if (failed(ones))
    return failure();
  llvm::SmallVector<int64_t, 1> axis = {0};
  FailureOr<Value> count = make<ReduceSumOp>(loc, *ones, axis, false);
  if (failed(count))
    return failure();
  cachedBatchSize = *count;
  return count;
}

/// A [C] value as [C, 1, ..., 1] so that it broadcasts over dim 1 of a rank
/// `rank` tensor (unchanged for rank 2, where [C] already lines up).
FailureOr<Value> GradientBuilder::reshapeChannels(Location loc, Value perChannel, int64_t rank) {
  if (rank == 2)
    return perChannel;
  RankedTensorType type = tensorTypeOf(perChannel);
  if (type.isDynamicDim(0)) {
    mlir::emitError(loc) << "kiln-autodiff: batch_norm statistics of type " << type
                         << " need a static channel count";
    return failure();
  }
  llvm::SmallVector<int64_t, 4> shape(rank - 1, 1);
  shape[0] = type.getDimSize(0);
  return make<ReshapeOp>(loc, perChannel, shape);
}

LogicalResult GradientBuilder::binaryRule(Operation *op, Value grad,
                                          llvm::ArrayRef<bool> needed,
                                          llvm::SmallVectorImpl<Value> &grads) {
  Location loc = op->getLoc();
  Value lhs = op->getOperand(0), rhs = op->getOperand(1);
  RankedTensorType lhsType = tensorTypeOf(lhs), rhsType = tensorTypeOf(rhs);
  auto chain = [&](FailureOr<Value> value, RankedTensorType target, bool negate,
                   Value &out) -> LogicalResult {
    if (failed(value))
      return failure();
    FailureOr<Value> reduced = unbroadcast(loc, *value, target);
    if (failed(reduced))
      return failure();
    if (negate) {
      reduced = make<NegOp>(loc, *reduced);
      if (failed(reduced))
        return failure();
    }
    out = *reduced;
    return success();
  };
  if (llvm::isa<AddOp, SubOp>(op)) {
    if (needed[0] && failed(chain(grad, lhsType, false, grads[0])))
      return failure();
    if (needed[1] && failed(chain(grad, rhsType, llvm::isa<SubOp>(op), grads[1])))
      return failure();
    return success();
  }
  if (llvm::isa<MulOp>(op)) {
    if (lhs == rhs) { // x * x: both parts are g * x; the caller sums them.
      if (failed(chain(make<MulOp>(loc, grad, lhs), lhsType, false, grads[0])))
        return failure();
      grads[1] = grads[0];
      return success();
    }
    if (needed[0] && failed(chain(make<MulOp>(loc, grad, rhs), lhsType, false, grads[0])))
      return failure();
    if (needed[1] && failed(chain(make<MulOp>(loc, grad, lhs), rhsType, false, grads[1])))
      return failure();
    return success();
  }
  // div: y = a / b; dy/da = 1 / b, dy/db = -a / b^2 = -y / b.
  if (needed[0] && failed(chain(make<DivOp>(loc, grad, rhs), lhsType, false, grads[0])))
    return failure();
  if (needed[1]) {
    FailureOr<Value> scaled = make<MulOp>(loc, grad, op->getResult(0));
    if (failed(scaled) ||
        failed(chain(make<DivOp>(loc, *scaled, rhs), rhsType, true, grads[1])))
      return failure();
  }
  return success();
}

LogicalResult GradientBuilder::batchNormRule(BatchNormOp op, Value grad,
                                             llvm::ArrayRef<bool> needed,
                                             llvm::SmallVectorImpl<Value> &grads) {
  Location loc = op.getLoc();
  Value x = op.getInput(), weight = op.getWeight(), mean = op.getMean(), var = op.getVar();
  int64_t rank = tensorTypeOf(x).getRank();
  llvm::SmallVector<int64_t, 4> axes = {0};
  for (int64_t i = 2; i < rank; ++i)
    axes.push_back(i);
  float epsilon = op.getEpsilon().convertToFloat();

  // inv = rsqrt(var + eps), per channel.
  FailureOr<Value> shifted = make<AddOp>(loc, var, scalar(loc, epsilon));
  if (failed(shifted))
    return failure();
  FailureOr<Value> inv = make<RsqrtOp>(loc, *shifted);
  if (failed(inv))
    return failure();
  FailureOr<Value> scale = make<MulOp>(loc, weight, *inv); // w * inv
  if (failed(scale))
    return failure();

  if (needed[0]) {
    FailureOr<Value> scaleB = reshapeChannels(loc, *scale, rank);
    if (failed(scaleB))
      return failure();
    FailureOr<Value> gx = make<MulOp>(loc, grad, *scaleB);
    if (failed(gx))
      return failure();
    grads[0] = *gx;
  }
  FailureOr<Value> sumGrad;
  if (needed[2] || needed[3]) {
    sumGrad = make<ReduceSumOp>(loc, grad, axes, false);
    if (failed(sumGrad))
      return failure();
  }
  if (needed[2])
    grads[2] = *sumGrad;
  if (needed[3]) { // d/dmean = -sum(g) * w * inv
    FailureOr<Value> product = make<MulOp>(loc, *sumGrad, *scale);
    if (failed(product))
      return failure();
    FailureOr<Value> negated = make<NegOp>(loc, *product);
    if (failed(negated))
      return failure();
    grads[3] = *negated;
  }
  if (needed[1] || needed[4]) {
    // sum over N, H, W of g * (x - mean).
    FailureOr<Value> meanB = reshapeChannels(loc, mean, rank);
    if (failed(meanB))
      return failure();
    FailureOr<Value> centered = make<SubOp>(loc, x, *meanB);
    if (failed(centered))
      return failure();
    FailureOr<Value> weighted = make<MulOp>(loc, grad, *centered);
    if (failed(weighted))
      return failure();
    FailureOr<Value> sumCentered = make<ReduceSumOp>(loc, *weighted, axes, false);
    if (failed(sumCentered))
      return failure();
    if (needed[1]) { // d/dw = sum(g * (x - mean)) * inv
      FailureOr<Value> gw = make<MulOp>(loc, *sumCentered, *inv);
      if (failed(gw))
        return failure();
      grads[1] = *gw;
    }
    if (needed[4]) { // d/dvar = sum(g * (x - mean)) * w * -0.5 * inv^3
      FailureOr<Value> inv2 = make<MulOp>(loc, *inv, *inv);
      if (failed(inv2))
        return failure();
      FailureOr<Value> inv3 = make<MulOp>(loc, *inv2, *scale);
      if (failed(inv3))
        return failure();
      FailureOr<Value> product = make<MulOp>(loc, *sumCentered, *inv3);
      if (failed(product))
        return failure();
      FailureOr<Value> gv = make<MulOp>(loc, *product, scalar(loc, -0.5f));
      if (failed(gv))
        return failure();
      grads[4] = *gv;
    }
  }
  return success();
}

LogicalResult GradientBuilder::differentiate(Operation *op, Value grad,
                                             llvm::ArrayRef<bool> needed,
                                             llvm::SmallVectorImpl<Value> &grads) {
  Location loc = op->getLoc();
  grads.assign(op->getNumOperands(), Value());
  // Sets grads[i] from a built value.
  auto set = [&](unsigned i, FailureOr<Value> value) -> LogicalResult {
    if (failed(value))
      return failure();
    grads[i] = *value;
    return success();
  };
  // "no rule" for ops the pass does not know, "cannot differentiate" for a
  // known op whose operand shapes its rule does not handle.
  auto unsupported = [&](llvm::StringRef why) -> LogicalResult {
    return mlir::emitError(loc) << "kiln-autodiff: no gradient rule for '" << op->getName()
                                << "'" << why;
  };
  auto cannot = [&](llvm::StringRef what, Type type, llvm::StringRef why) -> LogicalResult {
    return mlir::emitError(loc) << "kiln-autodiff: cannot differentiate '" << op->getName()
                                << "' with " << what << " type " << type << ": " << why;
  };

  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case<AddOp, SubOp, MulOp, DivOp>(
          [&](Operation *binary) { return binaryRule(binary, grad, needed, grads); })
      .Case<MatmulOp>([&](MatmulOp mm) -> LogicalResult {
        llvm::SmallVector<int64_t, 2> swap = {1, 0};
        if (needed[0]) {
          FailureOr<Value> rhsT = make<TransposeOp>(loc, mm.getRhs(), swap);
          if (failed(rhsT) || failed(set(0, make<MatmulOp>(loc, grad, *rhsT))))
            return failure();
        }
        if (needed[1]) {
          FailureOr<Value> lhsT = make<TransposeOp>(loc, mm.getLhs(), swap);
          if (failed(lhsT) || failed(set(1, make<MatmulOp>(loc, *lhsT, grad))))
            return failure();
        }
        return success();
      })
      .Case<LinearOp>([&](LinearOp linear) -> LogicalResult {
        llvm::SmallVector<int64_t, 2> swap = {1, 0};
        if (needed[0] && failed(set(0, make<MatmulOp>(loc, grad, linear.getWeight()))))
          return failure();
        if (needed[1]) {
          FailureOr<Value> gradT = make<TransposeOp>(loc, grad, swap);
          if (failed(gradT) || failed(set(1, make<MatmulOp>(loc, *gradT, linear.getInput()))))
            return failure();
        }
        llvm::SmallVector<int64_t, 1> batch = {0};
        if (needed.size() > 2 && needed[2] &&
            failed(set(2, make<ReduceSumOp>(loc, grad, batch, false))))
          return failure();
        return success();
      })
      .Case<Conv2dOp>([&](Conv2dOp conv) -> LogicalResult {
        // Packed weights exist only in inference artifacts, where they never
        // change; the gradient rules below read OIHW weights.
        if (conv.hasHwioWeight())
          return mlir::emitError(loc)
                 << "kiln-autodiff: cannot differentiate '" << op->getName()
                 << "' with weight_layout \"hwio\": packed weights are for inference only "
                    "(kiln-pack-conv-weights); differentiate the model before packing";
        RankedTensorType inputType = tensorTypeOf(conv.getInput());
        RankedTensorType weightType = tensorTypeOf(conv.getWeight());
        if (needed[0]) {
          if (llvm::any_of(inputType.getShape().drop_front(),
                           [](int64_t dim) { return dim == kDynamic; }))
            return cannot("input", inputType, "only the batch may be '?'");
          if (failed(set(0, make<Conv2dGradInputOp>(
                                loc, grad, conv.getWeight(), conv.getStrides(),
                                conv.getPadding(), conv.getDilation(), conv.getGroups(),
                                llvm::ArrayRef<int64_t>(shapeAttrOf(inputType))))))
            return failure();
        }
        if (needed[1]) {
          if (!weightType.hasStaticShape())
            return cannot("weight", weightType, "the weight must be static");
          if (failed(set(1, make<Conv2dGradWeightOp>(
                                loc, conv.getInput(), grad, conv.getStrides(),
                                conv.getPadding(), conv.getDilation(), conv.getGroups(),
                                weightType.getShape()))))
            return failure();
        }
        llvm::SmallVector<int64_t, 3> axes = {0, 2, 3};
        if (needed.size() > 2 && needed[2] &&
            failed(set(2, make<ReduceSumOp>(loc, grad, axes, false))))
          return failure();
        return success();
      })
      .Case<ReluOp>([&](ReluOp relu) {
        // The output decides as well as the input (y > 0 exactly when x > 0,
        // PyTorch's threshold_backward on the result), and reading it leaves
        // the input with one user, so relu fuses into the op before it and
        // the pre-activation tensor is not kept for the backward.
        return set(0, make<ReluGradOp>(loc, relu.getResult(), grad));
      })
      .Case<Relu6Op>([&](Relu6Op relu6) {
        return set(0, make<Relu6GradOp>(loc, relu6.getInput(), grad));
      })
      .Case<HardswishOp>([&](HardswishOp hardswish) {
        return set(0, make<HardswishGradOp>(loc, hardswish.getInput(), grad));
      })
      .Case<SigmoidOp>([&](SigmoidOp sigmoid) {
        return set(0, make<SigmoidGradOp>(loc, sigmoid.getResult(), grad));
      })
      .Case<SqrtOp>([&](SqrtOp sqrt) -> LogicalResult {
        // d sqrt(x) = 1 / (2 sqrt(x)).
        FailureOr<Value> quotient = make<DivOp>(loc, grad, sqrt.getResult());
        if (failed(quotient))
          return failure();
        return set(0, make<MulOp>(loc, *quotient, scalar(loc, 0.5f)));
      })
      .Case<RsqrtOp>([&](RsqrtOp rsqrt) -> LogicalResult {
        // d x^(-1/2) = -1/2 x^(-3/2) = -1/2 * y / x.
        FailureOr<Value> ratio = make<DivOp>(loc, rsqrt.getResult(), rsqrt.getInput());
        if (failed(ratio))
          return failure();
        FailureOr<Value> product = make<MulOp>(loc, grad, *ratio);
        if (failed(product))
          return failure();
        return set(0, make<MulOp>(loc, *product, scalar(loc, -0.5f)));
      })
      .Case<NegOp>([&](NegOp) { return set(0, make<NegOp>(loc, grad)); })
      .Case<BroadcastToOp>([&](BroadcastToOp broadcast) {
        return set(0, unbroadcast(loc, grad, tensorTypeOf(broadcast.getInput())));
      })
      .Case<BatchNormOp>([&](BatchNormOp bn) { return batchNormRule(bn, grad, needed, grads); })
      .Case<MaxPool2dOp>([&](MaxPool2dOp pool) {
        auto strides = builder.getDenseI64ArrayAttr(poolWindowOf(pool)->strides);
        return set(0, make<MaxPool2dGradOp>(loc, pool.getInput(), grad, pool.getKernelSize(),
                                            strides, pool.getPadding(), pool.getCeilMode()));
      })
      .Case<AvgPool2dOp>([&](AvgPool2dOp pool) -> LogicalResult {
        RankedTensorType inputType = tensorTypeOf(pool.getInput());
        if (llvm::any_of(inputType.getShape().drop_front(),
                         [](int64_t dim) { return dim == kDynamic; }))
          return cannot("input", inputType, "only the batch may be '?'");
        auto strides = builder.getDenseI64ArrayAttr(poolWindowOf(pool)->strides);
        return set(0, make<AvgPool2dGradOp>(loc, grad, pool.getKernelSize(), strides,
                                            pool.getPadding(), pool.getCeilMode(),
                                            pool.getCountIncludePad(),
                                            llvm::ArrayRef<int64_t>(shapeAttrOf(inputType))));
      })
      .Case<GlobalAvgPoolOp>([&](GlobalAvgPoolOp pool) -> LogicalResult {
        RankedTensorType inputType = tensorTypeOf(pool.getInput());
        if (inputType.isDynamicDim(2) || inputType.isDynamicDim(3))
          return cannot("input", inputType, "H and W must be static");
        FailureOr<Value> spread = make<BroadcastToOp>(loc, grad, shapeAttrOf(inputType));
        if (failed(spread))
          return failure();
        float area = static_cast<float>(inputType.getDimSize(2) * inputType.getDimSize(3));
        return set(0, make<MulOp>(loc, *spread, scalar(loc, 1.0f / area)));
      })
      .Case<ReshapeOp, FlattenOp>([&](Operation *view) -> LogicalResult {
        RankedTensorType inputType = tensorTypeOf(view->getOperand(0));
        if (llvm::any_of(inputType.getShape().drop_front(),
                         [](int64_t dim) { return dim == kDynamic; }))
          return cannot("input", inputType, "only dim 0 may be '?'");
        return set(0, make<ReshapeOp>(loc, grad, shapeAttrOf(inputType)));
      })
      .Case<TransposeOp>([&](TransposeOp transpose) {
        llvm::ArrayRef<int64_t> perm = transpose.getPerm();
        llvm::SmallVector<int64_t, 4> inverse(perm.size());
        for (size_t i = 0; i < perm.size(); ++i)
          inverse[perm[i]] = static_cast<int64_t>(i);
        return set(0, make<TransposeOp>(loc, grad, inverse));
      })
      .Case<SoftmaxOp>([&](SoftmaxOp softmax) -> LogicalResult {
        Value y = softmax.getResult();
        llvm::SmallVector<int64_t, 1> axis = {static_cast<int64_t>(softmax.getAxis())};
        FailureOr<Value> gy = make<MulOp>(loc, grad, y);
        if (failed(gy))
          return failure();
        FailureOr<Value> dot = make<ReduceSumOp>(loc, *gy, axis, true);
        if (failed(dot))
          return failure();
        FailureOr<Value> centered = make<SubOp>(loc, grad, *dot);
        if (failed(centered))
          return failure();
        return set(0, make<MulOp>(loc, y, *centered));
      })
      .Case<LogSoftmaxOp>([&](LogSoftmaxOp logSoftmax) -> LogicalResult {
        llvm::SmallVector<int64_t, 1> axis = {static_cast<int64_t>(logSoftmax.getAxis())};
        FailureOr<Value> probabilities =
            make<SoftmaxOp>(loc, logSoftmax.getInput(), logSoftmax.getAxis());
        if (failed(probabilities))
          return failure();
        FailureOr<Value> total = make<ReduceSumOp>(loc, grad, axis, true);
        if (failed(total))
          return failure();
        FailureOr<Value> product = make<MulOp>(loc, *probabilities, *total);
        if (failed(product))
          return failure();
        return set(0, make<SubOp>(loc, grad, *product));
      })
      .Case<ReduceSumOp>([&](ReduceSumOp reduce) {
        return set(0, expandReduced(loc, grad, tensorTypeOf(reduce.getInput()),
                                    reduce.getAxes(), reduce.getKeepdim()));
      })
      .Case<ReduceMeanOp>([&](ReduceMeanOp reduce) -> LogicalResult {
        RankedTensorType inputType = tensorTypeOf(reduce.getInput());
        double count = 1.0;
        int64_t dynamicDims = 0;
        for (int64_t axis : normalizeAxes(reduce.getAxes(), inputType.getRank())) {
          if (inputType.isDynamicDim(axis))
            ++dynamicDims;
          else
            count *= static_cast<double>(inputType.getDimSize(axis));
        }
        Value factor = scalar(loc, static_cast<float>(1.0 / count));
        for (int64_t i = 0; i < dynamicDims; ++i) {
          FailureOr<Value> batch = batchSize(loc);
          if (failed(batch))
            return failure();
          FailureOr<Value> divided = make<DivOp>(loc, factor, *batch);
          if (failed(divided))
            return failure();
          factor = *divided;
        }
        FailureOr<Value> scaled = make<MulOp>(loc, grad, factor);
        if (failed(scaled))
          return failure();
        return set(0, expandReduced(loc, *scaled, inputType, reduce.getAxes(),
                                    reduce.getKeepdim()));
      })
      // Second order: the gradient ops are linear in their grad operand. They
      // broadcast like add, so each operand's part is summed back to its type.
      .Case<ReluGradOp, Relu6GradOp>([&](Operation *gradOp) -> LogicalResult {
        Value x = gradOp->getOperand(0), dy = gradOp->getOperand(1);
        if (!needed[1]) // piecewise constant in x
          return success();
        FailureOr<Value> masked = llvm::isa<ReluGradOp>(gradOp)
                                      ? make<ReluGradOp>(loc, x, grad)
                                      : make<Relu6GradOp>(loc, x, grad);
        if (failed(masked))
          return failure();
        return set(1, unbroadcast(loc, *masked, tensorTypeOf(dy)));
      })
      .Case<HardswishGradOp>([&](HardswishGradOp op) -> LogicalResult {
        if (needed[1]) {
          FailureOr<Value> scaled = make<HardswishGradOp>(loc, op.getInput(), grad);
          if (failed(scaled) ||
              failed(set(1, unbroadcast(loc, *scaled, tensorTypeOf(op.getGrad())))))
            return failure();
        }
        if (!needed[0])
          return success();
        // hardswish'' is 1/3 on (-3, 3) and 0 elsewhere (a.e.), i.e. 1/3 where
        // 0 < x + 3 < 6: relu6_grad's interval.
        FailureOr<Value> shifted = make<AddOp>(loc, op.getInput(), scalar(loc, 3.0f));
        if (failed(shifted))
          return failure();
        FailureOr<Value> product = make<MulOp>(loc, grad, op.getGrad());
        if (failed(product))
          return failure();
        FailureOr<Value> masked = make<Relu6GradOp>(loc, *shifted, *product);
        if (failed(masked))
          return failure();
        FailureOr<Value> third = make<MulOp>(loc, *masked, scalar(loc, 1.0f / 3.0f));
        if (failed(third))
          return failure();
        return set(0, unbroadcast(loc, *third, tensorTypeOf(op.getInput())));
      })
      .Case<SigmoidGradOp>([&](SigmoidGradOp op) -> LogicalResult {
        if (needed[1]) {
          FailureOr<Value> scaled = make<SigmoidGradOp>(loc, op.getOutput(), grad);
          if (failed(scaled) ||
              failed(set(1, unbroadcast(loc, *scaled, tensorTypeOf(op.getGrad())))))
            return failure();
        }
        if (!needed[0])
          return success();
        // d/dy (dy * y * (1 - y)) = dy * (1 - 2y).
        FailureOr<Value> twice = make<MulOp>(loc, op.getOutput(), scalar(loc, 2.0f));
        if (failed(twice))
          return failure();
        FailureOr<Value> slope = make<SubOp>(loc, scalar(loc, 1.0f), *twice);
        if (failed(slope))
          return failure();
        FailureOr<Value> product = make<MulOp>(loc, grad, op.getGrad());
        if (failed(product))
          return failure();
        FailureOr<Value> full = make<MulOp>(loc, *product, *slope);
        if (failed(full))
          return failure();
        return set(0, unbroadcast(loc, *full, tensorTypeOf(op.getOutput())));
      })
      .Case<Conv2dGradInputOp>([&](Conv2dGradInputOp op) -> LogicalResult {
        if (needed[0] && failed(set(0, make<Conv2dOp>(loc, grad, op.getWeight(), Value(),
                                                      op.getStrides(), op.getPadding(),
                                                      op.getDilation(), op.getGroups()))))
          return failure();
        RankedTensorType weightType = tensorTypeOf(op.getWeight());
        if (needed[1]) {
          if (!weightType.hasStaticShape())
            return cannot("weight", weightType, "the weight must be static");
          if (failed(set(1, make<Conv2dGradWeightOp>(loc, grad, op.getGrad(), op.getStrides(),
                                                     op.getPadding(), op.getDilation(),
                                                     op.getGroups(), weightType.getShape()))))
            return failure();
        }
        return success();
      })
      .Case<Conv2dGradWeightOp>([&](Conv2dGradWeightOp op) -> LogicalResult {
        RankedTensorType inputType = tensorTypeOf(op.getInput());
        if (needed[0]) {
          if (llvm::any_of(inputType.getShape().drop_front(),
                           [](int64_t dim) { return dim == kDynamic; }))
            return cannot("input", inputType, "only the batch may be '?'");
          if (failed(set(0, make<Conv2dGradInputOp>(
                                loc, op.getGrad(), grad, op.getStrides(), op.getPadding(),
                                op.getDilation(), op.getGroups(),
                                llvm::ArrayRef<int64_t>(shapeAttrOf(inputType))))))
            return failure();
        }
        if (needed[1] && failed(set(1, make<Conv2dOp>(loc, op.getInput(), grad, Value(),
                                                      op.getStrides(), op.getPadding(),
                                                      op.getDilation(), op.getGroups()))))
          return failure();
        return success();
      })
      .Case<AvgPool2dGradOp>([&](AvgPool2dGradOp op) {
        auto strides = builder.getDenseI64ArrayAttr(poolWindowOf(op)->strides);
        return set(0, make<AvgPool2dOp>(loc, grad, op.getKernelSize(), strides,
                                        op.getPadding(), op.getCeilMode(),
                                        op.getCountIncludePad()));
      })
      .Case<MaxPool2dGradOp>([&](MaxPool2dGradOp) {
        return unsupported(" (second-order gradients through max pooling are not "
                           "supported)");
      })
      .Case<KernelOp, YieldOp>([&](Operation *) {
        return unsupported(" (run kiln-autodiff before kiln-fuse)");
      })
      .Default([&](Operation *) { return unsupported(""); });
}

struct KilnAutodiffPass : impl::KilnAutodiffBase<KilnAutodiffPass> {
  using KilnAutodiffBase::KilnAutodiffBase;

  void runOnOperation() override {
    if (failed(run()))
      signalPassFailure();
  }

  LogicalResult run() {
    mlir::ModuleOp module = getOperation();
    auto forward = module.lookupSymbol<mlir::func::FuncOp>(forwardName);
    if (!forward)
      return module.emitError() << "kiln-autodiff: no function @" << forwardName
                                << " to differentiate";
    if (module.lookupSymbol(stepName))
      return module.emitError() << "kiln-autodiff: a symbol @" << stepName
                                << " already exists";
    if (forward.isExternal() || !llvm::hasSingleElement(forward.getBody()))
      return forward.emitError() << "kiln-autodiff: expected @" << forwardName
                                 << " to have a body of one block";
    if (unsigned(lossIndex) >= forward.getNumResults())
      return forward.emitError() << "kiln-autodiff: loss index " << unsigned(lossIndex)
                                 << " out of range: @" << forwardName << " has "
                                 << forward.getNumResults() << " results";
    auto lossType = RankedTensorType::get({1}, mlir::Float32Type::get(&getContext()));
    if (forward.getResultTypes()[unsigned(lossIndex)] != lossType)
      return forward.emitError() << "kiln-autodiff: expected result #" << unsigned(lossIndex)
                                 << " of @" << forwardName << " (the loss) to be " << lossType
                                 << ", found " << forward.getResultTypes()[unsigned(lossIndex)]
                                 << " (reduce with keepdim = true to get a [1] tensor)";

    mlir::OpBuilder moduleBuilder(forward);
    moduleBuilder.setInsertionPointAfter(forward);
    auto step = llvm::cast<mlir::func::FuncOp>(moduleBuilder.clone(*forward));
    step.setSymName(stepName);
    if (failed(buildStep(step, lossType))) {
      step.erase();
      return failure();
    }
    return success();
  }

  LogicalResult buildStep(mlir::func::FuncOp step, RankedTensorType lossType) {
    mlir::Block &body = step.getBody().front();
    auto ret = llvm::cast<mlir::func::ReturnOp>(body.getTerminator());
    Value loss = ret.getOperand(unsigned(lossIndex));

    // The trainable parameters by name in order of first appearance; every
    // reader of a name must agree on its type.
    const ParameterReaders params(body, /*trainableOnly=*/true);
    for (ParameterOp param : params.all()) {
      ParameterOp first = params.first(param.getName());
      if (first.getType() != param.getType())
        return param.emitError() << "kiln-autodiff: parameter '" << param.getName()
                                 << "' is read with types " << first.getType() << " and "
                                 << param.getType();
    }
    // Values that depend on a trainable parameter (a parameter op has no
    // operands, so its readers can be seeded before the walk).
    llvm::DenseSet<Value> varied;
    for (ParameterOp param : params.all())
      varied.insert(param.getResult());
    // stop_gradient cuts the dependence: no gradient reaches its input.
    for (Operation &op : body.without_terminator())
      if (!llvm::isa<ParameterOp, StopGradientOp>(op) &&
          llvm::any_of(op.getOperands(), [&](Value v) { return varied.contains(v); }))
        for (Value result : op.getResults())
          varied.insert(result);

    // Values the loss depends on.
    llvm::DenseSet<Value> useful;
    useful.insert(loss);
    for (Operation &op : llvm::reverse(body.without_terminator()))
      if (llvm::any_of(op.getResults(), [&](Value v) { return useful.contains(v); }))
        for (Value operand : op.getOperands())
          useful.insert(operand);

    mlir::OpBuilder builder(ret);
    unsigned opCount = 0;
    GradientBuilder gradients(builder, opCount);
    llvm::DenseMap<Value, Value> adjoint;
    auto accumulate = [&](Location loc, Value value, Value grad) -> LogicalResult {
      FailureOr<Value> typed = gradients.castTo(loc, grad, tensorTypeOf(value));
      if (failed(typed))
        return failure();
      auto it = adjoint.find(value);
      if (it == adjoint.end()) {
        adjoint[value] = *typed;
        return success();
      }
      FailureOr<Value> sum = gradients.accumulate(loc, it->second, *typed);
      if (failed(sum))
        return failure();
      it->second = *sum;
      return success();
    };

    if (varied.contains(loss))
      adjoint[loss] = gradients.constant(ret.getLoc(), lossType, 1.0f);
    // Snapshot the forward ops: the backward is inserted into the same block.
    llvm::SmallVector<Operation *> forwardOps;
    for (Operation &op : body.without_terminator())
      forwardOps.push_back(&op);
    for (Operation *op : llvm::reverse(forwardOps)) {
      if (op->getNumResults() != 1)
        continue;
      auto it = adjoint.find(op->getResult(0));
      if (it == adjoint.end())
        continue;
      llvm::SmallVector<bool, 5> needed;
      for (Value operand : op->getOperands())
        needed.push_back(varied.contains(operand) && useful.contains(operand));
      if (llvm::none_of(needed, [](bool b) { return b; }))
        continue;
      llvm::SmallVector<Value, 5> grads;
      if (failed(gradients.differentiate(op, it->second, needed, grads)))
        return op->emitError() << "kiln-autodiff: failed to build the gradient of '"
                               << op->getName() << "'";
      for (unsigned i = 0; i < grads.size(); ++i)
        if (needed[i] && grads[i] &&
            failed(accumulate(op->getLoc(), op->getOperand(i), grads[i])))
          return op->emitError() << "kiln-autodiff: failed to accumulate the gradient of '"
                                 << op->getName() << "' operand #" << i;
    }

    // Results: the loss, then one gradient per trainable parameter.
    llvm::SmallVector<Value> results = {loss};
    llvm::SmallVector<mlir::Attribute> nameAttrs;
    for (const std::string &name : params.names()) {
      Value total;
      for (ParameterOp param : params.readers(name)) {
        auto it = adjoint.find(param.getResult());
        if (it == adjoint.end())
          continue;
        if (!total) {
          total = it->second;
          continue;
        }
        FailureOr<Value> sum = gradients.accumulate(param.getLoc(), total, it->second);
        if (failed(sum))
          return failure();
        total = *sum;
      }
      if (!total) // no path to the loss
        total = gradients.constant(params.first(name).getLoc(),
                                   tensorTypeOf(params.first(name).getResult()), 0.0f);
      results.push_back(total);
      nameAttrs.push_back(builder.getStringAttr(name));
    }
    builder.create<mlir::func::ReturnOp>(ret.getLoc(), results);
    ret.erase();

    llvm::SmallVector<Type> resultTypes;
    for (Value result : results)
      resultTypes.push_back(result.getType());
    step.setFunctionType(builder.getFunctionType(step.getArgumentTypes(), resultTypes));
    step.removeResAttrsAttr();
    step->setAttr("kiln.gradients", builder.getArrayAttr(nameAttrs));

    // Forward values that only fed the dropped results.
    llvm::SmallVector<Operation *> all;
    for (Operation &op : body.without_terminator())
      all.push_back(&op);
    for (Operation *op : llvm::reverse(all))
      if (mlir::isOpTriviallyDead(op))
        op->erase();
    numGradientOps += opCount;
    return success();
  }
};

} // namespace
} // namespace kiln
