// The reference interpreter on small cases whose results were worked out by hand.
#include "kiln/frontend/Models.h"
#include "kiln/frontend/Random.h"
#include "kiln/reference/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

using namespace kiln;
using ref::RefTensor;

namespace {

// 1, 2, ..., n laid out in `shape`.
RefTensor iota(std::vector<int64_t> shape, double start = 1.0, double sign = 1.0) {
  RefTensor t(std::move(shape));
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = sign * (start + static_cast<double>(i));
  return t;
}

void expectData(const RefTensor& t, const std::vector<int64_t>& shape,
                const std::vector<double>& data, double tol = 1e-12) {
  ASSERT_EQ(t.shape, shape);
  ASSERT_EQ(t.data.size(), data.size());
  for (size_t i = 0; i < data.size(); ++i) EXPECT_NEAR(t.data[i], data[i], tol) << "at " << i;
}

}  // namespace

// x = 1..16 as a 4x4 image:
//    1  2  3  4
//    5  6  7  8
//    9 10 11 12
//   13 14 15 16
TEST(Reference, Conv3x3OnesNoPadding) {
  RefTensor x = iota({1, 1, 4, 4});
  RefTensor w({1, 1, 3, 3}, std::vector<double>(9, 1.0));
  RefTensor b({1}, {1.0});
  // Window sums 54, 63, 90, 99, plus the bias.
  expectData(ref::conv2d(x, w, &b), {1, 1, 2, 2}, {55, 64, 91, 100});
}

TEST(Reference, ConvKernelIsNotFlipped) {
  RefTensor x = iota({1, 1, 4, 4});
  // Taps at (0,1) weight 1 and (2,2) weight 2: y(i,j) = x(i,j+1) + 2 x(i+2,j+2).
  RefTensor w({1, 1, 3, 3}, {0, 1, 0, 0, 0, 0, 0, 0, 2});
  expectData(ref::conv2d(x, w, nullptr), {1, 1, 2, 2}, {2 + 22, 3 + 24, 6 + 30, 7 + 32});
}

TEST(Reference, ConvPaddingAndStride) {
  RefTensor x = iota({1, 1, 4, 4});
  RefTensor w({1, 1, 3, 3}, std::vector<double>(9, 1.0));
  // Windows centred on (0,0), (0,2), (2,0), (2,2) with zero padding:
  // 1+2+5+6, 2+3+4+6+7+8, 5+6+9+10+13+14, 6+7+8+10+11+12+14+15+16.
  expectData(ref::conv2d(x, w, nullptr, {2, 2}, {1, 1}), {1, 1, 2, 2}, {14, 30, 57, 99});
}

TEST(Reference, ConvDilation) {
  RefTensor x = iota({1, 1, 4, 4});
  RefTensor w({1, 1, 2, 2}, std::vector<double>(4, 1.0));
  // Dilation 2 samples the corners of each 3x3 window: 1+3+9+11, 2+4+10+12, ...
  expectData(ref::conv2d(x, w, nullptr, {1, 1}, {0, 0}, {2, 2}), {1, 1, 2, 2}, {24, 28, 40, 44});
}

TEST(Reference, ConvGroupsAndBatch) {
  // Two images, two channels; groups = 2 keeps channels apart.
  RefTensor x({2, 2, 1, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  RefTensor w({2, 1, 1, 1}, {10, 100});
  expectData(ref::conv2d(x, w, nullptr, {1, 1}, {0, 0}, {1, 1}, 2), {2, 2, 1, 2},
             {10, 20, 300, 400, 50, 60, 700, 800});
  // groups = 1 mixes them: every output channel sums both inputs.
  RefTensor w1({1, 2, 1, 1}, {1, 1});
  expectData(ref::conv2d(x, w1, nullptr), {2, 1, 1, 2}, {4, 6, 12, 14});
}

TEST(Reference, MaxPoolPaddingIsMinusInfinity) {
  // k3 s2 p1 on -1..-16: with zero padding every window would give 0.
  RefTensor x = iota({1, 1, 4, 4}, 1.0, -1.0);
  expectData(ref::maxPool2d(x, {3, 3}, {2, 2}, {1, 1}), {1, 1, 2, 2}, {-1, -2, -5, -6});
  expectData(ref::maxPool2d(iota({1, 1, 4, 4}), {3, 3}, {2, 2}, {1, 1}), {1, 1, 2, 2},
             {6, 8, 14, 16});
}

TEST(Reference, AvgPoolPaddingCounting) {
  RefTensor x = iota({1, 1, 4, 4});
  // Window sums 14, 30, 57, 99 (as the padded conv above).
  expectData(ref::avgPool2d(x, {3, 3}, {2, 2}, {1, 1}, false, true), {1, 1, 2, 2},
             {14.0 / 9, 30.0 / 9, 57.0 / 9, 11});
  expectData(ref::avgPool2d(x, {3, 3}, {2, 2}, {1, 1}, false, false), {1, 1, 2, 2},
             {14.0 / 4, 30.0 / 6, 57.0 / 6, 11});
}

TEST(Reference, PoolCeilMode) {
  RefTensor x = iota({1, 1, 5, 5});
  // 3x3 windows of 2x2, the last row/column only 1 wide.
  expectData(ref::maxPool2d(x, {2, 2}, {2, 2}, {0, 0}, true), {1, 1, 3, 3},
             {7, 9, 10, 17, 19, 20, 22, 24, 25});
  // The partial windows average over what they cover (PyTorch clips them to the
  // padded input, which here is the input).
  expectData(ref::avgPool2d(x, {2, 2}, {2, 2}, {0, 0}, true, true), {1, 1, 3, 3},
             {4, 6, 7.5, 14, 16, 17.5, 21.5, 23.5, 25});
  expectData(ref::maxPool2d(x, {2, 2}, {2, 2}, {0, 0}, false), {1, 1, 2, 2}, {7, 9, 17, 19});
}

TEST(Reference, GlobalAvgPoolAndBatchNorm) {
  expectData(ref::globalAvgPool(iota({1, 2, 2, 2})), {1, 2, 1, 1}, {2.5, 6.5});
  RefTensor x({1, 2, 1, 1}, {3, 5});
  RefTensor w({2}, {2, 1}), b({2}, {0.5, 0}), mean({2}, {1, 1}), var({2}, {4, 16});
  // (3-1)/2*2+0.5 and (5-1)/4*1+0.
  expectData(ref::batchNorm(x, w, b, mean, var, 0.0), {1, 2, 1, 1}, {2.5, 1.0});
  RefTensor unit({2}, {1, 1});
  RefTensor zero({2}, {0, 0});
  expectData(ref::batchNorm(x, unit, zero, zero, RefTensor({2}, {0, 0}), 0.25), {1, 2, 1, 1},
             {6, 10});
}

TEST(Reference, Broadcasting) {
  RefTensor a({2, 3}, {1, 2, 3, 4, 5, 6});
  expectData(ref::add(a, RefTensor({3}, {10, 20, 30})), {2, 3}, {11, 22, 33, 14, 25, 36});
  expectData(ref::add(RefTensor({2, 1}, {1, 2}), RefTensor({1, 3}, {10, 20, 30})), {2, 3},
             {11, 21, 31, 12, 22, 32});
  expectData(ref::sub(a, RefTensor({2, 1}, {1, 4})), {2, 3}, {0, 1, 2, 0, 1, 2});
  expectData(ref::mul(RefTensor({1}, {2}), a), {2, 3}, {2, 4, 6, 8, 10, 12});
  expectData(ref::div(a, RefTensor({3}, {1, 2, 4})), {2, 3}, {1, 1, 0.75, 4, 2.5, 1.5});
  EXPECT_THROW(ref::add(a, RefTensor({2}, {1, 2})), std::invalid_argument);
}

TEST(Reference, Activations) {
  RefTensor x({6}, {-4, -1, 0, 1, 4, 7});
  expectData(ref::relu(x), {6}, {0, 0, 0, 1, 4, 7});
  expectData(ref::relu6(x), {6}, {0, 0, 0, 1, 4, 6});
  // x * clamp(x + 3, 0, 6) / 6.
  expectData(ref::hardswish(x), {6}, {0, -1.0 / 3, 0, 2.0 / 3, 4, 7});
  RefTensor s = ref::sigmoid(RefTensor({3}, {0, std::log(3.0), -std::log(3.0)}));
  expectData(s, {3}, {0.5, 0.75, 0.25});
}

TEST(Reference, SoftmaxIsStableAndNormalised) {
  // softmax([0, ln 3]) = [1/4, 3/4], also when shifted by 1000 (exp would overflow).
  RefTensor x({2, 2}, {0, std::log(3.0), 1000, 1000 + std::log(3.0)});
  RefTensor s = ref::softmax(x, -1);
  expectData(s, {2, 2}, {0.25, 0.75, 0.25, 0.75});
  expectData(ref::logSoftmax(x, 1), {2, 2},
             {std::log(0.25), std::log(0.75), std::log(0.25), std::log(0.75)}, 1e-9);
  // Along axis 0 of a 2x3 (columns).
  RefTensor c = ref::softmax(RefTensor({2, 3}, {1, 5, -2, 1, 7, 3}), 0);
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(c.data[j] + c.data[3 + j], 1.0, 1e-15);
  EXPECT_DOUBLE_EQ(c.data[0], 0.5);
}

TEST(Reference, Reductions) {
  RefTensor x({2, 3}, {1, 2, 3, 4, 5, 6});
  expectData(ref::reduceSum(x, {0}), {3}, {5, 7, 9});
  expectData(ref::reduceSum(x, {-1}, true), {2, 1}, {6, 15});
  expectData(ref::reduceMean(x, {0, 1}), {}, {3.5});
  expectData(ref::reduceMean(iota({2, 2, 2}), {0, 2}), {2}, {(1 + 2 + 5 + 6) / 4.0, (3 + 4 + 7 + 8) / 4.0});
}

TEST(Reference, LinearMatmulAndViews) {
  RefTensor x({1, 2}, {1, 2});
  RefTensor w({3, 2}, {1, 0, 0, 1, 1, 1});
  RefTensor b({3}, {0, 0, 1});
  expectData(ref::linear(x, w, &b), {1, 3}, {1, 2, 4});
  expectData(ref::matmul(RefTensor({2, 2}, {1, 2, 3, 4}), RefTensor({2, 2}, {5, 6, 7, 8})), {2, 2},
             {19, 22, 43, 50});
  RefTensor t = iota({2, 3});
  expectData(ref::transpose(t, {1, 0}), {3, 2}, {1, 4, 2, 5, 3, 6});
  // [2,3,4] -> [4,2,3]: y[k][i][j] = x[i][j][k].
  RefTensor t3 = ref::transpose(iota({2, 3, 4}, 0.0), {2, 0, 1});
  ASSERT_EQ(t3.shape, (std::vector<int64_t>{4, 2, 3}));
  EXPECT_EQ(t3.at({3, 1, 2}), 1 * 12 + 2 * 4 + 3);
  expectData(ref::reshape(t, {-1, 3, 1}), {2, 3, 1}, {1, 2, 3, 4, 5, 6});
  expectData(ref::flatten(iota({2, 1, 2, 2})), {2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
}

TEST(ReferenceGraph, TinyGraphByHand) {
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 1, 4, 4});
  fe::Value w = g.parameter("c.weight", {1, 1, 3, 3}, std::vector<float>(9, 1.0f));
  fe::Value b = g.parameter("c.bias", {1}, {-60.0f});
  fe::Value y = g.relu(g.conv2d(x, w, b), "relu");       // 54-60, 63-60, 90-60, 99-60 -> 0, 3, 30, 39
  fe::Value p = g.globalAvgPool(y, "gap");                // 72 / 4 = 18
  g.output(g.flatten(p), "out");
  g.output(y, "act");
  RefTensor in = iota({1, 1, 4, 4});
  std::vector<RefTensor> outs = ref::evaluate(g, {in});
  ASSERT_EQ(outs.size(), 2u);
  expectData(outs[0], {1, 1}, {18});
  expectData(outs[1], {1, 1, 2, 2}, {0, 3, 30, 39});
  // Overriding a parameter by name.
  std::vector<RefTensor> o2 = ref::evaluate(g, {in}, {{"c.bias", RefTensor({1}, {0})}});
  expectData(o2[0], {1, 1}, {(54 + 63 + 90 + 99) / 4.0});
  EXPECT_THROW(ref::evaluate(g, {iota({1, 2, 4, 4})}), std::invalid_argument);
  EXPECT_THROW(ref::evaluate(g, {in}, {{"nope", RefTensor({1}, {0})}}), std::invalid_argument);
}

// Each image of a batch is computed independently: evaluating a batch equals
// evaluating its items one by one (bit for bit: the same loops run).
TEST(ReferenceGraph, ModelsAreBatchIndependent) {
  for (const std::string& name : fe::modelNames()) {
    fe::Model m = fe::buildModel(name, 3);
    fe::Rng rng(11);
    const int64_t batch = 2, item = 28 * 28;
    RefTensor in({batch, 1, 28, 28});
    for (double& v : in.data) v = rng.uniform(-1.0, 1.0);
    RefTensor out = ref::evaluate(m.graph, {in})[0];
    ASSERT_EQ(out.shape, (std::vector<int64_t>{batch, 10})) << name;
    for (int64_t n = 0; n < batch; ++n) {
      RefTensor one({1, 1, 28, 28},
                    std::vector<double>(in.data.begin() + n * item, in.data.begin() + (n + 1) * item));
      RefTensor o = ref::evaluate(m.graph, {one})[0];
      for (int64_t k = 0; k < 10; ++k) {
        EXPECT_TRUE(std::isfinite(o.data[static_cast<size_t>(k)]));
        EXPECT_EQ(o.data[static_cast<size_t>(k)], out.data[static_cast<size_t>(n * 10 + k)])
            << name << " item " << n << " class " << k;
      }
    }
    // Different images give different logits (the network is not constant).
    EXPECT_NE(out.data[0], out.data[10]) << name;
  }
}
