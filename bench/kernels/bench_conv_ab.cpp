//===- bench_conv_ab.cpp - two runtime builds' convolutions, alternating ---===//
//
// Why this exists: the VM Kiln is developed on drifts by +-20-30% within
// minutes, so two builds timed one after the other cannot be compared. This
// tool loads two builds of libkiln_runtime.so into one process (dlopen,
// RTLD_LOCAL: each keeps its own symbols), then calls the same direct
// convolution of each on the same data, A then B, round after round, and
// reports the median of the per-round time ratios A/B (> 1: B is faster).
// Each round pairs two calls made microseconds apart, so the drift cancels.
//
//   cp build/lib/libkiln_runtime.so /tmp/a/   # before a change
//   ... change, rebuild ...
//   build/bin/bench_conv_ab /tmp/a/libkiln_runtime.so build/lib/libkiln_runtime.so
//
// Shapes: resnet20's three 3x3 stages, forward (one image repeated in cache,
// a streaming batch, images packed per call as the compiler does) and the
// weight gradient in the compiler's work units, and the stride-2 forward of
// stages 2 and 3 (one image's rows as a thread of a batch-1 launch gets them,
// and 20 images per call), one thread. The forward
// entries get a null epilogue (schema 4); a schema-3 build, whose entries
// lack that last argument, ignores it (the caller owns the argument area in
// the x86-64 calling convention), so builds from before and after the
// change still compare.
//===----------------------------------------------------------------------===//
#include "kiln/runtime/KernelABI.h"

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

// The ABI entries this tool calls, as declared in KernelABI.h.
using SameFn = decltype(&kiln_conv2d_same_f32);
using ImagesFn = decltype(&kiln_conv2d_same_images_f32);
using GradWeightFn = decltype(&kiln_conv2d_same_grad_weight_f32);
using Stride2Fn = decltype(&kiln_conv2d_stride2_f32);
using HwioFn = decltype(&kiln_conv2d_hwio_f32);

struct Build {
  std::string path;
  SameFn same = nullptr;
  ImagesFn images = nullptr;
  GradWeightFn gradWeight = nullptr;
  Stride2Fn stride2 = nullptr;
  // kiln_conv2d_hwio_f32 (schema 5); null in older builds, whose stride-2
  // HWIO items then time kiln_conv2d_stride2_f32 (what such a build runs
  // those layers with).
  HwioFn hwio = nullptr;
};

/// Loads one build; an error names the file and the missing symbol.
bool load(const std::string &path, Build &b, std::string &error) {
  void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    error = dlerror();
    return false;
  }
  b.path = path;
  b.same = reinterpret_cast<SameFn>(dlsym(h, "kiln_conv2d_same_f32"));
  b.images = reinterpret_cast<ImagesFn>(dlsym(h, "kiln_conv2d_same_images_f32"));
  b.gradWeight = reinterpret_cast<GradWeightFn>(dlsym(h, "kiln_conv2d_same_grad_weight_f32"));
  b.stride2 = reinterpret_cast<Stride2Fn>(dlsym(h, "kiln_conv2d_stride2_f32"));
  b.hwio = reinterpret_cast<HwioFn>(dlsym(h, "kiln_conv2d_hwio_f32"));
  if (!b.same || !b.images || !b.gradWeight || !b.stride2) {
    error = path + ": not a Kiln runtime with the convolution entries of schema 3 or later "
                   "(kiln_conv2d_same_f32, kiln_conv2d_same_images_f32, "
                   "kiln_conv2d_same_grad_weight_f32, kiln_conv2d_stride2_f32)";
    return false;
  }
  return true;
}

enum class Kind {
  Hot,
  HotHwio,
  Streaming,
  Packed,
  PackedHwio,
  GradWeight,
  Stride2Hot,
  Stride2Packed,
  Stride2HotHwio,
  Stride2PackedHwio
};

struct Item {
  std::string name;
  Kind kind;
  int64_t channels, side, perCall; // perCall: images per packed call
  // Stride 2 (channels in, 2 * channels out, side: the input's): the output
  // rows of one image a Stride2Hot call computes, as a thread of a batch-1
  // launch split gets them; HotHwio: the rows of its one-image call.
  int64_t row0 = 0, row1 = 0;
};

/// A 3x3 stride-2 call: through the HWIO entry where asked and the build
/// has it, else the OIHW one (what an older build runs such a layer with).
void callStride2(const Build &lib, bool hwio, const float *x, const float *w, float *out,
                 float *scratch, int64_t row0, int64_t row1, int64_t cin, int64_t side,
                 int64_t cout) {
  if (hwio && lib.hwio)
    lib.hwio(x, w, out, row0, row1, cin, side, side, cout, 3, 3, 2, 1, 1, nullptr);
  else
    lib.stride2(x, w, out, scratch, row0, row1, cin, side, side, cout, nullptr);
}

double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"Two builds of the Kiln runtime, their direct convolutions called alternately in "
               "one process: the median per-round time ratio A/B (> 1: B faster), one thread"};
  std::string pathA, pathB;
  int batch = 64, rounds = 21;
  app.add_option("a", pathA, "libkiln_runtime.so of build A (e.g. a copy from before a change)")
      ->required();
  app.add_option("b", pathB, "libkiln_runtime.so of build B")->required();
  app.add_option("--batch", batch, "images per streaming / weight-gradient call")
      ->check(CLI::Range(1, 4096));
  app.add_option("--rounds", rounds, "A/B pairs per shape (the median ratio is reported)")
      ->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);

  Build a, b;
  std::string error;
  if (!load(pathA, a, error) || !load(pathB, b, error)) {
    fmt::print(stderr, "bench_conv_ab: {}\n", error);
    return 1;
  }
  const std::vector<Item> items = {
      {"forward 16ch 28x28 hot", Kind::Hot, 16, 28, 1},
      {"forward 16ch 28x28 batch", Kind::Streaming, 16, 28, 1},
      {"forward 32ch 14x14 hot", Kind::Hot, 32, 14, 1},
      {"forward 32ch 14x14 batch (5 per call)", Kind::Packed, 32, 14, 5},
      {"forward 64ch 7x7 hot", Kind::Hot, 64, 7, 1},
      {"forward 64ch 7x7 batch (20 per call)", Kind::Packed, 64, 7, 20},
      // Weights [kh][kw][cin][cout] (inference artifacts' small planes): the
      // channels-in-lanes path where the runtime has it.
      {"forward 64ch 7x7 hot, hwio", Kind::HotHwio, 64, 7, 1, 0, 7},
      {"forward 64ch 7x7 hot, hwio, rows 0..4", Kind::HotHwio, 64, 7, 1, 0, 4},
      {"forward 16ch 7x7 hot, hwio", Kind::HotHwio, 16, 7, 1, 0, 7},
      {"forward 32ch 14x14 hot, hwio", Kind::HotHwio, 32, 14, 1, 0, 14},
      {"forward 32ch 14x14 hot, hwio, rows 0..7", Kind::HotHwio, 32, 14, 1, 0, 7},
      {"forward 32ch 14x14 batch (5 per call), hwio", Kind::PackedHwio, 32, 14, 5},
      {"forward 64ch 7x7 batch (20 per call), hwio", Kind::PackedHwio, 64, 7, 20},
      {"forward 16ch 28x28 hot, hwio", Kind::HotHwio, 16, 28, 1, 0, 28},
      {"forward 16ch 28x28 hot, hwio, rows 0..14", Kind::HotHwio, 16, 28, 1, 0, 14},
      {"forward 16ch 28x28 batch (20 per call), hwio", Kind::PackedHwio, 16, 28, 20},
      {"weight grad 16ch 28x28 batch", Kind::GradWeight, 16, 28, 1},
      {"weight grad 32ch 14x14 batch", Kind::GradWeight, 32, 14, 1},
      {"weight grad 64ch 7x7 batch", Kind::GradWeight, 64, 7, 1},
      {"stride2 16->32ch 28x28 hot", Kind::Stride2Hot, 16, 28, 1, 0, 14},
      {"stride2 16->32ch 28x28 hot, rows 7..14", Kind::Stride2Hot, 16, 28, 1, 7, 14},
      {"stride2 32->64ch 14x14 hot", Kind::Stride2Hot, 32, 14, 1, 0, 7},
      {"stride2 32->64ch 14x14 hot, rows 0..4", Kind::Stride2Hot, 32, 14, 1, 0, 4},
      {"stride2 16->32ch 28x28 batch (20 per call)", Kind::Stride2Packed, 16, 28, 20},
      {"stride2 16->32ch 28x28 hot, hwio", Kind::Stride2HotHwio, 16, 28, 1, 0, 14},
      {"stride2 16->32ch 28x28 hot, hwio, rows 7..14", Kind::Stride2HotHwio, 16, 28, 1, 7, 14},
      {"stride2 32->64ch 14x14 hot, hwio", Kind::Stride2HotHwio, 32, 14, 1, 0, 7},
      {"stride2 32->64ch 14x14 hot, hwio, rows 0..4", Kind::Stride2HotHwio, 32, 14, 1, 0, 4},
      {"stride2 32->64ch 14x14 batch (20 per call), hwio", Kind::Stride2PackedHwio, 32, 14, 20},
  };
  fmt::print("A: {}\nB: {}\none thread, batch {}, {} alternating rounds per shape\n", a.path,
             b.path, batch, rounds);
  fmt::print("{:<40} {:>10} {:>10} {:>14}\n", "kernel", "A min ms", "B min ms", "median A/B");
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (const Item &it : items) {
    const int64_t c = it.channels, h = it.side, plane = h * h;
    // Hot: one image, 64 calls per timing; the rest: the batch once.
    const bool hot = it.kind == Kind::Hot || it.kind == Kind::HotHwio ||
                     it.kind == Kind::Stride2Hot || it.kind == Kind::Stride2HotHwio;
    const int64_t images = hot ? 1 : batch, repeats = hot ? 64 : 1;
    // Stride 2 doubles the channels and halves the side (a quarter plane).
    const bool stride2 = it.kind == Kind::Stride2Hot || it.kind == Kind::Stride2Packed ||
                         it.kind == Kind::Stride2HotHwio || it.kind == Kind::Stride2PackedHwio;
    const int64_t outChannels = stride2 ? 2 * c : c;
    std::vector<float> x(images * c * plane), w(outChannels * c * 9), out(images * c * plane),
        dw(c * c * 9);
    for (float &v : x)
      v = uniform(rng);
    for (float &v : w)
      v = uniform(rng);
    // Scratch as KernelABI.h states: the packed call's (cin + cout) planes of
    // its images, the weight gradient's for c / 8 channels per unit, or the
    // stride-2 call's (4 * cin + cout) quarter planes of its images.
    std::vector<float> scratch(size_t(std::max(
        {2 * c * it.perCall * plane, (4 * c + 2 * c) * it.perCall * (plane / 4),
         kiln_conv2d_same_grad_weight_scratch_floats(c, c / 8, 3, 3, h, h)})));
    auto runOnce = [&](const Build &lib) {
      for (int64_t r = 0; r < repeats; ++r) {
        switch (it.kind) {
        case Kind::Hot:
        case Kind::Streaming:
          for (int64_t n = 0; n < images; ++n)
            lib.same(x.data() + n * c * plane, w.data(), out.data() + n * c * plane, plane, c, h,
                     h, c, 3, 3, 1, 1, c * 9, 9, 3, 1, 0, h, nullptr);
          break;
        case Kind::HotHwio:
          lib.same(x.data(), w.data(), out.data(), plane, c, h, h, c, 3, 3, 1, 1, 1, c, 3 * c * c,
                   c * c, it.row0, it.row1, nullptr);
          break;
        case Kind::Packed:
        case Kind::PackedHwio: {
          const bool hwio = it.kind == Kind::PackedHwio;
          for (int64_t n = 0; n < images; n += it.perCall)
            lib.images(x.data() + n * c * plane, w.data(), out.data() + n * c * plane,
                       scratch.data(), std::min(it.perCall, images - n), c * plane, c * plane, c,
                       h, h, c, 3, 3, 1, 1, hwio ? 1 : c * 9, hwio ? c : 9,
                       hwio ? 3 * c * c : 3, hwio ? c * c : 1, nullptr);
          break;
        }
        case Kind::GradWeight: // the compiler's units: cin / 8 input channels each
          for (int64_t ci0 = 0; ci0 < c; ci0 += c / 8)
            lib.gradWeight(x.data(), x.data(), dw.data(), scratch.data(), images, c, h, h, c, 3,
                           3, 1, 1, ci0, ci0 + c / 8);
          break;
        case Kind::Stride2Hot:
        case Kind::Stride2HotHwio:
          callStride2(lib, it.kind == Kind::Stride2HotHwio, x.data(), w.data(), out.data(),
                      scratch.data(), it.row0, it.row1, c, h, 2 * c);
          break;
        case Kind::Stride2Packed: // rows of perCall whole images per call
        case Kind::Stride2PackedHwio:
          for (int64_t n = 0; n < images; n += it.perCall)
            callStride2(lib, it.kind == Kind::Stride2PackedHwio, x.data(), w.data(),
                        out.data(), scratch.data(), n * (h / 2),
                        std::min(n + it.perCall, images) * (h / 2), c, h, 2 * c);
          break;
        }
      }
    };
    runOnce(a); // warm both builds' code and data once
    runOnce(b);
    std::vector<double> ta, tb, ratio;
    for (int r = 0; r < rounds; ++r) {
      double t0 = seconds();
      runOnce(a);
      double t1 = seconds();
      runOnce(b);
      double t2 = seconds();
      ta.push_back(t1 - t0);
      tb.push_back(t2 - t1);
      ratio.push_back((t1 - t0) / (t2 - t1));
    }
    fmt::print("{:<40} {:>10.3f} {:>10.3f} {:>14.3f}\n", it.name,
               *std::min_element(ta.begin(), ta.end()) * 1e3,
               *std::min_element(tb.begin(), tb.end()) * 1e3, median(ratio));
  }
  return 0;
}
