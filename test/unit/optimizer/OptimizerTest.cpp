//===- OptimizerTest.cpp - kiln-optimizer against PyTorch's formulas -------===//
//
// A small classifier (linear -> relu -> linear -> softmax cross-entropy) goes
// through kiln-autodiff and then kiln-optimizer. Five training steps are run
// three ways:
//   1. the optimized step in the double-precision MLIR interpreter, feeding
//      each step's kiln.update values back in as the next step's parameters
//      and optimizer state (state starts at zero, as the driver creates it);
//   2. an independent double implementation of torch.optim.SGD / Adam / AdamW
//      (PyTorch 1.13's single-tensor code) written below, driven by the
//      gradients of the *un-optimized* step (also interpreted);
//   3. the optimized step compiled by kiln::compileMlir and run by the runtime
//      in f32, parameters read back with Session::paramData.
// 1 vs 2 must agree to 1e-12 relative: both evaluate the same operations in
// double on the same f32-rounded hyperparameters (the IR stores them as f32
// constants, so the reference rounds them the same way), so any difference is
// a wrong formula, not rounding.
// 3 vs 1 after five steps: relative L2 <= 1e-5 per parameter. The compiled
// run differs only by f32 rounding: the gradients carry ~1e-6 relative error
// (sums of at most 16 products), and each step moves a parameter by lr * d
// (SGD, lr <= 0.1) or by at most ~lr (Adam, lr = 1e-2), so after five steps
// the error in a parameter is a few ulps of its magnitude plus ~1e-6 of the
// total movement, well under 1e-5 of the parameter's norm.
//===----------------------------------------------------------------------===//
#include "kiln/Dialect/KilnOps.h"
#include "kiln/Driver/Compiler.h"
#include "kiln/Transforms/Passes.h"
#include "kiln/reference/MlirInterpreter.h"
#include "kiln/runtime/Runtime.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace kiln;
using ref::RefTensor;

namespace {

constexpr const char *kClassifier = R"mlir(
func.func @forward(%x: tensor<?x4xf32>, %onehot: tensor<?x3xf32>) -> tensor<1xf32> {
  %w1 = kiln.parameter "fc1.w" : tensor<8x4xf32>
  %b1 = kiln.parameter "fc1.b" : tensor<8xf32>
  %h = kiln.linear %x, %w1, %b1 : (tensor<?x4xf32>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %r = kiln.relu %h : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %w2 = kiln.parameter "fc2.w" : tensor<3x8xf32>
  %b2 = kiln.parameter "fc2.b" : tensor<3xf32>
  %l = kiln.linear %r, %w2, %b2 : (tensor<?x8xf32>, tensor<3x8xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %ls = kiln.log_softmax %l {axis = 1 : i64} : (tensor<?x3xf32>) -> tensor<?x3xf32>
  %p = kiln.mul %onehot, %ls : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
  %s = kiln.reduce_sum %p {axes = array<i64: 1>} : (tensor<?x3xf32>) -> tensor<?xf32>
  %m = kiln.reduce_mean %s {axes = array<i64: 0>, keepdim = true} : (tensor<?xf32>) -> tensor<1xf32>
  %loss = kiln.neg %m : (tensor<1xf32>) -> tensor<1xf32>
  return %loss : tensor<1xf32>
}
)mlir";

constexpr int kSteps = 5;
constexpr int64_t kBatch = 6;

/// One optimizer configuration: the pass options and the learning rate.
struct Config {
  std::string optimizer = "sgd";
  double momentum = 0.9;
  bool nesterov = false;
  double weightDecay = 0;
  bool noDecayBnBias = false;
  double lr = 0.1;
};

// The IR holds hyperparameters as f32 constants and the runtime gets lr and
// the bias corrections as f32 inputs; the reference rounds them likewise.
double f32(double v) { return static_cast<float>(v); }

/// A per-step learning rate (a decaying schedule, so that lr really is an
/// input of every step).
double lrAt(const Config &config, int step) { return f32(config.lr * (1.0 - 0.1 * step)); }

RefTensor randomTensor(std::mt19937 &rng, std::vector<int64_t> shape, double lo, double hi) {
  std::uniform_real_distribution<double> dist(lo, hi);
  RefTensor t(std::move(shape));
  for (double &v : t.data)
    v = f32(dist(rng));
  return t;
}

RefTensor oneHot(int64_t batch, int64_t classes, int step) {
  RefTensor t({batch, classes});
  for (int64_t i = 0; i < batch; ++i)
    t.data[i * classes + (i * 2 + step) % classes] = 1.0;
  return t;
}

RefTensor scalarInput(double v) { return RefTensor({1}, {v}); }

/// The double reference of one parameter's optimizer state.
struct RefState {
  std::vector<double> buf, m, v;
};

/// torch.optim.{SGD,Adam,AdamW}.step for one parameter, as PyTorch 1.13's
/// _single_tensor_* functions compute it (t counts from 1).
void referenceStep(const Config &config, int t, double lr, bool decays,
                   std::vector<double> &p, const std::vector<double> &grad, RefState &state) {
  double wd = decays ? f32(config.weightDecay) : 0.0;
  size_t n = p.size();
  if (config.optimizer == "sgd") {
    double momentum = f32(config.momentum);
    if (t == 1)
      state.buf.assign(n, 0.0);
    for (size_t i = 0; i < n; ++i) {
      double d = grad[i];
      if (wd != 0)
        d = d + p[i] * wd; // d_p = d_p.add(param, alpha=weight_decay)
      if (config.momentum != 0) {
        // buf.mul_(momentum).add_(d_p); on step 1 PyTorch clones d_p, which
        // 0 * momentum + d equals exactly.
        double buf = t == 1 ? d : state.buf[i] * momentum + d;
        state.buf[i] = buf;
        d = config.nesterov ? d + buf * momentum : buf;
      }
      p[i] = p[i] - lr * d; // param.add_(d_p, alpha=-lr)
    }
    return;
  }
  double beta1 = f32(0.9), beta2 = f32(0.999);
  double oneMinusBeta1 = f32(1.0 - 0.9), oneMinusBeta2 = f32(1.0 - 0.999);
  double eps = f32(1e-8);
  double bc1 = f32(1.0 - std::pow(0.9, t)), bc2 = f32(1.0 - std::pow(0.999, t));
  double stepSize = lr / bc1, bc2Sqrt = std::sqrt(bc2);
  if (t == 1) {
    state.m.assign(n, 0.0);
    state.v.assign(n, 0.0);
  }
  bool adamw = config.optimizer == "adamw";
  double factor = 1.0 - lr * wd; // param.mul_(1 - lr * weight_decay)
  for (size_t i = 0; i < n; ++i) {
    double g = grad[i];
    if (!adamw && wd != 0)
      g = g + p[i] * wd; // grad = grad.add(param, alpha=weight_decay)
    double param = adamw && wd != 0 ? p[i] * factor : p[i];
    state.m[i] = state.m[i] * beta1 + g * oneMinusBeta1;
    state.v[i] = state.v[i] * beta2 + (g * g) * oneMinusBeta2;
    double denom = std::sqrt(state.v[i]) / bc2Sqrt + eps;
    p[i] = param - stepSize * (state.m[i] / denom); // addcdiv_(m, denom, -step_size)
  }
}

double relativeL2(const std::vector<double> &got, const std::vector<double> &want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

class OptimizerPass : public ::testing::Test {
protected:
  OptimizerPass() {
    mlir::DialectRegistry registry;
    registry.insert<KilnDialect, mlir::func::FuncDialect>();
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// The classifier after kiln-autodiff, and after kiln-optimizer if `config`.
  mlir::OwningOpRef<mlir::ModuleOp> build(const Config *config) {
    std::string diagnostics;
    mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &diag) {
      diagnostics += diag.str() + "\n";
      return mlir::success();
    });
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceString<mlir::ModuleOp>(kClassifier, &context);
    EXPECT_TRUE(module);
    if (!module)
      return nullptr;
    mlir::PassManager pm(&context);
    pm.addPass(createKilnAutodiff());
    if (config) {
      KilnOptimizerOptions options;
      options.optimizerName = config->optimizer;
      options.momentum = config->momentum;
      options.nesterov = config->nesterov;
      options.weightDecay = config->weightDecay;
      options.noDecayBnBias = config->noDecayBnBias;
      pm.addPass(createKilnOptimizer(options));
    }
    bool ok = mlir::succeeded(pm.run(*module));
    EXPECT_TRUE(ok) << diagnostics;
    return ok ? std::move(module) : nullptr;
  }

  static std::vector<std::string> strings(mlir::Operation *op, llvm::StringRef attr) {
    std::vector<std::string> result;
    if (auto array = op->getAttrOfType<mlir::ArrayAttr>(attr))
      for (mlir::Attribute a : array)
        result.push_back(llvm::cast<mlir::StringAttr>(a).str());
    return result;
  }

  /// Runs the three trainings of the file comment for `config`.
  void check(const Config &config) {
    mlir::OwningOpRef<mlir::ModuleOp> plain = build(nullptr);
    mlir::OwningOpRef<mlir::ModuleOp> optimized = build(&config);
    ASSERT_TRUE(plain && optimized);
    auto gradStep = plain->lookupSymbol<mlir::func::FuncOp>("train_step");
    auto step = optimized->lookupSymbol<mlir::func::FuncOp>("train_step");
    ASSERT_TRUE(gradStep && step);
    bool adam = config.optimizer != "sgd";
    const std::vector<std::string> names = {"fc1.w", "fc1.b", "fc2.w", "fc2.b"};
    ASSERT_EQ(strings(step, "kiln.gradients"), names);
    EXPECT_EQ(step.getNumArguments(), adam ? 5u : 3u);
    EXPECT_EQ(step.getResultTypes(), gradStep.getResultTypes());

    // The state the driver must create: zero-filled, the parameter's shape.
    std::mt19937 rng(7);
    std::map<std::string, RefTensor> initial = {
        {"fc1.w", randomTensor(rng, {8, 4}, -0.8, 0.8)},
        {"fc1.b", randomTensor(rng, {8}, -0.2, 0.2)},
        {"fc2.w", randomTensor(rng, {3, 8}, -0.6, 0.6)},
        {"fc2.b", randomTensor(rng, {3}, -0.2, 0.2)}};
    std::vector<std::string> stateNames = strings(step, "kiln.optimizer_state");
    std::vector<std::string> suffixes;
    if (!adam && config.momentum != 0)
      suffixes = {".momentum_buffer"};
    else if (adam)
      suffixes = {".exp_avg", ".exp_avg_sq"};
    std::vector<std::string> expectedState;
    for (const std::string &name : names)
      for (const std::string &suffix : suffixes)
        expectedState.push_back(name + suffix);
    ASSERT_EQ(stateNames, expectedState);
    std::map<std::string, RefTensor> params = initial;
    for (const std::string &state : stateNames)
      params[state] = RefTensor(initial[state.substr(0, state.rfind('.'))].shape);

    std::vector<std::vector<RefTensor>> inputs; // per step: x, onehot, lr[, bc1, bc2]
    for (int t = 1; t <= kSteps; ++t) {
      std::vector<RefTensor> args = {randomTensor(rng, {kBatch, 4}, -2.0, 2.0),
                                     oneHot(kBatch, 3, t), scalarInput(lrAt(config, t))};
      if (adam) {
        args.push_back(scalarInput(f32(1.0 - std::pow(0.9, t))));
        args.push_back(scalarInput(f32(1.0 - std::pow(0.999, t))));
      }
      inputs.push_back(args);
    }

    // 1 and 2, step by step.
    std::map<std::string, std::vector<double>> reference;
    std::map<std::string, RefState> refState;
    for (const std::string &name : names)
      reference[name] = initial[name].data;
    std::vector<double> interpretedLoss;
    for (int t = 1; t <= kSteps; ++t) {
      const std::vector<RefTensor> &args = inputs[t - 1];
      ref::InterpretResult result = ref::interpret(step, args, params);
      interpretedLoss.push_back(result.results[0].data[0]);
      ASSERT_EQ(result.updates.size(), params.size()) << "every parameter and state is updated";
      for (auto &[name, value] : result.updates) {
        ASSERT_TRUE(params.count(name)) << name;
        params[name] = value;
      }

      std::map<std::string, RefTensor> current;
      for (const std::string &name : names)
        current[name] = RefTensor(initial[name].shape, reference[name]);
      ref::InterpretResult grads =
          ref::interpret(gradStep, {args[0], args[1]}, current);
      for (size_t i = 0; i < names.size(); ++i) {
        const std::string &name = names[i];
        bool decays = !(config.noDecayBnBias && initial[name].rank() == 1);
        referenceStep(config, t, args[2].data[0], decays, reference[name],
                      grads.results[1 + i].data, refState[name]);
        const std::vector<double> &got = params[name].data;
        const std::vector<double> &want = reference[name];
        double scale = 0, worst = 0;
        for (size_t k = 0; k < want.size(); ++k) {
          scale = std::max(scale, std::fabs(want[k]));
          worst = std::max(worst, std::fabs(got[k] - want[k]));
        }
        EXPECT_LE(worst, 1e-12 * scale) << name << " after step " << t;
        EXPECT_NE(want, initial[name].data) << name << " moved at step " << t;
      }
    }

    // 3: compiled, f32, through the runtime.
    std::string text;
    {
      llvm::raw_string_ostream os(text);
      optimized->print(os);
    }
    std::vector<ParamValue> values;
    for (const auto &[name, t] : initial)
      values.push_back({name, t.shape, t.toFloats(), true});
    for (const std::string &state : stateNames) {
      const RefTensor &like = initial[state.substr(0, state.rfind('.'))];
      values.push_back({state, like.shape, std::vector<float>(like.numel(), 0.0f), false});
    }
    CompileResult compiled;
    try {
      compiled = compileMlir(text, values, CompileOptions{});
    } catch (const std::exception &e) {
      FAIL() << e.what();
    }
    auto artifact = rt::Artifact::loadBuffer(compiled.artifact, "optimizer test");
    ASSERT_TRUE(artifact->hasEntry("train_step"));
    rt::Session session(artifact, {2});
    for (int t = 1; t <= kSteps; ++t) {
      std::vector<std::vector<float>> floats;
      for (const RefTensor &arg : inputs[t - 1])
        floats.push_back(arg.toFloats());
      std::vector<rt::TensorView> views;
      for (size_t i = 0; i < floats.size(); ++i)
        views.push_back({floats[i].data(), inputs[t - 1][i].shape});
      std::vector<rt::Tensor> out = session.run("train_step", views);
      ASSERT_EQ(out.size(), 1 + names.size());
      EXPECT_NEAR(out[0].data[0], interpretedLoss[t - 1],
                  1e-5 * std::fabs(interpretedLoss[t - 1]))
          << "loss at step " << t;
    }
    for (const auto &[name, want] : params) {
      const float *data = session.paramData(name);
      ASSERT_TRUE(data) << name;
      std::vector<double> got(data, data + want.numel());
      EXPECT_LE(relativeL2(got, want.data), 1e-5) << name << " after " << kSteps << " steps";
    }
  }

  mlir::MLIRContext context;
};

TEST_F(OptimizerPass, SgdMomentumWeightDecay) {
  Config config;
  config.weightDecay = 1e-2;
  check(config);
}

TEST_F(OptimizerPass, SgdNesterovNoDecayBnBias) {
  Config config;
  config.nesterov = true;
  config.weightDecay = 5e-2;
  config.noDecayBnBias = true;
  check(config);
}

TEST_F(OptimizerPass, SgdPlainWeightDecay) {
  Config config;
  config.momentum = 0;
  config.weightDecay = 1e-2;
  check(config);
}

TEST_F(OptimizerPass, Adam) {
  Config config;
  config.optimizer = "adam";
  config.weightDecay = 1e-2;
  config.lr = 1e-2;
  check(config);
}

TEST_F(OptimizerPass, AdamWNoDecayBnBias) {
  Config config;
  config.optimizer = "adamw";
  config.weightDecay = 0.1;
  config.noDecayBnBias = true;
  config.lr = 1e-2;
  check(config);
}

} // namespace
