// conv2d against the reference: strides, padding, dilation, groups (depthwise
// included), with and without bias, awkward channel counts and odd image sizes.
// Several convolutions of one input share a graph; each is its own output (and
// kernel), so a failure names the case.
#include "NumericsHarness.h"

#include <gtest/gtest.h>

using namespace kiln;
using namespace kiln::numtest;

namespace {

struct ConvCase {
  std::string name;
  int64_t cout;
  std::array<int64_t, 2> kernel;
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
  bool bias = true;
};

/// One graph: input x [?, cin, h, w] and one output per case.
void checkConvs(int64_t cin, int64_t h, int64_t w, const std::vector<ConvCase> &cases,
                CheckSpec spec = {}) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, cin, h, w});
  for (const ConvCase &c : cases) {
    const int64_t cinG = cin / c.groups;
    const int64_t fanIn = cinG * c.kernel[0] * c.kernel[1];
    fe::Value wt = weightParam(g, c.name + ".weight", {c.cout, cinG, c.kernel[0], c.kernel[1]},
                               fanIn, rng);
    fe::Value b;
    if (c.bias)
      b = randomParam(g, c.name + ".bias", {c.cout}, rng, -0.5, 0.5);
    g.output(g.conv2d(x, wt, b, c.stride, c.padding, c.dilation, c.groups, c.name), c.name);
    // Every output element sums fanIn products (+ the bias).
    spec.tolerances[c.name] = accumulation(fanIn + (c.bias ? 1 : 0));
  }
  checkGraph(g, spec);
}

} // namespace

// 3 input channels (not a multiple of 8) on a 9x9 image.
TEST(Conv2d, StridesAndPadding) {
  checkConvs(3, 9, 9,
             {{"k3_s1_p1_bias", 5, {3, 3}, {1, 1}, {1, 1}},
              {"k3_s2_p1_nobias", 7, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 1, false},
              {"k3_s3_p1", 13, {3, 3}, {3, 3}, {1, 1}},
              {"k1_s2_shortcut", 5, {1, 1}, {2, 2}, {0, 0}},
              {"k5_p2", 7, {5, 5}, {1, 1}, {2, 2}},
              {"k3_nopad", 5, {3, 3}},
              // Padding wider than the kernel's reach: border outputs whose
              // whole window lies in the zero padding (just the bias).
              {"k3_s2_p3_wide_pad", 5, {3, 3}, {2, 2}, {3, 3}},
              {"k1x3_p2x0", 3, {1, 3}, {1, 1}, {2, 0}}});
}

// Dilation and rectangular kernels/strides/padding on a 13x13 image.
TEST(Conv2d, DilationAndRectangularWindows) {
  checkConvs(5, 13, 13,
             {{"k3_d2_p2", 7, {3, 3}, {1, 1}, {2, 2}, {2, 2}},
              {"k3_d3_s2_p1_nobias", 5, {3, 3}, {2, 2}, {1, 1}, {3, 3}, 1, false},
              {"k3x2_s2x1_p2x0_d2x1", 7, {3, 2}, {2, 1}, {2, 0}, {2, 1}},
              {"k1x3_p0x1", 3, {1, 3}, {1, 1}, {0, 1}}});
}

// Grouped convolutions: 6 input channels in 2 and 3 groups, on 15x15.
TEST(Conv2d, Groups) {
  checkConvs(6, 15, 15,
             {{"g2_k3_p1", 10, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 2},
              {"g3_k3_s2_p1_nobias", 9, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 3, false},
              {"g2_k1", 4, {1, 1}, {1, 1}, {0, 0}, {1, 1}, 2}});
}

// Depthwise (groups == channels = 13), with and without bias, strided, and
// dilated, on an odd 15x15 image.
TEST(Conv2d, Depthwise) {
  checkConvs(13, 15, 15,
             {{"dw_k3_p1_bias", 13, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 13},
              {"dw_k3_s2_p1_nobias", 13, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 13, false},
              {"dw_k3_d2_p2", 13, {3, 3}, {1, 1}, {2, 2}, {2, 2}, 13}});
}

// Depthwise with a channel multiplier of 2 (each group: 1 input channel, 2
// output channels), 5x5 window, on an odd 7x7 image.
TEST(Conv2d, DepthwiseMultiplier) {
  checkConvs(5, 7, 7, {{"dw_mult2_k5_p2", 10, {5, 5}, {1, 1}, {2, 2}, {1, 1}, 5}});
}

// Enough input channels (64 * 9 = 576 per output) that the im2col tile holds
// only a few output rows: chunks then start in the middle of an image and, at
// batch 17 on 2 threads, straddle image and thread boundaries.
TEST(Conv2d, ChunkedRowsAcrossImages) {
  checkConvs(64, 15, 15,
             {{"k3_p1", 13, {3, 3}, {1, 1}, {1, 1}},
              {"k3_s2_p1_nobias", 7, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 1, false},
              {"k1_s2", 16, {1, 1}, {2, 2}}});
}

// Strided 1x1 convolutions (the direct convolution over the gathered pixels
// where the host has AVX-512): 35 output columns make 1024 / 35 = 29 output
// rows per chunk, so chunks end inside an image (35 rows), and a stride of
// (3, 2) reads different rows and columns.
TEST(Conv2d, StridedOneByOneAcrossChunks) {
  checkConvs(5, 70, 70,
             {{"k1_s2", 9, {1, 1}, {2, 2}},
              {"k1_s3x2_nobias", 6, {1, 1}, {3, 2}, {0, 0}, {1, 1}, 1, false}});
}

// A 1x1 image and a single input channel: degenerate GEMM shapes.
TEST(Conv2d, DegenerateShapes) {
  checkConvs(1, 1, 1, {{"k1_one_pixel", 3, {1, 1}}, {"k3_p1_one_pixel", 5, {3, 3}, {1, 1}, {1, 1}}});
}

// A kernel as large as the (odd) image: one output pixel per channel.
TEST(Conv2d, KernelCoversImage) {
  checkConvs(7, 5, 5, {{"k5_full_image", 3, {5, 5}}});
}
