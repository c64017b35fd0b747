//===- bench_cuda.cpp - GPU images/s of train_step and infer --------------===//
//
//   bench_cuda                       # resnet20 and lenet5, batch 128 and 1
//   bench_cuda --models lenet5 --batches 64 --repeats 50 --json out.json
//
// Compiles each model's training artifact with the CUDA target (through the
// tools' compile caches), opens a GPU session and times train_step (SGD with
// momentum, lr 0 so that every step does the same work) and infer: warm-up
// runs first (the second run of an entry captures its CUDA graph), then the
// median of repeated runs, each including the host<->device copies of the
// inputs and outputs. When PyTorch with CUDA is importable by /usr/bin/python3
// the same configurations run in PyTorch eager on the same GPU
// (torch_cuda_bench.py) and the table shows both. Optionally the CPU session
// too (--cpu-threads). Exit 0 unless Kiln itself fails.
//===----------------------------------------------------------------------===//
#include "kiln/Driver/Compiler.h"
#include "kiln/runtime/Cuda.h"
#include "kiln/runtime/Runtime.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>

namespace {

double medianOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Row {
  std::string model, entry;
  int64_t batch = 0;
  double kilnMs = 0, cpuMs = 0, torchMs = 0;
  std::string torchNote;
};

/// Runs the PyTorch script; returns the median ms or a negative value with `why`.
double torchMedian(const std::string &python, const std::string &script, const std::string &model,
                   const std::string &mode, int64_t batch, int warmup, int repeats,
                   std::string &why) {
  std::string cmd = fmt::format("{} {} --model {} --mode {} --batch {} --warmup {} --repeat {} 2>&1",
                                python, script, model, mode, batch, warmup, repeats);
  FILE *p = ::popen(cmd.c_str(), "r");
  if (!p) {
    why = "cannot run " + python;
    return -1;
  }
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p))
    out.append(buf, n);
  int rc = ::pclose(p);
  size_t brace = out.rfind("{\"framework\"");
  if (rc != 0 || brace == std::string::npos) {
    why = out.substr(0, out.find('\n'));
    return -1;
  }
  try {
    auto j = nlohmann::json::parse(out.substr(brace));
    return j.at("median_ms").get<double>();
  } catch (const std::exception &e) {
    why = std::string("unreadable output: ") + e.what();
    return -1;
  }
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"bench_cuda: GPU train_step and infer throughput (median of repeated runs)"};
  std::vector<std::string> models = {"resnet20", "lenet5"};
  std::vector<std::string> entries = {"train_step", "infer"};
  std::vector<int64_t> batches = {128, 1};
  int repeats = 30, warmup = 5, cpuThreads = 0, device = 0;
  bool noTorch = false;
  std::string python = std::ifstream("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  std::string script = KILN_BENCH_TORCH_CUDA_SCRIPT, jsonPath;
  app.add_option("--models", models, "models");
  app.add_option("--entries", entries, "entries (train_step, infer)");
  app.add_option("--batches", batches, "batch sizes");
  app.add_option("--repeats", repeats, "timed runs (median)")->check(CLI::Range(3, 100000));
  app.add_option("--warmup", warmup, "untimed runs first")->check(CLI::Range(2, 1000));
  app.add_option("--device", device, "GPU number");
  app.add_option("--cpu-threads", cpuThreads, "also time the CPU session with this many threads");
  app.add_flag("--no-torch", noTorch, "skip the PyTorch comparison");
  app.add_option("--python", python, "interpreter for the PyTorch comparison");
  app.add_option("--json", jsonPath, "also write the results as JSON");
  CLI11_PARSE(app, argc, argv);

  kiln::rt::CudaDeviceInfo info = kiln::rt::probeCuda(device);
  if (!info.available) {
    fmt::print(stderr, "bench_cuda: {}\n", info.error);
    return 1;
  }
  fmt::print("GPU: {}\n", info.description);
  std::string torchWhy;
  bool torch = false;
  if (!noTorch) {
    FILE *p = ::popen(fmt::format("{} {} --check 2>&1", python, script).c_str(), "r");
    std::string out;
    char buf[1024];
    while (p && std::fgets(buf, sizeof buf, p))
      out += buf;
    torch = p && ::pclose(p) == 0;
    torchWhy = out.substr(0, out.find('\n'));
    fmt::print("{}\n", torch ? "PyTorch: " + torchWhy : torchWhy);
  }

  std::vector<Row> rows;
  try {
    for (const std::string &name : models) {
      kiln::CompileOptions options;
      options.cuda = true;
      auto t0 = std::chrono::steady_clock::now();
      kiln::CompileResult compiled =
          kiln::compileTrainingModel(name, 42, kiln::TrainingOptions{}, options);
      fmt::print("{}: compiled in {:.1f} s ({})\n", name,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                 compiled.cudaReport);
      auto artifact = kiln::rt::Artifact::loadBuffer(compiled.artifact, name + " training");
      kiln::rt::SessionOptions gpuOptions;
      gpuOptions.device = kiln::rt::Device::Cuda;
      gpuOptions.deviceOrdinal = device;
      kiln::rt::Session gpu(artifact, gpuOptions);
      std::unique_ptr<kiln::rt::Session> cpu;
      if (cpuThreads > 0)
        cpu = std::make_unique<kiln::rt::Session>(artifact, kiln::rt::SessionOptions{cpuThreads});
      for (const std::string &entry : entries) {
        for (int64_t batch : batches) {
          std::mt19937 rng(1);
          std::normal_distribution<float> pixel(0.0f, 1.0f);
          std::vector<float> images(size_t(batch) * 28 * 28), target(size_t(batch) * 10, 0.0f);
          for (float &v : images)
            v = pixel(rng);
          for (int64_t i = 0; i < batch; ++i)
            target[size_t(i * 10 + i % 10)] = 1.0f;
          float lr = 0.0f;
          std::vector<kiln::rt::TensorView> in = {{images.data(), {batch, 1, 28, 28}}};
          if (entry == "train_step") {
            in.push_back({target.data(), {batch, 10}});
            in.push_back({&lr, {1}});
          }
          auto time = [&](kiln::rt::Session &s, int runs) {
            for (int i = 0; i < warmup; ++i)
              s.run(entry, in);
            std::vector<double> ms;
            for (int i = 0; i < runs; ++i) {
              auto a = std::chrono::steady_clock::now();
              s.run(entry, in);
              ms.push_back(
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a)
                      .count());
            }
            return medianOf(ms);
          };
          Row row;
          row.model = name;
          row.entry = entry;
          row.batch = batch;
          row.kilnMs = time(gpu, repeats);
          if (cpu)
            row.cpuMs = time(*cpu, std::max(3, repeats / 10));
          if (torch) {
            row.torchMs = torchMedian(python, script, name, entry == "train_step" ? "train" : "infer",
                                      batch, warmup, repeats, row.torchNote);
          }
          rows.push_back(row);
        }
      }
    }
  } catch (const std::exception &e) {
    fmt::print(stderr, "bench_cuda: {}\n", e.what());
    return 1;
  }

  auto ips = [](int64_t batch, double ms) { return ms > 0 ? 1000.0 * double(batch) / ms : 0.0; };
  fmt::print("\n{:<9} {:<10} {:>5} {:>10} {:>12} {:>12} {:>12} {:>8}{}\n", "model", "entry",
             "batch", "Kiln ms", "Kiln img/s", "torch ms", "torch img/s", "speedup",
             cpuThreads > 0 ? fmt::format(" {:>14}", "CPU img/s") : "");
  nlohmann::json json = nlohmann::json::array();
  for (const Row &r : rows) {
    std::string torchMs = r.torchMs > 0 ? fmt::format("{:.3f}", r.torchMs) : "-";
    std::string torchIps = r.torchMs > 0 ? fmt::format("{:.0f}", ips(r.batch, r.torchMs)) : "-";
    std::string speedup = r.torchMs > 0 ? fmt::format("{:.2f}x", r.torchMs / r.kilnMs) : "-";
    fmt::print("{:<9} {:<10} {:>5} {:>10.3f} {:>12.0f} {:>12} {:>12} {:>8}{}\n", r.model, r.entry,
               r.batch, r.kilnMs, ips(r.batch, r.kilnMs), torchMs, torchIps, speedup,
               cpuThreads > 0 ? fmt::format(" {:>14.0f}", ips(r.batch, r.cpuMs)) : "");
    if (!r.torchNote.empty())
      fmt::print("    torch: {}\n", r.torchNote);
    json.push_back({{"model", r.model}, {"entry", r.entry}, {"batch", r.batch},
                    {"kiln_ms", r.kilnMs}, {"kiln_images_per_s", ips(r.batch, r.kilnMs)},
                    {"torch_ms", r.torchMs}, {"cpu_ms", r.cpuMs}});
  }
  if (!torch && !noTorch)
    fmt::print("(no PyTorch comparison: {})\n", torchWhy);
  if (!jsonPath.empty()) {
    std::ofstream out(jsonPath);
    out << nlohmann::json{{"gpu", info.description}, {"results", json}}.dump(2) << "\n";
  }
  return 0;
}
