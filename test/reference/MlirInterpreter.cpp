//===- MlirInterpreter.cpp - evaluate kiln IR with the reference ops -------===//
#include "kiln/reference/MlirInterpreter.h"

#include "kiln/Dialect/KilnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/raw_ostream.h"

#include <stdexcept>

namespace kiln::ref {

namespace {

[[noreturn]] void fail(const std::string& msg) {
  throw std::invalid_argument("interpret: " + msg);
}

std::string describe(mlir::Operation* op) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "'" << op->getName() << "' at ";
  op->getLoc().print(os);
  return text;
}

std::string typeString(mlir::Type type) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << type;
  return text;
}

std::array<int64_t, 2> pair(llvm::ArrayRef<int64_t> values) {
  if (values.size() != 2) fail("expected a pair attribute");
  return {values[0], values[1]};
}

std::vector<int64_t> vec(llvm::ArrayRef<int64_t> values) {
  return std::vector<int64_t>(values.begin(), values.end());
}

class Interpreter {
 public:
  Interpreter(const std::map<std::string, RefTensor>& params, int64_t batch)
      : params(params), batch(batch) {}

  /// Binds the block arguments, runs the block, returns the terminator's operands.
  std::vector<RefTensor> run(mlir::Block& block, const std::vector<RefTensor>& args,
                             std::map<std::string, RefTensor>& updates) {
    if (args.size() != block.getNumArguments())
      fail("expected " + std::to_string(block.getNumArguments()) + " arguments, given " +
           std::to_string(args.size()));
    for (size_t i = 0; i < args.size(); ++i) {
      check(block.getArgument(static_cast<unsigned>(i)).getType(), args[i],
            "argument #" + std::to_string(i));
      values[block.getArgument(static_cast<unsigned>(i))] = args[i];
    }
    for (mlir::Operation& op : block) {
      if (op.hasTrait<mlir::OpTrait::IsTerminator>()) {
        std::vector<RefTensor> results;
        for (mlir::Value operand : op.getOperands()) results.push_back(get(operand));
        return results;
      }
      if (auto update = llvm::dyn_cast<UpdateOp>(&op)) {
        auto param = update.getParameter().getDefiningOp<ParameterOp>();
        updates[param.getName().str()] = get(update.getValue());
        continue;
      }
      RefTensor result = evaluate(&op);
      check(op.getResult(0).getType(), result, describe(&op));
      values[op.getResult(0)] = std::move(result);
    }
    fail("block without terminator");
  }

 private:
  const RefTensor& get(mlir::Value value) {
    auto it = values.find(value);
    if (it == values.end()) fail("value used before it is defined");
    return it->second;
  }

  /// The extent of '?', learned from the first dynamic dim seen in an argument.
  int64_t resolveBatch(int64_t actual, const std::string& what) {
    if (batch < 0) batch = actual;
    if (actual != batch)
      fail(what + ": a '?' dim of extent " + std::to_string(actual) + " but the batch is " +
           std::to_string(batch));
    return batch;
  }

  void check(mlir::Type type, const RefTensor& value, const std::string& what) {
    auto ranked = llvm::cast<mlir::RankedTensorType>(type);
    bool ok = ranked.getRank() == value.rank();
    for (int64_t i = 0; ok && i < value.rank(); ++i) {
      int64_t dim = ranked.getDimSize(i);
      if (mlir::ShapedType::isDynamic(dim))
        resolveBatch(value.shape[static_cast<size_t>(i)], what);
      else
        ok = dim == value.shape[static_cast<size_t>(i)];
    }
    if (!ok)
      fail(what + ": expected a value of type " + typeString(type) + ", got shape " +
           fe::shapeToString(value.shape));
  }

  /// A shape attribute with -1 meaning the batch.
  std::vector<int64_t> resolveShape(llvm::ArrayRef<int64_t> shape, mlir::Operation* op) {
    std::vector<int64_t> resolved = vec(shape);
    for (int64_t& dim : resolved)
      if (dim == -1) {
        if (batch < 0) fail(describe(op) + ": -1 in a shape but the batch is unknown");
        dim = batch;
      }
    return resolved;
  }

  RefTensor evaluate(mlir::Operation* op) {
    auto in = [&](unsigned i) -> const RefTensor& { return get(op->getOperand(i)); };
    using Result = RefTensor;
    return llvm::TypeSwitch<mlir::Operation*, Result>(op)
        .Case<ParameterOp>([&](ParameterOp p) {
          auto it = params.find(p.getName().str());
          if (it == params.end()) fail("no value for parameter '" + p.getName().str() + "'");
          return it->second;
        })
        .Case<ConstantOp>([&](ConstantOp c) {
          auto dense = llvm::cast<mlir::DenseElementsAttr>(c.getValue());
          auto type = llvm::cast<mlir::RankedTensorType>(dense.getType());
          std::vector<double> data;
          for (float v : dense.getValues<float>()) data.push_back(v);
          return RefTensor(vec(type.getShape()), data);
        })
        .Case<Conv2dOp>([&](Conv2dOp c) {
          // A packed [KH, KW, Cin, Cout] weight back to OIHW: same values.
          const RefTensor& w = c.hasHwioWeight() ? transpose(in(1), {3, 2, 0, 1}) : in(1);
          return conv2d(in(0), w, c.getBias() ? &in(2) : nullptr, pair(c.getStrides()),
                        pair(c.getPadding()), pair(c.getDilation()),
                        static_cast<int64_t>(c.getGroups()));
        })
        .Case<MatmulOp>([&](MatmulOp) { return matmul(in(0), in(1)); })
        .Case<LinearOp>(
            [&](LinearOp l) { return linear(in(0), in(1), l.getBias() ? &in(2) : nullptr); })
        .Case<AddOp>([&](AddOp) { return add(in(0), in(1)); })
        .Case<SubOp>([&](SubOp) { return sub(in(0), in(1)); })
        .Case<MulOp>([&](MulOp) { return mul(in(0), in(1)); })
        .Case<DivOp>([&](DivOp) { return div(in(0), in(1)); })
        .Case<ReluOp>([&](ReluOp) { return relu(in(0)); })
        .Case<Relu6Op>([&](Relu6Op) { return relu6(in(0)); })
        .Case<SigmoidOp>([&](SigmoidOp) { return sigmoid(in(0)); })
        .Case<HardswishOp>([&](HardswishOp) { return hardswish(in(0)); })
        .Case<BatchNormOp>([&](BatchNormOp b) {
          return batchNorm(in(0), in(1), in(2), in(3), in(4),
                           static_cast<double>(b.getEpsilon().convertToFloat()));
        })
        .Case<MaxPool2dOp>([&](MaxPool2dOp p) {
          auto kernel = pair(p.getKernelSize());
          return maxPool2d(in(0), kernel, p.getStrides() ? pair(*p.getStrides()) : kernel,
                           pair(p.getPadding()), p.getCeilMode());
        })
        .Case<AvgPool2dOp>([&](AvgPool2dOp p) {
          auto kernel = pair(p.getKernelSize());
          return avgPool2d(in(0), kernel, p.getStrides() ? pair(*p.getStrides()) : kernel,
                           pair(p.getPadding()), p.getCeilMode(), p.getCountIncludePad());
        })
        .Case<GlobalAvgPoolOp>([&](GlobalAvgPoolOp) { return globalAvgPool(in(0)); })
        .Case<ReshapeOp>([&](ReshapeOp r) { return reshape(in(0), vec(r.getShape())); })
        .Case<FlattenOp>([&](FlattenOp f) {
          return flatten(in(0), static_cast<int64_t>(f.getStartDim()));
        })
        .Case<TransposeOp>([&](TransposeOp t) { return transpose(in(0), vec(t.getPerm())); })
        .Case<SoftmaxOp>(
            [&](SoftmaxOp s) { return softmax(in(0), static_cast<int64_t>(s.getAxis())); })
        .Case<LogSoftmaxOp>([&](LogSoftmaxOp s) {
          return logSoftmax(in(0), static_cast<int64_t>(s.getAxis()));
        })
        .Case<ReduceSumOp>(
            [&](ReduceSumOp r) { return reduceSum(in(0), vec(r.getAxes()), r.getKeepdim()); })
        .Case<ReduceMeanOp>(
            [&](ReduceMeanOp r) { return reduceMean(in(0), vec(r.getAxes()), r.getKeepdim()); })
        // Training ops.
        .Case<SqrtOp>([&](SqrtOp) { return ref::sqrt(in(0)); })
        .Case<RsqrtOp>([&](RsqrtOp) { return rsqrt(in(0)); })
        .Case<NegOp>([&](NegOp) { return neg(in(0)); })
        .Case<StopGradientOp>([&](StopGradientOp) { return in(0); }) // identity forward
        .Case<BroadcastToOp>(
            [&](BroadcastToOp b) { return broadcastTo(in(0), resolveShape(b.getShape(), op)); })
        .Case<ReluGradOp>([&](ReluGradOp) { return reluGrad(in(0), in(1)); })
        .Case<Relu6GradOp>([&](Relu6GradOp) { return relu6Grad(in(0), in(1)); })
        .Case<HardswishGradOp>([&](HardswishGradOp) { return hardswishGrad(in(0), in(1)); })
        .Case<SigmoidGradOp>([&](SigmoidGradOp) { return sigmoidGrad(in(0), in(1)); })
        .Case<Conv2dGradInputOp>([&](Conv2dGradInputOp c) {
          return conv2dGradInput(in(0), in(1), pair(c.getStrides()), pair(c.getPadding()),
                                 pair(c.getDilation()), static_cast<int64_t>(c.getGroups()),
                                 resolveShape(c.getInputShape(), op));
        })
        .Case<Conv2dGradWeightOp>([&](Conv2dGradWeightOp c) {
          return conv2dGradWeight(in(0), in(1), pair(c.getStrides()), pair(c.getPadding()),
                                  pair(c.getDilation()), static_cast<int64_t>(c.getGroups()),
                                  vec(c.getWeightShape()));
        })
        .Case<MaxPool2dGradOp>([&](MaxPool2dGradOp p) {
          auto kernel = pair(p.getKernelSize());
          return maxPool2dGrad(in(0), in(1), kernel,
                               p.getStrides() ? pair(*p.getStrides()) : kernel,
                               pair(p.getPadding()), p.getCeilMode());
        })
        .Case<AvgPool2dGradOp>([&](AvgPool2dGradOp p) {
          auto kernel = pair(p.getKernelSize());
          return avgPool2dGrad(in(0), kernel, p.getStrides() ? pair(*p.getStrides()) : kernel,
                               pair(p.getPadding()), p.getCeilMode(), p.getCountIncludePad(),
                               resolveShape(p.getInputShape(), op));
        })
        .Case<KernelOp>([&](KernelOp k) {
          std::vector<RefTensor> operands;
          for (mlir::Value operand : k.getInputs()) operands.push_back(get(operand));
          Interpreter body(params, batch);
          std::map<std::string, RefTensor> updates;
          std::vector<RefTensor> results = body.run(k.getBody().front(), operands, updates);
          if (results.size() != 1) fail(describe(op) + ": expected one yielded value");
          return results.front();
        })
        .Default([&](mlir::Operation*) -> Result {
          fail("no reference implementation for " + describe(op));
        });
  }

  const std::map<std::string, RefTensor>& params;
  int64_t batch;
  llvm::DenseMap<mlir::Value, RefTensor> values;
};

}  // namespace

InterpretResult interpret(mlir::Operation* funcOp, const std::vector<RefTensor>& args,
                          const std::map<std::string, RefTensor>& params, int64_t batch) {
  auto func = llvm::dyn_cast<mlir::func::FuncOp>(funcOp);
  if (!func || func.isExternal()) fail("expected a func.func with a body");
  if (!llvm::hasSingleElement(func.getBody())) fail("expected a function of one block");
  Interpreter interpreter(params, batch);
  InterpretResult result;
  result.results = interpreter.run(func.getBody().front(), args, result.updates);
  return result;
}

}  // namespace kiln::ref
