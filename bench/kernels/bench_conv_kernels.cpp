//===- bench_conv_kernels.cpp - direct convolution kernels against the FMA peak -===//
//
// Why this exists: resnet20's training step spends ~84% of its time and its
// inference ~98% in the runtime's direct convolution (runtime/src/kernels/
// DirectConv.cpp), so the question for issues 3 and 5 is how close those
// kernels run to what one core can do. This prints, for one thread:
//   * the core's measured FMA peak (24 independent AVX-512 FMA chains, no
//     memory traffic), the yardstick for everything below;
//   * kiln_conv2d_same_f32 (forward, and the input gradient, which is the same
//     call with flipped weights) on each 3x3 stage of resnet20, once with one
//     image kept in cache ("hot") and once streaming a batch of images
//     ("batch"), as the compiled step calls it;
//   * kiln_conv2d_same_grad_weight_f32 over a batch, split into the work units
//     the compiler emits (input-channel ranges of cin/8 channels).
// Rounds alternate over every item and each item reports its fastest round
// (the VM this runs on drifts by +-20% over minutes; the fastest round is the
// least disturbed one), with GFLOP/s and the share of the measured peak.
//
//   build/bin/bench_conv_kernels [--batch N] [--rounds R]
//===----------------------------------------------------------------------===//
#include "kiln/runtime/KernelABI.h"

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

double seconds(const std::function<void()> &fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

#if defined(__x86_64__)
/// FLOP/s of 24 independent 16-lane FMA chains: two FMA ports x 4-cycle
/// latency need 8; 24 leaves no doubt that the ports, not latency, bind.
__attribute__((target("avx512f"), noinline)) float fmaChains(int64_t iters) {
  __m512 acc[24];
  for (int i = 0; i < 24; ++i)
    acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-4f);
  for (int64_t k = 0; k < iters; ++k) {
#pragma GCC unroll 24
    for (int i = 0; i < 24; ++i)
      acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  __m512 sum = acc[0];
  for (int i = 1; i < 24; ++i)
    sum = _mm512_add_ps(sum, acc[i]);
  // Lanes summed through memory: GCC 12's _mm512_reduce_add_ps trips
  // -Wuninitialized inside its own header.
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);
  float total = 0.0f;
  for (float l : lanes)
    total += l;
  return total;
}
#endif

bool hasAvx512() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

struct Item {
  std::string name;
  double flops = 0;
  std::function<void()> run;
  double best = 1e30;
};

std::vector<float> randomFloats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float &x : v)
    x = u(rng);
  return v;
}

struct AlignedFree {
  void operator()(float *p) const { std::free(p); }
};

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"Time the runtime's direct convolution kernels on resnet20's 3x3 shapes "
               "against the core's FMA peak (one thread)"};
  int batch = 64, rounds = 8;
  app.add_option("--batch", batch, "images per streaming/weight-gradient call")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--rounds", rounds, "alternating rounds; each item reports its fastest")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (!hasAvx512()) {
    fmt::print("skipped: this CPU has no AVX-512, so the runtime runs the portable loops "
               "(the compiler only selects the direct convolution on AVX-512 hosts)\n");
    return 0;
  }

  std::vector<Item> items;
#if defined(__x86_64__)
  const int64_t peakIters = 20'000'000;
  items.push_back({"FMA peak (24 zmm chains)", 24.0 * 32.0 * double(peakIters),
                   [=] { volatile float sink = fmaChains(peakIters); (void)sink; }});
#endif

  struct Shape {
    int64_t c, hw;
  };
  // Owned buffers, kept alive for the items' closures.
  std::vector<std::vector<float>> keep;
  std::vector<std::unique_ptr<float, AlignedFree>> scratches;
  for (Shape s : {Shape{16, 28}, Shape{32, 14}, Shape{64, 7}}) {
    const int64_t c = s.c, hw = s.hw, plane = hw * hw;
    const std::string tag = fmt::format("{}ch {}x{}", c, hw, hw);
    // Slack after each tensor: masked-off lanes may address past the end.
    keep.push_back(randomFloats(size_t(batch * c * plane + 64), 1));
    const float *x = keep.back().data();
    keep.push_back(randomFloats(size_t(batch * c * plane + 64), 2));
    const float *dy = keep.back().data();
    keep.push_back(randomFloats(size_t(c * c * 9), 3));
    const float *w = keep.back().data();
    keep.emplace_back(size_t(batch * c * plane + 64));
    float *y = keep.back().data();
    keep.emplace_back(size_t(c * c * 9));
    float *dw = keep.back().data();
    const double convFlops = 2.0 * double(c * c * 9 * plane);

    // One image, repeated: its planes stay in L1/L2.
    const int64_t hotReps = std::max<int64_t>(1, int64_t(4e8 / convFlops));
    items.push_back({"forward " + tag + " hot", convFlops * double(hotReps), [=] {
                       for (int64_t r = 0; r < hotReps; ++r)
                         kiln_conv2d_same_f32(x, w, y, plane, c, hw, hw, c, 3, 3, 1, 1, c * 9, 9,
                                              3, 1, 0, hw, nullptr);
                     }});
    // Every image of the batch once, as the compiled step does.
    items.push_back({fmt::format("forward {} batch {}", tag, batch), convFlops * batch, [=] {
                       for (int64_t n = 0; n < batch; ++n)
                         kiln_conv2d_same_f32(x + n * c * plane, w, y + n * c * plane, plane, c,
                                              hw, hw, c, 3, 3, 1, 1, c * 9, 9, 3, 1, 0, hw,
                                              nullptr);
                     }});
    // Planes of at most 512 pixels as the compiler calls them: whole images
    // packed into one call of up to 1024 pixels (kiln_conv2d_same_images_f32).
    if (plane <= 512) {
      const int64_t images = 1024 / plane;
      const size_t packFloats = size_t(2 * c * images * plane);
      scratches.emplace_back(
          static_cast<float *>(std::aligned_alloc(64, ((packFloats * 4 + 63) / 64) * 64)));
      float *pack = scratches.back().get();
      items.push_back(
          {fmt::format("forward {} batch {} ({} per call)", tag, batch, images),
           convFlops * batch, [=] {
             for (int64_t n = 0; n < batch; n += images)
               kiln_conv2d_same_images_f32(x + n * c * plane, w, y + n * c * plane, pack,
                                           std::min(images, batch - n), c * plane, c * plane, c,
                                           hw, hw, c, 3, 3, 1, 1, c * 9, 9, 3, 1, nullptr);
           }});
    }
    // The compiler's units: cin/8 input channels each (ConvKernels.cpp).
    const int64_t perUnit = std::max<int64_t>(1, c / 8);
    // The scratch KernelABI.h states.
    const size_t scratchFloats =
        size_t(kiln_conv2d_same_grad_weight_scratch_floats(c, perUnit, 3, 3, hw, hw));
    scratches.emplace_back(
        static_cast<float *>(std::aligned_alloc(64, ((scratchFloats * 4 + 63) / 64) * 64)));
    float *scratch = scratches.back().get();
    items.push_back({fmt::format("weight grad {} batch {}", tag, batch), convFlops * batch, [=] {
                       for (int64_t c0 = 0; c0 < c; c0 += perUnit)
                         kiln_conv2d_same_grad_weight_f32(x, dy, dw, scratch, batch, c, hw, hw,
                                                          c, 3, 3, 1, 1, c0,
                                                          std::min(c, c0 + perUnit));
                     }});
  }

  for (Item &it : items) // warm-up: page faults, caches, frequency
    it.run();
  for (int r = 0; r < rounds; ++r)
    for (Item &it : items)
      it.best = std::min(it.best, seconds(it.run));

  const double peak = items.front().flops / items.front().best;
  fmt::print("one thread, fastest of {} alternating rounds, batch {}\n", rounds, batch);
  fmt::print("{:<34} {:>10} {:>9} {:>7}\n", "kernel", "ms", "GFLOP/s", "% peak");
  for (const Item &it : items) {
    const double rate = it.flops / it.best;
    fmt::print("{:<34} {:>10.3f} {:>9.1f} {:>6.0f}%\n", it.name, it.best * 1e3, rate * 1e-9,
               100.0 * rate / peak);
  }
  return 0;
}
