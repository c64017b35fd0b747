//===- Epilogue.cpp - shapes, index text and the elementwise epilogue -----===//
//
// The CUDA twin of Codegen/CPU/Epilogue.cpp: the same broadcasting rules (one
// copy, kiln/Codegen/BroadcastStrides.h) and the same scalar formulas (so CPU
// and GPU results agree to rounding), written as C expressions instead of MLIR ops.
//===----------------------------------------------------------------------===//
#include "CudaCode.h"

#include "kiln/Dialect/OpQueries.h"

#include "mlir/IR/BuiltinTypes.h"

#include <cmath>
#include <cstdio>

using namespace mlir;

namespace kiln::codegen::cuda {

Dims dimsOf(Value v) {
  Dims d;
  for (int64_t x : llvm::cast<RankedTensorType>(v.getType()).getShape())
    d.push_back(ShapedType::isDynamic(x) ? -1 : x);
  return d;
}

std::string extent(int64_t d) { return d < 0 ? "B" : std::to_string(d); }

std::string floatLit(float v) {
  if (std::isinf(v))
    return v > 0 ? "KILN_INF" : "(-KILN_INF)";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", double(v));
  std::string s = buf;
  if (s.find_first_of(".eE") == std::string::npos)
    s += ".0";
  return s + "f";
}

std::string strideExpr(const Stride &stride) {
  if (stride.coef == 0)
    return "0";
  if (!stride.perBatch)
    return std::to_string(stride.coef);
  return stride.coef == 1 ? "B" : fmt::format("{}*B", stride.coef);
}

void decompose(Code &c, const std::string &index, ArrayRef<std::string> extents,
               ArrayRef<std::string> names) {
  if (extents.size() == 1) {
    c.line(fmt::format("const int {} = {};", names[0], index));
    return;
  }
  std::string rest = c.fresh("r");
  c.line(fmt::format("int {} = {};", rest, index));
  for (size_t i = extents.size() - 1; i > 0; --i) {
    c.line(fmt::format("const int {} = {} % {};", names[i], rest, extents[i]));
    c.line(fmt::format("{} /= {};", rest, extents[i]));
  }
  c.line(fmt::format("const int {} = {};", names[0], rest));
}

std::string linearExpr(ArrayRef<std::string> coords, ArrayRef<Stride> strides) {
  std::string s;
  for (size_t i = 0; i < coords.size(); ++i) {
    if (strides[i].isZero())
      continue;
    std::string term = strides[i].coef == 1 && !strides[i].perBatch
                           ? coords[i]
                           : fmt::format("{}*{}", coords[i], strideExpr(strides[i]));
    s += s.empty() ? term : " + " + term;
  }
  if (s.empty())
    return "0";
  return s.find(' ') == std::string::npos ? s : "(" + s + ")";
}

// ---------------------------------------------------------------------------
// Epilogue
// ---------------------------------------------------------------------------

Epilogue::Epilogue(KernelOp kernel, Operation *anchor) : kernel_(kernel), anchor_(anchor) {
  Block &body = kernel.getBody().front();
  result_ = cast<YieldOp>(body.getTerminator()).getValue();
  out_ = dimsOf(result_);
  if (out_.empty())
    out_ = {1};
  for (Operation *op : opsAfterAnchor(body, anchor))
    ops_.push_back(op);
  analyseUses();
}

Epilogue::Epilogue(KernelOp kernel, std::vector<Operation *> ops, Value result)
    : kernel_(kernel), anchor_(nullptr), result_(result), ops_(std::move(ops)) {
  out_ = dimsOf(result);
  if (out_.empty())
    out_ = {1};
  analyseUses();
}

Epilogue Epilogue::prologue(KernelOp kernel, Operation *anchor) {
  auto before = opsBeforeAnchor(kernel.getBody().front(), anchor);
  return Epilogue(kernel, std::vector<Operation *>(before.begin(), before.end()),
                  anchor->getOperand(0));
}

bool Epilogue::mergesAt(int64_t d) const {
  for (const Use &use : uses_)
    if (!mergesAcross(use.strides, d, out_[d]))
      return false;
  return true;
}

void Epilogue::analyseUses() {
  for (Operation *op : ops_) {
    for (OpOperand &operand : op->getOpOperands()) {
      auto arg = llvm::dyn_cast<BlockArgument>(operand.get());
      if (!arg)
        continue;
      uses_.push_back(Use{&operand, arg.getArgNumber(), epilogueOperandStrides(operand, out_)});
    }
  }
}

int64_t Epilogue::flopsPerElement() const {
  int64_t flops = 0;
  for (Operation *op : ops_)
    flops += isa<BatchNormOp>(op) ? 2 : isa<SigmoidOp, HardswishOp>(op) ? 4 : 1;
  return flops;
}

std::vector<std::vector<int64_t>> Epilogue::collapse(ArrayRef<bool> mergeable) const {
  std::vector<std::vector<int64_t>> groups;
  for (int64_t d = 0; d < (int64_t)out_.size(); ++d) {
    bool merge = d > 0 && mergeable[d - 1] && out_[d] >= 0 && out_[d - 1] >= 0;
    for (const Use &use : uses_) {
      if (!merge)
        break;
      merge = mergesAcross(use.strides, d, out_[d]);
    }
    if (merge)
      groups.back().push_back(d);
    else
      groups.push_back({d});
  }
  return groups;
}

bool Epilogue::innerStrideUnitOrZero(const std::vector<std::vector<int64_t>> &groups) const {
  for (const Use &use : uses_) {
    Stride s = use.strides[groups.back().back()];
    if (s.perBatch || (s.coef != 0 && s.coef != 1))
      return false;
  }
  return true;
}

std::string Epilogue::useOffset(size_t use, const std::vector<std::vector<int64_t>> &groups,
                                ArrayRef<std::string> coords) const {
  llvm::SmallVector<Stride, 4> strides;
  for (const auto &g : groups)
    strides.push_back(uses_[use].strides[g.back()]);
  return linearExpr(coords, strides);
}

std::string Epilogue::scalarOp(Operation *op, ArrayRef<std::string> v) const {
  if (isa<AddOp>(op)) return fmt::format("({} + {})", v[0], v[1]);
  if (isa<SubOp>(op)) return fmt::format("({} - {})", v[0], v[1]);
  if (isa<MulOp>(op)) return fmt::format("({} * {})", v[0], v[1]);
  if (isa<DivOp>(op)) return fmt::format("({} / {})", v[0], v[1]);
  if (isa<ReluOp>(op)) return fmt::format("fmaxf({}, 0.0f)", v[0]);
  if (isa<Relu6Op>(op)) return fmt::format("fminf(fmaxf({}, 0.0f), 6.0f)", v[0]);
  if (isa<SigmoidOp>(op)) return fmt::format("(1.0f / (1.0f + expf(0.0f - {})))", v[0]);
  if (isa<HardswishOp>(op))
    return fmt::format("(({0} * fminf(fmaxf({0} + 3.0f, 0.0f), 6.0f)) * {1})", v[0],
                       floatLit(1.0f / 6.0f));
  if (isa<BroadcastToOp>(op)) return v[0]; // the broadcast is in the operand's strides
  if (isa<NegOp>(op)) return fmt::format("(0.0f - {})", v[0]);
  if (isa<SqrtOp>(op)) return fmt::format("sqrtf({})", v[0]);
  if (isa<RsqrtOp>(op)) return fmt::format("(1.0f / sqrtf({}))", v[0]);
  if (isa<ReluGradOp>(op)) return fmt::format("({} > 0.0f ? {} : 0.0f)", v[0], v[1]);
  if (isa<Relu6GradOp>(op))
    return fmt::format("(({0} > 0.0f && {0} < 6.0f) ? {1} : 0.0f)", v[0], v[1]);
  if (isa<HardswishGradOp>(op))
    // PyTorch's hardswish_backward: x < -3 -> 0; x <= 3 -> dy*(x/3 + 1/2); else dy.
    return fmt::format("({0} < -3.0f ? 0.0f : ({0} <= 3.0f ? {1} * ({0} / 3.0f + 0.5f) : {1}))",
                       v[0], v[1]);
  if (isa<SigmoidGradOp>(op)) // v[0] = sigmoid output y
    return fmt::format("(({1} * {0}) * (1.0f - {0}))", v[0], v[1]);
  if (auto bn = dyn_cast<BatchNormOp>(op)) {
    float eps = bn.getEpsilonAttr().getValueAsDouble();
    return fmt::format("(({} - {}) * ({} / sqrtf({} + {})) + {})", v[0], v[3], v[1], v[4],
                       floatLit(eps), v[2]);
  }
  return "";
}

std::string Epilogue::emit(Code &c, const std::vector<std::vector<int64_t>> &groups,
                           ArrayRef<std::string> coords, const std::string &anchorValue,
                           int lane, const Load &load) {
  llvm::DenseMap<Value, std::string> names;
  if (anchor_)
    names[anchor_->getResult(0)] = anchorValue;
  size_t useIndex = 0;
  for (Operation *op : ops_) {
    llvm::SmallVector<std::string, 5> operands;
    for (OpOperand &operand : op->getOpOperands()) {
      if (llvm::isa<BlockArgument>(operand.get())) {
        const Use &use = uses_[useIndex];
        std::string offset = useOffset(useIndex, groups, coords);
        std::string value = load ? load(useIndex, lane, offset)
                                 : fmt::format("in{}[{}]", use.arg, offset);
        ++useIndex;
        std::string name = c.fresh("x");
        c.line(fmt::format("const float {} = {};", name, value));
        operands.push_back(name);
      } else {
        operands.push_back(names.lookup(operand.get()));
      }
    }
    std::string expr = scalarOp(op, operands);
    if (expr.empty()) {
      op->emitError("kiln CUDA codegen: '") << op->getName() << "' is not an elementwise op";
      failed_ = true;
      expr = "0.0f";
    }
    std::string name = c.fresh("e");
    c.line(fmt::format("const float {} = {};", name, expr));
    names[op->getResult(0)] = name;
  }
  return names.lookup(result_);
}

std::string KernelGen::arg(Value v) const {
  return in(llvm::cast<BlockArgument>(v).getArgNumber());
}

} // namespace kiln::codegen::cuda
