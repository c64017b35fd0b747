// Fused chains: each graph is compiled twice (fusion on and off); both
// artifacts must match the reference, and each other within 1e-5 relative L2
// (checkGraph with alsoUnfused). Each test also pins the fused kernel list, so
// that a chain that silently stops fusing (and only passes because the unfused
// path is correct) is noticed.
#include "NumericsHarness.h"

#include <gtest/gtest.h>

using namespace kiln;
using namespace kiln::numtest;

namespace {

constexpr int64_t D = fe::kDynamic;

CheckSpec fusedSpec(Tolerance tol) {
  CheckSpec spec;
  spec.alsoUnfused = true;
  spec.tolerance = tol;
  return spec;
}

fe::Value conv(fe::Graph &g, fe::Value x, const std::string &name, int64_t cout,
               std::array<int64_t, 2> k, std::array<int64_t, 2> stride,
               std::array<int64_t, 2> pad, bool bias, fe::Rng &rng) {
  const int64_t cin = x.dim(1);
  fe::Value w = weightParam(g, name + ".weight", {cout, cin, k[0], k[1]}, cin * k[0] * k[1], rng);
  fe::Value b = bias ? randomParam(g, name + ".bias", {cout}, rng, -0.5, 0.5) : fe::Value();
  return g.conv2d(x, w, b, stride, pad, {1, 1}, 1, name);
}

/// Two [D, 5, 7, 9] inputs and a per-channel "mean", for the reductions over
/// N, H and W of batch-norm statistics.
struct StatisticsInputs {
  fe::Value x, a, mean;
};
StatisticsInputs statisticsInputs(fe::Graph &g, fe::Rng &rng) {
  return {g.input("x", {D, 5, 7, 9}), g.input("a", {D, 5, 7, 9}),
          randomParam(g, "mean", {5, 1, 1}, rng)};
}

/// Fused and unfused against the reference; a sum over N, H and W has up to
/// 17 * 63 addends (the harness's largest batch is 17).
CheckSpec statisticsSpec() {
  CheckSpec spec = fusedSpec(accumulation(17 * 63 + 4));
  spec.ranges["x"] = InputRange{-3.0, 3.0};
  return spec;
}

fe::Value bn(fe::Graph &g, fe::Value x, const std::string &name, fe::Rng &rng) {
  BnParams p = bnParams(g, name, x.dim(1), rng);
  return g.batchNorm(x, p.weight, p.bias, p.mean, p.var, 1e-5f, name);
}

} // namespace

// conv (with its bias operand) + batch_norm + relu -> one kernel.
TEST(FusedChain, ConvBiasBnRelu) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {D, 3, 9, 9});
  fe::Value y = g.relu(bn(g, conv(g, x, "conv", 5, {3, 3}, {1, 1}, {1, 1}, true, rng), "bn", rng));
  g.output(y, "y");
  auto r = checkGraph(g, fusedSpec(accumulation(27 + 1 + 4)));
  EXPECT_EQ(kernelList(r.fused), "conv2d+batch_norm+relu");
  EXPECT_EQ(kernelList(r.unfused), "conv2d | batch_norm | relu");
}

// conv without bias, then the bias as an explicit per-channel add [C,1,1],
// batch norm and relu6; stride 2 with padding on an odd image.
TEST(FusedChain, ConvAddBiasBnRelu6Strided) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {D, 5, 15, 15});
  fe::Value c = conv(g, x, "conv", 7, {3, 3}, {2, 2}, {1, 1}, false, rng);
  fe::Value biased = g.add(c, randomParam(g, "bias", {7, 1, 1}, rng, -0.5, 0.5), "bias_add");
  g.output(g.relu6(bn(g, biased, "bn", rng)), "y");
  CheckSpec spec = fusedSpec(accumulation(45 + 1 + 4));
  spec.ranges["x"] = InputRange{-3.0, 3.0}; // reaches relu6's upper clamp
  auto r = checkGraph(g, spec);
  EXPECT_EQ(kernelList(r.fused), "conv2d+add+batch_norm+relu6");
}

// A basic residual block with an identity shortcut:
// relu(bn2(conv2(relu(bn1(conv1(x))))) + x).
TEST(FusedChain, ConvBnResidualAddRelu) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {D, 7, 9, 9});
  fe::Value a = g.relu(bn(g, conv(g, x, "conv1", 7, {3, 3}, {1, 1}, {1, 1}, false, rng), "bn1", rng));
  fe::Value b = bn(g, conv(g, a, "conv2", 7, {3, 3}, {1, 1}, {1, 1}, false, rng), "bn2", rng);
  g.output(g.relu(g.add(b, x, "residual")), "y");
  auto r = checkGraph(g, fusedSpec(accumulation(63 + 6)));
  EXPECT_EQ(kernelList(r.fused), "conv2d+batch_norm+relu | conv2d+batch_norm+add+relu");
}

// A downsampling residual block (ResNet's option B shortcut): the shortcut is
// conv1x1 stride 2 + bn, added to the main path; odd 13x13 input, 5 -> 13
// channels. The shortcut's kernel result is read by the last kernel's epilogue.
TEST(FusedChain, DownsampleResidualBlock) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {D, 5, 13, 13});
  fe::Value a =
      g.relu(bn(g, conv(g, x, "conv1", 13, {3, 3}, {2, 2}, {1, 1}, false, rng), "bn1", rng));
  fe::Value b = bn(g, conv(g, a, "conv2", 13, {3, 3}, {1, 1}, {1, 1}, false, rng), "bn2", rng);
  fe::Value s = bn(g, conv(g, x, "shortcut", 13, {1, 1}, {2, 2}, {0, 0}, false, rng), "bn_s", rng);
  g.output(g.relu(g.add(b, s, "residual")), "y");
  // conv2 sums 13 * 9 = 117 products of values that carry conv1's error.
  auto r = checkGraph(g, fusedSpec(accumulation(117 + 45 + 6)));
  // The add reads two open groups and joins the one created last (the
  // shortcut's); the main path's conv2+bn2 is written out for it.
  EXPECT_EQ(kernelList(r.fused),
            "conv2d+batch_norm+relu | conv2d+batch_norm | conv2d+batch_norm+add+relu");
}

// linear + relu, linear (no bias) + batch_norm + relu6, matmul + broadcast bias
// + sigmoid: GEMM epilogues.
TEST(FusedChain, GemmEpilogues) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {D, 13});
  g.output(g.relu(g.linear(x, weightParam(g, "w1", {7, 13}, 13, rng),
                           randomParam(g, "b1", {7}, rng, -0.5, 0.5))),
           "linear_relu");
  BnParams p = bnParams(g, "bn", 5, rng);
  fe::Value l2 = g.linear(x, weightParam(g, "w2", {5, 13}, 13, rng), fe::Value());
  g.output(g.relu6(g.batchNorm(l2, p.weight, p.bias, p.mean, p.var)), "linear_bn_relu6");
  fe::Value m = g.matmul(x, weightParam(g, "w3", {13, 9}, 13, rng));
  g.output(g.sigmoid(g.add(m, randomParam(g, "b3", {9}, rng))), "matmul_bias_sigmoid");
  auto r = checkGraph(g, fusedSpec(accumulation(13 + 4)));
  EXPECT_EQ(kernelList(r.fused), "linear+relu | linear+batch_norm+relu6 | matmul+add+sigmoid");
}

// Pooling anchors with activation epilogues, and a squeeze-and-excitation
// style gate: global pool -> linear -> sigmoid -> reshape [?, C, 1, 1] ->
// multiply back onto the image (a broadcast operand that carries the batch).
TEST(FusedChain, PoolEpiloguesAndGate) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {D, 5, 13, 13});
  g.output(g.relu(g.maxPool2d(x, {3, 3}, {2, 2}, {1, 1})), "maxpool_relu");
  g.output(g.relu6(g.avgPool2d(x, {3, 3}, {2, 2}, {1, 1}, true, false)), "avgpool_relu6");
  fe::Value squeezed = g.flatten(g.globalAvgPool(x), 1);
  fe::Value gate = g.sigmoid(g.linear(squeezed, weightParam(g, "se.w", {5, 5}, 5, rng),
                                      randomParam(g, "se.b", {5}, rng)));
  g.output(g.mul(x, g.reshape(gate, {D, 5, 1, 1})), "gated");
  CheckSpec spec = fusedSpec(accumulation(169 + 5 + 4));
  spec.ranges["x"] = InputRange{-8.0, 8.0};
  auto r = checkGraph(g, spec);
  EXPECT_EQ(kernelList(r.fused),
            "max_pool2d+relu | avg_pool2d+relu6 | global_avg_pool | linear+sigmoid | mul");
}

// (a * b + c) -> sigmoid, and hardswish(x) * y - z / w: pure elementwise
// chains over several inputs, each one kernel.
TEST(FusedChain, ElementwiseChains) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value a = g.input("a", {D, 5, 7, 9});
  fe::Value b = g.input("b", {D, 5, 7, 9});
  fe::Value c = g.input("c", {D, 5, 7, 9});
  fe::Value w = g.input("w", {D, 5, 7, 9});
  g.output(g.sigmoid(g.add(g.mul(a, b), c)), "mul_add_sigmoid");
  fe::Value chan = randomParam(g, "chan", {5, 1, 1}, rng);
  fe::Value scaled = g.mul(g.hardswish(a), chan);
  fe::Value quotient = g.div(b, w);
  g.output(g.sub(scaled, quotient), "hardswish_mul_sub_div");
  CheckSpec spec = fusedSpec(accumulation(4));
  spec.ranges["a"] = InputRange{-5.0, 5.0};
  spec.ranges["w"] = InputRange{0.5, 2.0, /*randomSign=*/true};
  auto r = checkGraph(g, spec);
  // sub reads two open groups (hardswish*chan and b/w): it joins the one
  // created last, and the other one (read by nothing else) moves into it.
  EXPECT_EQ(kernelList(r.fused), "mul+add+sigmoid | hardswish+mul+div+sub");
}

// A value with two users is not fused into either (its kernel must write it
// out): conv -> {relu, sigmoid} -> add (sigmoid's own group then moves into
// the add's: its only reader); relu(x) squared; an intermediate that is also a
// graph output and is read again.
TEST(FusedChain, ValueUsedTwice) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {D, 3, 9, 9});
  fe::Value t = conv(g, x, "conv", 5, {3, 3}, {1, 1}, {1, 1}, true, rng);
  g.output(g.add(g.relu(t), g.sigmoid(t)), "relu_plus_sigmoid");
  fe::Value r = g.relu(x);
  g.output(g.mul(r, r), "relu_squared");
  fe::Value v = g.input("v", {D, 13});
  fe::Value hidden = g.relu(g.linear(v, weightParam(g, "w1", {7, 13}, 13, rng),
                                     randomParam(g, "b1", {7}, rng)));
  g.output(hidden, "hidden");
  g.output(g.linear(hidden, weightParam(g, "w2", {3, 7}, 7, rng), fe::Value()), "head");
  auto result = checkGraph(g, fusedSpec(accumulation(27 + 4)));
  EXPECT_EQ(kernelList(result.fused),
            "conv2d | sigmoid+relu+add | relu+mul | linear+relu | linear");
}

// Reduction anchors with epilogues: softmax * [W] + [C,1,1]; log_softmax on
// the channel axis + a constant, relu; reduce_mean (keepdim) + [C,1,1],
// sigmoid; and x - reduce_mean(x) over W (not the same mean, or CSE would
// share it and leave no epilogue to test), where the reduction's result is
// stretched back over the rows (a consumer that changes the shape: not fused).
TEST(FusedChain, ReductionEpilogues) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {D, 5, 7, 9});
  fe::Value scale = randomParam(g, "scale", {9}, rng);
  fe::Value shift = randomParam(g, "shift", {5, 1, 1}, rng);
  g.output(g.add(g.mul(g.softmax(x, -1), scale), shift), "softmax_affine");
  g.output(g.relu(g.add(g.logSoftmax(x, 1), g.constant({1}, {2.0f}))), "log_softmax_shift_relu");
  g.output(g.sigmoid(g.add(g.reduceMean(x, {2, 3}, true), shift)), "mean_shift_sigmoid");
  g.output(g.sub(x, g.reduceMean(x, {3}, true)), "centered");
  CheckSpec spec = fusedSpec(accumulation(63 + 4));
  spec.ranges["x"] = InputRange{-4.0, 4.0};
  auto r = checkGraph(g, spec);
  EXPECT_EQ(kernelList(r.fused), "softmax+mul+add | log_softmax+add+relu | "
                                 "reduce_mean+add+sigmoid | reduce_mean | sub");
}

// Producer fusion into reductions: batch-norm's variance reduce_mean((x -
// mean)^2) over N, H, W is one kernel with sub+mul as the reduction's
// prologue, and reduce_sum(a * b) never stores the product. A producer that is
// also a graph output stays a kernel (its value is needed anyway). A prologue
// input that varies along H but not W ([7, 1]) keeps H and W as two loops.
TEST(FusedChain, ReductionPrologues) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  auto [x, a, mean] = statisticsInputs(g, rng);
  fe::Value rows = randomParam(g, "rows", {7, 1}, rng);
  fe::Value centered = g.sub(x, mean);
  g.output(g.reduceMean(g.mul(centered, centered), {0, 2, 3}), "variance");
  g.output(g.reduceSum(g.mul(x, a), {0, 2, 3}), "sum_of_products");
  fe::Value shifted = g.add(a, mean);
  g.output(shifted, "shifted");
  g.output(g.reduceSum(shifted, {0, 3}), "shifted_sum");
  g.output(g.reduceSum(g.mul(x, rows), {2, 3}, true), "row_weighted_sum");
  auto r = checkGraph(g, statisticsSpec());
  EXPECT_EQ(kernelList(r.fused), "sub+mul+reduce_mean | mul+reduce_sum | add | reduce_sum | "
                                 "mul+reduce_sum");
}

// Recomputation: batch norm's x - mean is read by the variance reduction and
// by the normalisation (then relu): each recomputes it from x, one kernel each
// and nothing stored. x * a reads two tensors of its size, so it stays a
// kernel that both its readers load.
TEST(FusedChain, CheapProducersAreRecomputedByEachReader) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  auto [x, a, mean] = statisticsInputs(g, rng);
  fe::Value scale = randomParam(g, "scale", {5, 1, 1}, rng);
  fe::Value centered = g.sub(x, mean);
  g.output(g.reduceMean(g.mul(centered, centered), {0, 2, 3}), "variance");
  g.output(g.relu(g.mul(centered, scale)), "normalised");
  fe::Value product = g.mul(x, a);
  g.output(g.reduceSum(product, {0, 2, 3}), "sum_of_products");
  g.output(g.sigmoid(product), "gate");
  auto r = checkGraph(g, statisticsSpec());
  EXPECT_EQ(kernelList(r.fused),
            "sub+mul+reduce_mean | sub+mul+relu | mul | reduce_sum | sigmoid");
}

// A LeNet-like stack: conv -> relu -> maxpool -> conv -> relu -> avgpool ->
// flatten -> linear -> relu -> linear -> log_softmax, on odd sizes.
TEST(FusedChain, SmallConvNet) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {D, 3, 15, 15});
  fe::Value a = g.maxPool2d(g.relu(conv(g, x, "c1", 5, {3, 3}, {1, 1}, {1, 1}, true, rng)), {2, 2},
                            {}, {0, 0}, /*ceil=*/true);                          // [?,5,8,8]
  fe::Value b = g.avgPool2d(g.relu(conv(g, a, "c2", 7, {3, 3}, {1, 1}, {0, 0}, true, rng)), {3, 3},
                            {2, 2});                                              // [?,7,2,2]
  fe::Value f = g.flatten(b, 1);                                                  // [?,28]
  fe::Value h = g.relu(g.linear(f, weightParam(g, "fc1.w", {13, 28}, 28, rng),
                                randomParam(g, "fc1.b", {13}, rng)));
  fe::Value logits = g.linear(h, weightParam(g, "fc2.w", {10, 13}, 13, rng),
                              randomParam(g, "fc2.b", {10}, rng));
  g.output(g.logSoftmax(logits, 1), "log_probs");
  auto r = checkGraph(g, fusedSpec(accumulation(45 + 28 + 13 + 27)));
  EXPECT_EQ(kernelList(r.fused), "conv2d+relu | max_pool2d | conv2d+relu | avg_pool2d | "
                                 "linear+relu | linear | log_softmax");
}

// Epilogue operands broadcast in every way the iteration space has to honour:
// conv + [?, C, 1, 1] (per item and channel) + [OH, 1] -> relu; conv * [?, 1,
// OH, OW] (per item and pixel) + [OW] (which keeps oh and ow from being merged);
// linear + [?, 1] (per row) * [1]; max_pool + [C, 1, 1] -> relu.
TEST(FusedChain, BroadcastEpilogues) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {D, 3, 9, 7});
  fe::Value pix = g.input("pix", {D, 5, 1, 1});
  fe::Value col = g.input("col", {D, 1, 5, 4});
  fe::Value v = g.input("v", {D, 13});
  fe::Value rowScale = g.input("row", {D, 1});
  fe::Value c1 = conv(g, x, "c1", 5, {3, 3}, {1, 1}, {1, 1}, true, rng); // [?,5,9,7]
  fe::Value hcol = randomParam(g, "hcol", {9, 1}, rng);
  fe::Value a1 = g.add(c1, pix);
  g.output(g.relu(g.add(a1, hcol)), "conv_pix_hcol_relu");
  fe::Value c2 = conv(g, x, "c2", 5, {3, 3}, {2, 2}, {1, 1}, false, rng); // [?,5,5,4]
  fe::Value ow = randomParam(g, "ow", {4}, rng);
  fe::Value m2 = g.mul(c2, col);
  g.output(g.add(m2, ow), "conv_col_ow");
  fe::Value l = g.linear(v, weightParam(g, "w", {7, 13}, 13, rng), fe::Value());
  fe::Value scalar = randomParam(g, "scalar", {1}, rng);
  fe::Value lr = g.add(l, rowScale);
  g.output(g.mul(lr, scalar), "linear_row_scalar");
  fe::Value chan = randomParam(g, "chan", {3, 1, 1}, rng);
  fe::Value p = g.maxPool2d(x, {3, 3}, {2, 2}, {1, 1});
  g.output(g.relu(g.add(p, chan)), "maxpool_chan_relu");
  auto r = checkGraph(g, fusedSpec(accumulation(27 + 4)));
  EXPECT_EQ(kernelList(r.fused),
            "conv2d+add+add+relu | conv2d+mul+add | linear+add+mul | max_pool2d+add+relu");
}

// Values that stay live across several kernels while the memory planner
// reuses the bytes of everything else: x0 is read by the last kernel, x1 by
// the last two; a kernel that wrote over either would corrupt the result.
TEST(FusedChain, LongLivedValues) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {D, 5, 9, 9});
  fe::Value x0 = g.relu(x, "x0");
  fe::Value x1 = g.sigmoid(conv(g, x0, "c1", 5, {3, 3}, {1, 1}, {1, 1}, true, rng), "x1");
  fe::Value x2 = g.relu(conv(g, x1, "c2", 5, {3, 3}, {1, 1}, {1, 1}, true, rng), "x2");
  fe::Value x3 = g.hardswish(conv(g, x2, "c3", 5, {1, 1}, {1, 1}, {0, 0}, false, rng), "x3");
  fe::Value x4 = g.add(x3, x1, "x4");
  g.output(g.mul(x4, x0, "x5"), "y");
  checkGraph(g, fusedSpec(accumulation(45 * 3 + 4)));
}
