//===- Epilogue.cpp - elementwise part of a fused group -------------------===//
#include "Epilogue.h"

#include "kiln/Dialect/OpQueries.h"

#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;

namespace kiln::codegen {

// ---------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------

RuntimeShape shapeOf(Value v) {
  RuntimeShape s;
  for (int64_t d : llvm::cast<RankedTensorType>(v.getType()).getShape())
    s.dims.push_back(ShapedType::isDynamic(d) ? -1 : d);
  return s;
}

SmallVector<Value> RuntimeShape::values(KernelIR &ir, Value batch) const {
  SmallVector<Value> out;
  for (int64_t d : dims)
    out.push_back(d < 0 ? batch : ir.c(d));
  return out;
}

SmallVector<Value> RuntimeShape::strides(KernelIR &ir, Value batch) const {
  SmallVector<Value> out(dims.size());
  Value stride = ir.c(1);
  for (int64_t i = (int64_t)dims.size() - 1; i >= 0; --i) {
    out[i] = stride;
    stride = ir.mul(stride, dims[i] < 0 ? batch : ir.c(dims[i]));
  }
  return out;
}

int64_t RuntimeShape::staticNumelPerItem() const {
  int64_t n = 1;
  for (int64_t d : dims)
    if (d >= 0)
      n *= d;
  return n;
}

bool RuntimeShape::hasDynamic() const {
  return llvm::any_of(dims, [](int64_t d) { return d < 0; });
}

// ---------------------------------------------------------------------------
// Analysis
// ---------------------------------------------------------------------------

Epilogue::Epilogue(KernelOp kernel, Operation *anchor) : kernel(kernel), anchor(anchor) {
  Block &body = kernel.getBody().front();
  result = cast<YieldOp>(body.getTerminator()).getValue();
  outShape = shapeOf(result);
  if (outShape.dims.empty()) // a scalar is iterated as one element of rank 1
    outShape.dims = {1};
  ops = opsAfterAnchor(body, anchor);
  analyseUses();
}

Epilogue::Epilogue(KernelOp kernel, SmallVector<Operation *> prologueOps, Value value)
    : kernel(kernel), anchor(nullptr), result(value) {
  outShape = shapeOf(value);
  if (outShape.dims.empty())
    outShape.dims = {1};
  ops = std::move(prologueOps);
  analyseUses();
}

Epilogue Epilogue::prologue(KernelOp kernel, Operation *anchor) {
  return Epilogue(kernel, opsBeforeAnchor(kernel.getBody().front(), anchor),
                  anchor->getOperand(0));
}

bool Epilogue::mergesAt(int64_t d) const {
  for (auto &entry : uses)
    if (!mergesAcross(entry.second.strides, d, outShape.dims[d]))
      return false;
  return true;
}

Value Epilogue::emitAt(KernelIR &ir, Value batch, ArrayRef<Value> buffers,
                       ArrayRef<Value> coords) {
  llvm::DenseMap<Value, Value> memo;
  for (Operation *op : ops) {
    SmallVector<Value> operands;
    for (OpOperand &operand : op->getOpOperands()) {
      if (!llvm::isa<BlockArgument>(operand.get())) {
        operands.push_back(memo.lookup(operand.get()));
        continue;
      }
      const Use &use = uses[&operand];
      Value index = ir.c(0);
      for (size_t d = 0; d < coords.size(); ++d)
        if (!use.strides[d].isZero())
          index = ir.add(index, ir.mul(coords[d], strideValue(ir, batch, use.strides[d])));
      operands.push_back(ir.load(buffers[use.argNumber], index));
    }
    memo[op->getResult(0)] = emitScalarOp(ir, op, operands);
  }
  return memo.lookup(result);
}

void Epilogue::analyseUses() {
  ArrayRef<int64_t> out = outShape.dims;
  for (Operation *op : ops) {
    for (OpOperand &operand : op->getOpOperands()) {
      auto arg = llvm::dyn_cast<BlockArgument>(operand.get());
      if (!arg)
        continue;
      Use use;
      use.argNumber = arg.getArgNumber();
      use.strides = epilogueOperandStrides(operand, out);
      uses[&operand] = std::move(use);
    }
  }
}

SmallVector<SmallVector<int64_t>> Epilogue::collapse(ArrayRef<bool> anchorMergeable) const {
  ArrayRef<int64_t> out = outShape.dims;
  SmallVector<SmallVector<int64_t>> groups;
  for (int64_t d = 0; d < (int64_t)out.size(); ++d) {
    // A dynamic dim never merges: its extent is only known at run time.
    bool merge = d > 0 && anchorMergeable[d - 1] && out[d] >= 0 && out[d - 1] >= 0;
    if (merge) {
      for (auto &entry : uses)
        if (!mergesAcross(entry.second.strides, d, out[d]))
          merge = false;
    }
    if (merge)
      groups.back().push_back(d);
    else
      groups.push_back({d});
  }
  return groups;
}

void Epilogue::setIterationSpace(SmallVector<SmallVector<int64_t>> groups) {
  iterGroups = std::move(groups);
  invariant.clear();
  const auto &innerDims = iterGroups.back();
  auto useInvariant = [&](OpOperand *operand) {
    auto it = uses.find(operand);
    if (it == uses.end())
      return false;
    for (int64_t d : innerDims)
      if (!it->second.strides[d].isZero())
        return false;
    return true;
  };
  for (Operation *op : ops) {
    bool inv = true;
    for (OpOperand &operand : op->getOpOperands()) {
      if (llvm::isa<BlockArgument>(operand.get())) {
        inv &= useInvariant(&operand);
      } else {
        auto it = invariant.find(operand.get());
        inv &= it != invariant.end() && it->second;
      }
    }
    invariant[op->getResult(0)] = inv;
  }
}

std::optional<Epilogue::ConvStage> Epilogue::matchConvStage() const {
  if (!anchor || outShape.dims.size() != 4)
    return std::nullopt;
  const SmallVector<Stride, 4> rowMajor = rowMajorStrides(outShape.dims);
  // The operand's kernel operand number where it is read with `strides`.
  auto argReadAs = [&](OpOperand &operand, auto &&stridesOk) -> int {
    auto it = uses.find(&operand);
    return it != uses.end() && stridesOk(it->second.strides) ? int(it->second.argNumber) : -1;
  };
  auto perChannel = [](ArrayRef<Stride> s) {
    return s[0].isZero() && s[1] == Stride{1, false} && s[2].isZero() && s[3].isZero();
  };
  auto likeOutput = [&](ArrayRef<Stride> s) { return llvm::equal(s, rowMajor); };
  ConvStage stage;
  int next = 0; // the first step still allowed: 0 batch_norm, 1 add, 2 relu
  Value prev = anchor->getResult(0);
  for (Operation *op : ops) {
    if (auto bn = dyn_cast<BatchNormOp>(op)) {
      if (next > 0 || bn.getInput() != prev)
        return std::nullopt;
      int *fields[] = {&stage.bnWeight, &stage.bnBias, &stage.bnMean, &stage.bnVar};
      for (unsigned i = 1; i < 5; ++i)
        if ((*fields[i - 1] = argReadAs(op->getOpOperand(i), perChannel)) < 0)
          return std::nullopt;
      stage.bnEps = bn.getEpsilonAttr().getValueAsDouble();
      next = 1;
    } else if (isa<AddOp>(op)) {
      const unsigned other = op->getOperand(0) == prev ? 1 : 0;
      if (next > 1 || op->getOperand(1 - other) != prev ||
          (stage.residual = argReadAs(op->getOpOperand(other), likeOutput)) < 0)
        return std::nullopt;
      next = 2;
    } else if (isa<ReluOp>(op)) {
      if (next > 2 || op->getOperand(0) != prev)
        return std::nullopt;
      stage.relu = true;
      next = 3;
    } else {
      return std::nullopt;
    }
    prev = op->getResult(0);
  }
  if (prev != result)
    return std::nullopt;
  return stage;
}

int64_t Epilogue::flopsPerElement() const {
  int64_t flops = 0;
  for (Operation *op : ops)
    flops += isa<BatchNormOp>(op) ? 2 : isa<SigmoidOp, HardswishOp>(op) ? 4 : 1;
  return flops;
}

// ---------------------------------------------------------------------------
// Emission
// ---------------------------------------------------------------------------

Value Epilogue::emitScalarOp(KernelIR &ir, Operation *op, ArrayRef<Value> v) {
  if (isa<AddOp>(op)) return ir.fadd(v[0], v[1]);
  if (isa<SubOp>(op)) return ir.fsub(v[0], v[1]);
  if (isa<MulOp>(op)) return ir.fmul(v[0], v[1]);
  if (isa<DivOp>(op)) return ir.fdiv(v[0], v[1]);
  if (isa<ReluOp>(op)) return ir.fmax(v[0], ir.f(0.0f));
  if (isa<Relu6Op>(op)) return ir.fmin(ir.fmax(v[0], ir.f(0.0f)), ir.f(6.0f));
  if (isa<SigmoidOp>(op))
    return ir.fdiv(ir.f(1.0f), ir.fadd(ir.f(1.0f), ir.fexp(ir.fsub(ir.f(0.0f), v[0]))));
  if (isa<HardswishOp>(op)) {
    Value r6 = ir.fmin(ir.fmax(ir.fadd(v[0], ir.f(3.0f)), ir.f(0.0f)), ir.f(6.0f));
    return ir.fmul(ir.fmul(v[0], r6), ir.f(1.0f / 6.0f));
  }
  // Training ops (docs/dialect.md, "Training ops").
  if (isa<BroadcastToOp>(op)) // the broadcast is in the operand's strides
    return v[0];
  if (isa<NegOp>(op)) return ir.fsub(ir.f(0.0f), v[0]);
  if (isa<SqrtOp>(op)) return ir.fsqrt(v[0]);
  if (isa<RsqrtOp>(op)) return ir.fdiv(ir.f(1.0f), ir.fsqrt(v[0]));
  if (isa<ReluGradOp>(op))
    return ir.select(ir.fcmp(arith::CmpFPredicate::OGT, v[0], ir.f(0.0f)), v[1], ir.f(0.0f));
  if (isa<Relu6GradOp>(op)) {
    Value inside = ir.b.create<arith::AndIOp>(
        ir.loc, ir.fcmp(arith::CmpFPredicate::OGT, v[0], ir.f(0.0f)),
        ir.fcmp(arith::CmpFPredicate::OLT, v[0], ir.f(6.0f)));
    return ir.select(inside, v[1], ir.f(0.0f));
  }
  if (isa<HardswishGradOp>(op)) {
    // PyTorch's hardswish_backward: x < -3 -> 0; x <= 3 -> dy*(x/3 + 1/2); else dy.
    Value mid = ir.fmul(v[1], ir.fadd(ir.fdiv(v[0], ir.f(3.0f)), ir.f(0.5f)));
    Value upper = ir.select(ir.fcmp(arith::CmpFPredicate::OLE, v[0], ir.f(3.0f)), mid, v[1]);
    return ir.select(ir.fcmp(arith::CmpFPredicate::OLT, v[0], ir.f(-3.0f)), ir.f(0.0f), upper);
  }
  if (isa<SigmoidGradOp>(op)) // v[0] = sigmoid output y
    return ir.fmul(ir.fmul(v[1], v[0]), ir.fsub(ir.f(1.0f), v[0]));
  if (auto bn = dyn_cast<BatchNormOp>(op)) {
    // (x - mean) * (weight / sqrt(var + eps)) + bias; the scale is hoisted out
    // of the inner loop whenever the parameters are row-invariant.
    Value scale = bnScale.lookup(op);
    if (!scale) {
      float eps = bn.getEpsilonAttr().getValueAsDouble();
      scale = ir.fdiv(v[1], ir.fsqrt(ir.fadd(v[4], ir.f(eps))));
    }
    return ir.fadd(ir.fmul(ir.fsub(v[0], v[3]), scale), v[2]);
  }
  op->emitError("kiln-lower-to-llvm: not an elementwise op in an epilogue");
  return ir.f(0.0f);
}

Value Epilogue::strideValue(KernelIR &ir, Value batch, const Stride &stride) const {
  return stride.perBatch ? ir.mul(batch, stride.coef) : ir.c(stride.coef);
}

void Epilogue::emitRowInvariants(KernelIR &ir, Value batch, ArrayRef<Value> buffers,
                                 ArrayRef<Value> outer) {
  rowBase.clear();
  innerStride.clear();
  rowValues.clear();
  bnScale.clear();
  for (auto &entry : uses) {
    const Use &use = entry.second;
    Value base = ir.c(0);
    for (size_t g = 0; g + 1 < iterGroups.size(); ++g)
      base = ir.add(base, ir.mul(outer[g], strideValue(ir, batch, use.strides[iterGroups[g].back()])));
    rowBase[entry.first] = base;
    innerStride[entry.first] = strideValue(ir, batch, use.strides[iterGroups.back().back()]);
  }
  // Hoist invariant loads and ops; for batch_norm also the per-channel scale.
  for (Operation *op : ops) {
    if (!invariant.lookup(op->getResult(0))) {
      if (auto bn = dyn_cast<BatchNormOp>(op)) {
        // Parameters invariant but x not: precompute the parameter scalars.
        for (unsigned i = 1; i < 5; ++i) {
          OpOperand &operand = op->getOpOperand(i);
          auto it = uses.find(&operand);
          if (it == uses.end())
            continue;
          bool inv = true;
          for (int64_t d : iterGroups.back())
            inv &= it->second.strides[d].isZero();
          if (inv)
            rowValues[operand.get()] =
                ir.load(buffers[it->second.argNumber], rowBase[&operand]);
        }
        Value weight = rowValues.lookup(op->getOperand(1));
        Value var = rowValues.lookup(op->getOperand(4));
        if (weight && var) {
          float eps = bn.getEpsilonAttr().getValueAsDouble();
          bnScale[op] = ir.fdiv(weight, ir.fsqrt(ir.fadd(var, ir.f(eps))));
        }
      }
      continue;
    }
    SmallVector<Value> operands;
    for (OpOperand &operand : op->getOpOperands()) {
      if (llvm::isa<BlockArgument>(operand.get()))
        operands.push_back(
            ir.load(buffers[uses[&operand].argNumber], rowBase[&operand]));
      else
        operands.push_back(rowValues.lookup(operand.get()));
    }
    rowValues[op->getResult(0)] = emitScalarOp(ir, op, operands);
  }
}

Value Epilogue::emitElement(KernelIR &ir, Value batch, ArrayRef<Value> buffers, Value inner,
                            Value anchorValue) {
  llvm::DenseMap<Value, Value> memo;
  if (anchor)
    memo[anchor->getResult(0)] = anchorValue;
  for (Operation *op : ops) {
    Value result = op->getResult(0);
    if (invariant.lookup(result)) {
      memo[result] = rowValues.lookup(result);
      continue;
    }
    SmallVector<Value> operands;
    for (OpOperand &operand : op->getOpOperands()) {
      if (auto arg = llvm::dyn_cast<BlockArgument>(operand.get())) {
        if (Value hoisted = rowValues.lookup(operand.get());
            hoisted && isa<BatchNormOp>(op) && operand.getOperandNumber() >= 1) {
          operands.push_back(hoisted);
          continue;
        }
        const Use &use = uses[&operand];
        Value index = ir.add(rowBase[&operand], ir.mul(inner, innerStride[&operand]));
        operands.push_back(ir.load(buffers[use.argNumber], index));
      } else {
        operands.push_back(memo.lookup(operand.get()));
      }
    }
    memo[result] = emitScalarOp(ir, op, operands);
  }
  return memo.lookup(result);
}

} // namespace kiln::codegen
