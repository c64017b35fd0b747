//===- GradOpsTest.cpp - CPU kernels of the training ops vs the reference --===//
//
// The gradient ops (docs/dialect.md, "Training ops") are not in the frontend
// graph builder, so these tests compile kiln MLIR text directly
// (kiln::compileMlir), run it through the runtime at several batches and
// thread counts, and compare with the double-precision reference functions.
// Tolerances: the same accumulation rule as the forward ops (NumericsHarness.h):
// a gradient sums K products in f32, K given per case.
//===----------------------------------------------------------------------===//
#include "NumericsHarness.h"

#include "kiln/Driver/Compiler.h"
#include "kiln/reference/Reference.h"
#include "kiln/runtime/Runtime.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <functional>
#include <random>

namespace kiln::numtest {
namespace {

using ref::RefTensor;

std::string typeOf(const std::vector<int64_t> &shape) {
  std::string s = "tensor<";
  for (int64_t d : shape)
    s += (d < 0 ? std::string("?") : std::to_string(d)) + "x";
  return s + "f32>";
}

RefTensor randomTensor(std::vector<int64_t> shape, std::mt19937_64 &rng, double lo = -1,
                       double hi = 1) {
  std::uniform_real_distribution<double> dist(lo, hi);
  RefTensor t;
  t.shape = std::move(shape);
  int64_t n = 1;
  for (int64_t d : t.shape)
    n *= d;
  t.data.resize(n);
  // Round through float so that the kernel and the reference see the same input.
  for (double &v : t.data)
    v = static_cast<float>(dist(rng));
  return t;
}

std::vector<int64_t> withBatch(std::vector<int64_t> shape, int64_t batch) {
  for (int64_t &d : shape)
    if (d < 0)
      d = batch;
  return shape;
}

/// One gradient-op case: a function `@infer(args) -> result`, the argument
/// shapes (-1 = batch), and the reference computing the result.
struct GradCase {
  std::string body; // ops of @infer, using %a0, %a1, ... and returning %r
  std::vector<std::vector<int64_t>> args;
  std::vector<int64_t> result;
  std::function<RefTensor(const std::vector<RefTensor> &)> reference;
  int64_t accumulatedTerms = 1;
};

void checkGradCase(const GradCase &c) {
  std::string signature;
  for (size_t i = 0; i < c.args.size(); ++i)
    signature += fmt::format("{}%a{}: {}", i ? ", " : "", i, typeOf(c.args[i]));
  std::string text = fmt::format("module {{\n  func.func @infer({}) -> {} {{\n{}\n    return %r : {}\n  }}\n}}\n",
                                 signature, typeOf(c.result), c.body, typeOf(c.result));
  CompileOptions options;
  CompileResult compiled;
  try {
    compiled = compileMlir(text, {}, options);
  } catch (const std::exception &e) {
    FAIL() << "compile failed: " << e.what() << "\n" << text;
  }
  auto artifact = rt::Artifact::loadBuffer(compiled.artifact, "grad-op test");
  Tolerance tol = accumulation(c.accumulatedTerms);
  std::mt19937_64 rng(testSeed());
  for (int threads : {1, 2}) {
    rt::Session session(artifact, {threads});
    for (int64_t batch : {1, 3, 5}) {
      std::vector<RefTensor> inputs;
      for (const auto &shape : c.args)
        inputs.push_back(randomTensor(withBatch(shape, batch), rng));
      std::vector<rt::Tensor> out = runSession(session, inputs);
      RefTensor want = c.reference(inputs);
      ASSERT_EQ(out.size(), 1u);
      ASSERT_EQ(out[0].shape, want.shape);
      Diff d = compare(out[0].data, want.data);
      EXPECT_LE(d.relL2, tol.relL2) << "batch " << batch << ", " << threads << " threads: "
                                    << d.str() << "\n" << kernelList(compiled);
      EXPECT_LE(d.maxRel, tol.maxRel) << "batch " << batch << ", " << threads << " threads: "
                                      << d.str();
    }
  }
}

TEST(GradOps, Conv2dGradInputStridePadGroups) {
  // dy [?, 6, 4, 4] from x [?, 4, 7, 7], w [6, 2, 3, 3], stride 2, pad 1, groups 2.
  GradCase c;
  c.args = {{-1, 6, 4, 4}, {6, 2, 3, 3}};
  c.result = {-1, 4, 7, 7};
  c.body = "    %r = \"kiln.conv2d_grad_input\"(%a0, %a1) {strides = array<i64: 2, 2>, "
           "padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 2 : i64, "
           "input_shape = array<i64: -1, 4, 7, 7>} : (tensor<?x6x4x4xf32>, "
           "tensor<6x2x3x3xf32>) -> tensor<?x4x7x7xf32>";
  c.reference = [](const std::vector<RefTensor> &in) {
    return ref::conv2dGradInput(in[0], in[1], {2, 2}, {1, 1}, {1, 1}, 2,
                                {in[0].shape[0], 4, 7, 7});
  };
  c.accumulatedTerms = 3 * 3 * 3;
  checkGradCase(c);
}

TEST(GradOps, Conv2dGradInputDilatedWithReluGradEpilogue) {
  // relu_grad(x, conv2d_grad_input(dy, w)) fuses into one kernel.
  GradCase c;
  c.args = {{-1, 5, 9, 9}, {5, 3, 3, 3}, {-1, 3, 13, 13}};
  c.result = {-1, 3, 13, 13};
  c.body = "    %d = \"kiln.conv2d_grad_input\"(%a0, %a1) {strides = array<i64: 1, 1>, "
           "padding = array<i64: 0, 0>, dilation = array<i64: 2, 2>, groups = 1 : i64, "
           "input_shape = array<i64: -1, 3, 13, 13>} : (tensor<?x5x9x9xf32>, "
           "tensor<5x3x3x3xf32>) -> tensor<?x3x13x13xf32>\n"
           "    %r = \"kiln.relu_grad\"(%a2, %d) : (tensor<?x3x13x13xf32>, "
           "tensor<?x3x13x13xf32>) -> tensor<?x3x13x13xf32>";
  c.reference = [](const std::vector<RefTensor> &in) {
    RefTensor d = ref::conv2dGradInput(in[0], in[1], {1, 1}, {0, 0}, {2, 2}, 1,
                                       {in[0].shape[0], 3, 13, 13});
    return ref::reluGrad(in[2], d);
  };
  c.accumulatedTerms = 5 * 9;
  checkGradCase(c);
}

TEST(GradOps, Conv2dGradWeightSumsOverTheBatch) {
  GradCase c;
  c.args = {{-1, 5, 9, 9}, {-1, 7, 5, 5}};
  c.result = {7, 5, 3, 3};
  c.body = "    %r = \"kiln.conv2d_grad_weight\"(%a0, %a1) {strides = array<i64: 2, 2>, "
           "padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64, "
           "weight_shape = array<i64: 7, 5, 3, 3>} : (tensor<?x5x9x9xf32>, "
           "tensor<?x7x5x5xf32>) -> tensor<7x5x3x3xf32>";
  c.reference = [](const std::vector<RefTensor> &in) {
    return ref::conv2dGradWeight(in[0], in[1], {2, 2}, {1, 1}, {1, 1}, 1, {7, 5, 3, 3});
  };
  c.accumulatedTerms = 5 * 25;
  checkGradCase(c);
}

TEST(GradOps, Conv2dGradWeightDepthwise) {
  GradCase c;
  c.args = {{-1, 6, 8, 8}, {-1, 6, 8, 8}};
  c.result = {6, 1, 3, 3};
  c.body = "    %r = \"kiln.conv2d_grad_weight\"(%a0, %a1) {strides = array<i64: 1, 1>, "
           "padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 6 : i64, "
           "weight_shape = array<i64: 6, 1, 3, 3>} : (tensor<?x6x8x8xf32>, "
           "tensor<?x6x8x8xf32>) -> tensor<6x1x3x3xf32>";
  c.reference = [](const std::vector<RefTensor> &in) {
    return ref::conv2dGradWeight(in[0], in[1], {1, 1}, {1, 1}, {1, 1}, 6, {6, 1, 3, 3});
  };
  c.accumulatedTerms = 5 * 64;
  checkGradCase(c);
}

TEST(GradOps, MaxPool2dGradOverlappingPadded) {
  GradCase c;
  c.args = {{-1, 3, 9, 9}, {-1, 3, 5, 5}};
  c.result = {-1, 3, 9, 9};
  c.body = "    %r = \"kiln.max_pool2d_grad\"(%a0, %a1) {kernel_size = array<i64: 3, 3>, "
           "strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, ceil_mode = false} : "
           "(tensor<?x3x9x9xf32>, tensor<?x3x5x5xf32>) -> tensor<?x3x9x9xf32>";
  c.reference = [](const std::vector<RefTensor> &in) {
    return ref::maxPool2dGrad(in[0], in[1], {3, 3}, {2, 2}, {1, 1}, false);
  };
  c.accumulatedTerms = 4;
  checkGradCase(c);
}

TEST(GradOps, AvgPool2dGradCeilModeExcludePad) {
  GradCase c;
  c.args = {{-1, 2, 4, 4}};
  c.result = {-1, 2, 7, 7};
  c.body = "    %r = \"kiln.avg_pool2d_grad\"(%a0) {kernel_size = array<i64: 3, 3>, "
           "strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, ceil_mode = true, "
           "count_include_pad = false, input_shape = array<i64: -1, 2, 7, 7>} : "
           "(tensor<?x2x4x4xf32>) -> tensor<?x2x7x7xf32>";
  c.reference = [](const std::vector<RefTensor> &in) {
    return ref::avgPool2dGrad(in[0], {3, 3}, {2, 2}, {1, 1}, true, false,
                              {in[0].shape[0], 2, 7, 7});
  };
  c.accumulatedTerms = 4;
  checkGradCase(c);
}

TEST(GradOps, ActivationGradsAndBroadcastChain) {
  // sigmoid_grad, hardswish_grad, relu6_grad, rsqrt and broadcast_to in one
  // elementwise kernel.
  GradCase c;
  c.args = {{-1, 4, 5}, {-1, 4, 5}, {4, 1}};
  c.result = {-1, 4, 5};
  c.body =
      "    %s = \"kiln.sigmoid_grad\"(%a0, %a1) : (tensor<?x4x5xf32>, tensor<?x4x5xf32>) -> "
      "tensor<?x4x5xf32>\n"
      "    %h = \"kiln.hardswish_grad\"(%a1, %s) : (tensor<?x4x5xf32>, tensor<?x4x5xf32>) -> "
      "tensor<?x4x5xf32>\n"
      "    %q = \"kiln.relu6_grad\"(%h, %a0) : (tensor<?x4x5xf32>, tensor<?x4x5xf32>) -> "
      "tensor<?x4x5xf32>\n"
      "    %b = \"kiln.broadcast_to\"(%a2) {shape = array<i64: -1, 4, 5>} : (tensor<4x1xf32>) "
      "-> tensor<?x4x5xf32>\n"
      "    %r = \"kiln.add\"(%q, %b) : (tensor<?x4x5xf32>, tensor<?x4x5xf32>) -> "
      "tensor<?x4x5xf32>";
  c.reference = [](const std::vector<RefTensor> &in) {
    RefTensor s = ref::sigmoidGrad(in[0], in[1]);
    RefTensor h = ref::hardswishGrad(in[1], s);
    RefTensor q = ref::relu6Grad(h, in[0]);
    return ref::add(q, in[2]);
  };
  checkGradCase(c);
}

TEST(GradOps, MatmulContractingOverTheBatch) {
  // dW of a linear layer: transpose(dy) [10, ?] x x [?, 7].
  GradCase c;
  c.args = {{-1, 10}, {-1, 7}};
  c.result = {10, 7};
  c.body = "    %t = \"kiln.transpose\"(%a0) {perm = array<i64: 1, 0>} : (tensor<?x10xf32>) -> "
           "tensor<10x?xf32>\n"
           "    %r = \"kiln.matmul\"(%t, %a1) : (tensor<10x?xf32>, tensor<?x7xf32>) -> "
           "tensor<10x7xf32>";
  c.reference = [](const std::vector<RefTensor> &in) {
    return ref::matmul(ref::transpose(in[0], {1, 0}), in[1]);
  };
  c.accumulatedTerms = 5;
  checkGradCase(c);
}

TEST(GradOps, RsqrtNegAndReductionToRank1) {
  GradCase c;
  c.args = {{-1, 3, 4}};
  c.result = {-1};
  c.body = "    %m = \"kiln.mul\"(%a0, %a0) : (tensor<?x3x4xf32>, tensor<?x3x4xf32>) -> "
           "tensor<?x3x4xf32>\n"
           "    %s = \"kiln.reduce_sum\"(%m) {axes = array<i64: 1, 2>, keepdim = false} : "
           "(tensor<?x3x4xf32>) -> tensor<?xf32>\n"
           "    %q = \"kiln.rsqrt\"(%s) : (tensor<?xf32>) -> tensor<?xf32>\n"
           "    %r = \"kiln.neg\"(%q) : (tensor<?xf32>) -> tensor<?xf32>";
  c.reference = [](const std::vector<RefTensor> &in) {
    return ref::neg(ref::rsqrt(ref::reduceSum(ref::mul(in[0], in[0]), {1, 2})));
  };
  c.accumulatedTerms = 12;
  checkGradCase(c);
}

TEST(GradOps, ParameterUpdateInPlace) {
  // An SGD-like step: w <- w - 0.5 * g, written by the kernel into the
  // parameter itself; every read of w in the step sees the old value.
  std::string text = R"(module {
  func.func @infer(%g: tensor<?x3xf32>) -> tensor<?x3xf32> {
    %w = "kiln.parameter"() {name = "w", trainable = true} : () -> tensor<4x3xf32>
    %h = "kiln.constant"() {value = dense<0.5> : tensor<1xf32>} : () -> tensor<1xf32>
    %s = "kiln.reduce_sum"(%g) {axes = array<i64: 0>, keepdim = false} : (tensor<?x3xf32>) -> tensor<3xf32>
    %d = "kiln.mul"(%s, %h) : (tensor<3xf32>, tensor<1xf32>) -> tensor<3xf32>
    %n = "kiln.sub"(%w, %d) : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32>
    "kiln.update"(%w, %n) : (tensor<4x3xf32>, tensor<4x3xf32>) -> ()
    %r = "kiln.mul"(%g, %g) : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
    return %r : tensor<?x3xf32>
  }
})";
  std::vector<float> w0(12);
  for (size_t i = 0; i < w0.size(); ++i)
    w0[i] = 0.25f * static_cast<float>(i) - 1.0f;
  CompileResult compiled = compileMlir(text, {{"w", {4, 3}, w0, true}}, CompileOptions{});
  auto artifact = rt::Artifact::loadBuffer(compiled.artifact, "update test");
  for (int threads : {1, 2}) {
    rt::Session session(artifact, {threads});
    std::vector<float> g = {1, 2, 3, -1, -2, -3}; // batch 2: column sums 0, 0, 0
    std::vector<float> g2 = {1, 2, 4};            // batch 1: column sums 1, 2, 4
    session.run("infer", {rt::TensorView{g.data(), {2, 3}}});
    auto out = session.run("infer", {rt::TensorView{g2.data(), {1, 3}}});
    ASSERT_EQ(out[0].data, (std::vector<float>{1, 4, 16}));
    const float *w = session.paramData("w");
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 3; ++c)
        EXPECT_EQ(w[r * 3 + c], w0[r * 3 + c] - 0.5f * g2[c]) << "w[" << r << "," << c << "]";
  }
}

} // namespace
} // namespace kiln::numtest
