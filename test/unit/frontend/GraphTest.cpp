// Shape inference, validation messages and MLIR text of the graph builder.
#include "kiln/frontend/Graph.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>

using namespace kiln::fe;

namespace {

std::vector<float> zeros(int64_t n) { return std::vector<float>(static_cast<size_t>(n), 0.0f); }

Value param(Graph& g, const std::string& name, const Shape& s) {
  return g.parameter(name, s, zeros(numElements(s)));
}

// Runs `f`, expects std::invalid_argument, and returns its message.
std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected std::invalid_argument";
  return "";
}

}  // namespace

TEST(GraphShapes, Conv2dOutputSize) {
  Graph g;
  Value x = g.input("x", {kDynamic, 3, 32, 32});
  Value w = param(g, "w", {8, 3, 3, 3});
  Value b = param(g, "b", {8});
  EXPECT_EQ(g.conv2d(x, w, b, {2, 2}, {1, 1}).shape, (Shape{kDynamic, 8, 16, 16}));
  EXPECT_EQ(g.conv2d(x, w, Value{}).shape, (Shape{kDynamic, 8, 30, 30}));
  // Dilation 2 makes the 3x3 kernel span 5: 32 + 2*2 - 5 + 1 = 32.
  EXPECT_EQ(g.conv2d(x, w, Value{}, {1, 1}, {2, 2}, {2, 2}).shape, (Shape{kDynamic, 8, 32, 32}));
  Value wg = param(g, "wg", {6, 1, 3, 3});
  EXPECT_EQ(g.conv2d(x, wg, Value{}, {1, 1}, {0, 0}, {1, 1}, 3).shape,
            (Shape{kDynamic, 6, 30, 30}));
}

TEST(GraphShapes, Conv2dValidation) {
  Graph g;
  Value x = g.input("x", {kDynamic, 4, 8, 8});
  Value w3 = param(g, "w3", {8, 3, 3, 3});
  EXPECT_NE(errorOf([&] { g.conv2d(x, w3, Value{}, {1, 1}, {0, 0}, {1, 1}, 1, "convA"); })
                .find("conv2d 'convA': expected weight dim 1 (3) * groups (1) to equal input "
                      "channels (4)"),
            std::string::npos);
  Value w2 = param(g, "w2", {3, 2, 3, 3});
  EXPECT_NE(errorOf([&] { g.conv2d(x, w2, Value{}, {1, 1}, {0, 0}, {1, 1}, 2); })
                .find("output channels (3) to be divisible by groups (2)"),
            std::string::npos);
  Value w = param(g, "w", {8, 4, 3, 3});
  EXPECT_NE(errorOf([&] { g.conv2d(x, w, Value{}, {1, 1}, {-1, 0}); }).find("padding >= 0"),
            std::string::npos);
  EXPECT_NE(errorOf([&] { g.conv2d(x, w, Value{}, {0, 1}); }).find("strides >= 1"),
            std::string::npos);
  EXPECT_NE(errorOf([&] { g.conv2d(x, w, Value{}, {1, 1}, {0, 0}, {1, 1}, 0); })
                .find("groups >= 1"),
            std::string::npos);
  Value big = param(g, "big", {8, 4, 9, 9});
  EXPECT_NE(errorOf([&] { g.conv2d(x, big, Value{}); }).find("is empty"), std::string::npos);
  Value badBias = param(g, "badBias", {7});
  EXPECT_NE(errorOf([&] { g.conv2d(x, w, badBias); }).find("expected bias shape [8], got [7]"),
            std::string::npos);
  Value flat = g.input("flat", {kDynamic, 16});
  EXPECT_NE(errorOf([&] { g.conv2d(flat, w, Value{}); }).find("rank-4 NCHW input"),
            std::string::npos);
}

TEST(GraphShapes, LinearAndMatmul) {
  Graph g;
  Value x = g.input("x", {kDynamic, 400});
  Value w = param(g, "w", {120, 400});
  Value b = param(g, "b", {120});
  EXPECT_EQ(g.linear(x, w, b).shape, (Shape{kDynamic, 120}));
  Value wBad = param(g, "wBad", {120, 300});
  EXPECT_NE(errorOf([&] { g.linear(x, wBad, Value{}); })
                .find("expected input features (400) to equal weight dim 1 (300)"),
            std::string::npos);
  Value m = param(g, "m", {400, 7});
  EXPECT_EQ(g.matmul(x, m).shape, (Shape{kDynamic, 7}));
  EXPECT_THROW(g.matmul(x, w), std::invalid_argument);
}

TEST(GraphShapes, Broadcasting) {
  Graph g;
  Value x = g.input("x", {kDynamic, 16, 8, 8});
  Value c = param(g, "c", {16, 1, 1});
  Value s = param(g, "s", {1});
  EXPECT_EQ(g.add(x, c).shape, (Shape{kDynamic, 16, 8, 8}));
  EXPECT_EQ(g.mul(s, x).shape, (Shape{kDynamic, 16, 8, 8}));
  Value y = g.input("y", {kDynamic, 1, 8, 8});
  EXPECT_EQ(g.sub(x, y).shape, (Shape{kDynamic, 16, 8, 8}));
  Value bad = param(g, "bad", {3, 8, 8});
  EXPECT_NE(errorOf([&] { g.div(x, bad); }).find("cannot broadcast shapes [?, 16, 8, 8] and [3, 8, 8]"),
            std::string::npos);
}

TEST(GraphShapes, Pooling) {
  Graph g;
  Value x = g.input("x", {kDynamic, 6, 28, 28});
  EXPECT_EQ(g.maxPool2d(x, {2, 2}).shape, (Shape{kDynamic, 6, 14, 14}));
  EXPECT_EQ(g.maxPool2d(x, {3, 3}, {2, 2}, {1, 1}).shape, (Shape{kDynamic, 6, 14, 14}));
  Value x5 = g.input("x5", {kDynamic, 1, 5, 5});
  EXPECT_EQ(g.maxPool2d(x5, {2, 2}).shape, (Shape{kDynamic, 1, 2, 2}));
  EXPECT_EQ(g.maxPool2d(x5, {2, 2}, {2, 2}, {0, 0}, true).shape, (Shape{kDynamic, 1, 3, 3}));
  // Ceil mode with padding: a 4th window would start in the right padding and
  // is dropped (PyTorch gives 3x3 for this case).
  EXPECT_EQ(g.avgPool2d(x5, {2, 2}, {2, 2}, {1, 1}, true).shape, (Shape{kDynamic, 1, 3, 3}));
  EXPECT_EQ(g.globalAvgPool(x).shape, (Shape{kDynamic, 6, 1, 1}));
  EXPECT_NE(errorOf([&] { g.maxPool2d(x, {2, 2}, {}, {2, 2}); }).find("<= kernel_size / 2"),
            std::string::npos);
  EXPECT_NE(errorOf([&] { g.avgPool2d(x5, {7, 7}); }).find("does not fit the padded input"),
            std::string::npos);
  EXPECT_THROW(g.maxPool2d(x, {2, 2}, {0, 2}), std::invalid_argument);
}

TEST(GraphShapes, BatchNorm) {
  Graph g;
  Value x = g.input("x", {kDynamic, 4, 3, 3});
  Value p4 = param(g, "p4", {4});
  EXPECT_EQ(g.batchNorm(x, p4, p4, p4, p4).shape, x.shape);
  Value p3 = param(g, "p3", {3});
  EXPECT_NE(errorOf([&] { g.batchNorm(x, p4, p4, p3, p4, 1e-5f, "bnX"); })
                .find("batch_norm 'bnX': expected mean shape [4], got [3]"),
            std::string::npos);
}

TEST(GraphShapes, Views) {
  Graph g;
  Value x = g.input("x", {kDynamic, 16, 5, 5});
  EXPECT_EQ(g.reshape(x, {-1, 400}).shape, (Shape{kDynamic, 400}));
  EXPECT_EQ(g.reshape(x, {-1, 4, 100}).shape, (Shape{kDynamic, 4, 100}));
  EXPECT_NE(errorOf([&] { g.reshape(x, {-1, 401}); }).find("401 elements per item"),
            std::string::npos);
  EXPECT_NE(errorOf([&] { g.reshape(x, {16, -1}); }).find("-1 is only allowed at position 0"),
            std::string::npos);
  EXPECT_EQ(g.flatten(x).shape, (Shape{kDynamic, 400}));
  EXPECT_EQ(g.flatten(x, 2).shape, (Shape{kDynamic, 16, 25}));
  EXPECT_EQ(g.transpose(x, {0, 2, 3, 1}).shape, (Shape{kDynamic, 5, 5, 16}));
  // The batch can move: a transposed activation is dynamic in dim 1.
  Value m = g.input("m", {kDynamic, 7});
  EXPECT_EQ(g.transpose(m, {1, 0}).shape, (Shape{7, kDynamic}));
  EXPECT_NE(errorOf([&] { g.transpose(x, {0, 1, 1, 2}); }).find("is not a permutation"),
            std::string::npos);
  EXPECT_THROW(g.transpose(x, {0, 1, 2}), std::invalid_argument);
}

TEST(GraphShapes, SoftmaxAndReductions) {
  Graph g;
  Value x = g.input("x", {kDynamic, 10});
  EXPECT_EQ(g.softmax(x).shape, x.shape);
  EXPECT_EQ(g.node(g.logSoftmax(x, -1)).as<AxisAttrs>().axis, 1);
  EXPECT_NE(errorOf([&] { g.softmax(x, 0); }).find("it must be static"), std::string::npos);
  EXPECT_THROW(g.softmax(x, 2), std::invalid_argument);
  EXPECT_EQ(g.reduceSum(x, {1}).shape, (Shape{kDynamic}));
  EXPECT_EQ(g.reduceMean(x, {-1}, true).shape, (Shape{kDynamic, 1}));
  EXPECT_EQ(g.reduceMean(x, {0, 1}).shape, (Shape{}));
  EXPECT_NE(errorOf([&] { g.reduceSum(x, {1, -1}); }).find("more than once"), std::string::npos);
  EXPECT_THROW(g.reduceSum(x, {}), std::invalid_argument);
}

TEST(GraphValidation, LeavesAndOutputs) {
  Graph g;
  EXPECT_NE(errorOf([&] { g.input("my-input", {kDynamic, 3}); }).find("[A-Za-z_]"),
            std::string::npos);
  EXPECT_NE(errorOf([&] { g.input("x", {2, kDynamic}); }).find("only dimension 0"),
            std::string::npos);
  Value x = g.input("x", {kDynamic, 3});
  EXPECT_THROW(g.input("x", {kDynamic, 3}), std::invalid_argument);
  g.parameter("w", {2, 3}, zeros(6));
  EXPECT_NE(errorOf([&] { g.parameter("w", {2, 3}, zeros(6)); }).find("already exists"),
            std::string::npos);
  EXPECT_NE(errorOf([&] { g.parameter("v", {2, 3}, zeros(5)); }).find("has 5 elements"),
            std::string::npos);
  EXPECT_THROW(g.parameter("d", {kDynamic, 3}, zeros(3)), std::invalid_argument);
  EXPECT_THROW(g.relu(Value{}), std::invalid_argument);
  // A value from another graph is rejected rather than silently misused.
  Graph other;
  Value foreign = other.input("z", {kDynamic, 3, 3});
  EXPECT_THROW(g.relu(foreign), std::invalid_argument);
  EXPECT_THROW(g.toMlir(), std::invalid_argument);  // no outputs yet
  g.output(g.relu(x), "y");
  EXPECT_THROW(g.output(x, "y"), std::invalid_argument);
  EXPECT_THROW(g.toMlir("bad name"), std::invalid_argument);
}

TEST(GraphParameters, CountsAndUpdates) {
  Graph g;
  g.parameter("a", {2, 3}, zeros(6), true);
  g.parameter("b", {4}, zeros(4), false);
  EXPECT_EQ(g.parameterCount(), 6);
  EXPECT_EQ(g.parameterCount(false), 10);
  g.setParameterValue("b", {1, 2, 3, 4});
  EXPECT_EQ(g.parameter("b").value, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_THROW(g.setParameterValue("b", {1}), std::invalid_argument);
  EXPECT_THROW(g.parameter("nope"), std::invalid_argument);
  EXPECT_EQ(g.parameterValue("a").shape, (Shape{2, 3}));
}

TEST(GraphMlir, TinyGraphText) {
  Graph g;
  Value x = g.input("x", {kDynamic, 1, 4, 4});
  Value w = g.parameter("c1.weight", {2, 1, 3, 3}, zeros(18));
  Value b = g.parameter("c1.bias", {2}, zeros(2));
  Value m = g.parameter("bn.running_mean", {2}, zeros(2), false);
  Value y = g.conv2d(x, w, b, {1, 1}, {1, 1}, {1, 1}, 1, "c1");
  y = g.conv2d(y, g.parameter("c2.weight", {2, 2, 1, 1}, zeros(4)), Value{}, {2, 2}, {0, 0},
               {1, 1}, 1, "c2");
  y = g.batchNorm(y, b, b, m, b, 1e-5f, "bn");
  y = g.maxPool2d(y, {2, 2}, {}, {0, 0}, false, "pool");
  y = g.add(y, g.constant({2, 1, 1}, {1.5f, -2.0f}, "k"), "plus");
  y = g.flatten(y, 1, "flat");
  Value p = g.softmax(y, -1, "sm");
  g.output(y, "logits");
  g.output(p, "probs");
  std::string t = g.toMlir();

  auto has = [&](const std::string& s) {
    EXPECT_NE(t.find(s), std::string::npos) << "missing: " << s << "\nin:\n" << t;
  };
  has("module {\n  func.func @infer(%x: tensor<?x1x4x4xf32> loc(\"x\")) -> "
      "(tensor<?x2xf32>, tensor<?x2xf32>) {\n");
  has("%0 = \"kiln.parameter\"() {name = \"c1.weight\", trainable = true} : () -> "
      "tensor<2x1x3x3xf32> loc(\"c1.weight\")");
  has("%2 = \"kiln.parameter\"() {name = \"bn.running_mean\", trainable = false} : () -> "
      "tensor<2xf32> loc(\"bn.running_mean\")");
  has("%3 = \"kiln.conv2d\"(%x, %0, %1) {dilation = array<i64: 1, 1>, groups = 1 : i64, "
      "padding = array<i64: 1, 1>, strides = "
      "array<i64: 1, 1>} : (tensor<?x1x4x4xf32>, tensor<2x1x3x3xf32>, tensor<2xf32>) -> "
      "tensor<?x2x4x4xf32> loc(\"c1\")");
  has("\"kiln.conv2d\"(%3, %4) {dilation = array<i64: 1, 1>, groups = 1 : i64, "
      "padding = array<i64: 0, 0>, strides = "
      "array<i64: 2, 2>} : (tensor<?x2x4x4xf32>, tensor<2x2x1x1xf32>) -> tensor<?x2x2x2xf32> "
      "loc(\"c2\")");
  has("\"kiln.batch_norm\"(%5, %1, %1, %2, %1) {epsilon = 1.000000e-05 : f32} : "
      "(tensor<?x2x2x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> "
      "tensor<?x2x2x2xf32> loc(\"bn\")");
  has("\"kiln.max_pool2d\"(%6) {ceil_mode = false, kernel_size = array<i64: 2, 2>, padding = "
      "array<i64: 0, 0>, strides = array<i64: 2, 2>} : (tensor<?x2x2x2xf32>) -> "
      "tensor<?x2x1x1xf32> loc(\"pool\")");
  has("\"kiln.constant\"() {value = dense<[[[1.500000e+00]], [[-2.000000e+00]]]> : "
      "tensor<2x1x1xf32>} : () -> tensor<2x1x1xf32> loc(\"k\")");
  has("\"kiln.add\"(%7, %8) : (tensor<?x2x1x1xf32>, tensor<2x1x1xf32>) -> tensor<?x2x1x1xf32> "
      "loc(\"plus\")");
  has("\"kiln.flatten\"(%9) {start_dim = 1 : i64} : (tensor<?x2x1x1xf32>) -> tensor<?x2xf32>");
  has("\"kiln.softmax\"(%10) {axis = 1 : i64}");
  has("    func.return %10, %11 : tensor<?x2xf32>, tensor<?x2xf32>\n  }\n}\n");
}

TEST(GraphMlir, RemainingOpsAndLiterals) {
  Graph g;
  Value x = g.input("in_0", {kDynamic, 3, 5, 5});
  Value a = g.avgPool2d(x, {3, 3}, {2, 2}, {1, 1}, true, false, "ap");
  Value r = g.reshape(a, {-1, 27}, "rs");
  Value t = g.transpose(r, {1, 0}, "tr");
  Value s = g.reduceMean(t, {-1}, true, "rm");
  g.output(s, "out");
  g.output(g.hardswish(g.relu6(g.sigmoid(x))), "act");
  // The float after 0.1f needs 8 significant digits to read back as itself.
  g.output(g.constant({1}, {std::nextafter(0.1f, 1.0f)}, "tenth"), "c");
  std::string t2 = g.toMlir("main");
  EXPECT_NE(t2.find("func.func @main(%in_0: tensor<?x3x5x5xf32>"), std::string::npos) << t2;
  EXPECT_NE(t2.find("\"kiln.avg_pool2d\"(%in_0) {ceil_mode = true, count_include_pad = false, "
                    "kernel_size = array<i64: 3, 3>, padding = array<i64: 1, 1>, strides = "
                    "array<i64: 2, 2>}"),
            std::string::npos)
      << t2;
  EXPECT_NE(t2.find("{shape = array<i64: -1, 27>}"), std::string::npos) << t2;
  EXPECT_NE(t2.find("{perm = array<i64: 1, 0>} : (tensor<?x27xf32>) -> tensor<27x?xf32>"),
            std::string::npos)
      << t2;
  EXPECT_NE(t2.find("{axes = array<i64: 1>, keepdim = true}"), std::string::npos) << t2;
  EXPECT_NE(t2.find("\"kiln.sigmoid\"(%in_0) : (tensor<?x3x5x5xf32>) -> tensor<?x3x5x5xf32>"),
            std::string::npos)
      << t2;
  EXPECT_NE(t2.find("dense<1.0000001e-01> : tensor<1xf32>"), std::string::npos) << t2;
  // Unnamed ops still get a location.
  EXPECT_NE(t2.find("loc(\"relu6_"), std::string::npos) << t2;
}

TEST(GraphMlir, EscapesLocationNames) {
  Graph g;
  Value x = g.input("x", {kDynamic, 2});
  g.output(g.relu(x, "odd \"name\"\\"), "y");
  EXPECT_NE(g.toMlir().find("loc(\"odd \\\"name\\\"\\\\\")"), std::string::npos) << g.toMlir();
}

TEST(GraphFlops, CountsPerOp) {
  Graph g;
  Value x = g.input("x", {kDynamic, 2, 4, 4});
  Value w = g.parameter("w", {3, 2, 3, 3}, zeros(54));
  Value b = g.parameter("b", {3}, zeros(3));
  Value y = g.conv2d(x, w, b, {1, 1}, {1, 1});  // 3*4*4 outputs, 18 MACs each
  y = g.relu(y);                                // 48
  y = g.maxPool2d(y, {2, 2});                   // 3*2*2 outputs * 4
  g.output(y, "y");
  FlopCount f = g.flops(1);
  EXPECT_EQ(f.macFlops, 2 * 48 * 18);
  EXPECT_EQ(f.total, 2 * 48 * 18 + 48 + 48 + 48);
  EXPECT_EQ(g.flops(4).total, 4 * f.total);
}
