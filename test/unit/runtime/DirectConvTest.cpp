// The runtime's direct "same" convolution (runtime/src/kernels/DirectConv.cpp)
// against a double-precision loop: both of its paths (AVX-512 where the CPU
// has it, the portable loop everywhere), every register-block tail (output
// channels 1..13 cover blocks of 6 and every remainder; planes of 1..33
// pixels wide cover partial 16-pixel vectors and the 4-vector groups), row
// ranges that start and end inside the image, a leading dimension wider than
// the rows, and the flipped, transposed weight strides that the gradient with
// respect to the input uses.
//
// The weight gradient (DirectConvGradWeight.*) is checked the same way over
// odd planes (7x7 ends in a 1-lane vector), packed small planes with a
// shorter last pack, channel sub-ranges, 3x3, 5x5 and the portable-only 1x1,
// with a guard after the scratch size KernelABI.h states.
//
// Tolerance: every output is a sum of cin*kh*kw float products of values in
// [-1, 1]; float32 summation in any order is within n * 2^-24 * sum|terms|
// of the exact sum (n = number of terms). The check uses that bound with
// sum|terms| computed in double, so it holds for any summation order and is
// tight enough that one wrong or missing tap (|term| up to 1) fails.
#include "DirectConvPaths.h"

#include "kernels/DirectConv.h"

#include "kiln/runtime/KernelABI.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

namespace {

using kiln::rt::DirectConvArgs;
namespace paths = kiln::rt::test;

struct Case {
  int64_t cin, h, w, cout, kh, kw; // "same" padding: ph = (kh - 1) / 2
  int64_t oy0, oy1;                // output rows computed
  int64_t ldExtra;                 // ld = (oy1 - oy0) * w + ldExtra
  bool flipped;                    // weights read as the input gradient does
  bool hwio = false;               // weights stored [kh][kw][cin][cout] (wsCo == 1)
};

std::vector<float> randomValues(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

/// [cout][cin][kh][kw] -> [kh][kw][cin][cout].
std::vector<float> toHwio(const std::vector<float> &oihw, int64_t cout, int64_t cin,
                          int64_t taps) {
  std::vector<float> hwio(oihw.size());
  for (int64_t co = 0; co < cout; ++co)
    for (int64_t ci = 0; ci < cin; ++ci)
      for (int64_t t = 0; t < taps; ++t)
        hwio[(t * cin + ci) * cout + co] = oihw[(co * cin + ci) * taps + t];
  return hwio;
}

/// Runs `path` on the case and compares with the double loop.
template <typename Path> void check(const Case &c, Path path, const char *name) {
  const int64_t ph = (c.kh - 1) / 2, pw = (c.kw - 1) / 2;
  const int64_t taps = c.kh * c.kw;
  const std::vector<float> x = randomValues(c.cin * c.h * c.w, 1);
  // Stored weights: [cout, cin, kh, kw] normally; flipped mode stores the
  // forward convolution's [cin_fwd = cout, cout_fwd = cin] weights and reads
  // Wt[co][ci][ky][kx] = W[ci][co][kh-1-ky][kw-1-kx].
  const std::vector<float> wStore = randomValues(c.cout * c.cin * taps, 2);
  auto weight = [&](int64_t co, int64_t ci, int64_t ky, int64_t kx) -> double {
    if (c.hwio)
      return wStore[((ky * c.kw + kx) * c.cin + ci) * c.cout + co];
    if (!c.flipped)
      return wStore[((co * c.cin + ci) * c.kh + ky) * c.kw + kx];
    return wStore[((ci * c.cout + co) * c.kh + (c.kh - 1 - ky)) * c.kw + (c.kw - 1 - kx)];
  };
  const int64_t rows = c.oy1 - c.oy0, ld = rows * c.w + c.ldExtra;
  std::vector<float> out(c.cout * ld, 12345.0f);
  DirectConvArgs a{x.data(), wStore.data(), out.data(), ld, c.cin, c.h, c.w, c.cout,
                   c.kh,     c.kw,          ph,         pw, 0,     0,   0,   0,
                   c.oy0,    c.oy1};
  if (c.flipped) {
    a.wt = wStore.data() + (c.kh - 1) * c.kw + (c.kw - 1);
    a.wsCo = taps;
    a.wsCi = c.cout * taps;
    a.wsY = -c.kw;
    a.wsX = -1;
  } else if (c.hwio) {
    a.wsCo = 1;
    a.wsCi = c.cout;
    a.wsY = c.kw * c.cin * c.cout;
    a.wsX = c.cin * c.cout;
  } else {
    a.wsCo = c.cin * taps;
    a.wsCi = taps;
    a.wsY = c.kw;
    a.wsX = 1;
  }
  if (!path(a))
    GTEST_SKIP() << name << " path not available on this CPU";
  const double eps = std::ldexp(1.0, -24);
  for (int64_t co = 0; co < c.cout; ++co) {
    for (int64_t oy = c.oy0; oy < c.oy1; ++oy)
      for (int64_t ox = 0; ox < c.w; ++ox) {
        double exact = 0, magnitude = 0;
        for (int64_t ci = 0; ci < c.cin; ++ci)
          for (int64_t ky = 0; ky < c.kh; ++ky)
            for (int64_t kx = 0; kx < c.kw; ++kx) {
              const int64_t iy = oy + ky - ph, ix = ox + kx - pw;
              if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w)
                continue;
              const double term = weight(co, ci, ky, kx) * x[(ci * c.h + iy) * c.w + ix];
              exact += term;
              magnitude += std::fabs(term);
            }
        const double got = out[co * ld + (oy - c.oy0) * c.w + ox];
        const double bound = (c.cin * taps + 1) * eps * magnitude + 1e-30;
        ASSERT_NEAR(got, exact, bound)
            << name << ": co " << co << " oy " << oy << " ox " << ox << " (cin " << c.cin
            << ", " << c.h << "x" << c.w << ", k " << c.kh << "x" << c.kw << ")";
      }
    // Columns past the computed rows (the ld padding) are never written.
    for (int64_t i = rows * c.w; i < ld; ++i)
      ASSERT_EQ(out[co * ld + i], 12345.0f) << name << ": wrote past the rows";
  }
}

std::vector<Case> cases() {
  std::vector<Case> all;
  // Every output-channel tail, three plane widths, 3x3.
  for (int64_t cout = 1; cout <= 13; ++cout)
    for (int64_t w : {7, 14, 28})
      all.push_back({3, w, w, cout, 3, 3, 0, w, 0, false});
  // Odd shapes: 1x1, 5x5 (lenet5), 7x7, 3x1; planes narrower than a vector.
  all.push_back({5, 9, 11, 7, 1, 1, 0, 9, 0, false});
  all.push_back({1, 28, 28, 6, 5, 5, 0, 28, 0, false});
  all.push_back({2, 12, 10, 4, 7, 7, 0, 12, 0, false});
  all.push_back({4, 6, 5, 3, 3, 1, 0, 6, 0, false});
  all.push_back({2, 1, 1, 2, 3, 3, 0, 1, 0, false});
  all.push_back({3, 2, 33, 5, 3, 3, 0, 2, 0, false});
  // Row ranges inside the image, wide leading dimension.
  all.push_back({16, 28, 28, 16, 3, 3, 5, 15, 3, false});
  all.push_back({17, 14, 14, 9, 3, 3, 13, 14, 16, false});
  all.push_back({8, 7, 7, 13, 3, 3, 2, 5, 0, false});
  // The input gradient's flipped, transposed weights.
  all.push_back({16, 14, 14, 32, 3, 3, 0, 14, 0, true});
  all.push_back({6, 10, 10, 1, 5, 5, 0, 10, 0, true});
  all.push_back({13, 7, 7, 7, 3, 3, 1, 6, 5, true});
  // [kh][kw][cin][cout] weights (inference artifacts' small planes): the
  // channels-in-lanes path (kiln_conv2d_channels_in_lanes) for every row
  // width 1..28 (rows over 14 pixels in two blocks), every block of 1-4
  // channel vectors (blocks over 7 pixels: 1-2) and a second block (80 = 64
  // + 16), 3x3 (its skip-first / skip-last taps), 5x5 and 1x3 (the masked
  // taps), 1x1, row ranges inside the image, several tile row groups (14
  // wide: 4 rows a group, 28 wide: 2) and a wide leading dimension; and
  // shapes it does not take (32x32, 30x28, 13 channels), which read the same
  // weights through the pixel-lane path.
  for (int64_t w = 1; w <= 28; ++w)
    for (int64_t cout : {16, 32, 48, 64, 80})
      all.push_back({5, 7, w, cout, 3, 3, 0, 7, 0, false, true});
  all.push_back({6, 7, 7, 32, 5, 5, 0, 7, 0, false, true});
  all.push_back({7, 5, 6, 16, 1, 3, 0, 5, 0, false, true});
  all.push_back({9, 6, 6, 48, 1, 1, 0, 6, 0, false, true});
  all.push_back({64, 7, 7, 64, 3, 3, 0, 4, 0, false, true});
  all.push_back({64, 7, 7, 64, 3, 3, 4, 7, 9, false, true});
  all.push_back({3, 9, 7, 16, 3, 3, 2, 9, 0, false, true});
  all.push_back({32, 14, 14, 32, 3, 3, 0, 14, 0, false, true});
  all.push_back({9, 14, 14, 48, 3, 3, 3, 11, 7, false, true});
  all.push_back({5, 18, 13, 16, 5, 5, 0, 18, 0, false, true});
  all.push_back({8, 16, 16, 16, 3, 3, 0, 16, 0, false, true});
  all.push_back({16, 28, 28, 16, 3, 3, 0, 28, 0, false, true});
  all.push_back({16, 28, 28, 32, 3, 3, 5, 19, 3, false, true});
  all.push_back({1, 28, 28, 16, 3, 3, 0, 28, 0, false, true});
  all.push_back({4, 11, 27, 16, 5, 5, 0, 11, 0, false, true});
  all.push_back({8, 32, 32, 16, 3, 3, 0, 32, 0, false, true});
  all.push_back({4, 30, 28, 16, 3, 3, 0, 30, 0, false, true});
  all.push_back({8, 7, 7, 13, 3, 3, 1, 7, 0, false, true});
  return all;
}

TEST(DirectConv, Avx512PathMatchesDoubleReference) {
  for (const Case &c : cases())
    check(c, paths::sameAvx512, "avx512");
}

TEST(DirectConv, PortablePathMatchesDoubleReference) {
  for (const Case &c : cases())
    check(c, paths::samePortable, "portable");
}

TEST(DirectConv, AbiEntryMatchesDoubleReference) {
  for (const Case &c : cases())
    check(c, paths::sameAbiEntry, "kiln_conv2d_same_f32");
}

// ---- the weight gradient (kiln_conv2d_same_grad_weight_f32) ----

struct GradCase {
  int64_t batch, cin, h, w, cout, kh, kw; // "same" padding
  int64_t ci0, ci1;                        // input channels computed
};

/// Runs `path` and compares every dw[co][ci][t] for ci in [ci0, ci1) with the
/// double sum; entries of other input channels must stay untouched. Bound:
/// n * 2^-24 * sum|terms| with n = batch * h * w terms (any summation order).
/// Returns false where `path` declined the case (no AVX-512, or a kernel
/// size without an AVX-512 block).
template <typename Path> bool checkGrad(const GradCase &c, Path path, const char *name) {
  const int64_t ph = (c.kh - 1) / 2, pw = (c.kw - 1) / 2, taps = c.kh * c.kw;
  const int64_t plane = c.h * c.w;
  const std::vector<float> x = randomValues(c.batch * c.cin * plane, 3);
  const std::vector<float> dy = randomValues(c.batch * c.cout * plane, 4);
  std::vector<float> dw(c.cout * c.cin * taps, 777.0f);
  // The size KernelABI.h asks for, and a guard after it that must survive.
  const int64_t scratchFloats =
      kiln_conv2d_same_grad_weight_scratch_floats(c.cout, c.ci1 - c.ci0, c.kh, c.kw, c.h, c.w);
  std::vector<float, std::allocator<float>> scratchStore(scratchFloats + 16 + 64, 555.0f);
  // 64-byte alignment, as the runtime's per-thread scratch has.
  float *scratch = reinterpret_cast<float *>(
      (reinterpret_cast<uintptr_t>(scratchStore.data()) + 63) & ~uintptr_t(63));
  const kiln::rt::DirectConvGradWeightArgs a{x.data(), dy.data(), dw.data(), scratch,
                                             c.batch,  c.cin,     c.h,       c.w,
                                             c.cout,   c.kh,      c.kw,      ph,
                                             pw,       c.ci0,     c.ci1};
  if (!path(a))
    return false;
  for (int64_t i = scratchFloats; i < scratchFloats + 64; ++i)
    EXPECT_EQ(scratch[i], 555.0f) << name << ": wrote past the scratch KernelABI.h states";
  const double eps = std::ldexp(1.0, -24);
  for (int64_t co = 0; co < c.cout; ++co)
    for (int64_t ci = 0; ci < c.cin; ++ci)
      for (int64_t ky = 0; ky < c.kh; ++ky)
        for (int64_t kx = 0; kx < c.kw; ++kx) {
          const float got = dw[(co * c.cin + ci) * taps + ky * c.kw + kx];
          if (ci < c.ci0 || ci >= c.ci1) {
            EXPECT_EQ(got, 777.0f) << name << ": wrote input channel " << ci;
            continue;
          }
          double exact = 0, magnitude = 0;
          for (int64_t n = 0; n < c.batch; ++n)
            for (int64_t oy = 0; oy < c.h; ++oy)
              for (int64_t ox = 0; ox < c.w; ++ox) {
                const int64_t iy = oy + ky - ph, ix = ox + kx - pw;
                if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w)
                  continue;
                const double term = double(dy[(n * c.cout + co) * plane + oy * c.w + ox]) *
                                    x[(n * c.cin + ci) * plane + iy * c.w + ix];
                exact += term;
                magnitude += std::fabs(term);
              }
          const double bound = (c.batch * plane + 1) * eps * magnitude + 1e-30;
          EXPECT_NEAR(got, exact, bound) << name << ": co " << co << " ci " << ci << " tap "
                                         << ky << "," << kx;
        }
  return true;
}

std::vector<GradCase> gradCases() {
  return {
      {2, 3, 7, 7, 4, 3, 3, 0, 3},     // 49 pixels: a 1-lane last vector; 4 = 3 + 1 channels
      {3, 5, 14, 14, 8, 3, 3, 1, 4},   // a channel range inside cin; 8 = 3 + 3 + 2
      {1, 2, 28, 28, 3, 3, 3, 0, 2},   // 784 pixels, full blocks of 3
      {2, 1, 12, 10, 6, 5, 5, 0, 1},   // 5x5 (lenet5's first layer), non-square plane
      {2, 2, 5, 9, 2, 1, 1, 0, 2},     // 1x1: the portable loop only
      {1, 1, 1, 1, 1, 3, 3, 0, 1},     // a 1x1 plane: only the centre tap is inside
      // Planes under 128 pixels are packed 1024 / plane images at a time:
      // 7x7 takes 20, so 37 = 20 + 17 (a shorter last pack with its own
      // masks); 10x10 with 5x5 taps takes 10, 21 = 10 + 10 + 1.
      {37, 3, 7, 7, 4, 3, 3, 1, 3},
      {21, 1, 10, 10, 2, 5, 5, 0, 1},
      // Larger planes are read in place in groups of about 64 vectors:
      // 14x14 takes 4 images per group, so 7 = 4 + 3.
      {7, 2, 14, 14, 5, 3, 3, 0, 2},
  };
}

TEST(DirectConvGradWeight, Avx512PathMatchesDoubleReference) {
  int ran = 0;
  for (const GradCase &c : gradCases())
    ran += checkGrad(c, [](const auto &a) { return kiln::rt::directConvGradWeightAvx512(a); },
                     "avx512");
  if (ran == 0)
    GTEST_SKIP() << "no AVX-512 on this CPU";
  EXPECT_EQ(ran, 8) << "the AVX-512 path covers 3x3 and 5x5, not 1x1";
}

TEST(DirectConvGradWeight, PortablePathMatchesDoubleReference) {
  for (const GradCase &c : gradCases())
    checkGrad(
        c,
        [](const auto &a) {
          kiln::rt::directConvGradWeightPortable(a);
          return true;
        },
        "portable");
}

TEST(DirectConvGradWeight, AbiEntryMatchesDoubleReference) {
  for (const GradCase &c : gradCases())
    checkGrad(
        c,
        [](const kiln::rt::DirectConvGradWeightArgs &a) {
          kiln_conv2d_same_grad_weight_f32(a.x, a.dy, a.dw, a.scratch, a.batch, a.cin, a.h, a.w,
                                           a.cout, a.kh, a.kw, a.ph, a.pw, a.ci0, a.ci1);
          return true;
        },
        "kiln_conv2d_same_grad_weight_f32");
}

TEST(DirectConv, EmptyRowRangeWritesNothing) {
  std::vector<float> x(9, 1.0f), w(9, 1.0f), out(9, 7.0f);
  kiln_conv2d_same_f32(x.data(), w.data(), out.data(), 3, 1, 3, 3, 1, 3, 3, 1, 1, 9, 9, 3, 1, 2,
                       2, nullptr);
  for (float v : out)
    EXPECT_EQ(v, 7.0f);
}

// The channels-in-lanes path keeps the pixel-lane path's summation order
// (taps, then input channels) and stores through the same stage code, so an
// inference artifact's [kh][kw][cin][cout] weights must give bitwise the
// outputs of [cout][cin][kh][kw] ones: checked with no stage and with every
// step (bias, batch norm, residual, relu), on whole images and row ranges.
TEST(DirectConv, ChannelsInLanesIsBitwiseThePixelLanePath) {
  struct Shape {
    int64_t cin, h, w, cout, k, oy0, oy1;
  };
  const Shape shapes[] = {{64, 7, 7, 64, 3, 0, 7},  {64, 7, 7, 64, 3, 0, 4},
                          {64, 7, 7, 64, 3, 4, 7},  {16, 7, 7, 16, 3, 0, 7},
                          {32, 5, 5, 48, 3, 1, 5},  {24, 6, 6, 80, 5, 0, 6},
                          {1, 7, 7, 16, 3, 0, 7},   {10, 4, 3, 32, 1, 0, 4},
                          {32, 14, 14, 32, 3, 0, 14}, {32, 14, 14, 48, 3, 7, 14},
                          {16, 10, 11, 32, 5, 2, 9},  {16, 28, 28, 16, 3, 0, 28},
                          {16, 28, 28, 32, 3, 14, 28}, {1, 28, 28, 16, 3, 0, 28},
                          {8, 20, 21, 16, 5, 3, 17},  {8, 9, 15, 64, 3, 0, 9}};
  for (const Shape &sh : shapes) {
    const int64_t taps = sh.k * sh.k, pad = sh.k / 2, plane = sh.h * sh.w;
    ASSERT_TRUE(kiln_conv2d_channels_in_lanes(sh.h, sh.w, sh.cout));
    const std::vector<float> x = randomValues(sh.cin * plane, 3);
    const std::vector<float> oihw = randomValues(sh.cout * sh.cin * taps, 4);
    const std::vector<float> hwio = toHwio(oihw, sh.cout, sh.cin, taps);
    const std::vector<float> bias = randomValues(sh.cout, 5), mean = randomValues(sh.cout, 6);
    const std::vector<float> beta = randomValues(sh.cout, 7);
    const std::vector<float> residual = randomValues(sh.cout * plane, 8);
    std::vector<float> gamma = randomValues(sh.cout, 9), var = randomValues(sh.cout, 10);
    for (int64_t co = 0; co < sh.cout; ++co)
      var[co] = 1.5f + var[co]; // positive
    const kiln_conv2d_epilogue all{bias.data(), gamma.data(), beta.data(), mean.data(),
                                   var.data(),  residual.data(), 1e-5f, 1};
    for (const kiln_conv2d_epilogue *stage : {static_cast<const kiln_conv2d_epilogue *>(nullptr),
                                              &all}) {
      std::vector<float> pixelLanes(sh.cout * plane, 12345.0f), channelLanes = pixelLanes;
      const int64_t ld = plane;
      DirectConvArgs a{x.data(), oihw.data(), pixelLanes.data(), ld, sh.cin, sh.h, sh.w, sh.cout,
                       sh.k, sh.k, pad, pad, sh.cin * taps, taps, sh.k, 1, sh.oy0, sh.oy1, stage};
      if (!paths::sameAvx512(a))
        GTEST_SKIP() << "no AVX-512 on this CPU";
      a.wt = hwio.data();
      a.out = channelLanes.data();
      a.wsCo = 1;
      a.wsCi = sh.cout;
      a.wsY = sh.k * sh.cin * sh.cout;
      a.wsX = sh.cin * sh.cout;
      ASSERT_TRUE(paths::sameAvx512(a));
      int64_t nonzero = 0;
      for (size_t i = 0; i < pixelLanes.size(); ++i) {
        ASSERT_EQ(std::memcmp(&pixelLanes[i], &channelLanes[i], sizeof(float)), 0)
            << "cin " << sh.cin << " " << sh.h << "x" << sh.w << " cout " << sh.cout << " k "
            << sh.k << " rows " << sh.oy0 << ".." << sh.oy1 << (stage ? " staged" : "")
            << ": index " << i << " " << pixelLanes[i] << " vs " << channelLanes[i];
        nonzero += pixelLanes[i] != 0.0f && pixelLanes[i] != 12345.0f;
      }
      EXPECT_GT(nonzero, 0); // not vacuous: values were computed
    }
  }
}

// Channels in lanes read x by scalar broadcasts, which (unlike the pixel-lane
// path's masked vector loads) would fault on any address outside x: with x
// starting right after an inaccessible page, then ending right before one,
// every row width with 3x3 and 5x5 windows must run without a fault and
// match the pixel-lane path bitwise.
TEST(DirectConv, ChannelsInLanesReadsNothingOutsideX) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  for (int64_t w = 1; w <= 28; ++w)
    for (int64_t k : {3, 5})
      for (bool atEnd : {false, true}) {
        const int64_t cin = 3, h = 5, cout = 16, plane = h * w, taps = k * k, pad = k / 2;
        const size_t bytes = size_t(cin * plane) * sizeof(float);
        const size_t span = (bytes + page - 1) / page * page;
        // [guard][span bytes holding x at its start or its end][guard]
        void *map = mmap(nullptr, span + 2 * page, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ASSERT_NE(map, MAP_FAILED);
        char *base = static_cast<char *>(map);
        ASSERT_EQ(mprotect(base, page, PROT_NONE), 0);
        ASSERT_EQ(mprotect(base + page + span, page, PROT_NONE), 0);
        float *x = reinterpret_cast<float *>(base + page + (atEnd ? span - bytes : 0));
        const std::vector<float> values = randomValues(size_t(cin * plane), 21);
        std::copy(values.begin(), values.end(), x);
        const std::vector<float> oihw = randomValues(size_t(cout * cin * taps), 22);
        const std::vector<float> hwio = toHwio(oihw, cout, cin, taps);
        std::vector<float> want(size_t(cout * plane)), got(want.size());
        DirectConvArgs a{values.data(), oihw.data(), want.data(), plane, cin, h, w, cout, k, k,
                         pad, pad, cin * taps, taps, k, 1, 0, h};
        const bool avx512 = paths::sameAvx512(a);
        a = {x, hwio.data(), got.data(), plane, cin, h, w, cout, k, k, pad, pad, 1, cout,
             k * cin * cout, cin * cout, 0, h};
        const bool ran = avx512 && paths::sameAvx512(a);
        ASSERT_EQ(munmap(map, span + 2 * page), 0);
        if (!avx512)
          GTEST_SKIP() << "no AVX-512 on this CPU";
        ASSERT_TRUE(ran);
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_EQ(std::memcmp(&want[i], &got[i], sizeof(float)), 0)
              << w << " wide, " << k << "x" << k << (atEnd ? ", x at a page end" : "")
              << ": element " << i;
      }
}

// The images entry runs such weights channels in lanes one image at a time
// (no packing): bitwise the pixel-lane path's one call per image with [cout]
// [cin][kh][kw] weights, the stage's residual read at each image's output.
TEST(DirectConvImages, ChannelsInLanesIsBitwiseThePixelLanePath) {
  const int64_t images = 3, cin = 24, h = 7, w = 7, cout = 80, plane = h * w;
  const int64_t xImage = cin * plane + 5, outImage = cout * plane + 3;
  const std::vector<float> x = randomValues(images * xImage, 13);
  const std::vector<float> oihw = randomValues(cout * cin * 9, 14);
  const std::vector<float> hwio = toHwio(oihw, cout, cin, 9);
  const std::vector<float> bias = randomValues(cout, 15), mean = randomValues(cout, 16);
  const std::vector<float> beta = randomValues(cout, 17), gamma = randomValues(cout, 18);
  const std::vector<float> residual = randomValues(images * outImage, 19);
  std::vector<float> var = randomValues(cout, 20);
  for (float &v : var)
    v += 1.5f;
  const kiln_conv2d_epilogue stage{bias.data(), gamma.data(),    beta.data(), mean.data(),
                                   var.data(),  residual.data(), 1e-5f,       1};
  std::vector<float> want(images * outImage, 12345.0f), got = want;
  for (int64_t n = 0; n < images; ++n) {
    kiln_conv2d_epilogue one = stage;
    one.residual += n * outImage;
    if (!paths::sameAvx512({x.data() + n * xImage, oihw.data(), want.data() + n * outImage,
                            plane, cin, h, w, cout, 3, 3, 1, 1, cin * 9, 9, 3, 1, 0, h, &one}))
      GTEST_SKIP() << "no AVX-512 on this CPU";
  }
  std::vector<float> scratch((cin + cout) * images * plane);
  ASSERT_TRUE(paths::imagesAvx512({x.data(), hwio.data(), got.data(), scratch.data(), images,
                                   xImage, outImage, cin, h, w, cout, 3, 3, 1, 1, 1, cout,
                                   3 * cin * cout, cin * cout, &stage}));
  int64_t positive = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(std::memcmp(&want[i], &got[i], sizeof(float)), 0)
        << "element " << i << ": " << want[i] << " vs " << got[i];
    positive += want[i] > 0.0f && want[i] != 12345.0f;
  }
  EXPECT_GT(positive, 0); // relu left values to compare
}

// Several images per call (kiln_conv2d_same_images_f32): packed, convolved
// as one tall image whose taps stop at every image's border, copied out. Each
// output is the same sum in the same order as in a one-image call, so the
// check is bitwise equality with kiln_conv2d_same_f32 image by image (which
// the tests above hold to the double loop), for both paths, normal and
// flipped weights, image counts that fill 16-pixel vectors exactly (16 x 7x7)
// or not, image strides with gaps (which must stay untouched) and 1x1 / 5x5.
struct ImagesCase {
  int64_t images, cin, h, w, cout, kh, kw;
  bool flipped;
  bool hwio = false; // [kh][kw][cin][cout] weights: channels in lanes where they apply
};

/// The reference is one call of kiln_conv2d_same_f32 per image
/// (the AVX-512 path where the CPU has it), or of the portable loop.
template <typename Path>
void checkImages(const ImagesCase &c, Path path, const char *name, bool portableReference) {
  const int64_t ph = (c.kh - 1) / 2, pw = (c.kw - 1) / 2, plane = c.h * c.w;
  const int64_t taps = c.kh * c.kw;
  const int64_t xImage = c.cin * plane + 5, outImage = c.cout * plane + 3;
  const std::vector<float> x = randomValues(c.images * xImage, 3);
  const std::vector<float> wStore = randomValues(c.cout * c.cin * taps, 4);
  const float *wt = wStore.data();
  int64_t wsCo = c.cin * taps, wsCi = taps, wsY = c.kw, wsX = 1;
  if (c.flipped) {
    wt += (c.kh - 1) * c.kw + (c.kw - 1);
    wsCo = taps;
    wsCi = c.cout * taps;
    wsY = -c.kw;
    wsX = -1;
  } else if (c.hwio) {
    wsCo = 1;
    wsCi = c.cout;
    wsY = c.kw * c.cin * c.cout;
    wsX = c.cin * c.cout;
  }
  std::vector<float> want(c.images * outImage, 12345.0f), got = want;
  for (int64_t n = 0; n < c.images; ++n) {
    const DirectConvArgs one{x.data() + n * xImage, wt, want.data() + n * outImage, plane, c.cin,
                             c.h, c.w, c.cout, c.kh, c.kw, ph, pw, wsCo, wsCi, wsY, wsX, 0, c.h};
    if (portableReference)
      kiln::rt::directConvPortable(one);
    else
      kiln_conv2d_same_f32(one.x, one.wt, one.out, one.ld, one.cin, one.h, one.w, one.cout,
                           one.kh, one.kw, one.ph, one.pw, one.wsCo, one.wsCi, one.wsY, one.wsX,
                           one.oy0, one.oy1, one.epilogue);
  }
  std::vector<float> scratch((c.cin + c.cout) * c.images * plane, -7.0f);
  const kiln::rt::DirectConvImagesArgs a{x.data(), wt,   got.data(), scratch.data(), c.images,
                                         xImage,   outImage, c.cin,  c.h,            c.w,
                                         c.cout,   c.kh, c.kw,       ph,             pw,
                                         wsCo,     wsCi, wsY,        wsX};
  if (!path(a))
    GTEST_SKIP() << name << " path not available on this CPU";
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_EQ(got[i], want[i]) << name << ": element " << i << " (image " << i / outImage
                               << ", " << c.images << " x " << c.cin << "x" << c.h << "x"
                               << c.w << ", k " << c.kh << "x" << c.kw << ", cout " << c.cout
                               << (c.flipped ? ", flipped" : "") << (c.hwio ? ", hwio" : "")
                               << ")";
}

std::vector<ImagesCase> imagesCases() {
  return {{16, 3, 7, 7, 13, 3, 3, false}, {20, 16, 7, 7, 16, 3, 3, false},
          {3, 5, 14, 14, 9, 3, 3, false}, {1, 4, 7, 7, 8, 3, 3, false},
          {4, 2, 5, 6, 3, 5, 5, false},   {2, 4, 9, 11, 7, 1, 1, false},
          {5, 3, 1, 1, 2, 3, 3, false},   {16, 13, 7, 7, 7, 3, 3, true},
          {6, 6, 10, 10, 1, 5, 5, true},  {20, 16, 7, 7, 64, 3, 3, false, true},
          {3, 5, 6, 5, 48, 3, 3, false, true}, {2, 4, 14, 14, 16, 3, 3, false, true},
          {5, 8, 14, 14, 32, 3, 3, false, true}, {2, 4, 16, 16, 16, 3, 3, false, true},
          {3, 16, 28, 28, 16, 3, 3, false, true}};
}

TEST(DirectConvImages, Avx512PathIsBitwiseOneCallPerImage) {
  for (const ImagesCase &c : imagesCases())
    checkImages(c, paths::imagesAvx512, "avx512", false);
}

TEST(DirectConvImages, AbiEntryIsBitwiseOneCallPerImage) {
  for (const ImagesCase &c : imagesCases())
    checkImages(c, paths::imagesAbiEntry, "kiln_conv2d_same_images_f32", false);
}

TEST(DirectConvImages, PortablePathIsBitwiseOneCallPerImage) {
  for (const ImagesCase &c : imagesCases())
    checkImages(c, paths::imagesPortable, "portable", true);
}

// ---- stride 2 (kiln_conv2d_stride2_f32): 3x3, padding 1, even planes ----
//
// Against the double loop with the same bound as above (9 * cin terms), over
// row ranges that start and end inside images (the runtime splits by rows),
// several images per call, every output-channel tail, 28x28 -> 14x14, the
// 14x14 -> 7x7 of resnet20 and small non-square planes; rows outside the
// range must stay untouched.
struct Stride2Case {
  int64_t batch, cin, h, w, cout, row0, row1;
};

template <typename Path>
void checkStride2(const Stride2Case &c, Path path, const char *name) {
  const int64_t oh = c.h / 2, ow = c.w / 2;
  const std::vector<float> x = randomValues(c.batch * c.cin * c.h * c.w, 5);
  const std::vector<float> wt = randomValues(c.cout * c.cin * 9, 6);
  std::vector<float> out(c.batch * c.cout * oh * ow, 12345.0f);
  const int64_t images = (c.row1 + oh - 1) / oh - c.row0 / oh;
  // NaN scratch: a phase row the call did not split, read into a lane that
  // is not masked off, would show.
  std::vector<float> scratch((4 * c.cin + c.cout) * images * oh * ow,
                             std::numeric_limits<float>::quiet_NaN());
  const kiln::rt::DirectConvStride2Args a{x.data(), wt.data(), out.data(), scratch.data(),
                                          c.row0,   c.row1,    c.cin,      c.h,
                                          c.w,      c.cout};
  if (!path(a))
    GTEST_SKIP() << name << " path not available on this CPU";
  const double eps = std::ldexp(1.0, -24);
  for (int64_t n = 0; n < c.batch; ++n)
    for (int64_t co = 0; co < c.cout; ++co)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          const double got = out[((n * c.cout + co) * oh + oy) * ow + ox];
          const int64_t row = n * oh + oy;
          if (row < c.row0 || row >= c.row1) {
            ASSERT_EQ(got, 12345.0f) << name << ": wrote row " << row << " outside the range";
            continue;
          }
          double exact = 0, magnitude = 0;
          for (int64_t ci = 0; ci < c.cin; ++ci)
            for (int64_t ky = 0; ky < 3; ++ky)
              for (int64_t kx = 0; kx < 3; ++kx) {
                const int64_t iy = 2 * oy + ky - 1, ix = 2 * ox + kx - 1;
                if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w)
                  continue;
                const double term = double(wt[(co * c.cin + ci) * 9 + ky * 3 + kx]) *
                                    x[((n * c.cin + ci) * c.h + iy) * c.w + ix];
                exact += term;
                magnitude += std::fabs(term);
              }
          const double bound = (c.cin * 9 + 1) * eps * magnitude + 1e-30;
          ASSERT_NEAR(got, exact, bound)
              << name << ": n " << n << " co " << co << " oy " << oy << " ox " << ox << " ("
              << c.cin << "x" << c.h << "x" << c.w << " -> " << c.cout << ", rows " << c.row0
              << ".." << c.row1 << ")";
        }
}

std::vector<Stride2Case> stride2Cases() {
  return {
      {1, 16, 28, 28, 32, 0, 14},  // resnet20 stage 2's first convolution, one image
      {1, 16, 28, 28, 32, 0, 7},   // the first of two threads' halves of it (batch 1)
      {1, 32, 14, 14, 64, 4, 7},   // the second of two threads' halves of stage 3's
      {3, 16, 28, 28, 32, 20, 25}, // rows inside the second of three images
      {3, 32, 14, 14, 64, 0, 21},  // stage 3's, three whole images
      {4, 3, 14, 14, 13, 5, 19},   // starts and ends inside images; a 5-channel tail
      {5, 2, 4, 6, 9, 0, 10},      // 2x3 output planes, 5 images packed
      {2, 5, 2, 2, 3, 1, 2},       // a 1x1 output plane
      {6, 1, 8, 8, 8, 3, 4},       // a single row
  };
}

TEST(DirectConvStride2, Avx512PathMatchesDoubleReference) {
  for (const Stride2Case &c : stride2Cases())
    checkStride2(c, paths::stride2Avx512, "avx512");
}

TEST(DirectConvStride2, PortablePathMatchesDoubleReference) {
  for (const Stride2Case &c : stride2Cases())
    checkStride2(c, paths::stride2Portable, "portable");
}

TEST(DirectConvStride2, AbiEntryMatchesDoubleReference) {
  for (const Stride2Case &c : stride2Cases())
    checkStride2(c, paths::stride2AbiEntry, "kiln_conv2d_stride2_f32");
}

// ---- HWIO weights (kiln_conv2d_hwio_f32): stride 1 or 2, any padding ----
//
// The entry inference artifacts use for the convolutions the "same" entries
// do not take: against the double loop (same bound: kh * kw * cin terms)
// over row ranges across images, for ResNet's 3x3 and 1x1 stride-2 shapes,
// lenet5's "valid" 5x5, an asymmetric window and padding, a strided
// "valid" window, two channel blocks, 28- and 15-wide outputs, and shapes
// channels in lanes does not take (a 30x30 output, a 5-channel tail), which
// the plain loop computes; rows outside the range must stay untouched.
struct HwioCase {
  int64_t batch, cin, h, w, cout, kh, kw, stride, ph, pw, row0, row1;
};

template <typename Path> void checkHwio(const HwioCase &c, Path path, const char *name) {
  const int64_t oh = (c.h + 2 * c.ph - c.kh) / c.stride + 1;
  const int64_t ow = (c.w + 2 * c.pw - c.kw) / c.stride + 1, taps = c.kh * c.kw;
  const std::vector<float> x = randomValues(c.batch * c.cin * c.h * c.w, 11);
  const std::vector<float> oihw = randomValues(c.cout * c.cin * taps, 12);
  const std::vector<float> hwio = toHwio(oihw, c.cout, c.cin, taps);
  std::vector<float> out(c.batch * c.cout * oh * ow, 12345.0f);
  const kiln::rt::DirectConvHwioArgs a{x.data(), hwio.data(), out.data(), c.row0, c.row1,
                                       c.cin,    c.h,         c.w,        c.cout, c.kh,
                                       c.kw,     c.stride,    c.ph,       c.pw};
  ASSERT_EQ(a.outRows(), oh);
  ASSERT_TRUE(path(a));
  const double eps = std::ldexp(1.0, -24);
  for (int64_t n = 0; n < c.batch; ++n)
    for (int64_t co = 0; co < c.cout; ++co)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          const double got = out[((n * c.cout + co) * oh + oy) * ow + ox];
          const int64_t row = n * oh + oy;
          if (row < c.row0 || row >= c.row1) {
            ASSERT_EQ(got, 12345.0f) << name << ": wrote row " << row << " outside the range";
            continue;
          }
          double exact = 0, magnitude = 0;
          for (int64_t ci = 0; ci < c.cin; ++ci)
            for (int64_t ky = 0; ky < c.kh; ++ky)
              for (int64_t kx = 0; kx < c.kw; ++kx) {
                const int64_t iy = c.stride * oy + ky - c.ph, ix = c.stride * ox + kx - c.pw;
                if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w)
                  continue;
                const double term = double(oihw[(co * c.cin + ci) * taps + ky * c.kw + kx]) *
                                    x[((n * c.cin + ci) * c.h + iy) * c.w + ix];
                exact += term;
                magnitude += std::fabs(term);
              }
          const double bound = (c.cin * taps + 1) * eps * magnitude + 1e-30;
          ASSERT_NEAR(got, exact, bound)
              << name << ": n " << n << " co " << co << " oy " << oy << " ox " << ox << " ("
              << c.cin << "x" << c.h << "x" << c.w << " -> " << c.cout << ", " << c.kh << "x"
              << c.kw << " stride " << c.stride << " pad " << c.ph << "," << c.pw << ", rows "
              << c.row0 << ".." << c.row1 << ")";
        }
}

std::vector<HwioCase> hwioCases() {
  return {
      {1, 16, 28, 28, 32, 3, 3, 2, 1, 1, 0, 14}, // resnet20 stage 2's first convolution
      {1, 16, 28, 28, 32, 3, 3, 2, 1, 1, 7, 14}, // the second of two threads' halves
      {3, 32, 14, 14, 64, 3, 3, 2, 1, 1, 2, 19}, // stage 3's, rows across images
      {2, 32, 28, 28, 64, 3, 3, 2, 1, 1, 3, 25}, // two channel blocks of a 14-wide output
      {1, 8, 56, 56, 16, 3, 3, 2, 1, 1, 0, 28},  // a 28-wide output: two pixel blocks
      {2, 4, 10, 30, 16, 3, 3, 2, 1, 1, 2, 9},   // 15 wide: 8 + 7
      {1, 16, 28, 28, 32, 1, 1, 2, 0, 0, 0, 14}, // resnet20's 1x1 shortcuts
      {3, 32, 14, 14, 64, 1, 1, 2, 0, 0, 2, 19},
      {2, 6, 14, 14, 16, 5, 5, 1, 0, 0, 0, 20},  // lenet5's second convolution ("valid")
      {1, 6, 14, 14, 16, 5, 5, 1, 0, 0, 3, 8},
      {2, 5, 9, 11, 32, 3, 5, 1, 2, 1, 1, 15},   // 3x5 window, padding 2 x 1: 11x9 output
      {1, 4, 9, 9, 16, 3, 3, 2, 0, 0, 0, 4},     // stride 2, no padding, odd input
      {1, 3, 60, 60, 16, 3, 3, 2, 1, 1, 0, 30},  // a 30x30 output: the plain loop
      {2, 6, 8, 8, 21, 1, 1, 2, 0, 0, 1, 7},     // Cout 21: the plain loop
  };
}

TEST(DirectConvHwio, Avx512PathMatchesDoubleReference) {
  for (const HwioCase &c : hwioCases())
    checkHwio(c, paths::hwioAvx512OrPortable, "avx512");
}

TEST(DirectConvHwio, PortablePathMatchesDoubleReference) {
  for (const HwioCase &c : hwioCases())
    checkHwio(c, paths::hwioPortable, "portable");
}

TEST(DirectConvHwio, AbiEntryMatchesDoubleReference) {
  for (const HwioCase &c : hwioCases())
    checkHwio(c, paths::hwioAbiEntry, "kiln_conv2d_hwio_f32");
}

// Channels in lanes sums taps, then input channels, and stores through the
// same stage code as the OIHW kernels, so HWIO weights must give bitwise
// their outputs, with no stage and with every step (bias, batch norm,
// residual, relu), over row ranges across images: the phase-split stride-2
// kernel (kiln_conv2d_stride2_f32) for 3x3 stride-2 shapes, the pixel-lane
// "same" kernel (kiln_conv2d_same_f32, one call per image) for stride 1.
TEST(DirectConvHwio, IsBitwiseTheOihwKernels) {
  const HwioCase shapes[] = {{1, 16, 28, 28, 32, 3, 3, 2, 1, 1, 0, 14},
                             {1, 16, 28, 28, 32, 3, 3, 2, 1, 1, 7, 14},
                             {3, 32, 14, 14, 64, 3, 3, 2, 1, 1, 2, 19},
                             {2, 8, 56, 56, 16, 3, 3, 2, 1, 1, 5, 50},
                             {2, 16, 28, 28, 16, 3, 3, 1, 1, 1, 0, 56},
                             {1, 32, 14, 14, 32, 3, 3, 1, 1, 1, 3, 11}};
  for (const HwioCase &c : shapes) {
    const int64_t oh = (c.h + 2 * c.ph - c.kh) / c.stride + 1;
    const int64_t ow = (c.w + 2 * c.pw - c.kw) / c.stride + 1, plane = oh * ow;
    const int64_t outSize = c.batch * c.cout * plane, taps = c.kh * c.kw;
    ASSERT_TRUE(kiln_conv2d_channels_in_lanes(oh, ow, c.cout));
    const std::vector<float> x = randomValues(c.batch * c.cin * c.h * c.w, 3);
    const std::vector<float> oihw = randomValues(c.cout * c.cin * taps, 4);
    const std::vector<float> hwio = toHwio(oihw, c.cout, c.cin, taps);
    const std::vector<float> bias = randomValues(c.cout, 5), mean = randomValues(c.cout, 6);
    const std::vector<float> beta = randomValues(c.cout, 7);
    const std::vector<float> residual = randomValues(outSize, 8);
    std::vector<float> gamma = randomValues(c.cout, 9), var = randomValues(c.cout, 10);
    for (float &v : var)
      v = 1.5f + v; // positive
    const kiln_conv2d_epilogue all{bias.data(), gamma.data(), beta.data(), mean.data(),
                                   var.data(),  residual.data(), 1e-5f, 1};
    std::vector<float> scratch((4 * c.cin + c.cout) * c.batch * plane);
    for (const kiln_conv2d_epilogue *stage : {static_cast<const kiln_conv2d_epilogue *>(nullptr),
                                              &all}) {
      std::vector<float> want(outSize, 12345.0f), got = want;
      if (c.stride == 2) {
        if (!paths::stride2Avx512({x.data(), oihw.data(), want.data(), scratch.data(), c.row0,
                                   c.row1, c.cin, c.h, c.w, c.cout, stage}))
          GTEST_SKIP() << "no AVX-512 on this CPU";
      } else {
        // One call per image over its rows in the range, each with the
        // residual at its own output (as the compiled kernels call it).
        for (int64_t n = c.row0 / oh; n * oh < c.row1; ++n) {
          const int64_t y0 = std::max<int64_t>(c.row0 - n * oh, 0);
          const int64_t y1 = std::min<int64_t>(c.row1 - n * oh, oh);
          const int64_t at = n * c.cout * plane + y0 * ow;
          kiln_conv2d_epilogue image = all;
          image.residual = residual.data() + at;
          if (!paths::sameAvx512({x.data() + n * c.cin * c.h * c.w, oihw.data(),
                                  want.data() + at, plane, c.cin, c.h, c.w, c.cout, c.kh, c.kw,
                                  c.ph, c.pw, c.cin * taps, taps, c.kw, 1, y0, y1,
                                  stage ? &image : nullptr}))
            GTEST_SKIP() << "no AVX-512 on this CPU";
        }
      }
      ASSERT_TRUE(paths::hwioAbiEntry({x.data(), hwio.data(), got.data(), c.row0, c.row1, c.cin,
                                       c.h, c.w, c.cout, c.kh, c.kw, c.stride, c.ph, c.pw,
                                       stage}));
      int64_t nonzero = 0;
      for (int64_t i = 0; i < outSize; ++i) {
        ASSERT_EQ(std::memcmp(&want[i], &got[i], sizeof(float)), 0)
            << c.cin << "x" << c.h << "x" << c.w << " -> " << c.cout << " stride " << c.stride
            << ", rows " << c.row0 << ".." << c.row1 << (stage ? " staged" : "") << ": index "
            << i << " " << want[i] << " vs " << got[i];
        nonzero += want[i] != 0.0f && want[i] != 12345.0f;
      }
      EXPECT_GT(nonzero, 0); // not vacuous: values were computed
    }
  }
}

// Channels in lanes reads x by scalar broadcasts: with x right after an
// inaccessible page, then right before one, every output width 1..28 with
// 3x3 stride-2 and 5x5 "valid" windows must run without a fault and match
// the same call on a copy of x in ordinary memory bitwise.
TEST(DirectConvHwio, ReadsNothingOutsideX) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  for (int64_t ow = 1; ow <= 28; ++ow)
    for (int64_t kind = 0; kind < 2; ++kind)
      for (bool atEnd : {false, true}) {
        const int64_t k = kind == 0 ? 3 : 5, stride = kind == 0 ? 2 : 1, pad = kind == 0 ? 1 : 0;
        const int64_t w = kind == 0 ? 2 * ow : ow + 4, h = kind == 0 ? 6 : 7;
        const int64_t cin = 2, cout = 16;
        const size_t bytes = size_t(cin * h * w) * sizeof(float);
        const size_t span = (bytes + page - 1) / page * page;
        void *map = mmap(nullptr, span + 2 * page, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ASSERT_NE(map, MAP_FAILED);
        char *base = static_cast<char *>(map);
        ASSERT_EQ(mprotect(base, page, PROT_NONE), 0);
        ASSERT_EQ(mprotect(base + page + span, page, PROT_NONE), 0);
        float *x = reinterpret_cast<float *>(base + page + (atEnd ? span - bytes : 0));
        const std::vector<float> values = randomValues(size_t(cin * h * w), 23);
        std::copy(values.begin(), values.end(), x);
        const std::vector<float> hwio = randomValues(size_t(cout * cin * k * k), 24);
        kiln::rt::DirectConvHwioArgs a{values.data(), hwio.data(), nullptr, 0, 0, cin, h, w,
                                       cout,          k,           k,       stride, pad, pad};
        a.row1 = a.outRows();
        std::vector<float> want(size_t(cout * a.outRows() * a.outCols())), got(want.size());
        a.out = want.data();
        const bool avx512 = kiln::rt::directConvHwioAvx512(a);
        a.x = x;
        a.out = got.data();
        const bool ran = avx512 && kiln::rt::directConvHwioAvx512(a);
        ASSERT_EQ(munmap(map, span + 2 * page), 0);
        if (!avx512)
          GTEST_SKIP() << "no AVX-512 on this CPU";
        ASSERT_TRUE(ran);
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_EQ(std::memcmp(&want[i], &got[i], sizeof(float)), 0)
              << ow << " output columns, " << k << "x" << k << (atEnd ? ", x at a page end" : "")
              << ": element " << i;
      }
}

// The stride-2 input gradient (kiln_conv2d_stride2_grad_input_f32), one
// image: every dX element against the double sum over the (co, ky, kx) whose
// output pixel reads it, same bound (cout * 9 terms at most); the four phases
// get 1, 2, 2 and 4 taps, and the bottom/right border reads past dY's plane.
struct Stride2GradInputCase {
  int64_t cin, h, w, cout;
};

template <typename Path>
void checkStride2GradInput(const Stride2GradInputCase &c, Path path, const char *name) {
  const int64_t oh = c.h / 2, ow = c.w / 2;
  const std::vector<float> dy = randomValues(c.cout * oh * ow, 9);
  const std::vector<float> wt = randomValues(c.cout * c.cin * 9, 10);
  std::vector<float> dx(c.cin * c.h * c.w, 12345.0f);
  std::vector<float> scratch(c.cin * oh * ow, -3.0f);
  const kiln::rt::DirectConvStride2GradInputArgs a{dy.data(), wt.data(), dx.data(),
                                                   scratch.data(), c.cin, c.h, c.w, c.cout};
  if (!path(a))
    GTEST_SKIP() << name << " path not available on this CPU";
  const double eps = std::ldexp(1.0, -24);
  for (int64_t ci = 0; ci < c.cin; ++ci)
    for (int64_t iy = 0; iy < c.h; ++iy)
      for (int64_t ix = 0; ix < c.w; ++ix) {
        double exact = 0, magnitude = 0;
        for (int64_t co = 0; co < c.cout; ++co)
          for (int64_t oy = 0; oy < oh; ++oy)
            for (int64_t ox = 0; ox < ow; ++ox)
              for (int64_t ky = 0; ky < 3; ++ky)
                for (int64_t kx = 0; kx < 3; ++kx) {
                  if (2 * oy + ky - 1 != iy || 2 * ox + kx - 1 != ix)
                    continue;
                  const double term = double(wt[(co * c.cin + ci) * 9 + ky * 3 + kx]) *
                                      dy[(co * oh + oy) * ow + ox];
                  exact += term;
                  magnitude += std::fabs(term);
                }
        const double got = dx[(ci * c.h + iy) * c.w + ix];
        const double bound = (c.cout * 9 + 1) * eps * magnitude + 1e-30;
        ASSERT_NEAR(got, exact, bound) << name << ": ci " << ci << " iy " << iy << " ix " << ix
                                       << " (" << c.cout << " -> " << c.cin << ", " << c.h
                                       << "x" << c.w << ")";
      }
}

std::vector<Stride2GradInputCase> stride2GradInputCases() {
  return {{16, 28, 28, 32}, {13, 14, 14, 9}, {3, 4, 6, 5}, {2, 2, 2, 3}};
}

TEST(DirectConvStride2GradInput, Avx512PathMatchesDoubleReference) {
  for (const Stride2GradInputCase &c : stride2GradInputCases())
    checkStride2GradInput(
        c, [](const auto &a) { return kiln::rt::directConvStride2GradInputAvx512(a); },
        "avx512");
}

TEST(DirectConvStride2GradInput, PortablePathMatchesDoubleReference) {
  for (const Stride2GradInputCase &c : stride2GradInputCases())
    checkStride2GradInput(
        c,
        [](const auto &a) {
          kiln::rt::directConvStride2GradInputPortable(a);
          return true;
        },
        "portable");
}

TEST(DirectConvStride2GradInput, AbiEntryMatchesDoubleReference) {
  for (const Stride2GradInputCase &c : stride2GradInputCases())
    checkStride2GradInput(
        c,
        [](const kiln::rt::DirectConvStride2GradInputArgs &a) {
          kiln_conv2d_stride2_grad_input_f32(a.dy, a.wt, a.dx, a.scratch, a.cin, a.h, a.w,
                                             a.cout);
          return true;
        },
        "kiln_conv2d_stride2_grad_input_f32");
}

// The stride-2 weight gradient (kiln_conv2d_stride2_grad_weight_f32), as
// DirectConvGradWeight above: every dW entry of the channel range against the
// double sum over batch * (h/2) * (w/2) terms, other channels untouched, no
// write past the scratch KernelABI.h states; groups of images (14x14 -> 7x7:
// 16 per group, so 37 = 16 + 16 + 5), channel tails (4 = 2 + 2, 5 = 3 + 2).
struct Stride2GradCase {
  int64_t batch, cin, h, w, cout, ci0, ci1;
};

template <typename Path>
bool checkStride2Grad(const Stride2GradCase &c, Path path, const char *name) {
  const int64_t oh = c.h / 2, ow = c.w / 2;
  const std::vector<float> x = randomValues(c.batch * c.cin * c.h * c.w, 7);
  const std::vector<float> dy = randomValues(c.batch * c.cout * oh * ow, 8);
  std::vector<float> dw(c.cout * c.cin * 9, 777.0f);
  const int64_t scratchFloats =
      kiln_conv2d_stride2_grad_weight_scratch_floats(c.cout, c.ci1 - c.ci0, c.h, c.w);
  std::vector<float> scratchStore(scratchFloats + 16 + 64, 555.0f);
  float *scratch = reinterpret_cast<float *>(
      (reinterpret_cast<uintptr_t>(scratchStore.data()) + 63) & ~uintptr_t(63));
  const kiln::rt::DirectConvStride2GradWeightArgs a{
      x.data(), dy.data(), dw.data(), scratch, c.batch, c.cin, c.h, c.w, c.cout, c.ci0, c.ci1};
  if (!path(a))
    return false;
  for (int64_t i = scratchFloats; i < scratchFloats + 64; ++i)
    EXPECT_EQ(scratch[i], 555.0f) << name << ": wrote past the scratch KernelABI.h states";
  const double eps = std::ldexp(1.0, -24);
  for (int64_t co = 0; co < c.cout; ++co)
    for (int64_t ci = 0; ci < c.cin; ++ci)
      for (int64_t ky = 0; ky < 3; ++ky)
        for (int64_t kx = 0; kx < 3; ++kx) {
          const float got = dw[(co * c.cin + ci) * 9 + ky * 3 + kx];
          if (ci < c.ci0 || ci >= c.ci1) {
            EXPECT_EQ(got, 777.0f) << name << ": wrote input channel " << ci;
            continue;
          }
          double exact = 0, magnitude = 0;
          for (int64_t n = 0; n < c.batch; ++n)
            for (int64_t oy = 0; oy < oh; ++oy)
              for (int64_t ox = 0; ox < ow; ++ox) {
                const int64_t iy = 2 * oy + ky - 1, ix = 2 * ox + kx - 1;
                if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w)
                  continue;
                const double term = double(dy[((n * c.cout + co) * oh + oy) * ow + ox]) *
                                    x[((n * c.cin + ci) * c.h + iy) * c.w + ix];
                exact += term;
                magnitude += std::fabs(term);
              }
          const double bound = (c.batch * oh * ow + 1) * eps * magnitude + 1e-30;
          EXPECT_NEAR(got, exact, bound) << name << ": co " << co << " ci " << ci << " tap "
                                         << ky << "," << kx;
        }
  return true;
}

std::vector<Stride2GradCase> stride2GradCases() {
  return {
      {2, 3, 28, 28, 4, 0, 3},  // resnet20 stage 2's shape, small; 4 = 2 + 2 channels
      {37, 2, 14, 14, 5, 1, 2}, // 7x7 dY planes in groups of 16 images: 16 + 16 + 5
      {3, 4, 4, 6, 3, 0, 4},    // 2x3 dY planes
      {2, 2, 2, 2, 2, 0, 2},    // 1x1 dY planes
  };
}

TEST(DirectConvStride2GradWeight, Avx512PathMatchesDoubleReference) {
  int ran = 0;
  for (const Stride2GradCase &c : stride2GradCases())
    ran += checkStride2Grad(
        c, [](const auto &a) { return kiln::rt::directConvStride2GradWeightAvx512(a); },
        "avx512");
  if (ran == 0)
    GTEST_SKIP() << "no AVX-512 on this CPU";
}

TEST(DirectConvStride2GradWeight, PortablePathMatchesDoubleReference) {
  for (const Stride2GradCase &c : stride2GradCases())
    checkStride2Grad(
        c,
        [](const auto &a) {
          kiln::rt::directConvStride2GradWeightPortable(a);
          return true;
        },
        "portable");
}

TEST(DirectConvStride2GradWeight, AbiEntryMatchesDoubleReference) {
  for (const Stride2GradCase &c : stride2GradCases())
    checkStride2Grad(
        c,
        [](const kiln::rt::DirectConvStride2GradWeightArgs &a) {
          kiln_conv2d_stride2_grad_weight_f32(a.x, a.dy, a.dw, a.scratch, a.batch, a.cin, a.h,
                                              a.w, a.cout, a.ci0, a.ci1);
          return true;
        },
        "kiln_conv2d_stride2_grad_weight_f32");
}

} // namespace
