//===- bench_inference.cpp - Kiln inference throughput and latency ---------===//
//
//   build/bin/bench_inference                      # resnet20 + lenet5, 1 and 2 threads
//   build/bin/bench_inference --models resnet20 --threads 2 --reference off
//
// Compiles each model in-process (kiln::compileModel, the same pipeline as
// kiln-compile), loads the artifact from memory (kiln::rt::Artifact) and times
// the "infer" entry:
//   - throughput: batch 128, median of >= 10 timed runs after a warm-up;
//   - latency:    batch 1,   median of >= 200 timed runs after a warm-up;
// on 1 and 2 threads. GFLOP/s = the artifact's forward FLOPs per item x batch
// / median time. Two peak columns: %ref against the reference peak of 97.5
// GFLOP/s per core (195 for 2 cores: the FP32 FMA peak measured on the 2-vCPU
// Zen 3 dev machine, shared/toolchain-notes.md), and %cpu against the FMA peak
// of the CPU it runs on, measured at start-up with the widest vectors it has
// (machines of this project differ: an AVX-512 Xeon peaks far above 195).
//
// When PyTorch is importable, bench/inference/reference_torch.py runs the same
// model at the same batch and thread count right after each Kiln measurement
// (A B A B ... with --rounds > 1), so both sides see the same machine load.
// Without PyTorch the reference columns are skipped with a one-line message.
//
// Not a ctest test: timings on a shared machine are not pass/fail material.
//===----------------------------------------------------------------------===//
#include "kiln/Driver/Compiler.h"
#include "kiln/runtime/Runtime.h"

#include <immintrin.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <vector>

#ifndef KILN_BENCH_REFERENCE_SCRIPT
#define KILN_BENCH_REFERENCE_SCRIPT "bench/inference/reference_torch.py"
#endif

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<std::string> models = {"resnet20", "lenet5"};
  std::vector<int> threads = {1, 2};
  int64_t largeBatch = 128;
  int largeRepeat = 20, largeWarmup = 3;
  int smallRepeat = 500, smallWarmup = 50;
  int rounds = 1;
  std::string reference = "auto";
  // Debian's interpreter first: python3-torch installs for it, while a
  // pyenv/venv python3 earlier on PATH would not see it.
  std::string python = std::ifstream("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  std::string referenceScript = KILN_BENCH_REFERENCE_SCRIPT;
  double peakPerCore = 97.5;
  bool measurePeak = true;
  uint64_t seed = 42;
};

struct Stats {
  double median = 0, min = 0; // seconds per batch
  size_t runs = 0;
};

Stats statsOf(std::vector<double> times) {
  Stats s;
  if (times.empty())
    return s;
  std::sort(times.begin(), times.end());
  size_t n = times.size();
  s.median = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
  s.min = times.front();
  s.runs = n;
  return s;
}

std::string shellQuote(const std::string &s) {
  std::string q = "'";
  for (char c : s)
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Runs a shell command; returns its exit code and stdout+stderr.
int runCommand(const std::string &cmd, std::string &output) {
  output.clear();
  FILE *p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p)
    return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    output.append(buf, n);
  int status = ::pclose(p);
  if (status == -1)
    return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// The last line of `text` that parses as a JSON object.
std::optional<nlohmann::json> lastJsonLine(const std::string &text) {
  std::istringstream in(text);
  std::string line;
  std::optional<nlohmann::json> last;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '{')
      continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object())
      last = std::move(j);
  }
  return last;
}

std::string firstLine(const std::string &text) {
  std::string s = text.substr(0, text.find('\n'));
  return s.size() > 200 ? s.substr(0, 200) + "..." : s;
}

/// The PyTorch side: availability check once, then one process per measurement.
class Reference {
public:
  explicit Reference(const Options &o) : o_(o) {}

  /// Returns false (and prints why) when the reference is off or unavailable.
  bool check() {
    if (o_.reference == "off") {
      fmt::print("reference: off (--reference off)\n");
      return false;
    }
    if (!std::ifstream(o_.referenceScript)) {
      fmt::print("reference: skipped (no script at {})\n", o_.referenceScript);
      return false;
    }
    std::string out;
    int rc = runCommand(baseCommand(1) + " --check", out);
    auto j = lastJsonLine(out);
    if (rc == 0 && j && j->contains("framework")) {
      framework_ = (*j)["framework"].get<std::string>();
      fmt::print("reference: {} via {} (Kiln/ref = Kiln images/s / reference images/s)\n",
                 framework_, o_.referenceScript);
      return true;
    }
    // reference_torch.py exits 3 with a one-line reason when PyTorch is missing.
    fmt::print("reference: skipped ({})\n",
               out.empty() ? fmt::format("{} exited {}", o_.python, rc) : firstLine(out));
    return false;
  }

  /// Seconds per run of `repeat` runs after `warmup`; nullopt (reason printed) on failure.
  std::optional<std::vector<double>> measure(const std::string &model, int64_t batch, int threads, int warmup,
                               int repeat) {
    std::string cmd = baseCommand(threads) +
                      fmt::format(" --model {} --batch {} --threads {} --warmup {} --repeat {}",
                                  shellQuote(model), batch, threads, warmup, repeat);
    std::string out;
    int rc = runCommand(cmd, out);
    auto j = lastJsonLine(out);
    if (rc != 0 || !j || !j->contains("times_ms")) {
      fmt::print("  reference failed for {} batch {} threads {} (exit {}): {}\n", model, batch,
                 threads, rc, firstLine(out));
      return std::nullopt;
    }
    std::vector<double> times;
    for (double ms : (*j)["times_ms"])
      times.push_back(ms / 1e3);
    return times;
  }

  const std::string &framework() const { return framework_; }

private:
  std::string baseCommand(int threads) const {
    // OpenBLAS gets one thread so that it does not oversubscribe the cores
    // next to torch's own intra-op threads (shared/toolchain-notes.md).
    return fmt::format("OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS={} {} {}", threads,
                       shellQuote(o_.python), shellQuote(o_.referenceScript));
  }
  const Options &o_;
  std::string framework_;
};

// ---------------------------------------------------------------------------
// The FP32 FMA peak of this CPU: 12 independent FMA chains per thread (enough
// to cover latency x ports on current x86 cores), widest vectors available.
// ---------------------------------------------------------------------------

#define KILN_FMA12(fma)                                                                   \
  a0 = fma(a0, b, c); a1 = fma(a1, b, c); a2 = fma(a2, b, c); a3 = fma(a3, b, c);         \
  a4 = fma(a4, b, c); a5 = fma(a5, b, c); a6 = fma(a6, b, c); a7 = fma(a7, b, c);         \
  a8 = fma(a8, b, c); a9 = fma(a9, b, c); a10 = fma(a10, b, c); a11 = fma(a11, b, c);

__attribute__((target("avx512f"))) float fmaLoop512(int64_t iters) {
  __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
  __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2),
         a3 = _mm512_set1_ps(3), a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5),
         a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7), a8 = _mm512_set1_ps(8),
         a9 = _mm512_set1_ps(9), a10 = _mm512_set1_ps(10), a11 = _mm512_set1_ps(11);
  for (int64_t i = 0; i < iters; ++i) {
    KILN_FMA12(_mm512_fmadd_ps)
  }
  __m512 sum = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  sum = _mm512_add_ps(sum, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
  float out[16]; // not _mm512_reduce_add_ps: GCC 12's header warns inside it
  _mm512_storeu_ps(out, sum);
  return out[0] + out[15];
}

__attribute__((target("avx2,fma"))) float fmaLoop256(int64_t iters) {
  __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2),
         a3 = _mm256_set1_ps(3), a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5),
         a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7), a8 = _mm256_set1_ps(8),
         a9 = _mm256_set1_ps(9), a10 = _mm256_set1_ps(10), a11 = _mm256_set1_ps(11);
  for (int64_t i = 0; i < iters; ++i) {
    KILN_FMA12(_mm256_fmadd_ps)
  }
  __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  sum = _mm256_add_ps(sum, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  float out[8];
  _mm256_storeu_ps(out, sum);
  return out[0] + out[7];
}

volatile float gFmaSink; // keeps the loops' results alive

struct FmaPeak {
  std::string isa; // "AVX-512", "AVX2+FMA" or "" (not measured)
  std::map<int, double> gflops; // by thread count
};

/// Best of 3 timed runs of `threads` concurrent FMA loops (~0.1 s each).
FmaPeak measureFmaPeak(const std::vector<int> &threadCounts) {
  FmaPeak peak;
  __builtin_cpu_init();
  const bool has512 = __builtin_cpu_supports("avx512f");
  if (!has512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
    return peak;
  peak.isa = has512 ? "AVX-512" : "AVX2+FMA";
  const double flopsPerIter = 12.0 * (has512 ? 16 : 8) * 2;
  const int64_t iters = has512 ? 40'000'000 : 60'000'000;
  for (int threads : threadCounts) {
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
      auto start = Clock::now();
      std::vector<std::thread> pool;
      for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] { gFmaSink = has512 ? fmaLoop512(iters) : fmaLoop256(iters); });
      for (auto &t : pool)
        t.join();
      double secs = std::chrono::duration<double>(Clock::now() - start).count();
      best = std::max(best, flopsPerIter * double(iters) * threads / secs / 1e9);
    }
    peak.gflops[threads] = best;
  }
  return peak;
}

std::vector<float> randomImages(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(n);
  for (float &x : v)
    x = float(rng() >> 40) * (1.0f / 16777216.0f);
  return v;
}

std::vector<double> timeKiln(kiln::rt::Session &session, const kiln::rt::TensorView &input,
                             int warmup, int repeat) {
  for (int i = 0; i < warmup; ++i)
    session.run("infer", {input});
  std::vector<double> times;
  times.reserve(size_t(repeat));
  for (int i = 0; i < repeat; ++i) {
    auto start = Clock::now();
    auto outputs = session.run("infer", {input});
    times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  return times;
}

std::string machineLine() {
  std::string cpu = "unknown CPU";
  std::ifstream info("/proc/cpuinfo");
  std::string line;
  while (std::getline(info, line))
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  std::string load;
  std::ifstream("/proc/loadavg") >> load;
  return fmt::format("{}, {} hardware threads, load average {} (1 min) at start", cpu,
                     std::thread::hardware_concurrency(), load.empty() ? "?" : load);
}

struct Row {
  std::string model;
  int64_t batch;
  int threads;
  Stats kiln;
  std::optional<Stats> ref;
};

void printHeader(bool withCpuPeak, bool withRef, const std::string &refName) {
  std::string h = fmt::format("{:<9} {:>5} {:>3} | {:>10} {:>10} {:>10} {:>8} {:>6}", "model",
                              "batch", "thr", "ms/batch", "min ms", "images/s", "GFLOP/s", "%ref");
  if (withCpuPeak)
    h += fmt::format(" {:>6}", "%cpu");
  if (withRef)
    h += fmt::format(" | {:>10} {:>10} {:>8} | {:>9}", refName + " ms", "images/s", "GFLOP/s",
                     "Kiln/ref");
  fmt::print("{}\n{}\n", h, std::string(h.size(), '-'));
}

/// %ref: against the reference peak (peakPerCore x threads); %cpu: against the
/// FMA peak measured on this CPU at the same thread count.
void printRow(const Row &r, double flopsPerItem, double peakPerCore, const FmaPeak &cpuPeak,
              bool withRef) {
  auto gflops = [&](const Stats &s) { return flopsPerItem * double(r.batch) / s.median / 1e9; };
  const double g = gflops(r.kiln);
  std::string line = fmt::format(
      "{:<9} {:>5} {:>3} | {:>10.3f} {:>10.3f} {:>10.1f} {:>8.2f} {:>5.1f}%", r.model, r.batch,
      r.threads, r.kiln.median * 1e3, r.kiln.min * 1e3, double(r.batch) / r.kiln.median, g,
      100.0 * g / (peakPerCore * r.threads));
  if (!cpuPeak.isa.empty()) {
    auto it = cpuPeak.gflops.find(r.threads);
    line += it != cpuPeak.gflops.end() ? fmt::format(" {:>5.1f}%", 100.0 * g / it->second)
                                       : fmt::format(" {:>6}", "-");
  }
  if (withRef) {
    if (r.ref)
      line += fmt::format(" | {:>10.3f} {:>10.1f} {:>8.2f} | {:>8.2f}x", r.ref->median * 1e3,
                          double(r.batch) / r.ref->median, gflops(*r.ref),
                          r.ref->median / r.kiln.median);
    else
      line += fmt::format(" | {:>10} {:>10} {:>8} | {:>9}", "-", "-", "-", "-");
  }
  fmt::print("{}\n", line);
  std::fflush(stdout);
}

int run(const Options &o) {
  fmt::print("Kiln inference benchmark ({})\n", kiln::compilerVersion());
  fmt::print("machine: {}\n", machineLine());
  fmt::print("%ref: against the reference peak {:.1f} GFLOP/s per core ({:.0f} GFLOP/s for 2 "
             "cores; the FP32 FMA peak measured on the 2-vCPU Zen 3 dev machine, "
             "shared/toolchain-notes.md)\n",
             o.peakPerCore, 2 * o.peakPerCore);
  FmaPeak cpuPeak;
  if (o.measurePeak) {
    cpuPeak = measureFmaPeak(o.threads);
    if (!cpuPeak.isa.empty()) {
      std::string list;
      for (const auto &[t, g] : cpuPeak.gflops)
        list += fmt::format("{}{} thread{}: {:.1f} GFLOP/s", list.empty() ? "" : ", ", t,
                            t == 1 ? "" : "s", g);
      fmt::print("%cpu: against this CPU's {} FMA peak, measured now: {}\n", cpuPeak.isa, list);
      // Another process on a core shows up as a multi-thread peak that does
      // not scale; the multi-thread rows of this run are then not meaningful.
      auto one = cpuPeak.gflops.find(1);
      for (const auto &[t, g] : cpuPeak.gflops)
        if (one != cpuPeak.gflops.end() && t > 1 && g < 0.8 * t * one->second)
          fmt::print("WARNING: the {}-thread FMA peak is only {:.1f}x the 1-thread one: other "
                     "processes are using the cores; {}-thread rows are unreliable, rerun when "
                     "the machine is idle\n",
                     t, g / one->second, t);
    }
  }
  fmt::print("batch {}: median of {} runs after {} warm-up; batch 1: median of {} runs after {} "
             "warm-up; {} round{} per row\n",
             o.largeBatch, o.largeRepeat, o.largeWarmup, o.smallRepeat, o.smallWarmup, o.rounds,
             o.rounds == 1 ? "" : "s");
  Reference reference(o);
  const bool withRef = reference.check();
  std::string refName = withRef ? "torch" : "";

  struct Compiled {
    std::string model;
    std::shared_ptr<const kiln::rt::Artifact> artifact;
    double flopsPerItem;
  };
  std::vector<Compiled> compiled;
  for (const std::string &model : o.models) {
    kiln::CompileResult r = kiln::compileModel(model, o.seed, kiln::CompileOptions{});
    auto artifact = kiln::rt::Artifact::loadBuffer(std::move(r.artifact), model + " (in memory)");
    double flops = double(artifact->flopsPerItem("infer"));
    fmt::print("compiled {}: {} kernels, {:.2f} MFLOP/item, {:.2f} s\n", model,
               artifact->kernels("infer").size(), flops / 1e6, r.seconds);
    compiled.push_back({model, std::move(artifact), flops});
  }
  fmt::print("\n");
  printHeader(!cpuPeak.isa.empty(), withRef, refName);

  for (const Compiled &c : compiled) {
    const auto &sig = c.artifact->inputs("infer");
    if (sig.size() != 1)
      throw kiln::rt::Error(c.model + ": the benchmark expects one input");
    for (int threads : o.threads) {
      kiln::rt::Session session(c.artifact, kiln::rt::SessionOptions{threads});
      for (int64_t batch : {o.largeBatch, int64_t(1)}) {
        const bool large = batch != 1;
        const int warmup = large ? o.largeWarmup : o.smallWarmup;
        const int repeat = large ? o.largeRepeat : o.smallRepeat;
        std::vector<int64_t> shape = sig[0].shape;
        shape[0] = batch;
        int64_t numel = 1;
        for (int64_t d : shape)
          numel *= d;
        std::vector<float> images = randomImages(size_t(numel), o.seed);
        kiln::rt::TensorView input{images.data(), shape};

        // Rounds: Kiln then the reference, again and again, so that both see
        // the same machine state; each side's median is over all its runs.
        std::vector<double> kilnTimes, refTimes;
        bool refOk = withRef;
        const int perRound = (repeat + o.rounds - 1) / o.rounds;
        for (int round = 0; round < o.rounds; ++round) {
          auto k = timeKiln(session, input, warmup, perRound);
          kilnTimes.insert(kilnTimes.end(), k.begin(), k.end());
          if (refOk) {
            auto r = reference.measure(c.model, batch, threads, warmup, perRound);
            if (r)
              refTimes.insert(refTimes.end(), r->begin(), r->end());
            else
              refOk = false;
          }
        }
        Row row{c.model, batch, threads, statsOf(kilnTimes), std::nullopt};
        if (refOk)
          row.ref = statsOf(refTimes);
        printRow(row, c.flopsPerItem, o.peakPerCore, cpuPeak, withRef);
      }
    }
  }
  // Contention that started after the first measurement shows up here.
  if (!cpuPeak.isa.empty()) {
    FmaPeak end = measureFmaPeak(o.threads);
    std::string list;
    bool dropped = false;
    for (const auto &[t, g] : end.gflops) {
      list += fmt::format("{}{} thread{}: {:.1f} GFLOP/s", list.empty() ? "" : ", ", t,
                          t == 1 ? "" : "s", g);
      dropped |= g < 0.8 * cpuPeak.gflops[t];
    }
    fmt::print("\nFMA peak again at the end: {}\n", list);
    if (dropped)
      fmt::print("WARNING: the peak dropped during the run: other processes competed for the "
                 "cores; rerun when the machine is idle\n");
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  CLI::App app{"Kiln inference benchmark: batch-128 throughput and batch-1 latency of the "
               "registered models on 1 and 2 threads (median of repeated runs), optionally "
               "side by side with PyTorch.",
               "bench_inference"};
  app.add_option("--models", o.models, "models to run")->capture_default_str();
  app.add_option("--threads", o.threads, "thread counts")->capture_default_str();
  app.add_option("--large-batch", o.largeBatch, "the throughput batch")
      ->check(CLI::Range(int64_t(2), int64_t(1) << 20))
      ->capture_default_str();
  app.add_option("--large-repeat", o.largeRepeat, "timed runs at the large batch (>= 10)")
      ->check(CLI::Range(10, 1000000))
      ->capture_default_str();
  app.add_option("--large-warmup", o.largeWarmup, "warm-up runs at the large batch")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--small-repeat", o.smallRepeat, "timed runs at batch 1 (>= 200)")
      ->check(CLI::Range(200, 100000000))
      ->capture_default_str();
  app.add_option("--small-warmup", o.smallWarmup, "warm-up runs at batch 1")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--rounds", o.rounds,
                 "alternate Kiln and the reference this many times per row (the repeats are "
                 "split over the rounds)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--reference", o.reference, "run PyTorch side by side: auto (if importable) | off")
      ->check(CLI::IsMember({"auto", "off"}))
      ->capture_default_str();
  app.add_option("--python", o.python, "python interpreter for the reference")
      ->capture_default_str();
  app.add_option("--reference-script", o.referenceScript, "the reference script")
      ->capture_default_str();
  app.add_option("--peak-per-core", o.peakPerCore,
                 "reference FP32 peak GFLOP/s of one core (the %ref column)")
      ->capture_default_str();
  bool noMeasurePeak = false;
  app.add_flag("--no-measure-peak", noMeasurePeak,
               "skip measuring this CPU's FMA peak (the %cpu column)");
  app.add_option("--seed", o.seed, "seed of the weights and inputs")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  o.measurePeak = !noMeasurePeak;
  for (int t : o.threads)
    if (t < 1) {
      std::fprintf(stderr, "bench_inference: --threads values must be >= 1, got %d\n", t);
      return 1;
    }
  try {
    return run(o);
  } catch (const std::exception &e) {
    std::fflush(stdout);
    std::fprintf(stderr, "bench_inference: %s\n", e.what());
    return 1;
  }
}
