// Pooling against the reference (PyTorch's window rules): padding, ceil_mode
// (including a last window that is dropped because it would start in the right
// padding), count_include_pad=false, strides smaller and larger than the
// kernel, rectangular windows, global average pooling.
#include "NumericsHarness.h"

#include <gtest/gtest.h>

using namespace kiln;
using namespace kiln::numtest;

namespace {

struct PoolCase {
  std::string name;
  std::array<int64_t, 2> kernel;
  std::vector<int64_t> stride; // empty: the kernel
  std::array<int64_t, 2> padding{0, 0};
  bool ceil = false;
  bool includePad = true;
};

void addPools(fe::Graph &g, fe::Value x, bool max, const std::vector<PoolCase> &cases,
              CheckSpec &spec) {
  for (const PoolCase &c : cases) {
    fe::Value y = max ? g.maxPool2d(x, c.kernel, c.stride, c.padding, c.ceil, c.name)
                      : g.avgPool2d(x, c.kernel, c.stride, c.padding, c.ceil, c.includePad,
                                    c.name);
    g.output(y, c.name);
    // max: exact. avg: a sum of at most KH * KW terms and one division.
    spec.tolerances[c.name] = accumulation(max ? 1 : c.kernel[0] * c.kernel[1] + 1);
  }
}

} // namespace

// On 13x13 (odd) with 5 channels.
TEST(MaxPool2d, WindowsOnOddImage) {
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 5, 13, 13});
  CheckSpec spec;
  addPools(g, x, true,
           {{"k3_s2_p1", {3, 3}, {2, 2}, {1, 1}},
            {"k2_floor", {2, 2}, {}},
            {"k2_ceil", {2, 2}, {}, {0, 0}, true},
            {"k3_s1_p1_overlap", {3, 3}, {1, 1}, {1, 1}},
            {"k2_s3_gaps", {2, 2}, {3, 3}},
            {"k3x2_s2x1_p1x0", {3, 2}, {2, 1}, {1, 0}}},
           spec);
  checkGraph(g, spec);
}

// All-negative inputs, so a window that picked up zero padding would return 0
// instead of its largest input. ceil_mode: k3 s2 p1 on 6x6 gets a 4th window
// (floor gives 3) that starts at input row 5 and hangs over the right
// padding; k2 s2 p1 on 5x5 would get a 4th window starting at input row 5 = H,
// entirely in the padding, which PyTorch drops (3 windows).
TEST(MaxPool2d, PaddingAndCeilModeOnNegatives) {
  fe::Graph g;
  fe::Value x6 = g.input("x6", {fe::kDynamic, 3, 6, 6});
  fe::Value x5 = g.input("x5", {fe::kDynamic, 7, 5, 5});
  CheckSpec spec;
  addPools(g, x6, true,
           {{"k3_s2_p1", {3, 3}, {2, 2}, {1, 1}}, {"k3_s2_p1_ceil", {3, 3}, {2, 2}, {1, 1}, true}},
           spec);
  addPools(g, x5, true, {{"k2_s2_p1_ceil_dropped", {2, 2}, {2, 2}, {1, 1}, true}}, spec);
  spec.ranges["x6"] = spec.ranges["x5"] = InputRange{-2.0, -1.0};
  // The cases are what their names say (shapes from the frontend's rules).
  ASSERT_EQ(g.node(g.outputs()[1]).shape, (fe::Shape{fe::kDynamic, 3, 4, 4}));
  ASSERT_EQ(g.node(g.outputs()[2]).shape, (fe::Shape{fe::kDynamic, 7, 3, 3}));
  checkGraph(g, spec);
}

TEST(AvgPool2d, PaddingAndCountIncludePad) {
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 5, 13, 13});
  CheckSpec spec;
  addPools(g, x, false,
           {{"k3_s2_p1_incl", {3, 3}, {2, 2}, {1, 1}, false, true},
            {"k3_s2_p1_excl", {3, 3}, {2, 2}, {1, 1}, false, false},
            {"k3_s1_p1_excl", {3, 3}, {1, 1}, {1, 1}, false, false},
            {"k2_s3_gaps", {2, 2}, {3, 3}},
            {"k3x2_s1x2_p1x1_incl", {3, 2}, {1, 2}, {1, 1}, false, true},
            {"k3x2_s1x2_p1x1_excl", {3, 2}, {1, 2}, {1, 1}, false, false}},
           spec);
  checkGraph(g, spec);
}

// ceil_mode: the last window is clipped to the (padded) input, and the divisor
// follows PyTorch (the clipped padded size with count_include_pad, else the
// number of input elements).
TEST(AvgPool2d, CeilMode) {
  fe::Graph g;
  fe::Value x13 = g.input("x13", {fe::kDynamic, 5, 13, 13});
  fe::Value x6 = g.input("x6", {fe::kDynamic, 3, 6, 6});
  fe::Value x5 = g.input("x5", {fe::kDynamic, 7, 5, 5});
  CheckSpec spec;
  addPools(g, x13, false,
           {{"k2_ceil_incl", {2, 2}, {}, {0, 0}, true, true},
            {"k2_ceil_excl", {2, 2}, {}, {0, 0}, true, false}},
           spec);
  addPools(g, x6, false,
           {{"k3_s2_p1_ceil_incl", {3, 3}, {2, 2}, {1, 1}, true, true},
            {"k3_s2_p1_ceil_excl", {3, 3}, {2, 2}, {1, 1}, true, false}},
           spec);
  addPools(g, x5, false,
           {{"k2_s2_p1_ceil_dropped_incl", {2, 2}, {2, 2}, {1, 1}, true, true},
            {"k2_s2_p1_ceil_dropped_excl", {2, 2}, {2, 2}, {1, 1}, true, false}},
           spec);
  checkGraph(g, spec);
}

TEST(GlobalAvgPool, OddSizes) {
  fe::Graph g;
  fe::Value a = g.input("a", {fe::kDynamic, 5, 9, 9});
  fe::Value b = g.input("b", {fe::kDynamic, 7, 15, 13});
  fe::Value c = g.input("c", {fe::kDynamic, 13, 1, 1});
  g.output(g.globalAvgPool(a, "gap_9x9"), "gap_9x9");
  g.output(g.globalAvgPool(b, "gap_15x13"), "gap_15x13");
  g.output(g.globalAvgPool(c, "gap_1x1"), "gap_1x1");
  CheckSpec spec;
  spec.tolerances["gap_9x9"] = accumulation(81 + 1);
  spec.tolerances["gap_15x13"] = accumulation(195 + 1);
  spec.tolerances["gap_1x1"] = accumulation(1);
  checkGraph(g, spec);
}
