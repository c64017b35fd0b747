//===- TrainingEmitTest.cpp - Graph::toTrainingMlir ------------------------===//
//
// The module the frontend emits for training is run by the double-precision
// MLIR interpreter and compared with independent double implementations of
// PyTorch's formulas: BatchNorm2d's training forward (batch statistics, biased
// variance for the output, unbiased for running_var, momentum) and
// CrossEntropyLoss(label_smoothing). Hyperparameters are f32 in the IR, so the
// references use the f32 values of eps and momentum, in double.
// Then kiln-autodiff on the emitted @forward (finite differences on a tiny
// model; lenet5 and resnet20 must differentiate), and the compiled module
// (train_step, eval_step, infer) against the interpreter.
//===----------------------------------------------------------------------===//
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "GradCheck.h"
#include "kiln/Dialect/KilnOps.h"
#include "kiln/Driver/Compiler.h"
#include "kiln/Transforms/Passes.h"
#include "kiln/frontend/Graph.h"
#include "kiln/frontend/Layers.h"
#include "kiln/frontend/Models.h"
#include "kiln/reference/MlirInterpreter.h"
#include "kiln/runtime/Runtime.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

using namespace kiln;
using kiln::test::Random;
using ref::RefTensor;

namespace {

// Rounds to f32 so that the kernels and the interpreter see the same numbers.
RefTensor asFloat(RefTensor t) {
  for (double& v : t.data) v = static_cast<float>(v);
  return t;
}

std::vector<float> floats(const RefTensor& t) { return t.toFloats(); }

RefTensor oneHot(int64_t batch, int64_t classes) {
  RefTensor t({batch, classes});
  for (int64_t i = 0; i < batch; ++i)
    t.data[static_cast<size_t>(i * classes + (i * 3 + 1) % classes)] = 1.0;
  return t;
}

struct Module {
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;

  explicit Module(const std::string& text) {
    mlir::DialectRegistry registry;
    registry.insert<KilnDialect, mlir::func::FuncDialect>();
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
    module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  }
  mlir::Operation* func(const std::string& name) { return module->lookupSymbol(name); }
  bool autodiff() {
    mlir::PassManager pm(&context);
    pm.addPass(createKilnAutodiff());
    return mlir::succeeded(pm.run(*module));
  }
  std::string print() {
    std::string text;
    llvm::raw_string_ostream os(text);
    module->print(os);
    return text;
  }
};

std::map<std::string, RefTensor> paramsOf(const fe::Graph& g) {
  std::map<std::string, RefTensor> out;
  for (const fe::Parameter& p : g.parameters())
    out[p.name] = RefTensor::fromFloats(p.shape, p.value);
  return out;
}

void setRandom(fe::Graph& g, const std::string& name, Random& rng, double lo, double hi) {
  const fe::Parameter& p = g.parameter(name);
  g.setParameterValue(name, asFloat(rng.tensor(p.shape, lo, hi)).toFloats());
}

void expectNear(const RefTensor& got, const RefTensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.shape, want.shape) << what;
  for (size_t i = 0; i < got.data.size(); ++i)
    ASSERT_NEAR(got.data[i], want.data[i], tol * std::max(1.0, std::fabs(want.data[i])))
        << what << " element " << i;
}

// input [?,C,H,W] -> BatchNorm2d -> flatten: the logits are the BN output.
fe::Graph bnGraph(const fe::Shape& shape, Random& rng, float momentum) {
  fe::Graph g;
  fe::Value x = g.input("image", shape);
  fe::BatchNorm2d bn(g, "bn", shape[1], 1e-5f, momentum);
  fe::Value y = bn(x);
  if (y.rank() > 2) y = g.flatten(y, 1, "flatten");
  g.output(y, "logits");
  setRandom(g, "bn.weight", rng, 0.5, 1.5);
  setRandom(g, "bn.bias", rng, -0.5, 0.5);
  setRandom(g, "bn.running_mean", rng, -0.3, 0.3);
  setRandom(g, "bn.running_var", rng, 0.5, 2.0);
  return g;
}

// conv + BatchNorm2d + relu + global pool + linear. A conv bias before batch
// norm in training mode has an exactly zero gradient (the batch mean removes it).
fe::Graph tinyModel(Random& rng, bool convBias = true) {
  fe::Graph g;
  fe::Value x = g.input("image", {fe::kDynamic, 2, 6, 6});
  fe::Conv2d conv(g, "conv", 2, 3, 3, fe::Conv2dOptions().pad(1).withBias(convBias), 7);
  fe::BatchNorm2d bn(g, "bn", 3);
  fe::Linear fc(g, "fc", 3, 4, true, 7);
  fe::Value y = g.relu(bn(conv(x)), "relu");
  y = g.flatten(g.globalAvgPool(y, "pool"), 1, "flatten");
  g.output(fc(y), "logits");
  setRandom(g, "bn.weight", rng, 0.5, 1.5);
  setRandom(g, "bn.bias", rng, -0.3, 0.3);
  setRandom(g, "bn.running_mean", rng, -0.3, 0.3);
  setRandom(g, "bn.running_var", rng, 0.5, 2.0);
  if (convBias) setRandom(g, "conv.bias", rng, -0.2, 0.2);
  return g;
}

// PyTorch's BatchNorm training forward and running-stat update, in double.
struct BnReference {
  RefTensor y, runningMean, runningVar;
};
BnReference batchNormTraining(const RefTensor& x, const RefTensor& w, const RefTensor& b,
                              const RefTensor& rm, const RefTensor& rv, double eps,
                              double momentum) {
  const int64_t n = x.shape[0], c = x.shape[1];
  int64_t inner = 1;
  for (size_t d = 2; d < x.shape.size(); ++d) inner *= x.shape[d];
  const double count = static_cast<double>(n * inner);
  BnReference r{RefTensor(x.shape), rm, rv};
  auto at = [&](int64_t i, int64_t ch, int64_t k) {
    return static_cast<size_t>((i * c + ch) * inner + k);
  };
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < inner; ++k) sum += x.data[at(i, ch, k)];
    const double mean = sum / count;
    double sq = 0.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < inner; ++k)
        sq += (x.data[at(i, ch, k)] - mean) * (x.data[at(i, ch, k)] - mean);
    const double varBiased = sq / count, varUnbiased = sq / (count - 1.0);
    const double invstd = 1.0 / std::sqrt(varBiased + eps);
    const auto chs = static_cast<size_t>(ch);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < inner; ++k)
        r.y.data[at(i, ch, k)] = (x.data[at(i, ch, k)] - mean) * invstd * w.data[chs] + b.data[chs];
    r.runningMean.data[chs] = (1.0 - momentum) * rm.data[chs] + momentum * mean;
    r.runningVar.data[chs] = (1.0 - momentum) * rv.data[chs] + momentum * varUnbiased;
  }
  return r;
}

// nn.CrossEntropyLoss(label_smoothing=eps) with probability targets, in double.
double crossEntropy(const RefTensor& logits, const RefTensor& target, double eps) {
  const int64_t n = logits.shape[0], k = logits.shape[1];
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double* z = &logits.data[static_cast<size_t>(i * k)];
    double mx = z[0];
    for (int64_t j = 1; j < k; ++j) mx = std::max(mx, z[j]);
    double se = 0.0;
    for (int64_t j = 0; j < k; ++j) se += std::exp(z[j] - mx);
    const double lse = mx + std::log(se);
    for (int64_t j = 0; j < k; ++j) {
      const double t =
          target.data[static_cast<size_t>(i * k + j)] * (1.0 - eps) + eps / static_cast<double>(k);
      total -= t * (z[j] - lse);
    }
  }
  return total / static_cast<double>(n);
}

RefTensor flattenTo2d(RefTensor t) {
  int64_t inner = 1;
  for (size_t d = 1; d < t.shape.size(); ++d) inner *= t.shape[d];
  t.shape = {t.shape[0], inner};
  return t;
}

TEST(TrainingEmit, BatchNormTrainingMatchesPyTorchFormulas) {
  for (const fe::Shape& shape : {fe::Shape{fe::kDynamic, 3, 4, 5}, fe::Shape{fe::kDynamic, 5}}) {
    for (float momentum : {0.1f, 0.25f}) {
      Random rng(3);
      fe::Graph g = bnGraph(shape, rng, momentum);
      Module m(g.toTrainingMlir({}));
      ASSERT_TRUE(m.module) << g.toTrainingMlir({});
      for (int64_t batch : {1, 2, 5}) {
        fe::Shape s = shape;
        s[0] = batch;
        if (s.size() == 2 && batch == 1) continue;  // n = 1: no unbiased variance
        RefTensor x = asFloat(rng.tensor(s, -2.0, 3.0));
        const int64_t classes = g.node(g.outputs()[0]).shape[1];
        auto params = paramsOf(g);
        ref::InterpretResult got =
            ref::interpret(m.func("forward"), {x, oneHot(batch, classes)}, params);
        BnReference want = batchNormTraining(
            x, params["bn.weight"], params["bn.bias"], params["bn.running_mean"],
            params["bn.running_var"], static_cast<double>(1e-5f), static_cast<double>(momentum));
        expectNear(got.results[1], flattenTo2d(want.y), 1e-12, "bn output");
        ASSERT_EQ(got.updates.size(), 2u);
        expectNear(got.updates.at("bn.running_mean"), want.runningMean, 1e-12, "running_mean");
        expectNear(got.updates.at("bn.running_var"), want.runningVar, 1e-12, "running_var");

        // The training output does not read the running statistics.
        auto other = params;
        for (double& v : other["bn.running_mean"].data) v += 0.75;
        for (double& v : other["bn.running_var"].data) v *= 3.0;
        ref::InterpretResult again =
            ref::interpret(m.func("forward"), {x, oneHot(batch, classes)}, other);
        EXPECT_EQ(again.results[1].data, got.results[1].data);
        EXPECT_EQ(again.results[0].data, got.results[0].data);

        // eval_step and infer use them: the inference form, no updates.
        ref::InterpretResult eval =
            ref::interpret(m.func("eval_step"), {x, oneHot(batch, classes)}, params);
        EXPECT_TRUE(eval.updates.empty());
        RefTensor inferWant(s);
        const auto& rm = params["bn.running_mean"].data;
        const auto& rv = params["bn.running_var"].data;
        const int64_t c = s[1], inner = x.numel() / (batch * c);
        for (size_t i = 0; i < x.data.size(); ++i) {
          const auto ch = static_cast<size_t>((static_cast<int64_t>(i) / inner) % c);
          inferWant.data[i] = (x.data[i] - rm[ch]) /
                                  std::sqrt(rv[ch] + static_cast<double>(1e-5f)) *
                                  params["bn.weight"].data[ch] +
                              params["bn.bias"].data[ch];
        }
        expectNear(eval.results[1], flattenTo2d(inferWant), 1e-12, "eval_step bn output");
      }
    }
  }
}

TEST(TrainingEmit, LossMatchesCrossEntropyWithLabelSmoothing) {
  Random rng(5);
  fe::Graph g = tinyModel(rng);
  for (float smoothing : {0.0f, 0.1f, 0.3f}) {
    Module m(g.toTrainingMlir({smoothing}));
    ASSERT_TRUE(m.module);
    for (int64_t batch : {1, 4}) {
      RefTensor x = asFloat(rng.tensor({batch, 2, 6, 6}, -1.0, 1.0));
      // Soft targets as well as one-hot ones: the formula is the same.
      RefTensor t = batch == 1 ? oneHot(batch, 4) : asFloat(rng.tensor({batch, 4}, 0.0, 1.0));
      for (const char* fn : {"forward", "eval_step"}) {
        ref::InterpretResult r = ref::interpret(m.func(fn), {x, t}, paramsOf(g));
        ASSERT_EQ(r.results.size(), 2u);
        ASSERT_EQ(r.results[0].shape, (std::vector<int64_t>{1}));
        const double want = crossEntropy(r.results[1], t, static_cast<double>(smoothing));
        EXPECT_NEAR(r.results[0].data[0], want, 1e-12 * std::max(1.0, std::fabs(want)))
            << fn << " smoothing " << smoothing << " batch " << batch;
      }
    }
  }
}

TEST(TrainingEmit, EvalStepAndInferMatchToMlir) {
  Random rng(9);
  fe::Graph g = tinyModel(rng);
  Module m(g.toTrainingMlir({0.1f}));
  Module plain(g.toMlir("infer"));
  ASSERT_TRUE(m.module);
  ASSERT_TRUE(plain.module);
  for (int64_t batch : {1, 3}) {
    RefTensor x = asFloat(rng.tensor({batch, 2, 6, 6}, -1.0, 1.0));
    auto params = paramsOf(g);
    RefTensor infer = ref::interpret(m.func("infer"), {x}, params).results.at(0);
    RefTensor base = ref::interpret(plain.func("infer"), {x}, params).results.at(0);
    RefTensor eval =
        ref::interpret(m.func("eval_step"), {x, oneHot(batch, 4)}, params).results.at(1);
    EXPECT_EQ(infer.shape, base.shape);
    EXPECT_EQ(infer.data, base.data);
    EXPECT_EQ(eval.data, infer.data);
    // Training mode differs (batch statistics instead of the running ones).
    RefTensor train =
        ref::interpret(m.func("forward"), {x, oneHot(batch, 4)}, params).results.at(1);
    EXPECT_NE(train.data, infer.data);
  }
}

TEST(TrainingEmit, RejectsGraphsItCannotTrain) {
  fe::Graph g;
  fe::Value x = g.input("image", {fe::kDynamic, 4});
  g.output(x, "a");
  g.output(g.relu(x), "b");
  EXPECT_THROW(g.toTrainingMlir({}), std::invalid_argument);
  fe::Graph h;
  fe::Value y = h.input("image", {fe::kDynamic, 4, 2, 2});
  h.output(h.relu(y), "logits");
  EXPECT_THROW(h.toTrainingMlir({}), std::invalid_argument);  // rank-4 "logits"
}

TEST(TrainingEmit, TinyModelGradientsMatchFiniteDifferences) {
  Random rng(21);
  fe::Graph g = tinyModel(rng);
  Module m(g.toTrainingMlir({0.1f}));
  ASSERT_TRUE(m.module);
  ASSERT_TRUE(m.autodiff());
  mlir::Operation* step = m.func("train_step");
  ASSERT_TRUE(step);
  auto names = step->getAttrOfType<mlir::ArrayAttr>("kiln.gradients");
  ASSERT_TRUE(names);
  std::vector<std::string> trainable;
  for (const fe::Parameter& p : g.parameters())
    if (p.trainable) trainable.push_back(p.name);
  ASSERT_EQ(names.size(), trainable.size());

  const int64_t batch = 3;
  RefTensor x = asFloat(rng.tensor({batch, 2, 6, 6}, -1.0, 1.0));
  RefTensor t = oneHot(batch, 4);
  auto params = paramsOf(g);
  ref::InterpretResult r = ref::interpret(step, {x, t}, params);
  ASSERT_EQ(r.results.size(), names.size() + 1);
  ASSERT_EQ(r.updates.size(), 2u);  // train_step keeps forward's running-stat updates
  const double loss0 = ref::interpret(m.func("forward"), {x, t}, params).results[0].data[0];
  EXPECT_EQ(r.results[0].data[0], loss0);
  for (size_t i = 0; i < names.size(); ++i) {
    std::string name = mlir::cast<mlir::StringAttr>(names[i]).getValue().str();
    EXPECT_NE(std::find(trainable.begin(), trainable.end(), name), trainable.end()) << name;
    if (name == "conv.bias")
      // Invariant under training BN: zero up to kiln-autodiff's reduce_mean rule,
      // which scales by the f32 constant 1/count (1/36 here, ~1e-8 relative).
      EXPECT_LT(test::maxAbs(r.results[i + 1]), 1e-7) << name;
    else
      EXPECT_GT(test::maxAbs(r.results[i + 1]), 1e-8) << name;
    RefTensor& p = params[name];
    test::checkAgainstFiniteDifferences(name, p, r.results[i + 1], [&] {
      return ref::interpret(m.func("forward"), {x, t}, params).results[0].data[0];
    });
  }
}

class ModelTraining : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelTraining, EmitsInterpretsAndDifferentiates) {
  fe::Model model = fe::buildModel(GetParam(), 42);
  const fe::Graph& g = model.graph;
  Module m(g.toTrainingMlir({0.1f}));
  ASSERT_TRUE(m.module);
  Random rng(1);
  const int64_t batch = 2;
  RefTensor x = asFloat(rng.tensor({batch, 1, 28, 28}, -1.0, 2.0));
  RefTensor t = oneHot(batch, 10);
  auto params = paramsOf(g);
  ref::InterpretResult fwd = ref::interpret(m.func("forward"), {x, t}, params);
  ASSERT_EQ(fwd.results.size(), 2u);
  EXPECT_TRUE(std::isfinite(fwd.results[0].data[0]));
  EXPECT_NEAR(fwd.results[0].data[0], crossEntropy(fwd.results[1], t, static_cast<double>(0.1f)),
              1e-12);
  std::vector<fe::BatchNormInfo> bns = g.batchNorms();
  EXPECT_EQ(fwd.updates.size(), 2 * bns.size());
  for (const fe::BatchNormInfo& bn : bns) {
    EXPECT_TRUE(fwd.updates.count(bn.runningMean)) << bn.runningMean;
    EXPECT_TRUE(fwd.updates.count(bn.runningVar)) << bn.runningVar;
  }
  ref::InterpretResult eval = ref::interpret(m.func("eval_step"), {x, t}, params);
  RefTensor infer = ref::interpret(m.func("infer"), {x}, params).results.at(0);
  EXPECT_EQ(eval.results[1].data, infer.data);

  ASSERT_TRUE(m.autodiff());
  mlir::Operation* step = m.func("train_step");
  ASSERT_TRUE(step);
  auto names = step->getAttrOfType<mlir::ArrayAttr>("kiln.gradients");
  ASSERT_TRUE(names);
  size_t trainable = 0;
  for (const fe::Parameter& p : g.parameters()) trainable += p.trainable ? 1 : 0;
  EXPECT_EQ(names.size(), trainable);
}

double relL2(const std::vector<float>& got, const std::vector<double>& want);

// The real models through the whole compiler: train_step's loss, gradients and
// running-stat updates against the interpreter at batch 2. Gradients of these
// deeper nets sum up to ~2*28*28*64 f32 products, so 1e-3 relative L2.
TEST_P(ModelTraining, CompiledTrainStepMatchesTheInterpreter) {
  fe::Model model = fe::buildModel(GetParam(), 42);
  const fe::Graph& g = model.graph;
  Module m(g.toTrainingMlir({0.1f}));
  ASSERT_TRUE(m.module);
  ASSERT_TRUE(m.autodiff());
  std::vector<ParamValue> values;
  for (const fe::Parameter& p : g.parameters())
    values.push_back({p.name, p.shape, p.value, p.trainable});
  CompileResult compiled;
  try {
    compiled = compileMlir(m.print(), values, CompileOptions{});
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  auto artifact = rt::Artifact::loadBuffer(compiled.artifact, GetParam());
  Random rng(2);
  const int64_t batch = 2;
  RefTensor x = asFloat(rng.tensor({batch, 1, 28, 28}, -1.0, 2.0));
  RefTensor t = oneHot(batch, 10);
  std::vector<float> xf = floats(x), tf = floats(t);
  rt::Session session(artifact, {2});
  ref::InterpretResult want = ref::interpret(m.func("train_step"), {x, t}, paramsOf(g));
  std::vector<rt::Tensor> got = session.run(
      "train_step", {rt::TensorView{xf.data(), x.shape}, rt::TensorView{tf.data(), t.shape}});
  ASSERT_EQ(got.size(), want.results.size());
  EXPECT_LE(relL2(got[0].data, want.results[0].data), 5e-5) << "loss";
  for (size_t i = 1; i < got.size(); ++i)
    EXPECT_LE(relL2(got[i].data, want.results[i].data), 1e-3) << "gradient " << i;
  for (const auto& [name, value] : want.updates) {
    const float* p = session.paramData(name);
    EXPECT_LE(relL2(std::vector<float>(p, p + value.numel()), value.data), 5e-5) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ModelTraining, ::testing::Values("lenet5", "resnet20"));

double relL2(const std::vector<float>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t k = 0; k < got.size() && k < want.size(); ++k) {
    double d = got[k] - want[k];
    num += d * d;
    den += want[k] * want[k];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

TEST(TrainingEmit, CompiledModuleMatchesTheInterpreter) {
  Random rng(33);
  fe::Graph g = tinyModel(rng, /*convBias=*/false);
  Module m(g.toTrainingMlir({0.1f}));
  ASSERT_TRUE(m.module);
  ASSERT_TRUE(m.autodiff());
  std::vector<ParamValue> values;
  for (const fe::Parameter& p : g.parameters())
    values.push_back({p.name, p.shape, p.value, p.trainable});
  CompileResult compiled;
  try {
    compiled = compileMlir(m.print(), values, CompileOptions{});
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  auto artifact = rt::Artifact::loadBuffer(compiled.artifact, "training module test");
  for (const char* entry : {"forward", "train_step", "eval_step", "infer"})
    ASSERT_TRUE(artifact->hasEntry(entry)) << entry;
  auto params = paramsOf(g);

  for (int64_t batch : {1, 5}) {
    RefTensor x = asFloat(rng.tensor({batch, 2, 6, 6}, -1.0, 1.0));
    RefTensor t = oneHot(batch, 4);
    std::vector<float> xf = floats(x), tf = floats(t);
    std::vector<rt::TensorView> inputs = {rt::TensorView{xf.data(), x.shape},
                                          rt::TensorView{tf.data(), t.shape}};
    for (const char* entry : {"train_step", "eval_step"}) {
      rt::Session session(artifact, {1});  // fresh parameters for every entry
      ref::InterpretResult want = ref::interpret(m.func(entry), {x, t}, params);
      std::vector<rt::Tensor> got = session.run(entry, inputs);
      ASSERT_EQ(got.size(), want.results.size()) << entry;
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i].shape, want.results[i].shape) << entry << " result " << i;
        EXPECT_LE(relL2(got[i].data, want.results[i].data), 5e-5)
            << entry << " result " << i << ", batch " << batch;
      }
      EXPECT_EQ(want.updates.size(), std::string(entry) == "train_step" ? 2u : 0u);
      for (const auto& [name, value] : want.updates) {
        const float* p = session.paramData(name);
        std::vector<float> now(p, p + value.numel());
        EXPECT_LE(relL2(now, value.data), 5e-5)
            << entry << " update of " << name << ", batch " << batch;
      }
    }
    rt::Session session(artifact, {2});
    RefTensor want = ref::interpret(m.func("infer"), {x}, params).results.at(0);
    std::vector<rt::Tensor> got = session.run("infer", {inputs[0]});
    ASSERT_EQ(got.size(), 1u);
    EXPECT_LE(relL2(got[0].data, want.data), 5e-5) << "infer, batch " << batch;
  }
}

}  // namespace
