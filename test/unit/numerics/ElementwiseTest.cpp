// Pointwise ops against the reference: the activations, batch_norm, and
// add/sub/mul/div under every broadcast pattern the dialect allows (per-channel
// [C,1,1], scalar-like [1], trailing dims, full shape, batch-carrying operands
// with a 1 in another dim, both operands stretched), each with the stretched
// operand on either side.
//
// Every output element is one or a few f32 operations on exactly
// representable inputs, hence accumulation(1): relL2 <= 1e-5, and maxRel <=
// 1e-4 for the near-zero results of batch norm's x * scale + shift.
#include "NumericsHarness.h"

#include <gtest/gtest.h>

using namespace kiln;
using namespace kiln::numtest;

namespace {

enum class Bin { Add, Sub, Mul, Div };

fe::Value apply(fe::Graph &g, Bin op, fe::Value a, fe::Value b, const std::string &name) {
  switch (op) {
  case Bin::Add:
    return g.add(a, b, name);
  case Bin::Sub:
    return g.sub(a, b, name);
  case Bin::Mul:
    return g.mul(a, b, name);
  case Bin::Div:
    return g.div(a, b, name);
  }
  return {};
}

/// One graph with every broadcast pattern of `op`; each pattern is an output.
void checkBroadcasts(Bin op) {
  fe::Rng rng(testSeed());
  // Divisors stay in +-[0.5, 2] so that the quotient is well conditioned; the
  // other ops take U(-1, 1) values.
  const bool div = op == Bin::Div;
  const double lo = div ? 0.5 : -1.0, hi = div ? 2.0 : 1.0;
  fe::Graph g;
  auto p = [&](const std::string &name, const fe::Shape &shape) {
    std::vector<float> v = fe::uniformValues(size_t(fe::numElements(shape)), lo, hi, rng);
    if (div)
      for (float &f : v)
        f = rng.uniform() < 0.5 ? -f : f;
    return g.parameter(name, shape, std::move(v));
  };
  const int64_t D = fe::kDynamic;
  fe::Value x = g.input("x", {D, 5, 7, 9});
  fe::Value y = g.input("y", {D, 5, 7, 9});
  fe::Value col = g.input("col", {D, 1, 7, 9});  // one channel, per item
  fe::Value pix = g.input("pix", {D, 5, 1, 1});  // one pixel per channel, per item
  fe::Value z = g.input("z", {D, 13});
  fe::Value chan = p("chan", {5, 1, 1});
  fe::Value scalar = p("scalar", {1});
  fe::Value last = p("last", {9});
  fe::Value plane = p("plane", {7, 9});
  fe::Value hcol = p("hcol", {7, 1}); // stretched along W (and N, C)
  fe::Value unit4 = p("unit4", {1, 1, 1, 1}); // [1,1,1,1]: stretched in every dim
  fe::Value feat = p("feat", {13});
  fe::Value konst = g.constant({1}, {div ? -1.25f : 0.75f}, "konst");

  auto out = [&](const std::string &name, fe::Value a, fe::Value b) {
    g.output(apply(g, op, a, b, name), name);
  };
  out("full", x, y);
  out("chan_rhs", x, chan);
  out("chan_lhs", chan, x);
  out("scalar_rhs", x, scalar);
  out("scalar_lhs", scalar, x);
  out("last_rhs", x, last);
  out("plane_lhs", plane, x);
  out("hcol_rhs", x, hcol);
  out("rank4_1x1x1x1_rhs", x, unit4);
  out("batch_col_rhs", x, col);
  out("batch_col_lhs", col, x);
  out("batch_pix_rhs", x, pix);
  out("batch_pix_lhs", pix, x);
  out("both_stretched", pix, col);
  out("const_rhs", x, konst);
  out("const_lhs", konst, x);
  out("rank2_rhs", z, feat);
  out("rank2_lhs", feat, z);

  CheckSpec spec;
  if (div)
    for (const char *name : {"x", "y", "col", "pix", "z"})
      spec.ranges[name] = InputRange{0.5, 2.0, /*randomSign=*/true};
  checkGraph(g, spec);
}

} // namespace

TEST(Binary, AddBroadcasts) { checkBroadcasts(Bin::Add); }
TEST(Binary, SubBroadcasts) { checkBroadcasts(Bin::Sub); }
TEST(Binary, MulBroadcasts) { checkBroadcasts(Bin::Mul); }
TEST(Binary, DivBroadcasts) { checkBroadcasts(Bin::Div); }

// A value as both operands (x - x is exactly 0, x * x, x / x exactly 1).
TEST(Binary, SameValueBothSides) {
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 7, 13});
  g.output(g.add(x, x, "add"), "add");
  g.output(g.sub(x, x, "sub"), "sub");
  g.output(g.mul(x, x, "mul"), "mul");
  g.output(g.div(x, x, "div"), "div");
  CheckSpec spec;
  spec.ranges["x"] = InputRange{0.5, 2.0, /*randomSign=*/true};
  checkGraph(g, spec);
}

// The activations over both of their kinks and saturations: U(-8, 8) crosses
// relu's 0, relu6's 0 and 6, hardswish's -3 and 3; U(-100, 100) drives exp() in
// sigmoid far beyond the f32 range (a NaN would fail the comparison).
TEST(Activations, AllKinds) {
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 5, 7, 9});
  fe::Value big = g.input("big", {fe::kDynamic, 13});
  g.output(g.relu(x, "relu"), "relu");
  g.output(g.relu6(x, "relu6"), "relu6");
  g.output(g.sigmoid(x, "sigmoid"), "sigmoid");
  g.output(g.hardswish(x, "hardswish"), "hardswish");
  g.output(g.sigmoid(big, "sigmoid_big"), "sigmoid_big");
  g.output(g.hardswish(big, "hardswish_big"), "hardswish_big");
  g.output(g.relu6(big, "relu6_big"), "relu6_big");
  CheckSpec spec;
  spec.ranges["x"] = InputRange{-8.0, 8.0};
  spec.ranges["big"] = InputRange{-100.0, 100.0};
  checkGraph(g, spec);
}

// Standalone batch norm (no producer to fuse into) on rank 4, 3 and 2 inputs,
// with the default and a larger epsilon.
TEST(BatchNorm, Ranks) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x4 = g.input("x4", {fe::kDynamic, 13, 7, 9});
  fe::Value x3 = g.input("x3", {fe::kDynamic, 5, 9});
  fe::Value x2 = g.input("x2", {fe::kDynamic, 13});
  BnParams p13 = bnParams(g, "bn13", 13, rng);
  BnParams p5 = bnParams(g, "bn5", 5, rng);
  BnParams q13 = bnParams(g, "bn13b", 13, rng);
  g.output(g.batchNorm(x4, p13.weight, p13.bias, p13.mean, p13.var, 1e-5f, "rank4"), "rank4");
  g.output(g.batchNorm(x3, p5.weight, p5.bias, p5.mean, p5.var, 1e-3f, "rank3_eps1e-3"),
           "rank3_eps1e-3");
  g.output(g.batchNorm(x2, q13.weight, q13.bias, q13.mean, q13.var, 1e-5f, "rank2"), "rank2");
  CheckSpec spec;
  spec.ranges["x4"] = spec.ranges["x3"] = spec.ranges["x2"] = InputRange{-3.0, 3.0};
  checkGraph(g, spec);
}

// More than 8192 elements per item (3 * 61 * 47 = 8601): a pointwise kernel
// splits each row into chunks, and a chunk boundary falls inside a channel.
TEST(Binary, RowsLongerThanOneChunk) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 3, 61, 47});
  fe::Value y = g.input("y", {fe::kDynamic, 3, 61, 47});
  fe::Value chan = randomParam(g, "chan", {3, 1, 1}, rng);
  g.output(g.relu(g.add(g.mul(x, y, "mul"), chan, "add"), "relu"), "chain");
  g.output(g.sub(chan, x, "chan_minus_x"), "chan_minus_x");
  checkGraph(g, {});
}

// A rank-1 [N] tensor: the batch is the only dimension.
TEST(Activations, Rank1Batch) {
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic});
  g.output(g.relu(x, "relu"), "relu");
  g.output(g.sigmoid(x, "sigmoid"), "sigmoid");
  checkGraph(g, {});
}
