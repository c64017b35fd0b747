//===- Optimizer.cpp - kiln-optimizer: PyTorch optimizer steps as kiln ops -===//
//
// Appends to the training-step function (made by kiln-autodiff) the update of
// every parameter named in its `kiln.gradients`, written with kiln.update so
// that the compiled step updates weights and optimizer state in place.
//
// The formulas are those of PyTorch 1.13's single-tensor implementations,
// operation by operation, so that a double-precision evaluation of the IR
// matches a double-precision evaluation of PyTorch's code exactly (the
// optimizer tests rely on this). Scalars are rank-0 f32 constants, folded on
// the host in double first (1 - beta1 is one constant, not 1 - constant);
// lr and the bias corrections are tensor<1xf32> arguments of the step.
//
//   SGD (torch.optim.SGD, dampening 0):
//     d = g + wd * p                      (if wd != 0 for this parameter)
//     buf' = buf * momentum + d           (if momentum != 0; buf starts at 0,
//                                          so step 1 gives buf = d as PyTorch's
//                                          clone does)
//     d = nesterov ? d + buf' * momentum : buf'
//     p' = p - lr * d
//   Adam (torch.optim.Adam, coupled L2):
//     g = g + p * wd
//     m' = m * beta1 + g * (1 - beta1);  v' = v * beta2 + (g * g) * (1 - beta2)
//     denom = sqrt(v') / sqrt(bc2) + eps;  step_size = lr / bc1
//     p' = p - step_size * (m' / denom)
//   AdamW (torch.optim.AdamW): p1 = p * (1 - lr * wd), then Adam without the
//     coupled term, starting from p1.
//
// Dampening != 0 is rejected: PyTorch's first step sets buf = d (not
// (1 - dampening) * d), which a zero-initialised buffer cannot reproduce
// without a step counter in the graph.
//
//===----------------------------------------------------------------------===//
#include "kiln/Transforms/Passes.h"

#include "ParameterReaders.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"

#include <string>

namespace kiln {
#define GEN_PASS_DEF_KILNOPTIMIZER
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

enum class Kind { Sgd, Adam, AdamW };

/// Builds the update ops at the builder's insertion point, counting them.
class UpdateBuilder {
public:
  UpdateBuilder(mlir::OpBuilder &builder, Location loc, unsigned &opCount)
      : builder(builder), loc(loc), opCount(opCount) {}

  /// A rank-0 f32 constant: broadcasting it never changes the other
  /// operand's type.
  Value scalar(double value) {
    auto type = RankedTensorType::get({}, builder.getF32Type());
    ++opCount;
    return builder
        .create<ConstantOp>(loc, type,
                            mlir::DenseElementsAttr::get(type, static_cast<float>(value)))
        .getResult();
  }

  /// Creates OpT after inferring its result type with OpT::inferReturnTypes,
  /// so that a shape error is a diagnostic and not the inferring builder's
  /// fatal error.
  template <typename OpT, typename... Args> FailureOr<Value> make(Args &&...args) {
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

  /// A state parameter of `type`, not trainable (the driver zero-fills it).
  Value state(RankedTensorType type, llvm::StringRef name) {
    ++opCount;
    return builder.create<ParameterOp>(loc, type, name, /*trainable=*/false).getResult();
  }

  /// kiln.update after checking that the new value kept the parameter's type
  /// (a broadcast against a [1] argument could widen a rank-0 one).
  LogicalResult update(Value parameter, Value value) {
    if (parameter.getType() != value.getType())
      return mlir::emitError(loc) << "kiln-optimizer: the new value has type "
                                  << value.getType() << ", the parameter "
                                  << parameter.getType();
    ++opCount;
    builder.create<UpdateOp>(loc, parameter, value);
    return success();
  }

private:
  mlir::OpBuilder &builder;
  Location loc;
  unsigned &opCount;
};

struct KilnOptimizerPass : impl::KilnOptimizerBase<KilnOptimizerPass> {
  using KilnOptimizerBase::KilnOptimizerBase;

  void runOnOperation() override {
    if (failed(run()))
      signalPassFailure();
  }

  LogicalResult run() {
    mlir::ModuleOp module = getOperation();
    Kind kind;
    if (optimizerName == "sgd")
      kind = Kind::Sgd;
    else if (optimizerName == "adam")
      kind = Kind::Adam;
    else if (optimizerName == "adamw")
      kind = Kind::AdamW;
    else
      return module.emitError() << "kiln-optimizer: unknown optimizer '" << optimizerName
                                << "' (expected sgd, adam or adamw)";
    if (kind == Kind::Sgd) {
      if (momentum < 0 || weightDecay < 0)
        return module.emitError() << "kiln-optimizer: momentum and weight-decay must be >= 0";
      // PyTorch's first step sets buf = d, not (1 - dampening) * d; with a
      // zero-initialised buffer and no step counter that cannot be matched.
      if (dampening != 0)
        return module.emitError()
               << "kiln-optimizer: dampening != 0 is not supported (PyTorch initialises "
                  "the momentum buffer to the undampened gradient on the first step)";
      if (nesterov && momentum == 0)
        return module.emitError() << "kiln-optimizer: nesterov needs momentum > 0";
    } else if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1 || epsilon < 0 ||
               weightDecay < 0) {
      return module.emitError() << "kiln-optimizer: expected 0 <= beta1, beta2 < 1 and "
                                   "epsilon, weight-decay >= 0";
    }

    auto step = module.lookupSymbol<mlir::func::FuncOp>(stepName);
    if (!step)
      return module.emitError() << "kiln-optimizer: no function @" << stepName;
    if (step.isExternal() || !llvm::hasSingleElement(step.getBody()))
      return step.emitError() << "kiln-optimizer: expected @" << stepName
                              << " to have a body of one block";
    if (step->hasAttr("kiln.optimizer"))
      return step.emitError() << "kiln-optimizer: @" << stepName
                              << " already has an optimizer";
    auto names = step->getAttrOfType<mlir::ArrayAttr>("kiln.gradients");
    if (!names)
      return step.emitError() << "kiln-optimizer: @" << stepName
                              << " has no kiln.gradients (run kiln-autodiff first)";
    mlir::Block &body = step.getBody().front();
    auto ret = llvm::cast<mlir::func::ReturnOp>(body.getTerminator());
    if (ret.getNumOperands() != names.size() + 1)
      return step.emitError() << "kiln-optimizer: @" << stepName << " returns "
                              << ret.getNumOperands() << " values, expected the loss and "
                              << names.size() << " gradients (kiln.gradients)";

    // The parameter ops by name, and the parameters something already updates
    // (at most one kiln.update per parameter).
    const ParameterReaders readers(body, /*trainableOnly=*/false);
    llvm::StringSet<> updated;
    for (Operation &op : body.without_terminator())
      if (auto update = llvm::dyn_cast<UpdateOp>(op))
        if (auto param = update.getParameter().getDefiningOp<ParameterOp>())
          updated.insert(param.getName());
    llvm::SmallVector<ParameterOp> params;
    for (auto [i, attr] : llvm::enumerate(names)) {
      auto name = llvm::dyn_cast<mlir::StringAttr>(attr);
      if (!name)
        return step.emitError() << "kiln-optimizer: kiln.gradients must hold strings";
      ParameterOp param = readers.first(name.getValue());
      if (!param)
        return step.emitError() << "kiln-optimizer: no kiln.parameter \"" << name.getValue()
                                << "\" in @" << stepName;
      if (ret.getOperand(i + 1).getType() != param.getType())
        return step.emitError() << "kiln-optimizer: gradient #" << i << " of \""
                                << name.getValue() << "\" has type "
                                << ret.getOperand(i + 1).getType() << ", the parameter "
                                << param.getType();
      if (param.getType().getRank() == 0)
        return param.emitError() << "kiln-optimizer: parameter \"" << name.getValue()
                                 << "\" has rank 0; the update needs rank >= 1";
      if (updated.contains(name.getValue()))
        return param.emitError() << "kiln-optimizer: parameter \"" << name.getValue()
                                 << "\" is already updated by a kiln.update";
      params.push_back(param);
    }

    // State names, checked against every parameter of the module so that the
    // driver's zero-filled state never aliases a model parameter.
    llvm::StringSet<> moduleParams;
    module.walk([&](ParameterOp op) { moduleParams.insert(op.getName()); });
    llvm::SmallVector<std::string, 2> suffixes;
    if (kind == Kind::Sgd) {
      if (momentum != 0)
        suffixes.push_back(".momentum_buffer");
    } else {
      suffixes = {".exp_avg", ".exp_avg_sq"};
    }
    llvm::SmallVector<mlir::Attribute> stateNames;
    mlir::Builder attrs(&getContext());
    for (ParameterOp param : params)
      for (const std::string &suffix : suffixes) {
        std::string name = (param.getName() + suffix).str();
        if (moduleParams.contains(name))
          return param.emitError() << "kiln-optimizer: the state parameter \"" << name
                                   << "\" already exists";
        stateNames.push_back(attrs.getStringAttr(name));
      }

    // The step's new inputs: lr, and for Adam the two bias corrections.
    Location loc = ret.getLoc();
    auto scalarType = RankedTensorType::get({1}, mlir::Float32Type::get(&getContext()));
    llvm::SmallVector<mlir::Attribute> inputNames = {attrs.getStringAttr("lr")};
    if (kind != Kind::Sgd) {
      inputNames.push_back(attrs.getStringAttr("bias_correction1"));
      inputNames.push_back(attrs.getStringAttr("bias_correction2"));
    }
    unsigned first = step.getNumArguments();
    for (unsigned i = 0; i < inputNames.size(); ++i)
      step.insertArgument(first + i, scalarType, /*argAttrs=*/{}, loc);
    Value lr = step.getArgument(first);

    mlir::OpBuilder builder(ret);
    unsigned opCount = 0;
    UpdateBuilder b(builder, loc, opCount);
    LogicalResult built = kind == Kind::Sgd ? buildSgd(b, ret, params, lr)
                                            : buildAdam(b, ret, params, kind, lr,
                                                        step.getArgument(first + 1),
                                                        step.getArgument(first + 2));
    if (failed(built))
      return failure();

    step->setAttr("kiln.optimizer", attrs.getStringAttr(optimizerName));
    step->setAttr("kiln.optimizer_state", attrs.getArrayAttr(stateNames));
    step->setAttr("kiln.optimizer_inputs", attrs.getArrayAttr(inputNames));
    numOptimizerOps += opCount;
    return success();
  }

  /// Whether `param` gets weight decay at all.
  bool decays(ParameterOp param) const {
    return weightDecay != 0 && !(noDecayBnBias && param.getType().getRank() == 1);
  }

  LogicalResult buildSgd(UpdateBuilder &b, mlir::func::ReturnOp ret,
                         llvm::ArrayRef<ParameterOp> params, Value lr) {
    Value wd = weightDecay != 0 ? b.scalar(weightDecay) : Value();
    Value mom = momentum != 0 ? b.scalar(momentum) : Value();
    for (size_t i = 0; i < params.size(); ++i) {
      ParameterOp param = params[i];
      Value p = param.getResult();
      Value d = ret.getOperand(i + 1);
      if (decays(param)) {
        FailureOr<Value> decay = b.make<MulOp>(p, wd);
        if (failed(decay) || failed(assign(d, b.make<AddOp>(d, *decay))))
          return failure();
      }
      if (mom) {
        Value buf = b.state(param.getType(), (param.getName() + ".momentum_buffer").str());
        FailureOr<Value> scaled = b.make<MulOp>(buf, mom);
        FailureOr<Value> next = failed(scaled) ? scaled : b.make<AddOp>(*scaled, d);
        if (failed(next) || failed(b.update(buf, *next)))
          return failure();
        if (nesterov) {
          FailureOr<Value> look = b.make<MulOp>(*next, mom);
          if (failed(look) || failed(assign(d, b.make<AddOp>(d, *look))))
            return failure();
        } else {
          d = *next;
        }
      }
      FailureOr<Value> delta = b.make<MulOp>(lr, d);
      FailureOr<Value> updated = failed(delta) ? delta : b.make<SubOp>(p, *delta);
      if (failed(updated) || failed(b.update(p, *updated)))
        return failure();
    }
    return success();
  }

  LogicalResult buildAdam(UpdateBuilder &b, mlir::func::ReturnOp ret,
                          llvm::ArrayRef<ParameterOp> params, Kind kind, Value lr,
                          Value bc1, Value bc2) {
    // Per-step scalars, once per function: step_size = lr / bc1 and
    // sqrt(bc2) as PyTorch computes them on the host; AdamW's factor
    // 1 - lr * wd likewise.
    Value b1 = b.scalar(beta1), oneMinusB1 = b.scalar(1.0 - beta1);
    Value b2 = b.scalar(beta2), oneMinusB2 = b.scalar(1.0 - beta2);
    Value eps = b.scalar(epsilon);
    FailureOr<Value> stepSize = b.make<DivOp>(lr, bc1);
    FailureOr<Value> bc2Sqrt = b.make<SqrtOp>(bc2);
    if (failed(stepSize) || failed(bc2Sqrt))
      return failure();
    Value wd, decayFactor;
    if (weightDecay != 0) {
      wd = b.scalar(weightDecay);
      if (kind == Kind::AdamW) {
        FailureOr<Value> lrWd = b.make<MulOp>(lr, wd);
        FailureOr<Value> factor = failed(lrWd) ? lrWd : b.make<SubOp>(b.scalar(1.0), *lrWd);
        if (failed(factor))
          return failure();
        decayFactor = *factor;
      }
    }
    for (size_t i = 0; i < params.size(); ++i) {
      ParameterOp param = params[i];
      Value p = param.getResult();
      Value g = ret.getOperand(i + 1);
      Value start = p;
      if (decays(param)) {
        if (kind == Kind::Adam) {
          FailureOr<Value> decay = b.make<MulOp>(p, wd);
          if (failed(decay) || failed(assign(g, b.make<AddOp>(g, *decay))))
            return failure();
        } else if (failed(assign(start, b.make<MulOp>(p, decayFactor)))) {
          return failure();
        }
      }
      std::string name = param.getName().str();
      Value m = b.state(param.getType(), name + ".exp_avg");
      Value v = b.state(param.getType(), name + ".exp_avg_sq");
      FailureOr<Value> mOld = b.make<MulOp>(m, b1);
      FailureOr<Value> gPart = b.make<MulOp>(g, oneMinusB1);
      if (failed(mOld) || failed(gPart))
        return failure();
      FailureOr<Value> mNew = b.make<AddOp>(*mOld, *gPart);
      FailureOr<Value> vOld = b.make<MulOp>(v, b2);
      FailureOr<Value> gg = b.make<MulOp>(g, g);
      if (failed(mNew) || failed(vOld) || failed(gg))
        return failure();
      FailureOr<Value> ggPart = b.make<MulOp>(*gg, oneMinusB2);
      FailureOr<Value> vNew = failed(ggPart) ? ggPart : b.make<AddOp>(*vOld, *ggPart);
      if (failed(vNew) || failed(b.update(m, *mNew)) || failed(b.update(v, *vNew)))
        return failure();
      FailureOr<Value> root = b.make<SqrtOp>(*vNew);
      FailureOr<Value> scaled = failed(root) ? root : b.make<DivOp>(*root, *bc2Sqrt);
      FailureOr<Value> denom = failed(scaled) ? scaled : b.make<AddOp>(*scaled, eps);
      FailureOr<Value> ratio = failed(denom) ? denom : b.make<DivOp>(*mNew, *denom);
      FailureOr<Value> delta = failed(ratio) ? ratio : b.make<MulOp>(*stepSize, *ratio);
      FailureOr<Value> updated = failed(delta) ? delta : b.make<SubOp>(start, *delta);
      if (failed(updated) || failed(b.update(p, *updated)))
        return failure();
    }
    return success();
  }

  /// `out = *value` unless `value` failed, so that a chain of ops reads as
  /// one condition.
  static LogicalResult assign(Value &out, FailureOr<Value> value) {
    if (failed(value))
      return failure();
    out = *value;
    return success();
  }
};

} // namespace
} // namespace kiln
