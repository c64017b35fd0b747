//===- Augment.h - counter-based randomness, shuffling, augmentation -*- C++ -*-===//
//
// All randomness of the data pipeline is a pure function of (seed, epoch,
// sample index): there is no shared sequential RNG, so the batches are the
// same whatever the number of loader threads, and a resumed run can recompute
// any epoch. The generators are specified here exactly (splitmix64, Lemire's
// unbiased bounded integers, Fisher-Yates) rather than std::shuffle /
// std::uniform_int_distribution, whose results differ between standard
// libraries.
//===----------------------------------------------------------------------===//
#ifndef KILN_DATA_AUGMENT_H
#define KILN_DATA_AUGMENT_H

#include <cstdint>
#include <vector>

namespace kiln::data {

/// The splitmix64 finaliser: a bijective 64-bit mix.
uint64_t mix64(uint64_t x);

/// A splitmix64 stream: next() = mix64(state += golden gamma).
class SplitMix64 {
public:
  explicit SplitMix64(uint64_t state) : state_(state) {}
  uint64_t next();
  /// Uniform in [0, bound), unbiased (Lemire's multiply-shift with rejection).
  /// bound must be > 0.
  uint64_t below(uint64_t bound);

private:
  uint64_t state_;
};

/// A key from (seed, stream tag, a, b): chained mix64, so every argument
/// changes every bit.
uint64_t deriveKey(uint64_t seed, uint64_t tag, uint64_t a, uint64_t b);

/// The order of `n` samples in `epoch`: Fisher-Yates (from the back) driven by
/// SplitMix64(deriveKey(seed, shuffle tag, epoch, 0)).
std::vector<int64_t> epochPermutation(int64_t n, uint64_t seed, int64_t epoch);

/// Training augmentation of one sample, torchvision's
///   RandomCrop(28, padding=2) -> RandomHorizontalFlip(0.5) -> ToTensor -> Normalize
/// cropTop/cropLeft in [0, 2*kPad] are the crop's corner in the zero-padded
/// 32x32 image.
struct AugmentParams {
  static constexpr int kPad = 2;
  int cropTop = kPad;
  int cropLeft = kPad;
  bool flip = false;
};

/// The augmentation of dataset sample `index` in `epoch`: three draws of
/// SplitMix64(deriveKey(seed, augment tag, epoch, index)): top, left, flip.
AugmentParams augmentParams(uint64_t seed, int64_t epoch, int64_t index);

/// Applies `p` in place to one preprocessed (normalised) [1, 28, 28] image:
///   out[y][x] = in[y + top - 2][x' + left - 2], x' = flip ? 27 - x : x,
/// with normalizedZero() where the source lies in the padding. Cropping and
/// flipping commute with the per-pixel normalisation, so this equals doing
/// them on the raw image first (as torchvision does), bit for bit.
void applyAugmentation(float *image, const AugmentParams &p);

}  // namespace kiln::data

#endif  // KILN_DATA_AUGMENT_H
