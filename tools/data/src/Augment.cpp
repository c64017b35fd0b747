//===- Augment.cpp - counter-based randomness, shuffling, augmentation -----===//
#include "kiln/data/Augment.h"

#include "kiln/data/Image.h"

#include <cstring>
#include <stdexcept>

namespace kiln::data {
namespace {
constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ull;
// Stream tags: independent streams from one seed.
constexpr uint64_t kShuffleTag = 0x53485546464C4531ull;  // "SHUFFLE1"
constexpr uint64_t kAugmentTag = 0x4155474D454E5431ull;  // "AUGMENT1"
/// The full 128-bit product a * b: returns the low word, sets `high`.
uint64_t mul128(uint64_t a, uint64_t b, uint64_t &high) {
  const uint64_t aLo = a & 0xFFFFFFFFull, aHi = a >> 32, bLo = b & 0xFFFFFFFFull, bHi = b >> 32;
  const uint64_t ll = aLo * bLo, lh = aLo * bHi, hl = aHi * bLo, hh = aHi * bHi;
  const uint64_t mid = (ll >> 32) + (lh & 0xFFFFFFFFull) + (hl & 0xFFFFFFFFull);
  high = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
  return (mid << 32) | (ll & 0xFFFFFFFFull);
}
}  // namespace

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::next() { return mix64(state_ += kGoldenGamma); }

uint64_t SplitMix64::below(uint64_t bound) {
  if (bound == 0)
    throw std::invalid_argument("SplitMix64::below: bound must be > 0");
  // Lemire, "Fast Random Integer Generation in an Interval" (2019): the high
  // word of next() * bound, rejecting the few low words that would bias it.
  uint64_t high = 0, low = mul128(next(), bound, high);
  if (low < bound) {
    const uint64_t threshold = (0 - bound) % bound;
    while (low < threshold)
      low = mul128(next(), bound, high);
  }
  return high;
}

uint64_t deriveKey(uint64_t seed, uint64_t tag, uint64_t a, uint64_t b) {
  uint64_t h = mix64(seed + kGoldenGamma);
  h = mix64(h ^ tag);
  h = mix64((h + kGoldenGamma * 2) ^ a);
  h = mix64((h + kGoldenGamma * 3) ^ b);
  return h;
}

std::vector<int64_t> epochPermutation(int64_t n, uint64_t seed, int64_t epoch) {
  if (n < 0)
    throw std::invalid_argument("epochPermutation: negative size");
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    order[size_t(i)] = i;
  SplitMix64 rng(deriveKey(seed, kShuffleTag, uint64_t(epoch), 0));
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = int64_t(rng.below(uint64_t(i) + 1));
    std::swap(order[size_t(i)], order[size_t(j)]);
  }
  return order;
}

AugmentParams augmentParams(uint64_t seed, int64_t epoch, int64_t index) {
  SplitMix64 rng(deriveKey(seed, kAugmentTag, uint64_t(epoch), uint64_t(index)));
  AugmentParams p;
  p.cropTop = int(rng.below(2 * AugmentParams::kPad + 1));
  p.cropLeft = int(rng.below(2 * AugmentParams::kPad + 1));
  p.flip = rng.below(2) == 1;
  return p;
}

void applyAugmentation(float *image, const AugmentParams &p) {
  if (p.cropTop < 0 || p.cropTop > 2 * AugmentParams::kPad || p.cropLeft < 0 ||
      p.cropLeft > 2 * AugmentParams::kPad)
    throw std::invalid_argument("applyAugmentation: crop offset outside [0, 2*pad]");
  const int dy = p.cropTop - AugmentParams::kPad, dx = p.cropLeft - AugmentParams::kPad;
  const float fill = normalizedZero();
  float src[kImageSize];
  std::memcpy(src, image, sizeof src);
  for (int y = 0; y < kImageHeight; ++y) {
    const int sy = y + dy;
    for (int x = 0; x < kImageWidth; ++x) {
      const int sx = (p.flip ? kImageWidth - 1 - x : x) + dx;
      const bool inside = sy >= 0 && sy < kImageHeight && sx >= 0 && sx < kImageWidth;
      image[y * kImageWidth + x] = inside ? src[sy * kImageWidth + sx] : fill;
    }
  }
}

}  // namespace kiln::data
