//===- bench_training.cpp - train_step images/s for lenet5 and resnet20 ----===//
//
// Compiles each model's training artifact (SGD with momentum, the default
// recipe of the train driver), then times train_step at each batch size and
// thread count: warm-up runs, then the median of repeated runs. Achieved
// GFLOP/s counts 3x the forward conv/linear FLOPs (forward + two backward
// GEMMs), the usual convention. lr is 0 so the weights stay put and every run
// does the same work.
//
// The side-by-side with PyTorch is bench/training/compare.py, which runs this
// program with --json (one JSON line per configuration, every run's time)
// and bench/training/reference_torch.py in alternation and prints the table;
// --cache-dir lets its repeated invocations load the compiled artifact
// instead of compiling it again.
//===----------------------------------------------------------------------===//
#include "kiln/Driver/Compiler.h"
#include "kiln/frontend/Models.h"
#include "kiln/runtime/Runtime.h"
#include "kiln/tools/Common.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

namespace {

double medianOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"bench_training: train_step throughput (median of repeated runs)"};
  std::vector<std::string> models = {"resnet20", "lenet5"};
  std::vector<int64_t> batches = {32, 128};
  std::vector<int> threads = {1, 2};
  int repeats = 10, warmup = 2;
  bool json = false;
  std::string cacheDir;
  app.add_option("--models", models, "models to run");
  app.add_option("--batches", batches, "batch sizes");
  app.add_option("--threads", threads, "thread counts");
  app.add_option("--repeats", repeats, "timed runs per configuration (median)")->check(CLI::Range(3, 1000));
  app.add_option("--warmup", warmup, "untimed runs first")->check(CLI::Range(0, 100));
  app.add_flag("--json", json,
               "one JSON line per configuration (every run's time) instead of the table");
  app.add_option("--cache-dir", cacheDir,
                 "keep/load the compiled artifact here (keyed by model, options and compiler "
                 "version; use a fresh dir after changing the compiler)");
  CLI11_PARSE(app, argc, argv);

  try {
    if (!json)
      fmt::print("{:<9} {:>5} {:>7} {:>11} {:>10} {:>9}\n", "model", "batch", "threads",
                 "ms/step", "images/s", "GFLOP/s");
    for (const std::string &name : models) {
      kiln::fe::Model model = kiln::fe::buildModel(name);
      const double flopsPerImage = 3.0 * double(model.macFlopsPerImage());
      std::shared_ptr<const kiln::rt::Artifact> artifact;
      if (cacheDir.empty()) {
        kiln::CompileResult compiled =
            kiln::compileTrainingModel(name, 42, kiln::TrainingOptions{}, kiln::CompileOptions{});
        artifact = kiln::rt::Artifact::loadBuffer(compiled.artifact, name + " training");
      } else {
        std::string note;
        artifact = kiln::tools::compileTrainingCached(name, 42, kiln::TrainingOptions{}, cacheDir,
                                                      note);
        fmt::print(stderr, "bench_training: {}: {}\n", name, note);
      }
      for (int t : threads) {
        kiln::rt::Session session(artifact, {t});
        for (int64_t batch : batches) {
          std::mt19937 rng(1);
          std::normal_distribution<float> pixel(0.0f, 1.0f);
          std::vector<float> images(size_t(batch) * 28 * 28), target(size_t(batch) * 10, 0.0f);
          for (float &v : images)
            v = pixel(rng);
          for (int64_t i = 0; i < batch; ++i)
            target[size_t(i) * 10 + size_t(i % 10)] = 1.0f;
          float lr = 0.0f;
          std::vector<kiln::rt::TensorView> inputs = {
              {images.data(), {batch, 1, 28, 28}}, {target.data(), {batch, 10}}, {&lr, {1}}};
          for (int i = 0; i < warmup; ++i)
            session.run("train_step", inputs);
          std::vector<double> seconds;
          for (int i = 0; i < repeats; ++i) {
            auto start = std::chrono::steady_clock::now();
            session.run("train_step", inputs);
            seconds.push_back(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
          }
          double s = medianOf(seconds);
          if (json) {
            std::string times;
            for (double x : seconds)
              times += fmt::format("{}{:.6f}", times.empty() ? "" : ", ", x * 1e3);
            fmt::print("{{\"framework\": \"{}\", \"model\": \"{}\", \"batch\": {}, "
                       "\"threads\": {}, \"train_flops_per_image\": {:.0f}, \"times_ms\": [{}], "
                       "\"median_ms\": {:.6f}}}\n",
                       kiln::compilerVersion(), name, batch, t, flopsPerImage, times, s * 1e3);
            std::fflush(stdout);
            continue;
          }
          fmt::print("{:<9} {:>5} {:>7} {:>11.2f} {:>10.1f} {:>9.1f}\n", name, batch, t, s * 1e3,
                     double(batch) / s, flopsPerImage * double(batch) / s / 1e9);
        }
      }
    }
  } catch (const std::exception &e) {
    fmt::print(stderr, "bench_training: {}\n", e.what());
    return 1;
  }
  return 0;
}
