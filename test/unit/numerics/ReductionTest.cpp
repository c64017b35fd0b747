// softmax, log_softmax, reduce_sum and reduce_mean against the reference, on
// the innermost axis and on strided (non-innermost) axes, with keepdim true and
// false and several axis sets.
#include "NumericsHarness.h"

#include <gtest/gtest.h>

using namespace kiln;
using namespace kiln::numtest;

namespace {

/// softmax and log_softmax of `x` along `axis`; `extent` is that axis' size.
void addSoftmaxes(fe::Graph &g, fe::Value x, int64_t axis, int64_t extent,
                  const std::string &tag, CheckSpec &spec) {
  const std::string s = "softmax_" + tag, l = "log_softmax_" + tag;
  g.output(g.softmax(x, axis, s), s);
  g.output(g.logSoftmax(x, axis, l), l);
  // exp() is accurate to a few ulps; the denominator sums `extent` positive
  // terms (no cancellation) and the division or log adds one rounding.
  spec.tolerances[s] = spec.tolerances[l] = accumulation(extent + 4);
}

} // namespace

// U(-30, 30) inputs spread the probabilities over ~26 orders of magnitude, so
// log_softmax's large negative values (where softmax underflows toward 0) are
// checked to relative precision too. Axis 1 and 2 of the rank-4 input are
// strided: the row walks across the faster dims.
TEST(Softmax, AxesOfRank2AndRank4) {
  fe::Graph g;
  fe::Value v = g.input("v", {fe::kDynamic, 13});
  fe::Value x = g.input("x", {fe::kDynamic, 5, 7, 9});
  CheckSpec spec;
  addSoftmaxes(g, v, -1, 13, "rank2_last", spec);
  addSoftmaxes(g, x, 1, 5, "rank4_axis1", spec);
  addSoftmaxes(g, x, 2, 7, "rank4_axis2", spec);
  addSoftmaxes(g, x, -1, 9, "rank4_last", spec);
  spec.ranges["v"] = spec.ranges["x"] = InputRange{-30.0, 30.0};
  checkGraph(g, spec);
}

// Large inputs (+-1000): exp() of an unshifted value would overflow to inf.
TEST(Softmax, NeedsMaxSubtraction) {
  fe::Graph g;
  fe::Value v = g.input("v", {fe::kDynamic, 7});
  CheckSpec spec;
  addSoftmaxes(g, v, 1, 7, "large", spec);
  spec.ranges["v"] = InputRange{-1000.0, 1000.0};
  checkGraph(g, spec);
}

TEST(Reduce, SumAndMeanAxesKeepdim) {
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 5, 7, 9});
  CheckSpec spec;
  struct Case {
    std::string name;
    std::vector<int64_t> axes;
    bool keepdim;
    int64_t terms;
  };
  const std::vector<Case> cases = {
      {"axis1", {1}, false, 5},           {"axis1_keep", {1}, true, 5},
      {"hw_keep", {2, 3}, true, 63},      {"hw", {2, 3}, false, 63},
      {"last", {-1}, false, 9},           {"axes_3_1_unsorted", {3, 1}, false, 45},
      {"axis2_keep", {2}, true, 7},       {"all_but_batch_keep", {1, 2, 3}, true, 315},
  };
  for (const Case &c : cases) {
    const std::string s = "sum_" + c.name, m = "mean_" + c.name;
    g.output(g.reduceSum(x, c.axes, c.keepdim, s), s);
    g.output(g.reduceMean(x, c.axes, c.keepdim, m), m);
    // A sum of `terms` values (and one division for the mean).
    spec.tolerances[s] = accumulation(c.terms);
    spec.tolerances[m] = accumulation(c.terms + 1);
  }
  checkGraph(g, spec);
}

// Reducing every non-batch dim without keepdim leaves a rank-1 [N] result.
TEST(Reduce, AllButBatchToRank1) {
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 5, 7, 9});
  g.output(g.reduceSum(x, {1, 2, 3}, false, "sum"), "sum");
  g.output(g.reduceMean(x, {1, 2, 3}, false, "mean"), "mean");
  CheckSpec spec;
  spec.tolerance = accumulation(315 + 1);
  checkGraph(g, spec);
}

// Reducing over the batch axis: the result has no batch dimension (a fixed
// size whatever the batch), and every item contributes to every output.
TEST(Reduce, OverTheBatchAxis) {
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 5, 7});
  g.output(g.reduceSum(x, {0}, false, "sum_batch"), "sum_batch");
  g.output(g.reduceMean(x, {0, 2}, true, "mean_batch_w_keep"), "mean_batch_w_keep");
  CheckSpec spec;
  // At most 17 * 7 terms (batch 17).
  spec.tolerance = accumulation(17 * 7 + 1);
  checkGraph(g, spec);
}
