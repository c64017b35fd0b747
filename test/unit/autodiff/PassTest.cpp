// kiln-autodiff end to end: run the pass on small models that together use
// every gradient rule, evaluate the generated step function with the
// double-precision MLIR interpreter (test/reference), and compare each
// returned gradient with central finite differences of the *forward* function
// (also interpreted) with respect to that parameter. This checks the pass
// itself, independently of the reference VJPs.
#include "GradCheck.h"

#include "kiln/Dialect/KilnOps.h"
#include "kiln/Transforms/Passes.h"
#include "kiln/reference/MlirInterpreter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

using namespace kiln;
using kiln::test::Random;
using ref::RefTensor;

namespace {

struct Model {
  std::string text;
  std::vector<RefTensor> args;
  std::map<std::string, RefTensor> params;
  std::string forward = "forward";
  unsigned loss = 0;
  std::string step = "train_step";
};

class AutodiffPass : public ::testing::Test {
 protected:
  AutodiffPass() {
    mlir::DialectRegistry registry;
    registry.insert<KilnDialect, mlir::func::FuncDialect>();
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// Parses `model.text` and runs kiln-autodiff; null (with `diagnostics`
  /// filled) if either fails.
  mlir::OwningOpRef<mlir::ModuleOp> differentiate(const Model& model, std::string& diagnostics) {
    mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic& diag) {
      diagnostics += diag.str() + "\n";
      return mlir::success();
    });
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceString<mlir::ModuleOp>(model.text, &context);
    if (!module) return nullptr;
    mlir::PassManager pm(&context);
    KilnAutodiffOptions options;
    options.forwardName = model.forward;
    options.lossIndex = model.loss;
    options.stepName = model.step;
    pm.addPass(createKilnAutodiff(options));
    if (mlir::failed(pm.run(*module))) return nullptr;
    return module;
  }

  static std::string print(mlir::Operation* op) {
    std::string text;
    llvm::raw_string_ostream os(text);
    op->print(os);
    return text;
  }

  /// Runs the pass, checks the step function's interface, and compares every
  /// gradient with finite differences of the forward's loss.
  void check(Model model, const std::vector<std::string>& expectedGradients) {
    std::string diagnostics;
    mlir::OwningOpRef<mlir::ModuleOp> module = differentiate(model, diagnostics);
    ASSERT_TRUE(module) << diagnostics;
    mlir::Operation* forward = module->lookupSymbol(model.forward);
    auto step = module->lookupSymbol<mlir::func::FuncOp>(model.step);
    ASSERT_TRUE(forward && step);

    // The forward is left as it was.
    mlir::OwningOpRef<mlir::ModuleOp> original =
        mlir::parseSourceString<mlir::ModuleOp>(model.text, &context);
    EXPECT_EQ(print(forward), print(original->lookupSymbol(model.forward)));

    // Interface: the forward's arguments; the loss, then one gradient per
    // trainable parameter named by kiln.gradients.
    auto names = step->getAttrOfType<mlir::ArrayAttr>("kiln.gradients");
    ASSERT_TRUE(names);
    std::vector<std::string> gradientNames;
    for (mlir::Attribute name : names)
      gradientNames.push_back(llvm::cast<mlir::StringAttr>(name).str());
    EXPECT_EQ(gradientNames, expectedGradients);
    EXPECT_EQ(step.getArgumentTypes(),
              llvm::cast<mlir::func::FuncOp>(forward).getArgumentTypes());
    ASSERT_EQ(step.getNumResults(), 1 + gradientNames.size());

    ref::InterpretResult result = ref::interpret(step, model.args, model.params);
    auto lossOf = [&] {
      return ref::interpret(forward, model.args, model.params).results[model.loss];
    };
    // The step recomputes the forward with the same ops: the same loss, bit for bit.
    EXPECT_EQ(result.results[0].data, lossOf().data);
    ASSERT_EQ(result.results[0].shape, (std::vector<int64_t>{1}));

    for (size_t i = 0; i < gradientNames.size(); ++i) {
      const std::string& name = gradientNames[i];
      ASSERT_TRUE(model.params.count(name)) << name;
      const RefTensor& grad = result.results[1 + i];
      test::checkAgainstFiniteDifferences("d loss / d " + name, model.params[name], grad,
                                          [&] { return lossOf().data[0]; });
      gradients[name] = grad;
    }
    updates = result.updates;
    stepText = print(step);
    lastModule = std::move(module);
    lastModel = model;
  }

  mlir::MLIRContext context;
  std::map<std::string, RefTensor> gradients;  // of the last check()
  std::map<std::string, RefTensor> updates;
  std::string stepText;
  mlir::OwningOpRef<mlir::ModuleOp> lastModule;  // of the last check(), after the pass
  Model lastModel;
};

RefTensor oneHot(int64_t n, int64_t k) {
  RefTensor t({n, k});
  for (int64_t i = 0; i < n; ++i) t.data[static_cast<size_t>(i * k + (i * 2 + 1) % k)] = 1.0;
  return t;
}

}  // namespace

// conv2d (stride, padding, dilation; depthwise groups), batch_norm in inference
// form, relu, overlapping padded max_pool2d, hardswish, ceil-mode avg_pool2d
// without padding in the count, relu6, global_avg_pool, flatten, linear,
// log_softmax and the cross-entropy loss (mul, reduce_sum, reduce_mean over the
// batch, neg). The input is an argument, so the first conv needs no grad_input.
TEST_F(AutodiffPass, ConvNet) {
  Model m;
  m.text = R"mlir(
func.func @forward(%x: tensor<?x2x7x7xf32>, %onehot: tensor<?x5xf32>) -> (tensor<1xf32>, tensor<?x5xf32>) {
  %w1 = kiln.parameter "conv1.w" : tensor<4x2x3x3xf32>
  %b1 = kiln.parameter "conv1.b" : tensor<4xf32>
  %c1 = kiln.conv2d %x, %w1, %b1 {strides = array<i64: 2, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 2>}
      : (tensor<?x2x7x7xf32>, tensor<4x2x3x3xf32>, tensor<4xf32>) -> tensor<?x4x4x5xf32>
  %g = kiln.parameter "bn.w" : tensor<4xf32>
  %be = kiln.parameter "bn.b" : tensor<4xf32>
  %m = kiln.parameter "bn.mean" {trainable = false} : tensor<4xf32>
  %v = kiln.parameter "bn.var" {trainable = false} : tensor<4xf32>
  %bn = kiln.batch_norm %c1, %g, %be, %m, %v {epsilon = 1.0e-3 : f32}
      : (tensor<?x4x4x5xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x4x5xf32>
  %r = kiln.relu %bn : (tensor<?x4x4x5xf32>) -> tensor<?x4x4x5xf32>
  %mp = kiln.max_pool2d %r {kernel_size = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>}
      : (tensor<?x4x4x5xf32>) -> tensor<?x4x4x5xf32>
  %dw = kiln.parameter "dw.w" : tensor<8x1x3x2xf32>
  %c2 = kiln.conv2d %mp, %dw {groups = 4 : i64} : (tensor<?x4x4x5xf32>, tensor<8x1x3x2xf32>) -> tensor<?x8x2x4xf32>
  %hs = kiln.hardswish %c2 : (tensor<?x8x2x4xf32>) -> tensor<?x8x2x4xf32>
  %ap = kiln.avg_pool2d %hs {kernel_size = array<i64: 2, 2>, padding = array<i64: 1, 1>, ceil_mode = true, count_include_pad = false}
      : (tensor<?x8x2x4xf32>) -> tensor<?x8x2x3xf32>
  %r6 = kiln.relu6 %ap : (tensor<?x8x2x3xf32>) -> tensor<?x8x2x3xf32>
  %gap = kiln.global_avg_pool %r6 : (tensor<?x8x2x3xf32>) -> tensor<?x8x1x1xf32>
  %f = kiln.flatten %gap : (tensor<?x8x1x1xf32>) -> tensor<?x8xf32>
  %lw = kiln.parameter "fc.w" : tensor<5x8xf32>
  %lb = kiln.parameter "fc.b" : tensor<5xf32>
  %l = kiln.linear %f, %lw, %lb : (tensor<?x8xf32>, tensor<5x8xf32>, tensor<5xf32>) -> tensor<?x5xf32>
  %ls = kiln.log_softmax %l {axis = 1 : i64} : (tensor<?x5xf32>) -> tensor<?x5xf32>
  %p = kiln.mul %onehot, %ls : (tensor<?x5xf32>, tensor<?x5xf32>) -> tensor<?x5xf32>
  %s = kiln.reduce_sum %p {axes = array<i64: 1>} : (tensor<?x5xf32>) -> tensor<?xf32>
  %mean = kiln.reduce_mean %s {axes = array<i64: 0>, keepdim = true} : (tensor<?xf32>) -> tensor<1xf32>
  %loss = kiln.neg %mean : (tensor<1xf32>) -> tensor<1xf32>
  return %loss, %l : tensor<1xf32>, tensor<?x5xf32>
}
)mlir";
  Random rng(7);
  m.args = {rng.tensor({3, 2, 7, 7}, -2.0, 2.0), oneHot(3, 5)};
  m.params = {{"conv1.w", rng.tensor({4, 2, 3, 3})},   {"conv1.b", rng.tensor({4})},
              {"bn.w", rng.tensor({4}, 0.5, 1.5)},     {"bn.b", rng.tensor({4}, 0.0, 0.5)},
              {"bn.mean", rng.tensor({4}, -0.2, 0.2)}, {"bn.var", rng.tensor({4}, 0.5, 2.0)},
              {"dw.w", rng.tensor({8, 1, 3, 2})},      {"fc.w", rng.tensor({5, 8}, -2.0, 2.0)},
              {"fc.b", rng.tensor({5})}};
  check(m, {"conv1.w", "conv1.b", "bn.w", "bn.b", "dw.w", "fc.w", "fc.b"});
  // The ops the rules are written with.
  for (const char* op : {"kiln.conv2d_grad_weight", "kiln.conv2d_grad_input", "kiln.relu_grad",
                         "kiln.max_pool2d_grad", "kiln.hardswish_grad", "kiln.avg_pool2d_grad",
                         "kiln.relu6_grad", "kiln.broadcast_to"})
    EXPECT_NE(stepText.find(op), std::string::npos) << op;
  // Only conv2 needs its input's gradient: the first conv reads an argument.
  EXPECT_EQ(stepText.find("kiln.conv2d_grad_input"), stepText.rfind("kiln.conv2d_grad_input"));

  // The step goes through canonicalization, CSE and fusion like the forward,
  // and still computes the same loss and gradients (the interpreter runs
  // kiln.kernel bodies).
  ref::InterpretResult before = ref::interpret(
      lastModule->lookupSymbol("train_step"), lastModel.args, lastModel.params);
  mlir::PassManager pm(&context);
  pm.addNestedPass<mlir::func::FuncOp>(mlir::createCanonicalizerPass());
  pm.addNestedPass<mlir::func::FuncOp>(mlir::createCSEPass());
  pm.addNestedPass<mlir::func::FuncOp>(createKilnFusion());
  ASSERT_TRUE(mlir::succeeded(pm.run(*lastModule)));
  mlir::Operation* fused = lastModule->lookupSymbol("train_step");
  EXPECT_NE(print(fused).find("kiln.kernel"), std::string::npos);
  ref::InterpretResult after = ref::interpret(fused, lastModel.args, lastModel.params);
  ASSERT_EQ(after.results.size(), before.results.size());
  for (size_t i = 0; i < before.results.size(); ++i)
    EXPECT_LT(ref::maxAbsDiff(after.results[i], before.results[i]), 1e-12) << "result " << i;
}

// The batch-norm statistics as trainable parameters get their gradients too
// (the inference form is an ordinary function of all five operands).
TEST_F(AutodiffPass, BatchNormInferenceFormAllOperands) {
  Model m;
  m.text = R"mlir(
func.func @forward(%x: tensor<?x3x2x2xf32>) -> tensor<1xf32> {
  %g = kiln.parameter "w" : tensor<3xf32>
  %b = kiln.parameter "b" : tensor<3xf32>
  %m = kiln.parameter "mean" : tensor<3xf32>
  %v = kiln.parameter "var" : tensor<3xf32>
  %bn = kiln.batch_norm %x, %g, %b, %m, %v : (tensor<?x3x2x2xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<?x3x2x2xf32>
  %sq = kiln.mul %bn, %bn : (tensor<?x3x2x2xf32>, tensor<?x3x2x2xf32>) -> tensor<?x3x2x2xf32>
  %s = kiln.reduce_sum %sq {axes = array<i64: 0, 1, 2, 3>, keepdim = true} : (tensor<?x3x2x2xf32>) -> tensor<1x1x1x1xf32>
  %l = kiln.reshape %s {shape = array<i64: 1>} : (tensor<1x1x1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}
)mlir";
  Random rng(8);
  m.args = {rng.tensor({2, 3, 2, 2})};
  m.params = {{"w", rng.tensor({3})},
              {"b", rng.tensor({3})},
              {"mean", rng.tensor({3})},
              {"var", rng.tensor({3}, 0.5, 1.5)}};
  check(m, {"w", "b", "mean", "var"});
}

// matmul (also contracting over the batch), transpose, broadcasting
// add/sub/mul/div against [1, 4], [4] and rank-0 parameters, sigmoid, softmax,
// reshape, sqrt, rsqrt, broadcast_to, neg, reductions with and without keepdim
// over non-leading axes, and an input gradient through everything.
TEST_F(AutodiffPass, DenseAndBroadcasting) {
  Model m;
  m.text = R"mlir(
func.func @forward(%x: tensor<?x6xf32>) -> tensor<1xf32> {
  %w = kiln.parameter "w" : tensor<6x4xf32>
  %h = kiln.matmul %x, %w : (tensor<?x6xf32>, tensor<6x4xf32>) -> tensor<?x4xf32>
  %s = kiln.parameter "scale" : tensor<1x4xf32>
  %h2 = kiln.mul %h, %s : (tensor<?x4xf32>, tensor<1x4xf32>) -> tensor<?x4xf32>
  %c = kiln.parameter "shift" : tensor<4xf32>
  %h3 = kiln.sub %h2, %c : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %d = kiln.parameter "den" : tensor<f32>
  %h4 = kiln.div %h3, %d : (tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xf32>
  %sg = kiln.sigmoid %h4 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %tr = kiln.transpose %sg {perm = array<i64: 1, 0>} : (tensor<?x4xf32>) -> tensor<4x?xf32>
  %gram = kiln.matmul %tr, %h4 : (tensor<4x?xf32>, tensor<?x4xf32>) -> tensor<4x4xf32>
  %m2 = kiln.parameter "m2" : tensor<3x4xf32>
  %mm = kiln.matmul %m2, %tr : (tensor<3x4xf32>, tensor<4x?xf32>) -> tensor<3x?xf32>
  %tt = kiln.transpose %mm {perm = array<i64: 1, 0>} : (tensor<3x?xf32>) -> tensor<?x3xf32>
  %sm = kiln.softmax %tt {axis = 1 : i64} : (tensor<?x3xf32>) -> tensor<?x3xf32>
  %rs = kiln.reshape %sm {shape = array<i64: -1, 3, 1>} : (tensor<?x3xf32>) -> tensor<?x3x1xf32>
  %q = kiln.parameter "q" : tensor<3x2xf32>
  %bq = kiln.add %rs, %q : (tensor<?x3x1xf32>, tensor<3x2xf32>) -> tensor<?x3x2xf32>
  %sq = kiln.mul %bq, %bq : (tensor<?x3x2xf32>, tensor<?x3x2xf32>) -> tensor<?x3x2xf32>
  %half = kiln.constant dense<0.5> : tensor<f32>
  %sqp = kiln.add %sq, %half : (tensor<?x3x2xf32>, tensor<f32>) -> tensor<?x3x2xf32>
  %rt = kiln.sqrt %sqp : (tensor<?x3x2xf32>) -> tensor<?x3x2xf32>
  %rr = kiln.rsqrt %sqp : (tensor<?x3x2xf32>) -> tensor<?x3x2xf32>
  %sum = kiln.add %rt, %rr : (tensor<?x3x2xf32>, tensor<?x3x2xf32>) -> tensor<?x3x2xf32>
  %red = kiln.reduce_mean %sum {axes = array<i64: 1, 2>} : (tensor<?x3x2xf32>) -> tensor<?xf32>
  %bt = kiln.broadcast_to %red {shape = array<i64: 2, -1>} : (tensor<?xf32>) -> tensor<2x?xf32>
  %bias2 = kiln.parameter "bias2" : tensor<2x1xf32>
  %z = kiln.add %bt, %bias2 : (tensor<2x?xf32>, tensor<2x1xf32>) -> tensor<2x?xf32>
  %n = kiln.neg %z : (tensor<2x?xf32>) -> tensor<2x?xf32>
  %all = kiln.reduce_sum %n {axes = array<i64: 0, 1>, keepdim = true} : (tensor<2x?xf32>) -> tensor<1x1xf32>
  %g2 = kiln.reduce_sum %gram {axes = array<i64: 1>, keepdim = true} : (tensor<4x4xf32>) -> tensor<4x1xf32>
  %g3 = kiln.reduce_mean %g2 {axes = array<i64: 0>, keepdim = true} : (tensor<4x1xf32>) -> tensor<1x1xf32>
  %tot = kiln.add %all, %g3 : (tensor<1x1xf32>, tensor<1x1xf32>) -> tensor<1x1xf32>
  %l = kiln.reshape %tot {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}
)mlir";
  Random rng(9);
  m.args = {rng.tensor({3, 6})};
  m.params = {{"w", rng.tensor({6, 4})},        {"scale", rng.tensor({1, 4}, 0.5, 1.5)},
              {"shift", rng.tensor({4})},       {"den", RefTensor({}, {1.7})},
              {"m2", rng.tensor({3, 4}, -2, 2)}, {"q", rng.tensor({3, 2})},
              {"bias2", rng.tensor({2, 1})}};
  check(m, {"w", "scale", "shift", "den", "m2", "q", "bias2"});
}

// Batch norm in training mode, built from primitives the way the frontend does
// (batch statistics through reduce_mean over [0, 2, 3], biased variance,
// rsqrt), with the running mean updated by kiln.update: the gradient falls out
// of the primitives' rules and the update survives the pass.
TEST_F(AutodiffPass, BatchNormTrainingModeFromPrimitives) {
  Model m;
  m.text = R"mlir(
func.func @forward(%x: tensor<?x3x5x4xf32>, %onehot: tensor<?x4xf32>) -> tensor<1xf32> {
  %w = kiln.parameter "conv.w" : tensor<4x3x3x3xf32>
  %c = kiln.conv2d %x, %w {padding = array<i64: 1, 1>} : (tensor<?x3x5x4xf32>, tensor<4x3x3x3xf32>) -> tensor<?x4x5x4xf32>
  %mean = kiln.reduce_mean %c {axes = array<i64: 0, 2, 3>, keepdim = true} : (tensor<?x4x5x4xf32>) -> tensor<1x4x1x1xf32>
  %xc = kiln.sub %c, %mean : (tensor<?x4x5x4xf32>, tensor<1x4x1x1xf32>) -> tensor<?x4x5x4xf32>
  %sq = kiln.mul %xc, %xc : (tensor<?x4x5x4xf32>, tensor<?x4x5x4xf32>) -> tensor<?x4x5x4xf32>
  %var = kiln.reduce_mean %sq {axes = array<i64: 0, 2, 3>, keepdim = true} : (tensor<?x4x5x4xf32>) -> tensor<1x4x1x1xf32>
  %eps = kiln.constant dense<1.0e-5> : tensor<f32>
  %ve = kiln.add %var, %eps : (tensor<1x4x1x1xf32>, tensor<f32>) -> tensor<1x4x1x1xf32>
  %inv = kiln.rsqrt %ve : (tensor<1x4x1x1xf32>) -> tensor<1x4x1x1xf32>
  %xh = kiln.mul %xc, %inv : (tensor<?x4x5x4xf32>, tensor<1x4x1x1xf32>) -> tensor<?x4x5x4xf32>
  %gw = kiln.parameter "bn.w" : tensor<4xf32>
  %gwr = kiln.reshape %gw {shape = array<i64: 4, 1, 1>} : (tensor<4xf32>) -> tensor<4x1x1xf32>
  %gb = kiln.parameter "bn.b" : tensor<4xf32>
  %gbr = kiln.reshape %gb {shape = array<i64: 4, 1, 1>} : (tensor<4xf32>) -> tensor<4x1x1xf32>
  %sc = kiln.mul %xh, %gwr : (tensor<?x4x5x4xf32>, tensor<4x1x1xf32>) -> tensor<?x4x5x4xf32>
  %y = kiln.add %sc, %gbr : (tensor<?x4x5x4xf32>, tensor<4x1x1xf32>) -> tensor<?x4x5x4xf32>
  %rm = kiln.parameter "bn.running_mean" {trainable = false} : tensor<4xf32>
  %bm = kiln.reduce_mean %c {axes = array<i64: 0, 2, 3>} : (tensor<?x4x5x4xf32>) -> tensor<4xf32>
  %keep = kiln.constant dense<0.9> : tensor<f32>
  %take = kiln.constant dense<0.1> : tensor<f32>
  %old = kiln.mul %rm, %keep : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %new = kiln.mul %bm, %take : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %upd = kiln.add %old, %new : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  kiln.update %rm, %upd : tensor<4xf32>, tensor<4xf32>
  %r = kiln.relu %y : (tensor<?x4x5x4xf32>) -> tensor<?x4x5x4xf32>
  %gap = kiln.global_avg_pool %r : (tensor<?x4x5x4xf32>) -> tensor<?x4x1x1xf32>
  %f = kiln.flatten %gap : (tensor<?x4x1x1xf32>) -> tensor<?x4xf32>
  %lw = kiln.parameter "fc.w" : tensor<4x4xf32>
  %lb = kiln.parameter "fc.b" : tensor<4xf32>
  %l = kiln.linear %f, %lw, %lb : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %ls = kiln.log_softmax %l : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %p = kiln.mul %ls, %onehot : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %s = kiln.reduce_sum %p {axes = array<i64: 1>} : (tensor<?x4xf32>) -> tensor<?xf32>
  %me = kiln.reduce_mean %s {axes = array<i64: 0>, keepdim = true} : (tensor<?xf32>) -> tensor<1xf32>
  %loss = kiln.neg %me : (tensor<1xf32>) -> tensor<1xf32>
  return %loss : tensor<1xf32>
}
)mlir";
  Random rng(10);
  m.args = {rng.tensor({4, 3, 5, 4}, -2.0, 2.0), oneHot(4, 4)};
  m.params = {{"conv.w", rng.tensor({4, 3, 3, 3})},
              {"bn.w", rng.tensor({4}, 0.5, 1.5)},
              {"bn.b", rng.tensor({4})},
              {"bn.running_mean", rng.tensor({4})},
              {"fc.w", rng.tensor({4, 4}, -2.0, 2.0)},
              {"fc.b", rng.tensor({4})}};
  check(m, {"conv.w", "bn.w", "bn.b", "fc.w", "fc.b"});
  // The running-mean update is kept and has its forward value.
  ASSERT_EQ(updates.count("bn.running_mean"), 1u);
  const RefTensor conv = ref::conv2d(m.args[0], m.params["conv.w"], nullptr, {1, 1}, {1, 1});
  const RefTensor expected = ref::add(ref::mul(m.params["bn.running_mean"], RefTensor({}, {0.9f})),
                                      ref::mul(ref::reduceMean(conv, {0, 2, 3}), RefTensor({}, {0.1f})));
  EXPECT_LT(ref::maxAbsDiff(updates["bn.running_mean"], expected), 1e-12);
  // Three means over the batch, one batch count (a scalar broadcast to [?] and summed).
  const std::string count = "{shape = array<i64: -1>} : (tensor<f32>) -> tensor<?xf32>";
  EXPECT_NE(stepText.find(count), std::string::npos) << stepText;
  EXPECT_EQ(stepText.find(count), stepText.rfind(count));
}

// The gradient ops themselves inside the differentiated function: relu_grad,
// relu6_grad, hardswish_grad, sigmoid_grad, conv2d_grad_input,
// conv2d_grad_weight and avg_pool2d_grad (second-order rules). Static shapes.
TEST_F(AutodiffPass, SecondOrderThroughGradientOps) {
  Model m;
  m.text = R"mlir(
func.func @forward(%x: tensor<2x3x6x5xf32>) -> tensor<1xf32> {
  %w = kiln.parameter "w" : tensor<4x3x3x3xf32>
  %dy = kiln.parameter "dy" : tensor<2x4x2x3xf32>
  %gi = kiln.conv2d_grad_input %dy, %w {strides = array<i64: 2, 1>, dilation = array<i64: 1, 1>, padding = array<i64: 0, 0>, input_shape = array<i64: 2, 3, 6, 5>}
      : (tensor<2x4x2x3xf32>, tensor<4x3x3x3xf32>) -> tensor<2x3x6x5xf32>
  %gw = kiln.conv2d_grad_weight %x, %dy {strides = array<i64: 2, 1>, weight_shape = array<i64: 4, 3, 3, 3>}
      : (tensor<2x3x6x5xf32>, tensor<2x4x2x3xf32>) -> tensor<4x3x3x3xf32>
  %a = kiln.parameter "a" : tensor<2x3x6x5xf32>
  %rg = kiln.relu_grad %a, %gi : (tensor<2x3x6x5xf32>, tensor<2x3x6x5xf32>) -> tensor<2x3x6x5xf32>
  %r6 = kiln.relu6_grad %a, %gi : (tensor<2x3x6x5xf32>, tensor<2x3x6x5xf32>) -> tensor<2x3x6x5xf32>
  %hg = kiln.hardswish_grad %a, %gi : (tensor<2x3x6x5xf32>, tensor<2x3x6x5xf32>) -> tensor<2x3x6x5xf32>
  %sy = kiln.parameter "s" : tensor<3x1x5xf32>
  %sg = kiln.sigmoid_grad %sy, %gi : (tensor<3x1x5xf32>, tensor<2x3x6x5xf32>) -> tensor<2x3x6x5xf32>
  %pd = kiln.parameter "pd" : tensor<2x3x4x3xf32>
  %apg = kiln.avg_pool2d_grad %pd {kernel_size = array<i64: 2, 2>, padding = array<i64: 1, 1>, ceil_mode = true, count_include_pad = false, input_shape = array<i64: 2, 3, 6, 5>}
      : (tensor<2x3x4x3xf32>) -> tensor<2x3x6x5xf32>
  %s1 = kiln.add %rg, %r6 : (tensor<2x3x6x5xf32>, tensor<2x3x6x5xf32>) -> tensor<2x3x6x5xf32>
  %s2 = kiln.add %s1, %hg : (tensor<2x3x6x5xf32>, tensor<2x3x6x5xf32>) -> tensor<2x3x6x5xf32>
  %s3 = kiln.add %s2, %sg : (tensor<2x3x6x5xf32>, tensor<2x3x6x5xf32>) -> tensor<2x3x6x5xf32>
  %s4 = kiln.add %s3, %apg : (tensor<2x3x6x5xf32>, tensor<2x3x6x5xf32>) -> tensor<2x3x6x5xf32>
  %t = kiln.mul %s4, %x : (tensor<2x3x6x5xf32>, tensor<2x3x6x5xf32>) -> tensor<2x3x6x5xf32>
  %st = kiln.reduce_sum %t {axes = array<i64: 0, 1, 2, 3>} : (tensor<2x3x6x5xf32>) -> tensor<f32>
  %w2 = kiln.parameter "w2" : tensor<4x3x3x3xf32>
  %u = kiln.mul %gw, %w2 : (tensor<4x3x3x3xf32>, tensor<4x3x3x3xf32>) -> tensor<4x3x3x3xf32>
  %su = kiln.reduce_sum %u {axes = array<i64: 0, 1, 2, 3>, keepdim = true} : (tensor<4x3x3x3xf32>) -> tensor<1x1x1x1xf32>
  %tot = kiln.add %su, %st : (tensor<1x1x1x1xf32>, tensor<f32>) -> tensor<1x1x1x1xf32>
  %l = kiln.reshape %tot {shape = array<i64: 1>} : (tensor<1x1x1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}
)mlir";
  Random rng(11);
  m.args = {rng.tensor({2, 3, 6, 5})};
  m.params = {{"w", rng.tensor({4, 3, 3, 3})},
              {"dy", rng.tensor({2, 4, 2, 3})},
              {"a", rng.tensor({2, 3, 6, 5}, -5.0, 8.0, {-3.0, 0.0, 3.0, 6.0}, 1e-2)},
              {"s", rng.tensor({3, 1, 5}, 0.05, 0.95)},
              {"pd", rng.tensor({2, 3, 4, 3})},
              {"w2", rng.tensor({4, 3, 3, 3})}};
  check(m, {"w", "dy", "a", "s", "pd", "w2"});
}

// Structure: a parameter read by two kiln.parameter ops (one gradient, the
// sum), values used twice (mul x x, add b twice), a trainable parameter with no
// path to the loss (zero gradient, still listed), a frozen one (not listed),
// other results dropped, and the pass options (function, loss index, name).
TEST_F(AutodiffPass, SharingDeadAndFrozenParameters) {
  Model m;
  m.text = R"mlir(
func.func @model(%x: tensor<?x3xf32>) -> (tensor<?x3xf32>, tensor<1xf32>) {
  %w = kiln.parameter "w" : tensor<3x3xf32>
  %h = kiln.matmul %x, %w : (tensor<?x3xf32>, tensor<3x3xf32>) -> tensor<?x3xf32>
  %unused = kiln.parameter "unused" : tensor<3xf32>
  %o = kiln.add %h, %unused : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %w2 = kiln.parameter "w" : tensor<3x3xf32>
  %h2 = kiln.matmul %h, %w2 : (tensor<?x3xf32>, tensor<3x3xf32>) -> tensor<?x3xf32>
  %b = kiln.parameter "b" : tensor<3xf32>
  %h3 = kiln.add %h2, %b : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %h4 = kiln.add %h3, %b : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %frozen = kiln.parameter "frozen" {trainable = false} : tensor<3xf32>
  %h5 = kiln.mul %h4, %frozen : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %sq = kiln.mul %h5, %h5 : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
  %m = kiln.reduce_mean %sq {axes = array<i64: 0, 1>, keepdim = true} : (tensor<?x3xf32>) -> tensor<1x1xf32>
  %l = kiln.reshape %m {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %o, %l : tensor<?x3xf32>, tensor<1xf32>
}
)mlir";
  m.forward = "model";
  m.loss = 1;
  m.step = "grads";
  Random rng(12);
  m.args = {rng.tensor({4, 3})};
  m.params = {{"w", rng.tensor({3, 3})},
              {"unused", rng.tensor({3})},
              {"b", rng.tensor({3})},
              {"frozen", rng.tensor({3}, 0.5, 1.5)}};
  check(m, {"w", "unused", "b"});
  EXPECT_EQ(test::maxAbs(gradients["unused"]), 0.0);
  EXPECT_GT(test::maxAbs(gradients["w"]), 1e-3);
  // The dropped output's add is gone from the step function.
  EXPECT_EQ(stepText.find("kiln.parameter \"unused\""), std::string::npos);
}

// A loss that does not depend on any trainable parameter: zero gradients.
TEST_F(AutodiffPass, LossWithoutTrainableParameters) {
  Model m;
  m.text = R"mlir(
func.func @forward(%x: tensor<?x2xf32>) -> tensor<1xf32> {
  %w = kiln.parameter "w" : tensor<2xf32>
  %f = kiln.parameter "f" {trainable = false} : tensor<2xf32>
  %y = kiln.mul %x, %f : (tensor<?x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %m = kiln.reduce_sum %y {axes = array<i64: 0, 1>, keepdim = true} : (tensor<?x2xf32>) -> tensor<1x1xf32>
  %l = kiln.reshape %m {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}
)mlir";
  Random rng(13);
  m.args = {rng.tensor({2, 2})};
  m.params = {{"w", rng.tensor({2})}, {"f", rng.tensor({2})}};
  check(m, {"w"});
  EXPECT_EQ(gradients["w"].data, (std::vector<double>{0.0, 0.0}));
}

// Errors name the problem and, for ops, the op and its location.
TEST_F(AutodiffPass, Errors) {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"func.func @forward(%x: tensor<?x4x4x4xf32>) -> tensor<1xf32> {\n"
       "  %w = kiln.parameter \"w\" : tensor<4xf32>\n"
       "  %y = kiln.mul %x, %w : (tensor<?x4x4x4xf32>, tensor<4xf32>) -> tensor<?x4x4x4xf32>\n"
       "  %g = kiln.max_pool2d_grad %x, %y {kernel_size = array<i64: 1, 1>} : "
       "(tensor<?x4x4x4xf32>, tensor<?x4x4x4xf32>) -> tensor<?x4x4x4xf32>\n"
       "  %s = kiln.reduce_sum %g {axes = array<i64: 0, 1, 2, 3>, keepdim = true} : "
       "(tensor<?x4x4x4xf32>) -> tensor<1x1x1x1xf32>\n"
       "  %l = kiln.reshape %s {shape = array<i64: 1>} : (tensor<1x1x1x1xf32>) -> tensor<1xf32>\n"
       "  return %l : tensor<1xf32>\n}\n",
       "no gradient rule for 'kiln.max_pool2d_grad'"},
      {"func.func @forward(%x: tensor<?x4xf32>) -> tensor<f32> {\n"
       "  %w = kiln.parameter \"w\" : tensor<4xf32>\n"
       "  %y = kiln.mul %x, %w : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>\n"
       "  %s = kiln.reduce_sum %y {axes = array<i64: 0, 1>} : (tensor<?x4xf32>) -> tensor<f32>\n"
       "  return %s : tensor<f32>\n}\n",
       "expected result #0 of @forward (the loss) to be 'tensor<1xf32>', found 'tensor<f32>'"},
      {"func.func @f() { return }", "no function @forward"},
      {"func.func @forward() -> tensor<1xf32> {\n"
       "  %w = kiln.parameter \"w\" : tensor<1xf32>\n"
       "  return %w : tensor<1xf32>\n}\n"
       "func.func @train_step() { return }\n",
       "a symbol @train_step already exists"},
  };
  for (const Case& c : cases) {
    Model m;
    m.text = c.text;
    std::string diagnostics;
    EXPECT_FALSE(differentiate(m, diagnostics)) << c.text;
    EXPECT_NE(diagnostics.find(c.message), std::string::npos) << diagnostics;
  }
}

// The loss itself a parameter: its gradient is the seed, 1.
TEST_F(AutodiffPass, LossIsAParameter) {
  Model m;
  m.text = R"mlir(
func.func @forward() -> tensor<1xf32> {
  %w = kiln.parameter "w" : tensor<1xf32>
  return %w : tensor<1xf32>
}
)mlir";
  m.params = {{"w", RefTensor({1}, {0.25})}};
  check(m, {"w"});
  EXPECT_EQ(gradients["w"].data, (std::vector<double>{1.0}));
}
