//===- bench_artifact_ab.cpp - two compiled models, alternating -----------===//
//
// Why this exists: the VM Kiln is developed on drifts by +-20-30% within
// minutes, so a compiler change timed as two kiln-run processes one after
// the other cannot be judged (per-round ratios of such runs spread from 0.7
// to 1.05 for two builds within 2% of each other). This tool loads two
// artifacts (e.g. inference.kmodel exported before and after a compiler
// change) into one process, runs an entry of each on the same inputs, A then
// B, round after round, and reports the median of the per-round time ratios
// A/B (> 1: B is faster), with the largest output difference (0 when the
// change must not move a bit). Both artifacts must be readable by the
// runtime it is linked with; bench/kernels/bench_conv_ab compares two
// runtime builds instead.
//
//   build/bin/bench_artifact_ab before/inference.kmodel after/inference.kmodel --threads 1
//===----------------------------------------------------------------------===//
#include "kiln/runtime/Runtime.h"

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string a, b, entry = "infer";
  int threads = 1, rounds = 21, repeat = 5;
  int64_t batch = 128;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

/// The entry's inputs with the dynamic batch set: seeded values in [0, 1).
std::vector<std::vector<float>> makeInputs(const kiln::rt::Artifact &art, const Options &o,
                                           std::vector<kiln::rt::TensorView> &views) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(0.0f, 1.0f);
  std::vector<std::vector<float>> data;
  for (const kiln::rt::TensorInfo &in : art.inputs(o.entry)) {
    std::vector<int64_t> shape = in.shape;
    int64_t n = 1;
    for (int64_t &d : shape) {
      if (d < 0)
        d = o.batch;
      n *= d;
    }
    data.emplace_back(size_t(n));
    for (float &x : data.back())
      x = dist(rng);
    views.push_back({nullptr, shape});
  }
  for (size_t i = 0; i < data.size(); ++i)
    views[i].data = data[i].data();
  return data;
}

int run(const Options &o) {
  auto a = kiln::rt::Artifact::loadFile(o.a);
  auto b = kiln::rt::Artifact::loadFile(o.b);
  for (const auto &[art, path] : {std::pair{a, o.a}, {b, o.b}})
    if (!art->hasEntry(o.entry))
      throw kiln::rt::Error(fmt::format("{}: no entry '{}'", path, o.entry));
  std::vector<kiln::rt::TensorView> views;
  const auto data = makeInputs(*a, o, views);
  kiln::rt::Session sa(a, {o.threads}), sb(b, {o.threads});
  const auto outA = sa.run(o.entry, views), outB = sb.run(o.entry, views);
  if (outA.size() != outB.size())
    throw kiln::rt::Error(fmt::format("{} and {}: entry '{}' has {} and {} outputs", o.a, o.b,
                                      o.entry, outA.size(), outB.size()));
  double maxDiff = 0;
  for (size_t i = 0; i < outA.size(); ++i) {
    if (outA[i].shape != outB[i].shape)
      throw kiln::rt::Error(fmt::format("{} and {}: output {} of '{}' differs in shape", o.a,
                                        o.b, i, o.entry));
    for (size_t j = 0; j < outA[i].data.size(); ++j)
      maxDiff = std::max(maxDiff, double(std::fabs(outA[i].data[j] - outB[i].data[j])));
  }
  using Clock = std::chrono::steady_clock;
  auto timed = [&](kiln::rt::Session &s) {
    std::vector<double> ms;
    for (int r = 0; r < o.repeat; ++r) {
      const auto t0 = Clock::now();
      s.run(o.entry, views);
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    return median(ms);
  };
  std::vector<double> ta, tb, ratio;
  for (int r = 0; r < o.rounds; ++r) {
    ta.push_back(timed(sa));
    tb.push_back(timed(sb));
    ratio.push_back(ta.back() / tb.back());
  }
  std::vector<double> sorted = ratio;
  std::sort(sorted.begin(), sorted.end());
  fmt::print("A: {}\nB: {}\n", o.a, o.b);
  fmt::print("entry {}, batch {}, {} thread(s), {} rounds of {} runs each\n", o.entry, o.batch,
             o.threads, o.rounds, o.repeat);
  fmt::print("A median {:.3f} ms, B median {:.3f} ms\n", median(ta), median(tb));
  fmt::print("median A/B {:.3f} (quartiles {:.3f} - {:.3f}; > 1: B faster)\n", median(ratio),
             sorted[sorted.size() / 4], sorted[(3 * sorted.size()) / 4]);
  fmt::print("max |A - B| over the outputs: {:.3g}\n", maxDiff);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"Two compiled models' entries run alternately in one process: the median "
               "per-round time ratio A/B (> 1: B faster) and the largest output difference"};
  Options o;
  app.add_option("a", o.a, "artifact A (e.g. inference.kmodel from before a change)")
      ->required();
  app.add_option("b", o.b, "artifact B")->required();
  app.add_option("--entry", o.entry, "entry to run (default infer)");
  app.add_option("--threads", o.threads, "worker threads per session")
      ->check(CLI::Range(1, 256));
  app.add_option("--batch", o.batch, "batch size (the inputs' dynamic dim)")
      ->check(CLI::Range(int64_t(1), int64_t(65536)));
  app.add_option("--rounds", o.rounds, "A/B rounds (the median ratio is reported)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--repeat", o.repeat, "runs per session per round (their median is timed)")
      ->check(CLI::Range(1, 10000));
  CLI11_PARSE(app, argc, argv);
  try {
    return run(o);
  } catch (const std::exception &e) {
    fmt::print(stderr, "bench_artifact_ab: {}\n", e.what());
    return 1;
  }
}
