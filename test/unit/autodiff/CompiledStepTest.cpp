//===- CompiledStepTest.cpp - a compiled train_step vs the interpreter -----===//
//
// The whole training path through the compiler: kiln-autodiff builds
// train_step from a forward with a loss (batch norm in training mode from
// primitives, a residual, softmax cross-entropy); the full pipeline (fusion,
// memory planning, CPU lowering) compiles it; the runtime runs it at several
// batches and thread counts; the loss and every gradient must match the
// double-precision MLIR interpreter on the same IR. PassTest.cpp checks the
// pass's IR against finite differences; this test checks the kernels that
// evaluate that IR.
//
// Tolerance: gradients sum products over the batch and the spatial positions
// (K up to ~6*9*8*8 terms in f32), so relative L2 <= max(1e-5, K * 2^-24) as
// in the numerics tests; 5e-5 covers K ~ 800 with margin.
//===----------------------------------------------------------------------===//
#include "GradCheck.h"

#include "kiln/Dialect/KilnOps.h"
#include "kiln/Driver/Compiler.h"
#include "kiln/Transforms/Passes.h"
#include "kiln/reference/MlirInterpreter.h"
#include "kiln/runtime/Runtime.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace kiln;
using kiln::test::Random;
using ref::RefTensor;

namespace {

// conv -> batch norm (training mode: batch statistics) -> relu -> conv ->
// + residual -> relu -> global pool -> linear -> softmax cross-entropy.
constexpr const char *kResidualNet = R"mlir(
func.func @forward(%x: tensor<?x3x8x8xf32>, %onehot: tensor<?x4xf32>) -> tensor<1xf32> {
  %w1 = kiln.parameter "conv1.w" : tensor<6x3x3x3xf32>
  %c1 = kiln.conv2d %x, %w1 {padding = array<i64: 1, 1>} : (tensor<?x3x8x8xf32>, tensor<6x3x3x3xf32>) -> tensor<?x6x8x8xf32>
  %mean = kiln.reduce_mean %c1 {axes = array<i64: 0, 2, 3>, keepdim = true} : (tensor<?x6x8x8xf32>) -> tensor<1x6x1x1xf32>
  %xc = kiln.sub %c1, %mean : (tensor<?x6x8x8xf32>, tensor<1x6x1x1xf32>) -> tensor<?x6x8x8xf32>
  %sq = kiln.mul %xc, %xc : (tensor<?x6x8x8xf32>, tensor<?x6x8x8xf32>) -> tensor<?x6x8x8xf32>
  %var = kiln.reduce_mean %sq {axes = array<i64: 0, 2, 3>, keepdim = true} : (tensor<?x6x8x8xf32>) -> tensor<1x6x1x1xf32>
  %eps = kiln.constant dense<1.0e-5> : tensor<1xf32>
  %ve = kiln.add %var, %eps : (tensor<1x6x1x1xf32>, tensor<1xf32>) -> tensor<1x6x1x1xf32>
  %inv = kiln.rsqrt %ve : (tensor<1x6x1x1xf32>) -> tensor<1x6x1x1xf32>
  %xn = kiln.mul %xc, %inv : (tensor<?x6x8x8xf32>, tensor<1x6x1x1xf32>) -> tensor<?x6x8x8xf32>
  %g = kiln.parameter "bn.w" : tensor<6x1x1xf32>
  %b = kiln.parameter "bn.b" : tensor<6x1x1xf32>
  %xs = kiln.mul %xn, %g : (tensor<?x6x8x8xf32>, tensor<6x1x1xf32>) -> tensor<?x6x8x8xf32>
  %bn = kiln.add %xs, %b : (tensor<?x6x8x8xf32>, tensor<6x1x1xf32>) -> tensor<?x6x8x8xf32>
  %r1 = kiln.relu %bn : (tensor<?x6x8x8xf32>) -> tensor<?x6x8x8xf32>
  %w2 = kiln.parameter "conv2.w" : tensor<6x6x3x3xf32>
  %c2 = kiln.conv2d %r1, %w2 {padding = array<i64: 1, 1>} : (tensor<?x6x8x8xf32>, tensor<6x6x3x3xf32>) -> tensor<?x6x8x8xf32>
  %sum = kiln.add %c2, %c1 : (tensor<?x6x8x8xf32>, tensor<?x6x8x8xf32>) -> tensor<?x6x8x8xf32>
  %r2 = kiln.relu %sum : (tensor<?x6x8x8xf32>) -> tensor<?x6x8x8xf32>
  %mp = kiln.max_pool2d %r2 {kernel_size = array<i64: 2, 2>} : (tensor<?x6x8x8xf32>) -> tensor<?x6x4x4xf32>
  %gap = kiln.global_avg_pool %mp : (tensor<?x6x4x4xf32>) -> tensor<?x6x1x1xf32>
  %f = kiln.flatten %gap : (tensor<?x6x1x1xf32>) -> tensor<?x6xf32>
  %lw = kiln.parameter "fc.w" : tensor<4x6xf32>
  %lb = kiln.parameter "fc.b" : tensor<4xf32>
  %l = kiln.linear %f, %lw, %lb : (tensor<?x6xf32>, tensor<4x6xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %ls = kiln.log_softmax %l {axis = 1 : i64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %p = kiln.mul %onehot, %ls : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %s = kiln.reduce_sum %p {axes = array<i64: 1>} : (tensor<?x4xf32>) -> tensor<?xf32>
  %m = kiln.reduce_mean %s {axes = array<i64: 0>, keepdim = true} : (tensor<?xf32>) -> tensor<1xf32>
  %loss = kiln.neg %m : (tensor<1xf32>) -> tensor<1xf32>
  return %loss : tensor<1xf32>
}
)mlir";

RefTensor oneHot(int64_t batch, int64_t classes) {
  RefTensor t;
  t.shape = {batch, classes};
  t.data.assign(batch * classes, 0.0);
  for (int64_t i = 0; i < batch; ++i)
    t.data[i * classes + (i * 3 + 1) % classes] = 1.0;
  return t;
}

// Rounds to f32 so that the kernels and the interpreter see the same numbers.
RefTensor asFloat(RefTensor t) {
  for (double &v : t.data)
    v = static_cast<float>(v);
  return t;
}

TEST(CompiledTrainStep, ResidualNetMatchesTheInterpreter) {
  mlir::MLIRContext context;
  mlir::DialectRegistry registry;
  registry.insert<KilnDialect, mlir::func::FuncDialect>();
  context.appendDialectRegistry(registry);
  context.loadAllAvailableDialects();
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(kResidualNet, &context);
  ASSERT_TRUE(module);
  mlir::PassManager pm(&context);
  pm.addPass(createKilnAutodiff());
  ASSERT_TRUE(mlir::succeeded(pm.run(*module)));
  std::string text;
  {
    llvm::raw_string_ostream os(text);
    module->print(os);
  }

  Random rng(11);
  std::map<std::string, RefTensor> params = {
      {"conv1.w", asFloat(rng.tensor({6, 3, 3, 3}))},
      {"bn.w", asFloat(rng.tensor({6, 1, 1}, 0.5, 1.5))},
      {"bn.b", asFloat(rng.tensor({6, 1, 1}, -0.2, 0.2))},
      {"conv2.w", asFloat(rng.tensor({6, 6, 3, 3}, -0.3, 0.3))},
      {"fc.w", asFloat(rng.tensor({4, 6}, -1.0, 1.0))},
      {"fc.b", asFloat(rng.tensor({4}))}};
  std::vector<ParamValue> values;
  for (const auto &[name, t] : params)
    values.push_back({name, t.shape, t.toFloats(), true});
  CompileResult compiled;
  try {
    compiled = compileMlir(text, values, CompileOptions{});
  } catch (const std::exception &e) {
    FAIL() << e.what();
  }
  auto artifact = rt::Artifact::loadBuffer(compiled.artifact, "train_step test");
  ASSERT_TRUE(artifact->hasEntry("train_step"));
  mlir::Operation *step = module->lookupSymbol("train_step");

  for (int threads : {1, 2}) {
    rt::Session session(artifact, {threads});
    for (int64_t batch : {1, 4, 6}) {
      RefTensor x = asFloat(rng.tensor({batch, 3, 8, 8}, -2.0, 2.0));
      RefTensor y = oneHot(batch, 4);
      ref::InterpretResult want = ref::interpret(step, {x, y}, params);
      std::vector<float> xf = x.toFloats(), yf = y.toFloats();
      std::vector<rt::Tensor> got = session.run(
          "train_step", {rt::TensorView{xf.data(), x.shape}, rt::TensorView{yf.data(), y.shape}});
      ASSERT_EQ(got.size(), want.results.size());
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i].shape, want.results[i].shape) << "result " << i;
        double num = 0, den = 0;
        for (size_t k = 0; k < got[i].data.size(); ++k) {
          double d = got[i].data[k] - want.results[i].data[k];
          num += d * d;
          den += want.results[i].data[k] * want.results[i].data[k];
        }
        double rel = std::sqrt(num / std::max(den, 1e-30));
        EXPECT_LE(rel, 5e-5) << "result " << i << " (0 = loss, then gradients), batch "
                             << batch << ", " << threads << " threads";
      }
    }
  }
}

} // namespace
