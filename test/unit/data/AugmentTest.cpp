//===- AugmentTest.cpp - generators, permutations, crop/flip ---------------===//
#include "TestUtil.h"

#include "kiln/data/Augment.h"
#include "kiln/data/Image.h"

#include <gmock/gmock.h>

#include <algorithm>
#include <set>

namespace kiln::data::test {
namespace {

TEST(SplitMix64, MatchesTheReferenceSequence) {
  // Vigna's splitmix64.c from state 0.
  SplitMix64 rng(0);
  EXPECT_EQ(rng.next(), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(rng.next(), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(rng.next(), 0x06C45D188009454Full);
}

TEST(SplitMix64, BelowIsInRangeAndUniform) {
  SplitMix64 rng(12345);
  int counts[5] = {0, 0, 0, 0, 0};
  for (int i = 0; i < 50000; ++i) {
    uint64_t v = rng.below(5);
    ASSERT_LT(v, 5u);
    ++counts[v];
  }
  for (int c : counts)
    EXPECT_NEAR(c, 10000, 500);
  EXPECT_EQ(rng.below(1), 0u);
  // A bound near 2^64 exercises the rejection path and stays in range.
  const uint64_t big = (uint64_t(1) << 63) + 12345;
  for (int i = 0; i < 1000; ++i)
    ASSERT_LT(rng.below(big), big);
}

TEST(DeriveKey, EveryArgumentMatters) {
  std::set<uint64_t> keys;
  for (uint64_t seed : {0ull, 1ull})
    for (uint64_t tag : {0ull, 1ull})
      for (uint64_t a : {0ull, 1ull})
        for (uint64_t b : {0ull, 1ull})
          keys.insert(deriveKey(seed, tag, a, b));
  EXPECT_EQ(keys.size(), 16u);
  EXPECT_EQ(deriveKey(7, 8, 9, 10), deriveKey(7, 8, 9, 10));
}

TEST(EpochPermutation, IsADeterministicPermutationPerSeedAndEpoch) {
  std::vector<int64_t> p = epochPermutation(1000, 42, 3);
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i)
    ASSERT_EQ(sorted[size_t(i)], i);
  EXPECT_EQ(epochPermutation(1000, 42, 3), p);
  EXPECT_NE(epochPermutation(1000, 42, 4), p);
  EXPECT_NE(epochPermutation(1000, 43, 3), p);
  int fixedPoints = 0;
  for (int64_t i = 0; i < 1000; ++i)
    fixedPoints += p[size_t(i)] == i;
  EXPECT_LT(fixedPoints, 10);  // expected 1 for a uniform permutation
  EXPECT_TRUE(epochPermutation(0, 1, 0).empty());
  EXPECT_EQ(epochPermutation(1, 1, 0), (std::vector<int64_t>{0}));
}

TEST(AugmentParams, DeterministicAndCoveringEveryOutcome) {
  std::set<std::pair<int, int>> offsets;
  int flips = 0;
  const int n = 4000;
  for (int64_t i = 0; i < n; ++i) {
    AugmentParams p = augmentParams(7, 2, i);
    AugmentParams q = augmentParams(7, 2, i);
    ASSERT_EQ(p.cropTop, q.cropTop);
    ASSERT_EQ(p.cropLeft, q.cropLeft);
    ASSERT_EQ(p.flip, q.flip);
    ASSERT_GE(p.cropTop, 0);
    ASSERT_LE(p.cropTop, 4);
    ASSERT_GE(p.cropLeft, 0);
    ASSERT_LE(p.cropLeft, 4);
    offsets.insert({p.cropTop, p.cropLeft});
    flips += p.flip;
  }
  EXPECT_EQ(offsets.size(), 25u);
  EXPECT_NEAR(flips, n / 2, n / 20);
  // Another seed or epoch changes the draws.
  int same = 0;
  for (int64_t i = 0; i < 200; ++i) {
    AugmentParams a = augmentParams(7, 2, i), b = augmentParams(8, 2, i), c = augmentParams(7, 3, i);
    same += a.cropTop == b.cropTop && a.cropLeft == b.cropLeft && a.flip == b.flip;
    same += a.cropTop == c.cropTop && a.cropLeft == c.cropLeft && a.flip == c.flip;
  }
  EXPECT_LT(same, 40);  // 1/50 chance each: ~8 expected
}

std::vector<float> syntheticImage() {
  std::vector<float> img(784);
  for (int i = 0; i < 784; ++i)
    img[size_t(i)] = float(i) * 0.01f - 3.0f;  // distinct, none equal to the fill
  return img;
}

/// torchvision, literally: pad the image with the fill to 32x32, take the
/// 28x28 window at (top, left), then mirror it if flip.
std::vector<float> reference(const std::vector<float> &in, const AugmentParams &p) {
  float padded[32][32];
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x)
      padded[y][x] = normalizedZero();
  for (int y = 0; y < 28; ++y)
    for (int x = 0; x < 28; ++x)
      padded[y + 2][x + 2] = in[size_t(y * 28 + x)];
  std::vector<float> crop(784), out(784);
  for (int y = 0; y < 28; ++y)
    for (int x = 0; x < 28; ++x)
      crop[size_t(y * 28 + x)] = padded[y + p.cropTop][x + p.cropLeft];
  for (int y = 0; y < 28; ++y)
    for (int x = 0; x < 28; ++x)
      out[size_t(y * 28 + x)] = p.flip ? crop[size_t(y * 28 + 27 - x)] : crop[size_t(y * 28 + x)];
  return out;
}

TEST(ApplyAugmentation, CropAndFlipOnASyntheticImage) {
  const std::vector<float> src = syntheticImage();
  const float fill = normalizedZero();

  // Centre crop without flip: unchanged.
  std::vector<float> img = src;
  applyAugmentation(img.data(), AugmentParams{2, 2, false});
  EXPECT_EQ(img, src);

  // Flip only: each row mirrored.
  img = src;
  applyAugmentation(img.data(), AugmentParams{2, 2, true});
  for (int y = 0; y < 28; ++y)
    for (int x = 0; x < 28; ++x)
      ASSERT_EQ(img[size_t(y * 28 + x)], src[size_t(y * 28 + 27 - x)]);

  // Window at top 0, left 4: content moves down 2 and left 2.
  img = src;
  applyAugmentation(img.data(), AugmentParams{0, 4, false});
  EXPECT_EQ(img[0], fill);                       // rows 0-1 come from the padding
  EXPECT_EQ(img[1 * 28 + 10], fill);
  EXPECT_EQ(img[2 * 28 + 0], src[0 * 28 + 2]);   // out[y][x] = in[y-2][x+2]
  EXPECT_EQ(img[27 * 28 + 25], src[25 * 28 + 27]);
  EXPECT_EQ(img[10 * 28 + 26], fill);            // columns 26-27 from the padding
  EXPECT_EQ(img[10 * 28 + 27], fill);

  // All 50 outcomes against the literal torchvision construction.
  for (int top = 0; top <= 4; ++top)
    for (int left = 0; left <= 4; ++left)
      for (bool flip : {false, true}) {
        AugmentParams p{top, left, flip};
        img = src;
        applyAugmentation(img.data(), p);
        ASSERT_EQ(img, reference(src, p)) << top << " " << left << " " << flip;
      }
  EXPECT_THROW(applyAugmentation(img.data(), AugmentParams{5, 0, false}), std::invalid_argument);
}

}  // namespace
}  // namespace kiln::data::test
