// The output stage of the runtime's forward convolutions (kiln_conv2d_epilogue
// in KernelABI.h: bias, then inference batch norm, then a residual add, then
// relu, applied before each value is stored).
//
// What is checked: for every entry (one image's rows, packed whole images,
// stride 2), every path (AVX-512 where the CPU has it, the portable loop, the
// ABI entry) and every subset of the steps, the stored value is *bitwise*
// the stage's formula, written out below from KernelABI.h with std::fma,
// applied to what the same path stores without a stage. Bitwise, because the
// compiler's generic epilogue computes exactly these operations, and fusing
// them into the stores must not change a model's outputs (resnet20's
// logits are bitwise equal with and without the fusion). The convolution
// itself is checked against double precision in DirectConvTest.cpp.
//
// Also: the residual is read at the index of the value in the call's output
// (rows inside the image, a leading dimension wider than the rows, gaps
// between images), and nothing outside the computed rows is written.
#include "DirectConvPaths.h"

#include "kernels/DirectConv.h"
#include "kiln/runtime/KernelABI.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

namespace paths = kiln::rt::test;

constexpr float kSentinel = 12345.0f;

std::vector<float> uniform(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

/// Which steps a stage has.
struct Steps {
  bool bias, bn, residual, relu;
  std::string name() const {
    std::string s;
    for (auto [on, step] : {std::pair{bias, "bias"}, {bn, "bn"}, {residual, "add"}, {relu, "relu"}})
      if (on)
        s += s.empty() ? step : std::string("+") + step;
    return s.empty() ? "none" : s;
  }
};

std::vector<Steps> allSteps() {
  std::vector<Steps> all;
  for (int m = 1; m < 16; ++m)
    all.push_back({(m & 1) != 0, (m & 2) != 0, (m & 4) != 0, (m & 8) != 0});
  return all;
}

/// Per-channel parameters: BN scales around 1, variances away from 0, and
/// shifts that put outputs on both sides of 0 so relu matters.
struct Channels {
  explicit Channels(int64_t cout)
      : bias(uniform(cout, -1, 1, 11)), weight(uniform(cout, 0.5f, 1.5f, 12)),
        beta(uniform(cout, -1, 1, 13)), mean(uniform(cout, -1, 1, 14)),
        var(uniform(cout, 0.1f, 2.0f, 15)) {}
  std::vector<float> bias, weight, beta, mean, var;
  float eps = 1e-5f;

  kiln_conv2d_epilogue epilogue(const Steps &s, const float *residual) const {
    kiln_conv2d_epilogue e{};
    e.bias = s.bias ? bias.data() : nullptr;
    if (s.bn) {
      e.bn_weight = weight.data();
      e.bn_bias = beta.data();
      e.bn_mean = mean.data();
      e.bn_var = var.data();
      e.bn_eps = eps;
    }
    e.residual = s.residual ? residual : nullptr;
    e.relu = s.relu ? 1 : 0;
    return e;
  }
  /// KernelABI.h's formula for one value.
  float apply(float v, int64_t co, const Steps &s, float r) const {
    if (s.bias)
      v = v + bias[co];
    if (s.bn)
      v = std::fma(v - mean[co], weight[co] / std::sqrt(var[co] + eps), beta[co]);
    if (s.residual)
      v = v + r;
    if (s.relu)
      v = v > 0.0f ? v : 0.0f;
    return v;
  }
};

bool sameBits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

/// plain: what a path stored without a stage; staged: with one. Elements
/// where `written` is false must keep the sentinel in both.
void expectStaged(const std::vector<float> &plain, const std::vector<float> &staged,
                  const std::vector<float> &residual, const Channels &ch, const Steps &s,
                  const std::function<int64_t(int64_t)> &channelOf,
                  const std::function<bool(int64_t)> &written, const std::string &what) {
  int64_t positive = 0, negative = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    if (!written(int64_t(i))) {
      ASSERT_EQ(staged[i], kSentinel) << what << ": wrote outside the rows at " << i;
      continue;
    }
    const float want = ch.apply(plain[i], channelOf(int64_t(i)), s, residual[i]);
    ASSERT_TRUE(sameBits(staged[i], want))
        << what << " (" << s.name() << "): element " << i << " is " << staged[i]
        << ", the stage of " << plain[i] << " is " << want;
    (want > 0 ? positive : negative) += 1;
  }
  // The data exercise the step: values on both sides of 0 before relu.
  EXPECT_GT(positive, 0) << what;
  if (!s.relu) {
    EXPECT_GT(negative, 0) << what;
  }
}

// ---- kiln_conv2d_same_f32: rows of one image ----

struct SameCase {
  int64_t cin, h, w, cout, k, oy0, oy1, ldExtra;
};

using SamePath = std::function<bool(const kiln::rt::DirectConvArgs &)>;

void checkSame(const SamePath &path, const char *pathName) {
  const SameCase cases[] = {
      {16, 28, 28, 16, 3, 0, 28, 0},  // resnet20's first stage
      {8, 14, 14, 13, 3, 3, 11, 5},   // rows inside, channel tail, wide ld
      {3, 7, 7, 5, 3, 0, 7, 0},       // a 1-lane last vector
      {1, 12, 12, 6, 5, 2, 12, 0},    // one input channel, 5x5 (lenet5)
      {2, 4, 4, 300, 3, 1, 3, 0},     // more channels than the stage keeps inline
  };
  for (const SameCase &c : cases)
    for (const Steps &s : allSteps()) {
      const int64_t p = c.k / 2, ld = (c.oy1 - c.oy0) * c.w + c.ldExtra;
      const std::vector<float> x = uniform(c.cin * c.h * c.w, -1, 1, 1);
      const std::vector<float> wt = uniform(c.cout * c.cin * c.k * c.k, -0.5f, 0.5f, 2);
      const std::vector<float> residual = uniform(c.cout * ld, -1, 1, 3);
      const Channels ch(c.cout);
      std::vector<float> plain(c.cout * ld, kSentinel), staged(c.cout * ld, kSentinel);
      const kiln_conv2d_epilogue e = ch.epilogue(s, residual.data());
      kiln::rt::DirectConvArgs a{x.data(), wt.data(), plain.data(), ld, c.cin, c.h, c.w,
                                 c.cout,   c.k,       c.k,          p,  p,     c.cin * c.k * c.k,
                                 c.k * c.k, c.k,      1,            c.oy0, c.oy1};
      if (!path(a))
        GTEST_SKIP() << pathName << " path not available on this CPU";
      a.out = staged.data();
      a.epilogue = &e;
      ASSERT_TRUE(path(a));
      const int64_t rowFloats = (c.oy1 - c.oy0) * c.w;
      expectStaged(
          plain, staged, residual, ch, s, [&](int64_t i) { return i / ld; },
          [&](int64_t i) { return i % ld < rowFloats; },
          std::string(pathName) + " same " + std::to_string(c.cout) + "ch " +
              std::to_string(c.h) + "x" + std::to_string(c.w));
    }
}

TEST(ConvEpilogue, SameAvx512IsTheStageOfThePlainOutput) {
  checkSame(paths::sameAvx512, "avx512");
}

TEST(ConvEpilogue, SamePortableIsTheStageOfThePlainOutput) {
  checkSame(paths::samePortable, "portable");
}

TEST(ConvEpilogue, SameAbiEntryIsTheStageOfThePlainOutput) {
  checkSame(paths::sameAbiEntry, "abi");
}

// ---- kiln_conv2d_same_images_f32: whole images, packed ----

using ImagesPath = std::function<bool(const kiln::rt::DirectConvImagesArgs &)>;

void checkImages(const ImagesPath &path, const char *pathName) {
  struct ImagesCase {
    int64_t images, cin, h, w, cout, gap; // gap: floats between images in x and out
  };
  const ImagesCase cases[] = {{20, 8, 7, 7, 16, 0}, {5, 6, 14, 14, 9, 3}, {3, 4, 5, 6, 3, 17}};
  for (const ImagesCase &c : cases)
    for (const Steps &s : allSteps()) {
      const int64_t plane = c.h * c.w;
      const int64_t xImage = c.cin * plane + c.gap, outImage = c.cout * plane + c.gap;
      const std::vector<float> x = uniform(c.images * xImage, -1, 1, 4);
      const std::vector<float> wt = uniform(c.cout * c.cin * 9, -0.5f, 0.5f, 5);
      const std::vector<float> residual = uniform(c.images * outImage, -1, 1, 6);
      const Channels ch(c.cout);
      std::vector<float> plain(c.images * outImage, kSentinel), staged = plain;
      std::vector<float> scratch((c.cin + c.cout) * c.images * plane);
      const kiln_conv2d_epilogue e = ch.epilogue(s, residual.data());
      kiln::rt::DirectConvImagesArgs a{x.data(), wt.data(), plain.data(), scratch.data(),
                                       c.images, xImage,    outImage,     c.cin,
                                       c.h,      c.w,       c.cout,       3,
                                       3,        1,         1,            c.cin * 9,
                                       9,        3,         1};
      if (!path(a))
        GTEST_SKIP() << pathName << " path not available on this CPU";
      a.out = staged.data();
      a.epilogue = &e;
      ASSERT_TRUE(path(a));
      expectStaged(
          plain, staged, residual, ch, s, [&](int64_t i) { return (i % outImage) / plane; },
          [&](int64_t i) { return i % outImage < c.cout * plane; },
          std::string(pathName) + " images " + std::to_string(c.images) + "x" +
              std::to_string(c.h) + "x" + std::to_string(c.w));
    }
}

TEST(ConvEpilogue, ImagesAvx512IsTheStageOfThePlainOutput) {
  checkImages(paths::imagesAvx512, "avx512");
}

TEST(ConvEpilogue, ImagesPortableIsTheStageOfThePlainOutput) {
  checkImages(paths::imagesPortable, "portable");
}

TEST(ConvEpilogue, ImagesAbiEntryIsTheStageOfThePlainOutput) {
  checkImages(paths::imagesAbiEntry, "abi");
}

// ---- kiln_conv2d_stride2_f32: rows across images ----

using Stride2Path = std::function<bool(const kiln::rt::DirectConvStride2Args &)>;

void checkStride2(const Stride2Path &path, const char *pathName) {
  struct Stride2Case {
    int64_t batch, cin, h, w, cout, row0, row1;
  };
  // Whole images (through scratch), rows across images, and rows inside one
  // image other than the first (stored in place: the residual's offset).
  const Stride2Case cases[] = {{4, 16, 28, 28, 32, 0, 56}, {3, 5, 14, 10, 7, 4, 17},
                               {2, 3, 6, 8, 9, 1, 2}, {2, 16, 14, 14, 32, 9, 13}};
  for (const Stride2Case &c : cases)
    for (const Steps &s : allSteps()) {
      const int64_t oh = c.h / 2, ow = c.w / 2, outImage = c.cout * oh * ow;
      const int64_t images = (c.row1 + oh - 1) / oh - c.row0 / oh;
      const std::vector<float> x = uniform(c.batch * c.cin * c.h * c.w, -1, 1, 7);
      const std::vector<float> wt = uniform(c.cout * c.cin * 9, -0.5f, 0.5f, 8);
      const std::vector<float> residual = uniform(c.batch * outImage, -1, 1, 9);
      const Channels ch(c.cout);
      std::vector<float> plain(c.batch * outImage, kSentinel), staged = plain;
      std::vector<float> scratch((4 * c.cin + c.cout) * images * oh * ow);
      const kiln_conv2d_epilogue e = ch.epilogue(s, residual.data());
      kiln::rt::DirectConvStride2Args a{x.data(), wt.data(), plain.data(), scratch.data(),
                                        c.row0,   c.row1,    c.cin,        c.h,
                                        c.w,      c.cout};
      if (!path(a))
        GTEST_SKIP() << pathName << " path not available on this CPU";
      a.out = staged.data();
      a.epilogue = &e;
      ASSERT_TRUE(path(a));
      auto rowOf = [&](int64_t i) { return (i / outImage) * oh + (i % (oh * ow)) / ow; };
      expectStaged(
          plain, staged, residual, ch, s, [&](int64_t i) { return (i % outImage) / (oh * ow); },
          [&](int64_t i) { return rowOf(i) >= c.row0 && rowOf(i) < c.row1; },
          std::string(pathName) + " stride2 " + std::to_string(c.h) + "x" + std::to_string(c.w));
    }
}

TEST(ConvEpilogue, Stride2Avx512IsTheStageOfThePlainOutput) {
  checkStride2(paths::stride2Avx512, "avx512");
}

TEST(ConvEpilogue, Stride2PortableIsTheStageOfThePlainOutput) {
  checkStride2(paths::stride2Portable, "portable");
}

TEST(ConvEpilogue, Stride2AbiEntryIsTheStageOfThePlainOutput) {
  checkStride2(paths::stride2AbiEntry, "abi");
}

} // namespace
