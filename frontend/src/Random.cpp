//===- Random.cpp - splitmix64, xoshiro256**, Box-Muller -------------------===//
#include "kiln/frontend/Random.h"

#include <cmath>

namespace kiln::fe {

namespace {
constexpr double kTwoPi = 6.283185307179586476925286766559;

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001B3ull;
  }
  return h;
}

Rng::Rng(uint64_t seed) {
  // splitmix64 expands the seed as the xoshiro authors recommend; it never
  // yields the all-zero state xoshiro cannot leave.
  uint64_t st = seed;
  for (uint64_t& w : s_) w = splitmix64(st);
}

uint64_t Rng::next() {
  uint64_t result = rotl(s_[1] * 5, 7) * 9;
  uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double Rng::normal() {
  if (hasSpare_) {
    hasSpare_ = false;
    return spare_;
  }
  // u1 in (0, 1] so the log is finite.
  double u1 = 1.0 - uniform();
  double u2 = uniform();
  double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(kTwoPi * u2);
  hasSpare_ = true;
  return r * std::cos(kTwoPi * u2);
}

Rng parameterRng(uint64_t seed, const std::string& paramName) {
  uint64_t st = seed ^ fnv1a64(paramName);
  return Rng(splitmix64(st));
}

std::vector<float> normalValues(size_t n, double std, Rng& rng) {
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(std * rng.normal());
  return v;
}

std::vector<float> uniformValues(size_t n, double lo, double hi, Rng& rng) {
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng.uniform(lo, hi));
  return v;
}

}  // namespace kiln::fe
