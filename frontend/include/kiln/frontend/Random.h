//===- Random.h - seeded, library-independent random numbers --------------===//
//
// std::normal_distribution and friends are implementation-defined, so the same
// seed gives different weights with libstdc++ and libc++. These generators are
// specified bit for bit (splitmix64 seeding, xoshiro256**, 53-bit uniforms,
// Box-Muller), so a seed means the same weights everywhere. The normals use
// std::log/std::cos/std::sqrt in double and are rounded to float, which absorbs
// last-ulp differences between math libraries.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_FRONTEND_RANDOM_H
#define KILN_FRONTEND_RANDOM_H

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::fe {

/// One step of splitmix64: advances `state` and returns a well-mixed value.
uint64_t splitmix64(uint64_t& state);

/// 64-bit FNV-1a of a string (used to give each parameter its own stream).
uint64_t fnv1a64(const std::string& s);

class Rng {
 public:
  explicit Rng(uint64_t seed);

  /// xoshiro256** output.
  uint64_t next();
  /// Uniform in [0, 1) with 53 random bits.
  double uniform();
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Standard normal (Box-Muller; the second value of each pair is kept).
  double normal();

 private:
  uint64_t s_[4];
  bool hasSpare_ = false;
  double spare_ = 0.0;
};

/// The generator for one parameter: seeded from the model seed and the
/// parameter's name, so adding or reordering layers does not change the
/// initial values of the others.
Rng parameterRng(uint64_t seed, const std::string& paramName);

/// n values from N(0, std^2), rounded to float.
std::vector<float> normalValues(size_t n, double std, Rng& rng);
/// n values from U(lo, hi), rounded to float.
std::vector<float> uniformValues(size_t n, double lo, double hi, Rng& rng);

}  // namespace kiln::fe

#endif  // KILN_FRONTEND_RANDOM_H
