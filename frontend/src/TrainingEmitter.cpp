//===- TrainingEmitter.cpp - Graph -> forward / eval_step / infer text -----===//
//
// Graph::toTrainingMlir writes one module with three functions over the same
// kiln.parameter names (generic op form, like MlirEmitter.cpp):
//
//   @forward(%image, %target) -> (loss: tensor<1xf32>, logits)   training mode
//   @eval_step(%image, %target) -> (loss, logits)                inference mode
//   @infer(%image) -> logits                                     inference mode
//
// Training mode is PyTorch's module.train(): every batch_norm node becomes
// BatchNorm2d's training forward built from primitives (batch statistics,
// biased variance for the normalisation) plus two kiln.update ops that move the
// running statistics with the node's momentum (unbiased variance), so the
// output never reads the running statistics. Inference mode is the graph as it
// is (kiln.batch_norm with the running statistics).
//
// The loss is nn.CrossEntropyLoss(label_smoothing=eps) with a one-hot (or any
// probability) target: target' = target*(1-eps) + eps/classes,
// loss = mean over the batch of -sum_k target'_k * log_softmax(logits)_k.
//
// Hyperparameters (eps, momentum, label smoothing) are f32 constants, and
// everything derived from them (1 - momentum, 1 - eps, eps / classes) is
// computed in the graph from those constants, so an interpreter running the IR
// in double precision reproduces PyTorch's formulas with the f32 values of the
// hyperparameters exactly; the compiler's canonicalizer folds the scalar ops.
//
//===----------------------------------------------------------------------===//
#include "kiln/frontend/Graph.h"
#include "MlirText.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace kiln::fe {

namespace {

using namespace mlirtext;


// A typed SSA value of the function being written.
struct Ssa {
  std::string name;
  Shape shape;
};

// Writes one func.func in generic form; ops are numbered %0, %1, ... and
// arguments keep their names.
class FuncWriter {
 public:
  Ssa op(const std::string& opName, const std::vector<Ssa>& operands, const Attrs& attrs,
         const Shape& result, const std::string& loc) {
    Ssa r{"%" + std::to_string(counter_++), result};
    os_ << "    " << r.name << " = ";
    writeOp(opName, operands, attrs, tensorType(result), loc);
    return r;
  }

  // An op without results (kiln.update).
  void effect(const std::string& opName, const std::vector<Ssa>& operands, const std::string& loc) {
    os_ << "    ";
    writeOp(opName, operands, {}, "()", loc);
  }

  Ssa constant(float v, const std::string& loc) {
    return op("kiln.constant", {}, {{"value", denseAttr({v}, {})}}, {}, loc);
  }

  Ssa binary(const char* opName, const Ssa& a, const Ssa& b, const std::string& loc) {
    return op(opName, {a, b}, {},
              shapes::broadcast(a.shape, b.shape, std::string(opName) + " '" + loc + "'"), loc);
  }

  Ssa reduce(const char* opName, const Ssa& x, const std::vector<int64_t>& axes, bool keepdim,
             const std::string& loc) {
    Shape out;
    for (size_t d = 0; d < x.shape.size(); ++d) {
      bool reduced = false;
      for (int64_t a : axes) reduced = reduced || a == static_cast<int64_t>(d);
      if (!reduced)
        out.push_back(x.shape[d]);
      else if (keepdim)
        out.push_back(1);
    }
    return op(opName, {x}, {{"axes", i64Array(axes)}, {"keepdim", boolean(keepdim)}}, out, loc);
  }

  Ssa reshape(const Ssa& x, const Shape& shape, const std::string& loc) {
    if (x.shape == shape) return x;
    return op("kiln.reshape", {x}, {{"shape", i64Array(shape)}}, shape, loc);
  }

  std::string body() const { return os_.str(); }

 private:
  void writeOp(const std::string& opName, const std::vector<Ssa>& operands, const Attrs& attrs,
               const std::string& resultType, const std::string& loc) {
    os_ << "\"" << opName << "\"(";
    for (size_t i = 0; i < operands.size(); ++i) os_ << (i ? ", " : "") << operands[i].name;
    os_ << ")" << attrText(attrs) << " : (";
    for (size_t i = 0; i < operands.size(); ++i)
      os_ << (i ? ", " : "") << tensorType(operands[i].shape);
    os_ << ") -> " << resultType << " loc(" << quoted(loc) << ")\n";
  }

  std::ostringstream os_;
  int counter_ = 0;
};

enum class Mode { Train, Eval };

// PyTorch's BatchNorm training forward for node `n` (operands x, weight, bias,
// running_mean, running_var), with the running-statistics updates.
Ssa emitTrainingBatchNorm(FuncWriter& w, const Graph& g, const Node& n,
                          const std::vector<Ssa>& in) {
  const Ssa& x = in[0];
  const Shape& s = x.shape;
  const int64_t rank = static_cast<int64_t>(s.size());
  const int64_t channels = s[1];
  const std::string& loc = n.name;
  const auto& attrs = n.as<BatchNormAttrs>();
  for (int i : {3, 4})
    if (g.node(n.operands[static_cast<size_t>(i)]).kind != OpKind::Parameter)
      throw std::invalid_argument("toTrainingMlir: batch_norm '" + n.name + "': the running " +
                                  (i == 3 ? "mean" : "variance") +
                                  " must be a parameter to be updated in training mode");
  if (channels < 0)
    throw std::invalid_argument("toTrainingMlir: batch_norm '" + n.name +
                                "': the channel dim must be static");
  // Elements per channel: the batch (dim 0, dynamic or not) times the rest.
  int64_t perItem = 1;
  for (int64_t d = 2; d < rank; ++d) {
    if (s[static_cast<size_t>(d)] < 0)
      throw std::invalid_argument("toTrainingMlir: batch_norm '" + n.name + "' input " +
                                  shapeToString(s) +
                                  ": only dim 0 may be dynamic in training mode");
    perItem *= s[static_cast<size_t>(d)];
  }

  std::vector<int64_t> axes{0};
  for (int64_t d = 2; d < rank; ++d) axes.push_back(d);
  // [C] -> [C, 1, ...] so that it broadcasts against [N, C, ...] per channel.
  Shape perChannel{channels};
  for (int64_t d = 2; d < rank; ++d) perChannel.push_back(1);

  Ssa mean = w.reduce("kiln.reduce_mean", x, axes, false, loc);             // [C]
  Ssa xc = w.binary("kiln.sub", x, w.reshape(mean, perChannel, loc), loc);  // x - mean
  // The variance's own dependence on the mean has zero gradient (the
  // deviations sum to 0), so it reads the mean through stop_gradient: the
  // backward then needs no sum over the input gradient for the mean, as in
  // PyTorch's batch_norm_backward formula.
  Ssa meanConst = w.op("kiln.stop_gradient", {mean}, {}, mean.shape, loc);
  Ssa dev = w.binary("kiln.sub", x, w.reshape(meanConst, perChannel, loc), loc);
  Ssa sq = w.binary("kiln.mul", dev, dev, loc);
  Ssa var = w.reduce("kiln.reduce_mean", sq, axes, false, loc);  // biased, [C]
  Ssa eps = w.constant(attrs.epsilon, loc);
  Ssa inv = w.op("kiln.rsqrt", {w.binary("kiln.add", var, eps, loc)}, {}, var.shape, loc);
  // (x - mean) * (inv * weight): the per-channel scale first, so that the
  // backward needs one reduction over N, H, W for both the weight and the
  // statistics (sum of dy * (x - mean)), not one for each, and never x-hat.
  Ssa scale = w.binary("kiln.mul", inv, in[1], loc);  // [C]
  Ssa y = w.binary("kiln.mul", xc, w.reshape(scale, perChannel, loc), loc);
  y = w.binary("kiln.add", y, w.reshape(in[2], perChannel, loc), loc);

  // Running statistics: r' = (1 - momentum) * r + momentum * batch_stat, with
  // the unbiased variance var * n / (n - 1), n = N * prod(dims[2:]).
  Ssa one = w.constant(1.0f, loc);
  Ssa count;
  if (s[0] < 0) {
    Ssa ones = w.op("kiln.broadcast_to", {one}, {{"shape", i64Array(Shape{-1})}}, {kDynamic}, loc);
    count = w.reduce("kiln.reduce_sum", ones, {0}, false, loc);  // the batch, tensor<f32>
    if (perItem != 1)
      count = w.binary("kiln.mul", count, w.constant(static_cast<float>(perItem), loc), loc);
  } else {
    count = w.constant(static_cast<float>(s[0] * perItem), loc);
  }
  Ssa bessel = w.binary("kiln.div", count, w.binary("kiln.sub", count, one, loc), loc);
  Ssa varUnbiased = w.binary("kiln.mul", var, bessel, loc);
  Ssa momentum = w.constant(attrs.momentum, loc);
  Ssa keep = w.binary("kiln.sub", one, momentum, loc);
  auto updateStat = [&](const Ssa& running, const Ssa& batchStat) {
    Ssa next = w.binary("kiln.add", w.binary("kiln.mul", running, keep, loc),
                        w.binary("kiln.mul", batchStat, momentum, loc), loc);
    w.effect("kiln.update", {running, next}, loc);
  };
  updateStat(in[3], mean);
  updateStat(in[4], varUnbiased);
  return y;
}

// Writes the ops of the graph in `mode`; returns the value of every node.
std::vector<Ssa> emitGraph(FuncWriter& w, const Graph& g, Mode mode, const std::vector<Ssa>& args,
                           const std::set<std::string>& runningStats) {
  std::vector<Ssa> value(g.nodes().size());
  size_t nextArg = 0;
  for (const Node& n : g.nodes()) {
    if (n.kind == OpKind::Input) {
      value[static_cast<size_t>(n.id)] = args[nextArg++];
      continue;
    }
    std::vector<Ssa> in;
    for (int o : n.operands) in.push_back(value[static_cast<size_t>(o)]);
    Ssa r;
    if (mode == Mode::Train && n.kind == OpKind::BatchNorm) {
      r = emitTrainingBatchNorm(w, g, n, in);
    } else {
      bool trainable = false;
      if (n.kind == OpKind::Parameter) {
        const Parameter& p = g.parameters()[static_cast<size_t>(n.as<ParameterAttrs>().index)];
        // In training mode the running statistics are buffers whatever the flag says.
        trainable = p.trainable && !(mode == Mode::Train && runningStats.count(p.name));
      }
      r = w.op(opName(n.kind), in, nodeAttrs(g, n, trainable), n.shape, n.name);
    }
    value[static_cast<size_t>(n.id)] = r;
  }
  return value;
}

// Softmax cross-entropy with label smoothing; returns the tensor<1xf32> loss.
Ssa emitLoss(FuncWriter& w, const Ssa& logits, const Ssa& target, float labelSmoothing) {
  const std::string loc = "loss";
  const int64_t classes = logits.shape[1];
  Ssa t = target;
  if (labelSmoothing != 0.0f) {
    Ssa eps = w.constant(labelSmoothing, loc);
    Ssa keep = w.binary("kiln.sub", w.constant(1.0f, loc), eps, loc);
    Ssa spread = w.binary("kiln.div", eps, w.constant(static_cast<float>(classes), loc), loc);
    t = w.binary("kiln.add", w.binary("kiln.mul", target, keep, loc), spread, loc);
  }
  Ssa logp = w.op("kiln.log_softmax", {logits}, {{"axis", i64(1)}}, logits.shape, loc);
  Ssa prod = w.binary("kiln.mul", t, logp, loc);
  Ssa perItem = w.reduce("kiln.reduce_sum", prod, {1}, false, loc);  // [N]
  Ssa mean = w.reduce("kiln.reduce_mean", perItem, {0}, true, loc);  // [1]
  return w.op("kiln.neg", {mean}, {}, mean.shape, loc);
}

}  // namespace

std::string Graph::toTrainingMlir(const TrainingEmitOptions& options) const {
  if (outputs_.size() != 1)
    throw std::invalid_argument(
        "toTrainingMlir: the graph must have exactly one output (the "
        "logits), found " +
        std::to_string(outputs_.size()));
  const Node& out = nodes_[static_cast<size_t>(outputs_[0])];
  if (out.shape.size() != 2 || out.shape[1] < 1)
    throw std::invalid_argument("toTrainingMlir: the output '" + outputNames_[0] +
                                "' must be [batch, classes] with static classes, found " +
                                shapeToString(out.shape));
  if (!(options.labelSmoothing >= 0.0f && options.labelSmoothing <= 1.0f))
    throw std::invalid_argument("toTrainingMlir: label smoothing must be in [0, 1], got " +
                                std::to_string(options.labelSmoothing));

  // Running statistics: each may be updated by one batch_norm only.
  std::set<std::string> runningStats;
  for (const BatchNormInfo& bn : batchNorms())
    for (const std::string& stat : {bn.runningMean, bn.runningVar})
      if (!stat.empty() && !runningStats.insert(stat).second)
        throw std::invalid_argument("toTrainingMlir: running statistic '" + stat +
                                    "' is shared by two batch_norm layers; training would "
                                    "update it twice");

  std::vector<Ssa> args;
  std::set<std::string> argNames;
  for (int id : inputs_) {
    const Node& n = nodes_[static_cast<size_t>(id)];
    args.push_back({"%" + n.as<InputAttrs>().name, n.shape});
    argNames.insert(n.as<InputAttrs>().name);
  }
  std::string targetName = "target";
  for (int i = 1; argNames.count(targetName); ++i) targetName = "target_" + std::to_string(i);
  const Ssa target{"%" + targetName, out.shape};

  auto signature = [&](const std::string& name, bool withTarget) {
    std::ostringstream os;
    os << "  func.func @" << name << "(";
    for (size_t i = 0; i < inputs_.size(); ++i)
      os << (i ? ", " : "") << args[i].name << ": " << tensorType(args[i].shape) << " loc("
         << quoted(nodes_[static_cast<size_t>(inputs_[i])].name) << ")";
    if (withTarget)
      os << (inputs_.empty() ? "" : ", ") << target.name << ": " << tensorType(target.shape)
         << " loc(\"target\")";
    os << ") -> ";
    if (withTarget)
      os << "(tensor<1xf32>, " << tensorType(out.shape) << ")";
    else
      os << tensorType(out.shape);
    os << " {\n";
    return os.str();
  };
  auto ret = [](const std::vector<Ssa>& values) {
    std::ostringstream os;
    os << "    func.return ";
    for (size_t i = 0; i < values.size(); ++i) os << (i ? ", " : "") << values[i].name;
    os << " : ";
    for (size_t i = 0; i < values.size(); ++i) os << (i ? ", " : "") << tensorType(values[i].shape);
    os << "\n  }\n";
    return os.str();
  };

  std::ostringstream os;
  os << "module {\n";
  for (Mode mode : {Mode::Train, Mode::Eval}) {
    FuncWriter w;
    std::vector<Ssa> v = emitGraph(w, *this, mode, args, runningStats);
    const Ssa& logits = v[static_cast<size_t>(outputs_[0])];
    Ssa loss = emitLoss(w, logits, target, options.labelSmoothing);
    os << signature(mode == Mode::Train ? "forward" : "eval_step", true) << w.body()
       << ret({loss, logits});
  }
  {
    FuncWriter w;
    std::vector<Ssa> v = emitGraph(w, *this, Mode::Eval, args, runningStats);
    os << signature("infer", false) << w.body() << ret({v[static_cast<size_t>(outputs_[0])]});
  }
  os << "}\n";
  return os.str();
}

}  // namespace kiln::fe
