// reshape, flatten and transpose against the reference: on graph inputs (a view
// of an argument that is returned must be copied to the output), between
// kernels (a view aliases its producer's arena buffer), and transposes with
// the batch kept first. Data movement only: results must be exact, which
// accumulation(1) more than covers.
#include "NumericsHarness.h"

#include <gtest/gtest.h>

using namespace kiln;
using namespace kiln::numtest;

TEST(Views, ReshapeAndFlattenOfInput) {
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 5, 7, 9});
  g.output(g.reshape(x, {fe::kDynamic, 35, 9}, "reshape_35x9"), "reshape_35x9");
  g.output(g.reshape(x, {fe::kDynamic, 3, 105}, "reshape_3x105"), "reshape_3x105");
  g.output(g.flatten(x, 1, "flatten1"), "flatten1");
  g.output(g.flatten(x, -2, "flatten_from_2"), "flatten_from_2");
  checkGraph(g, {});
}

// relu -> view -> sigmoid: the view is an alias between two kernels, and the
// second kernel indexes the first one's buffer with the new shape.
TEST(Views, BetweenKernels) {
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 5, 7, 9});
  fe::Value r = g.relu(x, "relu");
  fe::Value flat = g.flatten(r, 1, "flat");
  g.output(g.sigmoid(flat, "flat_sigmoid"), "flat_sigmoid");
  fe::Value reshaped = g.reshape(g.hardswish(x, "hs"), {fe::kDynamic, 63, 5}, "reshaped");
  g.output(g.relu6(reshaped, "reshaped_relu6"), "reshaped_relu6");
  CheckSpec spec;
  spec.ranges["x"] = InputRange{-4.0, 4.0};
  spec.alsoUnfused = true;
  checkGraph(g, spec);
}

TEST(Transpose, BatchFirstPermutations) {
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 5, 7, 9});
  fe::Value y = g.input("y", {fe::kDynamic, 13, 7});
  g.output(g.transpose(x, {0, 2, 3, 1}, "nchw_to_nhwc"), "nchw_to_nhwc");
  g.output(g.transpose(x, {0, 3, 1, 2}, "perm_0312"), "perm_0312");
  g.output(g.transpose(x, {0, 1, 3, 2}, "swap_hw"), "swap_hw");
  g.output(g.transpose(y, {0, 2, 1}, "rank3_swap"), "rank3_swap");
  checkGraph(g, {});
}

// transpose -> transpose folds to one; transpose -> elementwise fuses into the
// transpose's kernel (an injective anchor) and must read the permuted element.
TEST(Transpose, ComposedAndWithEpilogue) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 5, 7, 9});
  fe::Value t = g.transpose(g.transpose(x, {0, 2, 3, 1}, "t1"), {0, 2, 1, 3}, "t2");
  g.output(t, "composed");
  fe::Value u = g.transpose(x, {0, 3, 2, 1}, "t3"); // [?, 9, 7, 5]
  fe::Value scale = randomParam(g, "scale", {5}, rng);
  g.output(g.relu(g.mul(u, scale, "scaled"), "scaled_relu"), "scaled_relu");
  CheckSpec spec;
  spec.alsoUnfused = true;
  checkGraph(g, spec);
}

// Returned values that a kernel cannot write in place: an argument, a value
// returned twice, a parameter; and a view of a kernel result returned directly.
TEST(Views, ReturnedValuesThatNeedCopies) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 5, 7, 9});
  g.output(x, "identity");
  fe::Value r = g.relu(x, "relu");
  g.output(r, "relu_a");
  g.output(r, "relu_b");
  g.output(g.flatten(g.sigmoid(x, "sigmoid"), 1, "flat_sigmoid"), "flat_sigmoid");
  g.output(randomParam(g, "param", {5, 3}, rng), "param");
  checkGraph(g, {});
}

// A transpose may move the batch out of dim 0 (the dialect propagates the
// dynamic dim); moving it back makes a graph with batch-first inputs and
// outputs whose intermediate is [5, ?, 7, 9].
TEST(Transpose, BatchMovedAndBack) {
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 5, 7, 9});
  fe::Value moved = g.transpose(x, {1, 0, 2, 3}, "moved");
  fe::Value back = g.transpose(g.relu(moved, "relu"), {1, 0, 3, 2}, "back");
  g.output(back, "y");
  checkGraph(g, {});
}
