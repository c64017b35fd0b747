// The reference vector-Jacobian products of every kiln op (Reference.h)
// against central finite differences in double precision, on random inputs of
// awkward sizes; plus PyTorch's conventions at kinks and ties, and two
// composites (batch norm in training mode, softmax cross-entropy) chained from
// the per-op VJPs and checked against finite differences and closed forms.
#include "GradCheck.h"

#include "kiln/reference/Reference.h"

#include <gtest/gtest.h>

#include <set>

using namespace kiln;
using kiln::test::Random;
using ref::RefTensor;

namespace {

using Inputs = std::vector<RefTensor>;
using Forward = std::function<RefTensor(const Inputs&)>;
using Backward = std::function<std::vector<RefTensor>(const Inputs&, const RefTensor&)>;

/// L = <dy, f(inputs)> for a random dy; checks vjp(inputs, dy)[i] = dL/d inputs[i]
/// for every input. Inputs in `zero` have a piecewise-constant effect (their
/// gradient is legitimately zero); all others must get a non-zero gradient.
void checkVjp(const std::string& name, Inputs inputs, const Forward& f, const Backward& vjp,
              uint64_t seed, const std::set<size_t>& zero = {}) {
  Random rng(seed);
  const RefTensor y = f(inputs);
  const RefTensor dy = rng.tensor(y.shape);
  const std::vector<RefTensor> grads = vjp(inputs, dy);
  ASSERT_EQ(grads.size(), inputs.size()) << name;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string what = name + ", d/d operand #" + std::to_string(i);
    if (zero.count(i))
      EXPECT_EQ(test::maxAbs(grads[i]), 0.0) << what;
    else
      EXPECT_GT(test::maxAbs(grads[i]), 1e-3) << what << " is (nearly) zero";
    test::checkAgainstFiniteDifferences(what, inputs[i], grads[i],
                                        [&] { return test::dot(dy, f(inputs)); });
  }
}

using Pair = std::array<int64_t, 2>;

}  // namespace

// ---------------------------------------------------------------------------
// Convolution and GEMM
// ---------------------------------------------------------------------------

struct ConvCase {
  std::vector<int64_t> x, w;
  Pair stride, padding, dilation;
  int64_t groups;
  bool bias;
};

class ConvVjp : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvVjp, MatchesFiniteDifferences) {
  const ConvCase c = GetParam();
  Random rng(101 + static_cast<uint64_t>(c.x[1] * 7 + c.groups));
  Inputs inputs = {rng.tensor(c.x), rng.tensor(c.w)};
  if (c.bias) inputs.push_back(rng.tensor({c.w[0]}));
  checkVjp(
      "conv2d", inputs,
      [&](const Inputs& in) {
        return ref::conv2d(in[0], in[1], c.bias ? &in[2] : nullptr, c.stride, c.padding,
                           c.dilation, c.groups);
      },
      [&](const Inputs& in, const RefTensor& dy) {
        return ref::conv2dVjp(in[0], in[1], c.bias ? &in[2] : nullptr, dy, c.stride, c.padding,
                              c.dilation, c.groups);
      },
      7);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvVjp,
    ::testing::Values(
        // groups 2, stride (2, 1), padding (1, 2), dilation (2, 1), odd sizes.
        ConvCase{{2, 4, 7, 6}, {6, 2, 3, 3}, {2, 1}, {1, 2}, {2, 1}, 2, true},
        // Depthwise (groups = Cin, channel multiplier 2), non-square kernel.
        ConvCase{{2, 3, 6, 5}, {6, 1, 3, 2}, {1, 1}, {1, 0}, {1, 2}, 3, true},
        // Stride 3 leaves input rows that no window reads (their gradient is 0).
        ConvCase{{1, 2, 8, 7}, {3, 2, 2, 3}, {3, 2}, {0, 0}, {1, 1}, 1, false},
        // 1x1 without bias.
        ConvCase{{3, 5, 3, 4}, {2, 5, 1, 1}, {1, 1}, {0, 0}, {1, 1}, 1, false}));

TEST(Vjp, Matmul) {
  Random rng(1);
  checkVjp(
      "matmul", {rng.tensor({3, 5}), rng.tensor({5, 4})},
      [](const Inputs& in) { return ref::matmul(in[0], in[1]); },
      [](const Inputs& in, const RefTensor& dy) { return ref::matmulVjp(in[0], in[1], dy); }, 2);
}

TEST(Vjp, Linear) {
  Random rng(3);
  checkVjp(
      "linear", {rng.tensor({3, 5}), rng.tensor({4, 5}), rng.tensor({4})},
      [](const Inputs& in) { return ref::linear(in[0], in[1], &in[2]); },
      [](const Inputs& in, const RefTensor& dy) {
        return ref::linearVjp(in[0], in[1], &in[2], dy);
      },
      4);
  checkVjp(
      "linear without bias", {rng.tensor({2, 3}), rng.tensor({5, 3})},
      [](const Inputs& in) { return ref::linear(in[0], in[1], nullptr); },
      [](const Inputs& in, const RefTensor& dy) {
        return ref::linearVjp(in[0], in[1], nullptr, dy);
      },
      5);
}

// ---------------------------------------------------------------------------
// Broadcasting binary ops
// ---------------------------------------------------------------------------

TEST(Vjp, BroadcastingBinaryOps) {
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> shapes = {
      {{2, 3, 4}, {2, 3, 4}},  // same shape
      {{2, 3, 4}, {3, 1}},     // rhs stretched along two dims and missing one
      {{2, 1, 4}, {3, 1}},     // both operands stretched
      {{}, {2, 3}},            // rank-0 lhs
      {{4}, {2, 3, 4}},        // lhs missing leading dims
  };
  Random rng(11);
  uint64_t seed = 20;
  for (const auto& [a, b] : shapes) {
    // Divisors away from 0.
    Inputs inputs = {rng.tensor(a), rng.tensor(b, -2.0, 2.0, {0.0}, 0.5)};
    const std::string suffix = " " + fe::shapeToString(a) + " with " + fe::shapeToString(b);
    checkVjp(
        "add" + suffix, inputs, [](const Inputs& in) { return ref::add(in[0], in[1]); },
        [](const Inputs& in, const RefTensor& dy) { return ref::addVjp(in[0], in[1], dy); },
        ++seed);
    checkVjp(
        "sub" + suffix, inputs, [](const Inputs& in) { return ref::sub(in[0], in[1]); },
        [](const Inputs& in, const RefTensor& dy) { return ref::subVjp(in[0], in[1], dy); },
        ++seed);
    checkVjp(
        "mul" + suffix, inputs, [](const Inputs& in) { return ref::mul(in[0], in[1]); },
        [](const Inputs& in, const RefTensor& dy) { return ref::mulVjp(in[0], in[1], dy); },
        ++seed);
    checkVjp(
        "div" + suffix, inputs, [](const Inputs& in) { return ref::div(in[0], in[1]); },
        [](const Inputs& in, const RefTensor& dy) { return ref::divVjp(in[0], in[1], dy); },
        ++seed);
  }
}

// ---------------------------------------------------------------------------
// Activations
// ---------------------------------------------------------------------------

TEST(Vjp, Activations) {
  Random rng(12);
  checkVjp(
      "relu", {rng.tensor({3, 7}, -2.0, 2.0, {0.0})},
      [](const Inputs& in) { return ref::relu(in[0]); },
      [](const Inputs& in, const RefTensor& dy) { return ref::reluVjp(in[0], dy); }, 1);
  checkVjp(
      "relu6", {rng.tensor({3, 7}, -2.0, 8.0, {0.0, 6.0})},
      [](const Inputs& in) { return ref::relu6(in[0]); },
      [](const Inputs& in, const RefTensor& dy) { return ref::relu6Vjp(in[0], dy); }, 2);
  checkVjp(
      "sigmoid", {rng.tensor({3, 7}, -4.0, 4.0)},
      [](const Inputs& in) { return ref::sigmoid(in[0]); },
      [](const Inputs& in, const RefTensor& dy) { return ref::sigmoidVjp(in[0], dy); }, 3);
  checkVjp(
      "hardswish", {rng.tensor({3, 7}, -5.0, 5.0, {-3.0, 3.0})},
      [](const Inputs& in) { return ref::hardswish(in[0]); },
      [](const Inputs& in, const RefTensor& dy) { return ref::hardswishVjp(in[0], dy); }, 4);
}

// PyTorch's one-sided choices at the kinks: threshold_backward (relu: x <= 0
// gives 0), hardtanh_backward (relu6: 0 outside the open interval (0, 6)) and
// hardswish_backward as of PyTorch 1.x-2.6 (x < -3: 0; -3 <= x <= 3: x/3 + 1/2;
// x > 3: 1; see Gradients.cpp).
TEST(Vjp, KinksFollowPyTorch) {
  RefTensor x({7}, {-3.5, -3.0, 0.0, 1.5, 3.0, 3.5, 6.0});
  RefTensor ones({7}, std::vector<double>(7, 1.0));
  EXPECT_EQ(ref::reluGrad(x, ones).data, (std::vector<double>{0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(ref::relu6Grad(x, ones).data, (std::vector<double>{0, 0, 0, 1, 1, 1, 0}));
  const std::vector<double> hs = ref::hardswishGrad(x, ones).data;
  const std::vector<double> expected = {0.0, -0.5, 0.5, 1.0, 1.5, 1.0, 1.0};
  for (size_t i = 0; i < hs.size(); ++i) EXPECT_DOUBLE_EQ(hs[i], expected[i]) << "x = " << x.data[i];
  // sigmoid_grad takes sigmoid's output.
  RefTensor y({2}, {0.25, 0.5});
  RefTensor dy({2}, {2.0, 4.0});
  EXPECT_EQ(ref::sigmoidGrad(y, dy).data, (std::vector<double>{2.0 * 0.25 * 0.75, 1.0}));
}

// ---------------------------------------------------------------------------
// Pooling
// ---------------------------------------------------------------------------

struct PoolCase {
  std::vector<int64_t> x;
  Pair kernel, stride, padding;
  bool ceil;
};

class PoolVjp : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolVjp, MaxMatchesFiniteDifferences) {
  const PoolCase c = GetParam();
  Random rng(31);
  checkVjp(
      "max_pool2d", {rng.distinct(c.x)},
      [&](const Inputs& in) { return ref::maxPool2d(in[0], c.kernel, c.stride, c.padding, c.ceil); },
      [&](const Inputs& in, const RefTensor& dy) {
        return ref::maxPool2dVjp(in[0], dy, c.kernel, c.stride, c.padding, c.ceil);
      },
      32);
}

TEST_P(PoolVjp, AvgMatchesFiniteDifferences) {
  const PoolCase c = GetParam();
  Random rng(33);
  for (bool countIncludePad : {true, false})
    checkVjp(
        countIncludePad ? "avg_pool2d count_include_pad" : "avg_pool2d", {rng.tensor(c.x)},
        [&](const Inputs& in) {
          return ref::avgPool2d(in[0], c.kernel, c.stride, c.padding, c.ceil, countIncludePad);
        },
        [&](const Inputs& in, const RefTensor& dy) {
          return ref::avgPool2dVjp(in[0], dy, c.kernel, c.stride, c.padding, c.ceil,
                                   countIncludePad);
        },
        34);
}

INSTANTIATE_TEST_SUITE_P(
    Windows, PoolVjp,
    ::testing::Values(
        // Overlapping 3x3 windows, stride 2, padding 1 (ResNet's stem pool).
        PoolCase{{2, 2, 7, 6}, {3, 3}, {2, 2}, {1, 1}, false},
        // Overlapping with stride 1.
        PoolCase{{1, 3, 5, 4}, {3, 2}, {1, 1}, {0, 1}, false},
        // ceil mode: the last window hangs over the edge.
        PoolCase{{1, 2, 5, 5}, {2, 2}, {2, 2}, {0, 0}, true},
        // ceil mode with padding: PyTorch drops a last window starting in the padding.
        PoolCase{{2, 1, 6, 5}, {3, 3}, {2, 2}, {1, 1}, true},
        // Non-square kernel and strides, windows that skip columns.
        PoolCase{{1, 2, 6, 9}, {2, 3}, {1, 4}, {1, 1}, false}));

// Ties go to the first maximum in row-major window order (PyTorch's CPU and
// CUDA kernels compare with a strict '>' while scanning the window).
TEST(Vjp, MaxPoolTiesGoToTheFirstMaximum) {
  // 4x4, 2x2 windows: constant windows and windows whose maxima are on
  // different rows, then overlapping windows (stride 1) sharing a maximum.
  RefTensor x({1, 1, 4, 4}, {1, 1, 0, 2,  //
                             1, 1, 2, 0,  //
                             5, 3, 3, 3,  //
                             3, 5, 3, 3});
  RefTensor dy({1, 1, 2, 2}, {1, 2, 4, 8});
  RefTensor dx = ref::maxPool2dGrad(x, dy, {2, 2}, {2, 2});
  EXPECT_EQ(dx.data, (std::vector<double>{1, 0, 0, 2,  //
                                          0, 0, 0, 0,  //
                                          4, 0, 8, 0,  //
                                          0, 0, 0, 0}));
  // Overlapping 3x3 windows with stride 1: the 5 at (2,0) is the first
  // maximum of windows (0,0) and (1,0) (row 2 comes before the 5 at (3,1));
  // window (0,1) has only 3s as maxima, the first at (2,1); window (1,1) has
  // the 5 at (3,1).
  RefTensor dy2({1, 1, 2, 2}, {1, 10, 100, 1000});
  RefTensor dx2 = ref::maxPool2dGrad(x, dy2, {3, 3}, {1, 1});
  EXPECT_EQ(dx2.at({0, 0, 2, 0}), 1.0 + 100.0);
  EXPECT_EQ(dx2.at({0, 0, 3, 1}), 1000.0);
  EXPECT_EQ(dx2.at({0, 0, 2, 1}), 10.0);
  double total = 0.0;
  for (double v : dx2.data) total += v;
  EXPECT_EQ(total, 1111.0);  // every window routes its grad exactly once
}

TEST(Vjp, GlobalAvgPool) {
  Random rng(41);
  checkVjp(
      "global_avg_pool", {rng.tensor({2, 3, 5, 3})},
      [](const Inputs& in) { return ref::globalAvgPool(in[0]); },
      [](const Inputs& in, const RefTensor& dy) { return ref::globalAvgPoolVjp(in[0], dy); }, 42);
}

// ---------------------------------------------------------------------------
// Batch norm (inference form), views, softmax and reductions
// ---------------------------------------------------------------------------

TEST(Vjp, BatchNormInferenceForm) {
  Random rng(51);
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{3, 4, 3, 2}, {5, 3}}) {
    const int64_t c = shape[1];
    checkVjp(
        "batch_norm " + fe::shapeToString(shape),
        {rng.tensor(shape), rng.tensor({c}), rng.tensor({c}), rng.tensor({c}),
         rng.tensor({c}, 0.2, 1.5)},
        [](const Inputs& in) { return ref::batchNorm(in[0], in[1], in[2], in[3], in[4], 1e-3); },
        [](const Inputs& in, const RefTensor& dy) {
          return ref::batchNormVjp(in[0], in[1], in[2], in[3], in[4], 1e-3, dy);
        },
        52);
  }
}

TEST(Vjp, Views) {
  Random rng(61);
  checkVjp(
      "reshape", {rng.tensor({2, 3, 4})},
      [](const Inputs& in) { return ref::reshape(in[0], {-1, 4, 3}); },
      [](const Inputs& in, const RefTensor& dy) { return ref::reshapeVjp(in[0], dy); }, 62);
  checkVjp(
      "flatten", {rng.tensor({2, 3, 2, 2})},
      [](const Inputs& in) { return ref::flatten(in[0], 2); },
      [](const Inputs& in, const RefTensor& dy) { return ref::reshapeVjp(in[0], dy); }, 63);
  for (const std::vector<int64_t>& perm :
       {std::vector<int64_t>{2, 0, 1}, {1, 0, 2}, {0, 2, 1}})
    checkVjp(
        "transpose", {rng.tensor({2, 3, 4})},
        [&](const Inputs& in) { return ref::transpose(in[0], perm); },
        [&](const Inputs& in, const RefTensor& dy) {
          return ref::transposeVjp(in[0], perm, dy);
        },
        64);
}

TEST(Vjp, SoftmaxAndLogSoftmax) {
  Random rng(71);
  for (int64_t axis : {-1, 1, 0}) {
    checkVjp(
        "softmax axis " + std::to_string(axis), {rng.tensor({3, 4, 5}, -3.0, 3.0)},
        [&](const Inputs& in) { return ref::softmax(in[0], axis); },
        [&](const Inputs& in, const RefTensor& dy) { return ref::softmaxVjp(in[0], axis, dy); },
        72);
    checkVjp(
        "log_softmax axis " + std::to_string(axis), {rng.tensor({3, 4, 5}, -3.0, 3.0)},
        [&](const Inputs& in) { return ref::logSoftmax(in[0], axis); },
        [&](const Inputs& in, const RefTensor& dy) {
          return ref::logSoftmaxVjp(in[0], axis, dy);
        },
        73);
  }
}

TEST(Vjp, Reductions) {
  Random rng(81);
  const std::vector<std::pair<std::vector<int64_t>, bool>> cases = {
      {{1}, false}, {{0, 2}, true}, {{-1, 0}, false}, {{0, 1, 2}, false}, {{0, 1, 2}, true}};
  for (const auto& [axes, keepdim] : cases) {
    const std::string suffix = " axes " + fe::shapeToString(axes) + (keepdim ? " keepdim" : "");
    checkVjp(
        "reduce_sum" + suffix, {rng.tensor({3, 4, 2})},
        [&](const Inputs& in) { return ref::reduceSum(in[0], axes, keepdim); },
        [&](const Inputs& in, const RefTensor& dy) {
          return ref::reduceSumVjp(in[0], axes, keepdim, dy);
        },
        82);
    checkVjp(
        "reduce_mean" + suffix, {rng.tensor({3, 4, 2})},
        [&](const Inputs& in) { return ref::reduceMean(in[0], axes, keepdim); },
        [&](const Inputs& in, const RefTensor& dy) {
          return ref::reduceMeanVjp(in[0], axes, keepdim, dy);
        },
        83);
  }
}

// ---------------------------------------------------------------------------
// Training ops
// ---------------------------------------------------------------------------

TEST(Vjp, TrainingUnaryOps) {
  Random rng(91);
  checkVjp(
      "sqrt", {rng.tensor({3, 5}, 0.3, 3.0)}, [](const Inputs& in) { return ref::sqrt(in[0]); },
      [](const Inputs& in, const RefTensor& dy) { return ref::sqrtVjp(in[0], dy); }, 92);
  checkVjp(
      "rsqrt", {rng.tensor({3, 5}, 0.3, 3.0)}, [](const Inputs& in) { return ref::rsqrt(in[0]); },
      [](const Inputs& in, const RefTensor& dy) { return ref::rsqrtVjp(in[0], dy); }, 93);
  checkVjp(
      "neg", {rng.tensor({3, 5})}, [](const Inputs& in) { return ref::neg(in[0]); },
      [](const Inputs& in, const RefTensor& dy) { return ref::negVjp(in[0], dy); }, 94);
  for (const auto& [from, to] : std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>{
           {{3, 1}, {2, 3, 4}}, {{}, {5}}, {{2, 1, 4}, {2, 3, 4}}, {{4}, {4}}})
    checkVjp(
        "broadcast_to " + fe::shapeToString(from) + " -> " + fe::shapeToString(to),
        {rng.tensor(from)}, [&](const Inputs& in) { return ref::broadcastTo(in[0], to); },
        [](const Inputs& in, const RefTensor& dy) { return ref::broadcastToVjp(in[0], dy); }, 95);
}

TEST(Vjp, ActivationGradOps) {
  Random rng(101);
  // The second operand broadcasts against the first, as in kiln.add.
  for (const auto& [xs, gs] : std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>{
           {{3, 4}, {3, 4}}, {{2, 3, 4}, {4}}, {{3, 1}, {2, 3, 4}}}) {
    const std::string suffix = " " + fe::shapeToString(xs) + " with " + fe::shapeToString(gs);
    checkVjp(
        "relu_grad" + suffix, {rng.tensor(xs, -2.0, 2.0, {0.0}), rng.tensor(gs)},
        [](const Inputs& in) { return ref::reluGrad(in[0], in[1]); },
        [](const Inputs& in, const RefTensor& dy) { return ref::reluGradVjp(in[0], in[1], dy); },
        102, {0});
    checkVjp(
        "relu6_grad" + suffix, {rng.tensor(xs, -2.0, 8.0, {0.0, 6.0}), rng.tensor(gs)},
        [](const Inputs& in) { return ref::relu6Grad(in[0], in[1]); },
        [](const Inputs& in, const RefTensor& dy) {
          return ref::relu6GradVjp(in[0], in[1], dy);
        },
        103, {0});
    checkVjp(
        "hardswish_grad" + suffix, {rng.tensor(xs, -2.5, 5.0, {-3.0, 3.0}), rng.tensor(gs)},
        [](const Inputs& in) { return ref::hardswishGrad(in[0], in[1]); },
        [](const Inputs& in, const RefTensor& dy) {
          return ref::hardswishGradVjp(in[0], in[1], dy);
        },
        104);
    checkVjp(
        "sigmoid_grad" + suffix, {rng.tensor(xs, 0.05, 0.95), rng.tensor(gs)},
        [](const Inputs& in) { return ref::sigmoidGrad(in[0], in[1]); },
        [](const Inputs& in, const RefTensor& dy) {
          return ref::sigmoidGradVjp(in[0], in[1], dy);
        },
        105);
  }
}

TEST(Vjp, ConvGradOps) {
  Random rng(111);
  // groups 2, stride (2, 1), padding (1, 2), dilation (2, 1): x [2, 4, 7, 6],
  // w [6, 2, 3, 3], dy [2, 6, 3, 8].
  const Pair stride = {2, 1}, padding = {1, 2}, dilation = {2, 1};
  const std::vector<int64_t> xShape = {2, 4, 7, 6}, wShape = {6, 2, 3, 3};
  const std::vector<int64_t> yShape =
      ref::conv2d(RefTensor(xShape), RefTensor(wShape), nullptr, stride, padding, dilation, 2).shape;
  checkVjp(
      "conv2d_grad_input", {rng.tensor(yShape), rng.tensor(wShape)},
      [&](const Inputs& in) {
        return ref::conv2dGradInput(in[0], in[1], stride, padding, dilation, 2, xShape);
      },
      [&](const Inputs& in, const RefTensor& dy) {
        return ref::conv2dGradInputVjp(in[0], in[1], stride, padding, dilation, 2, dy);
      },
      112);
  checkVjp(
      "conv2d_grad_weight", {rng.tensor(xShape), rng.tensor(yShape)},
      [&](const Inputs& in) {
        return ref::conv2dGradWeight(in[0], in[1], stride, padding, dilation, 2, wShape);
      },
      [&](const Inputs& in, const RefTensor& dy) {
        return ref::conv2dGradWeightVjp(in[0], in[1], stride, padding, dilation, 2, dy);
      },
      113);
}

TEST(Vjp, PoolGradOps) {
  Random rng(121);
  const std::vector<int64_t> xShape = {2, 2, 6, 5};
  const Pair kernel = {3, 3}, stride = {2, 2}, padding = {1, 1};
  const std::vector<int64_t> yShape =
      ref::maxPool2d(RefTensor(xShape), kernel, stride, padding, true).shape;
  checkVjp(
      "max_pool2d_grad", {rng.distinct(xShape), rng.tensor(yShape)},
      [&](const Inputs& in) {
        return ref::maxPool2dGrad(in[0], in[1], kernel, stride, padding, true);
      },
      [&](const Inputs& in, const RefTensor& dy) {
        return ref::maxPool2dGradVjp(in[0], in[1], kernel, stride, padding, true, dy);
      },
      122, {0});
  for (bool countIncludePad : {true, false})
    checkVjp(
        "avg_pool2d_grad", {rng.tensor(yShape)},
        [&](const Inputs& in) {
          return ref::avgPool2dGrad(in[0], kernel, stride, padding, true, countIncludePad, xShape);
        },
        [&](const Inputs& in, const RefTensor& dy) {
          return ref::avgPool2dGradVjp(in[0], kernel, stride, padding, true, countIncludePad, dy);
        },
        123);
}

// ---------------------------------------------------------------------------
// Composites, chained from the per-op VJPs by hand (a two-line tape each)
// ---------------------------------------------------------------------------

namespace {

struct BnTraining {
  RefTensor x, w, b;
  double eps = 1e-5;

  // y = (x - mean) * rsqrt(var + eps) * w + b, with the batch statistics
  // built from primitives as the frontend does in training mode.
  RefTensor wB() const { return ref::reshape(w, {w.shape[0], 1, 1}); }
  RefTensor bB() const { return ref::reshape(b, {b.shape[0], 1, 1}); }
  RefTensor forward() const {
    RefTensor mean = ref::reduceMean(x, {0, 2, 3}, true);
    RefTensor xc = ref::sub(x, mean);
    RefTensor var = ref::reduceMean(ref::mul(xc, xc), {0, 2, 3}, true);
    RefTensor inv = ref::rsqrt(ref::add(var, RefTensor({}, {eps})));
    return ref::add(ref::mul(ref::mul(xc, inv), wB()), bB());
  }

  /// Reverse sweep through the same primitives with their reference VJPs.
  std::vector<RefTensor> backward(const RefTensor& dy) const {
    RefTensor mean = ref::reduceMean(x, {0, 2, 3}, true);
    RefTensor xc = ref::sub(x, mean);
    RefTensor sq = ref::mul(xc, xc);
    RefTensor var = ref::reduceMean(sq, {0, 2, 3}, true);
    RefTensor shifted = ref::add(var, RefTensor({}, {eps}));
    RefTensor inv = ref::rsqrt(shifted);
    RefTensor xhat = ref::mul(xc, inv);
    RefTensor scaled = ref::mul(xhat, wB());
    // y = scaled + bB
    auto gAdd = ref::addVjp(scaled, bB(), dy);
    RefTensor db = ref::reshapeVjp(b, gAdd[1])[0];
    auto gScaled = ref::mulVjp(xhat, wB(), gAdd[0]);
    RefTensor dw = ref::reshapeVjp(w, gScaled[1])[0];
    auto gXhat = ref::mulVjp(xc, inv, gScaled[0]);
    RefTensor dInv = gXhat[1];
    RefTensor dShifted = ref::rsqrtVjp(shifted, dInv)[0];
    RefTensor dVar = ref::addVjp(var, RefTensor({}, {eps}), dShifted)[0];
    RefTensor dSq = ref::reduceMeanVjp(sq, {0, 2, 3}, true, dVar)[0];
    auto gSq = ref::mulVjp(xc, xc, dSq);
    RefTensor dXc = ref::add(ref::add(gXhat[0], gSq[0]), gSq[1]);
    auto gXc = ref::subVjp(x, mean, dXc);
    RefTensor dMean = gXc[1];
    RefTensor dx = ref::add(gXc[0], ref::reduceMeanVjp(x, {0, 2, 3}, true, dMean)[0]);
    return {dx, dw, db};
  }
};

}  // namespace

TEST(Vjp, BatchNormTrainingModeComposition) {
  Random rng(131);
  BnTraining bn{rng.tensor({4, 3, 3, 2}, -2.0, 2.0), rng.tensor({3}, 0.5, 1.5), rng.tensor({3})};
  const RefTensor dy = rng.tensor({4, 3, 3, 2});
  const std::vector<RefTensor> grads = bn.backward(dy);
  test::checkAgainstFiniteDifferences("bn training dx", bn.x, grads[0],
                                      [&] { return test::dot(dy, bn.forward()); });
  test::checkAgainstFiniteDifferences("bn training dw", bn.w, grads[1],
                                      [&] { return test::dot(dy, bn.forward()); });
  test::checkAgainstFiniteDifferences("bn training db", bn.b, grads[2],
                                      [&] { return test::dot(dy, bn.forward()); });

  // PyTorch's closed form (batch_norm_backward, training): with m = N*H*W,
  // dx = w * invstd / m * (m * dy - sum(dy) - xhat * sum(dy * xhat)).
  const int64_t N = 4, C = 3, HW = 6;
  const double m = static_cast<double>(N * HW);
  for (int64_t c = 0; c < C; ++c) {
    double mean = 0.0, var = 0.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) mean += bn.x.data[static_cast<size_t>((n * C + c) * HW + i)];
    mean /= m;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const double d = bn.x.data[static_cast<size_t>((n * C + c) * HW + i)] - mean;
        var += d * d;
      }
    var /= m;  // biased, as PyTorch normalises
    const double invstd = 1.0 / std::sqrt(var + bn.eps);
    double sumDy = 0.0, sumDyXhat = 0.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const size_t k = static_cast<size_t>((n * C + c) * HW + i);
        sumDy += dy.data[k];
        sumDyXhat += dy.data[k] * (bn.x.data[k] - mean) * invstd;
      }
    EXPECT_NEAR(grads[2].data[static_cast<size_t>(c)], sumDy, 1e-12);
    EXPECT_NEAR(grads[1].data[static_cast<size_t>(c)], sumDyXhat, 1e-12);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const size_t k = static_cast<size_t>((n * C + c) * HW + i);
        const double xhat = (bn.x.data[k] - mean) * invstd;
        const double expected =
            bn.w.data[static_cast<size_t>(c)] * invstd / m * (m * dy.data[k] - sumDy - xhat * sumDyXhat);
        EXPECT_NEAR(grads[0].data[k], expected, 1e-12);
      }
  }
}

TEST(Vjp, SoftmaxCrossEntropyComposition) {
  // loss = -reduce_mean(reduce_sum(onehot * log_softmax(z), [1]), [0], keepdim)
  Random rng(141);
  const int64_t N = 5, K = 7;
  RefTensor z = rng.tensor({N, K}, -3.0, 3.0);
  RefTensor onehot({N, K});
  for (int64_t n = 0; n < N; ++n) onehot.data[static_cast<size_t>(n * K + (n * 3) % K)] = 1.0;
  auto forward = [&] {
    return ref::neg(ref::reduceMean(ref::reduceSum(ref::mul(onehot, ref::logSoftmax(z, 1)), {1}),
                                    {0}, true));
  };
  // Backward through the chain with the reference VJPs.
  RefTensor ls = ref::logSoftmax(z, 1);
  RefTensor prod = ref::mul(onehot, ls);
  RefTensor rows = ref::reduceSum(prod, {1});
  RefTensor mean = ref::reduceMean(rows, {0}, true);
  RefTensor seed({1}, {1.0});
  RefTensor dMean = ref::negVjp(mean, seed)[0];
  RefTensor dRows = ref::reduceMeanVjp(rows, {0}, true, dMean)[0];
  RefTensor dProd = ref::reduceSumVjp(prod, {1}, false, dRows)[0];
  RefTensor dLs = ref::mulVjp(onehot, ls, dProd)[1];
  RefTensor dz = ref::logSoftmaxVjp(z, 1, dLs)[0];
  test::checkAgainstFiniteDifferences("cross-entropy dz", z, dz,
                                      [&] { return forward().data[0]; });
  // Closed form: (softmax(z) - onehot) / N.
  RefTensor p = ref::softmax(z, 1);
  for (size_t i = 0; i < dz.data.size(); ++i)
    EXPECT_NEAR(dz.data[i], (p.data[i] - onehot.data[i]) / static_cast<double>(N), 1e-15);
}
