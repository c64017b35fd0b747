//===- kiln-run.cpp - run an entry of a Kiln artifact ---------------------===//
//
//   kiln-run model.kiln --list
//   kiln-run model.kiln --batch 128 --threads 2 --repeat 20 --warmup 3
//   kiln-run model.kiln --input images.npy --output logits.npy --print
//   kiln-run model.kiln --device gpu --batch 128 --repeat 50   # CUDA target
//   kiln-run model.kiln --entry train_step --batch 128 --repeat 5 --profile
//                       # time per launch and per fused-op pattern
//   kiln-run model.kiln --check-gpu --entry train_step --batch 8
//                       # every kernel on the GPU against the CPU kernel
//
// Inputs come from .npy files (one per entry input, in order) or are seeded
// uniform [0, 1) values. Every error is one line on stderr and exit code 1.
//===----------------------------------------------------------------------===//
#include "kiln/runtime/Cuda.h"
#include "kiln/runtime/Runtime.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace {

using kiln::rt::Artifact;
using kiln::rt::Error;
using kiln::rt::Session;
using kiln::rt::Tensor;
using kiln::rt::TensorInfo;
using kiln::rt::TensorView;

struct Options {
  std::string artifact;
  std::string entry = "infer";
  int64_t batch = 0; // 0: not given (--batch 0 is refused in main)
  std::vector<std::string> inputs;
  uint64_t seed = 0;
  int threads = 0;
  std::string device = "cpu";
  bool checkGpu = false;
  int repeat = 1;
  int warmup = 0;
  std::vector<std::string> outputs;
  bool print = false;
  bool list = false;
  int profileTop = -1; // -1: no profile
};

/// Time per run by fused-op pattern (all of them), then the `top` slowest
/// launches. Times are thread 0's wall time per launch (barrier included).
void printProfile(const std::vector<kiln::rt::LaunchProfile> &launches, int repeat, int top) {
  struct Group {
    double seconds = 0;
    int launches = 0;
    std::string kind;
  };
  std::map<std::string, Group> groups;
  double total = 0;
  for (const auto &l : launches) {
    Group &g = groups[l.kernel.ops];
    g.seconds += l.seconds;
    ++g.launches;
    g.kind = l.kernel.kind;
    total += l.seconds;
  }
  std::vector<std::pair<std::string, Group>> sorted(groups.begin(), groups.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto &a, const auto &b) { return a.second.seconds > b.second.seconds; });
  double perRun = 1e3 / double(repeat);
  fmt::print("\nprofile: {} launches, {:.3f} ms per run (launch times summed)\n",
             launches.size(), total * perRun);
  fmt::print("{:>10} {:>6} {:>8}  {:<13} {}\n", "ms/run", "%", "launches", "kind", "ops");
  for (const auto &[ops, g] : sorted)
    fmt::print("{:>10.3f} {:>6.1f} {:>8}  {:<13} {}\n", g.seconds * perRun,
               100.0 * g.seconds / total, g.launches, g.kind, ops);
  if (top == 0)
    return;
  std::vector<const kiln::rt::LaunchProfile *> byTime;
  for (const auto &l : launches)
    byTime.push_back(&l);
  std::sort(byTime.begin(), byTime.end(),
            [](const auto *a, const auto *b) { return a->seconds > b->seconds; });
  fmt::print("\nslowest {} launches:\n{:>10} {:>6} {:>6} {:>7}  {:<22} {}\n",
             std::min<size_t>(size_t(top), byTime.size()), "ms/run", "%", "#", "tasks", "kernel",
             "ops");
  for (size_t i = 0; i < byTime.size() && i < size_t(top); ++i) {
    const auto &l = *byTime[i];
    fmt::print("{:>10.3f} {:>6.1f} {:>6} {:>7}  {:<22} {}\n", l.seconds * perRun,
               100.0 * l.seconds / total, l.launch, l.tasks, l.kernel.name, l.kernel.ops);
  }
}

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "," : "") + (shape[i] < 0 ? std::string("?") : std::to_string(shape[i]));
  return s + "]";
}

std::string signatureText(const std::vector<TensorInfo> &sig) {
  std::string s;
  for (const TensorInfo &t : sig)
    s += (s.empty() ? "" : ", ") + t.name + " " + shapeText(t.shape);
  return s.empty() ? "(none)" : s;
}

std::string flopsText(double flops) {
  if (flops >= 1e9)
    return fmt::format("{:.2f} GFLOP", flops / 1e9);
  if (flops >= 1e6)
    return fmt::format("{:.2f} MFLOP", flops / 1e6);
  if (flops >= 1e3)
    return fmt::format("{:.2f} kFLOP", flops / 1e3);
  return fmt::format("{:.0f} FLOP", flops);
}

void list(const Artifact &a) {
  fmt::print("model '{}' (kiln-compile {}, schema {})\n", a.modelName(), a.compilerVersion(),
             a.schemaVersion());
  auto params = a.params();
  int64_t floats = 0, trainable = 0;
  for (const auto &p : params) {
    int64_t n = 1;
    for (int64_t d : p.shape)
      n *= d;
    floats += n;
    trainable += p.trainable ? n : 0;
  }
  fmt::print("params: {} tensors, {} floats ({} trainable)\n", params.size(), floats, trainable);
  for (const std::string &name : a.entryNames()) {
    auto kernels = a.kernels(name);
    // Group by fused ops, in order of first appearance.
    std::vector<std::pair<std::string, int>> groups;
    for (const auto &k : kernels) {
      auto it = std::find_if(groups.begin(), groups.end(),
                             [&](const auto &g) { return g.first == k.ops; });
      if (it == groups.end())
        groups.emplace_back(k.ops, 1);
      else
        ++it->second;
    }
    std::string counts;
    for (const auto &[ops, n] : groups)
      counts += fmt::format("{}{} \u00d7{}", counts.empty() ? "" : ", ",
                            ops.empty() ? "(unnamed)" : ops, n);
    fmt::print("\n{}: {} kernel{}{}{}\n", name, kernels.size(), kernels.size() == 1 ? "" : "s",
               counts.empty() ? "" : ": ", counts);
    fmt::print("  inputs:  {}\n", signatureText(a.inputs(name)));
    fmt::print("  outputs: {}\n", signatureText(a.outputs(name)));
    uint64_t fixed = a.arenaBytes(name, 0);
    fmt::print("  arena:   {} + {}\u00d7batch bytes; {} per item\n", fixed,
               a.arenaBytes(name, 1) - fixed, flopsText(double(a.flopsPerItem(name))));
    fmt::print("  threads: {}\n", a.itemsIndependent(name)
                                       ? "chunks of the batch (its items are independent)"
                                       : "every launch split");
    for (size_t i = 0; i < kernels.size(); ++i)
      fmt::print("  {:4} {:<32} {:<40} {:<12} {}/item\n", i, kernels[i].name, kernels[i].ops,
                 kernels[i].kind, flopsText(double(kernels[i].flopsPerItem)));
  }
}

/// Batch-1 runs take microseconds, big batches seconds.
std::string timeText(double seconds) {
  if (seconds < 1e-3)
    return fmt::format("{:.2f} us", seconds * 1e6);
  if (seconds < 1)
    return fmt::format("{:.3f} ms", seconds * 1e3);
  return fmt::format("{:.3f} s", seconds);
}

/// Uniform [0, 1) from the top 24 bits of mt19937_64: unlike
/// std::uniform_real_distribution, the same on every standard library.
std::vector<float> randomValues(size_t n, std::mt19937_64 &rng) {
  std::vector<float> v(n);
  for (float &x : v)
    x = float(rng() >> 40) * (1.0f / 16777216.0f);
  return v;
}

void printTensor(size_t index, const TensorInfo &info, const Tensor &t, bool all) {
  size_t n = t.data.size();
  fmt::print("output {} '{}' {}:", index, info.name, shapeText(t.shape));
  if (!all) {
    size_t shown = std::min<size_t>(n, 8);
    for (size_t i = 0; i < shown; ++i)
      fmt::print(" {:.6g}", t.data[i]);
    if (shown < n)
      fmt::print(" ... ({} values)", n);
    fmt::print("\n");
    return;
  }
  // One line per row of the last dimension.
  size_t row = t.shape.empty() || t.shape.back() <= 0 ? 1 : size_t(t.shape.back());
  for (size_t i = 0; i < n; ++i)
    fmt::print("{}{:.9g}", i % row == 0 ? "\n  " : " ", t.data[i]);
  fmt::print("\n");
}

int runTool(const Options &o) {
  auto artifact = Artifact::loadFile(o.artifact);
  if (o.list) {
    list(*artifact);
    return 0;
  }
  if (!artifact->hasEntry(o.entry)) {
    std::string names;
    for (const auto &n : artifact->entryNames())
      names += (names.empty() ? "" : ", ") + n;
    throw Error(fmt::format("{}: no entry '{}' (entries: {})", o.artifact, o.entry,
                            names.empty() ? "none" : names));
  }
  const auto &sig = artifact->inputs(o.entry);
  const auto &outSig = artifact->outputs(o.entry);

  std::vector<Tensor> inputs;
  if (!o.inputs.empty()) {
    if (o.inputs.size() != sig.size())
      throw Error(fmt::format("entry '{}' takes {} input{} ({}), got {} --input file{}", o.entry,
                              sig.size(), sig.size() == 1 ? "" : "s", signatureText(sig),
                              o.inputs.size(), o.inputs.size() == 1 ? "" : "s"));
    for (const std::string &path : o.inputs)
      inputs.push_back(kiln::rt::loadNpy(path));
  } else {
    int64_t batch = o.batch ? o.batch : 1;
    std::mt19937_64 rng(o.seed);
    for (const TensorInfo &t : sig) {
      Tensor x;
      x.shape = t.shape;
      if (!x.shape.empty() && x.shape[0] < 0)
        x.shape[0] = batch;
      x.data = randomValues(size_t(x.numel()), rng);
      inputs.push_back(std::move(x));
    }
  }
  std::vector<TensorView> views;
  for (const Tensor &t : inputs)
    views.push_back(TensorView{t.data.data(), t.shape});
  // The batch the entry will see (the session checks that inputs agree).
  int64_t batch = 1;
  for (size_t i = 0; i < sig.size(); ++i)
    if (!sig[i].shape.empty() && sig[i].shape[0] < 0 && !inputs[i].shape.empty()) {
      batch = inputs[i].shape[0];
      break;
    }
  if (o.batch && !o.inputs.empty() && o.batch != batch)
    throw Error(fmt::format("--batch {} differs from the batch {} of the --input files", o.batch,
                            batch));

  if (o.checkGpu) {
    // Every launch of the entry on the GPU against the CPU kernel, on the same
    // inputs; exit 1 if any differs by more than FP32 rounding can explain.
    auto checks = kiln::rt::checkCudaKernels(artifact, o.entry, views);
    int bad = 0;
    fmt::print("{:>4} {:<22} {:<22} {:>10} {:>11} {:>11}  {}\n", "#", "kernel", "cuda symbol",
               "elements", "max|diff|", "rel", "ops");
    for (const auto &c : checks) {
      bool ok = c.relError < 1e-5 && c.nonFiniteMismatches == 0;
      bad += !ok;
      fmt::print("{:>4} {:<22} {:<22} {:>10} {:>11.3e} {:>11.3e}  {}{}\n", c.launch, c.kernel,
                 c.symbol, c.elements, c.maxAbsError, c.relError, c.ops,
                 ok ? "" : fmt::format("  <-- MISMATCH ({} non-finite)", c.nonFiniteMismatches));
    }
    fmt::print("{} of {} kernels of '{}' match the CPU (relative error < 1e-5) at batch {}\n",
               checks.size() - size_t(bad), checks.size(), o.entry, batch);
    return bad ? 1 : 0;
  }
  kiln::rt::SessionOptions sessionOptions{o.threads};
  if (o.device == "gpu" || o.device == "cuda")
    sessionOptions.device = kiln::rt::Device::Cuda;
  if (o.profileTop >= 0) {
    if (sessionOptions.device != kiln::rt::Device::Cpu)
      throw Error("--profile times CPU launches; drop --device gpu");
    sessionOptions.profile = true;
  }
  Session session(artifact, sessionOptions);
  for (int i = 0; i < o.warmup; ++i)
    session.run(o.entry, views);
  session.resetProfile(); // timed runs only
  std::vector<double> times;
  std::vector<Tensor> outputs;
  for (int i = 0; i < o.repeat; ++i) {
    auto start = std::chrono::steady_clock::now();
    outputs = session.run(o.entry, views);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  for (size_t i = 0; i < outputs.size(); ++i)
    printTensor(i, outSig[i], outputs[i], o.print);
  for (size_t i = 0; i < o.outputs.size(); ++i) {
    if (i >= outputs.size())
      throw Error(fmt::format("entry '{}' has {} output{}, got {} --output files", o.entry,
                              outputs.size(), outputs.size() == 1 ? "" : "s", o.outputs.size()));
    kiln::rt::saveNpy(o.outputs[i], outputs[i]);
  }

  std::sort(times.begin(), times.end());
  double median = times.size() % 2 ? times[times.size() / 2]
                                   : 0.5 * (times[times.size() / 2 - 1] + times[times.size() / 2]);
  double best = times.front();
  if (session.device() == kiln::rt::Device::Cuda)
    fmt::print("time: median {}, min {} over {} run{} (batch {}, {})\n", timeText(median),
               timeText(best), times.size(), times.size() == 1 ? "" : "s", batch,
               session.deviceDescription());
  else
    fmt::print("time: median {}, min {} over {} run{} (batch {}, {} thread{})\n",
               timeText(median), timeText(best), times.size(), times.size() == 1 ? "" : "s",
               batch, session.numThreads(), session.numThreads() == 1 ? "" : "s");
  double flops = double(artifact->flopsPerItem(o.entry)) * double(batch);
  std::string rate = fmt::format("throughput: {:.1f} images/s", double(batch) / median);
  if (flops > 0)
    rate += fmt::format(", {:.2f} GFLOP/s ({} per item)", flops / median / 1e9,
                        flopsText(double(artifact->flopsPerItem(o.entry))));
  fmt::print("{}\n", rate);
  if (o.profileTop >= 0)
    printProfile(session.profile(), o.repeat, o.profileTop);
  return 0;
}

/// Runtime errors already read "kiln: <file>: ..."; one prefix is enough.
std::string stripPrefix(std::string msg) {
  const std::string prefix = "kiln: ";
  if (msg.compare(0, prefix.size(), prefix) == 0)
    msg.erase(0, prefix.size());
  std::replace(msg.begin(), msg.end(), '\n', ' ');
  return msg;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  CLI::App app{"Run an entry of a Kiln artifact on .npy or random inputs and time it.",
               "kiln-run"};
  app.add_option("artifact", o.artifact, "the .kiln artifact")->required();
  app.add_flag("--list", o.list, "print the entries, their signatures and kernels, then exit");
  app.add_option("--entry", o.entry, "entry point to run")->capture_default_str();
  app.add_option("--batch", o.batch, "batch size for random inputs (default 1)");
  app.add_option("--input", o.inputs, "input .npy file (<f4, C order), one per entry input")
      ->take_all();
  app.add_option("--random-seed", o.seed, "seed of the random inputs")->capture_default_str();
  app.add_option("--threads", o.threads, "worker threads (0: all hardware threads)")
      ->capture_default_str();
  app.add_option("--repeat", o.repeat, "timed runs")->capture_default_str();
  app.add_option("--warmup", o.warmup, "untimed runs first")->capture_default_str();
  app.add_option("--output", o.outputs, "write output i to the i-th file (.npy)")->take_all();
  app.add_flag("--print", o.print, "print every output value");
  app.add_option("--device", o.device, "cpu, or gpu (needs an artifact built with "
                                       "kiln-compile --target=cpu,cuda)")
      ->check(CLI::IsMember({"cpu", "gpu", "cuda"}))
      ->capture_default_str();
  app.add_option("--profile", o.profileTop,
                 "time every launch of the timed runs and print the time per fused-op "
                 "pattern and the N slowest launches (CPU)")
      ->expected(0, 1)
      ->default_str("25");
  app.add_flag("--check-gpu", o.checkGpu,
               "run every kernel of the entry on the GPU and on the CPU with the same inputs "
               "and print the differences (exit 1 on a mismatch)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success &e) {
    return app.exit(e); // --help
  } catch (const CLI::ParseError &e) {
    std::fprintf(stderr, "kiln-run: %s (see --help)\n", stripPrefix(e.what()).c_str());
    return 1;
  }
  // CLI11 2.1's range validators print the whole double range; say it plainly.
  std::string bad;
  if (app.count("--batch") && o.batch < 1)
    bad = fmt::format("--batch must be >= 1, got {}", o.batch);
  else if (o.threads < 0)
    bad = fmt::format("--threads must be >= 0 (0: all hardware threads), got {}", o.threads);
  else if (o.repeat < 1)
    bad = fmt::format("--repeat must be >= 1, got {}", o.repeat);
  else if (app.count("--profile") && o.profileTop < 0)
    bad = fmt::format("--profile N must be >= 0, got {}", o.profileTop);
  else if (o.warmup < 0)
    bad = fmt::format("--warmup must be >= 0, got {}", o.warmup);
  if (!bad.empty()) {
    std::fprintf(stderr, "kiln-run: %s\n", bad.c_str());
    return 1;
  }
  try {
    return runTool(o);
  } catch (const Error &e) {
    std::fflush(stdout);
    std::fprintf(stderr, "kiln-run: %s\n", stripPrefix(e.what()).c_str());
  } catch (const std::exception &e) {
    std::fflush(stdout);
    std::fprintf(stderr, "kiln-run: %s\n", stripPrefix(e.what()).c_str());
  }
  return 1;
}
