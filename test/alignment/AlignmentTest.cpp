//===- AlignmentTest.cpp - Kiln's training artifact against PyTorch fixtures ===//
//
// The reproduction standard's forward / loss / backward / optimizer checks.
// make_fixtures.py (same directory; see its doc for the test point and how to
// regenerate) ran the same model in PyTorch, in float64, from the weights in
// fixtures/<model>/ and wrote what it computed. Here Kiln compiles the model's
// training artifact (kiln::compileTrainingModel with the fixture's SGD
// options), imports those weights and checks, on 1 and 2 threads:
//
//   forward    infer logits (eval-mode batch norm: running statistics) and
//              eval_step's logits: mean |diff| < 1e-5 (the bar);
//              eval_step's loss: relative diff < 1e-5;
//   backward   train_step's gradient outputs ("grad:<param>", the autodiff
//              pass's own results, taken before the optimizer update, not
//              differences of weights) at the initial weights: relative L2
//              < 1e-4 per parameter (the bar); PyTorch float32 itself is at
//              <= 2.3e-5 from float64 there (the stem conv of resnet20,
//              whose gradient sums 6272 positions after 19 layers of backward);
//   optimizer  5 train_step calls (training-mode batch norm, SGD momentum with
//              coupled weight decay, the fixture's learning rate per step):
//              each step's loss: relative diff < 1e-5 (the bar); every
//              parameter and batch-norm running statistic after the 5 steps:
//              relative L2 < 5e-5 per tensor. After step 1 the weights move
//              and a ReLU input may come within float32 rounding of 0, where
//              Kiln and the float64 reference take different sides (a "flip",
//              which moves upstream gradients by ~0.5 %); make_fixtures.py
//              picks the learning rate so that flipping every ReLU input within
//              1e-5 of its tensor's RMS of 0, at every step, moves no loss by
//              more than 3e-6 and no final parameter by more than 1.7e-5 (it
//              records the figures in config.txt: resnet20 2.2e-6 and 1.6e-5).
//              Measured: Kiln's losses within 8e-7, final parameters within
//              6.6e-6 (resnet20's conv1.weight, after a flip at a later step;
//              everything else <= 1.8e-6). What a wrong optimizer does (the
//              float64 run with one setting changed, worst loss / parameter):
//              lenet5 without weight decay 7.9e-6 / 4.7e-4, Nesterov toggled
//              1.1e-2 / 0.31, momentum 0.85 2.1e-3 / 0.11, label smoothing
//              off 6.9e-3 / 0.16; resnet20 Nesterov off 1.3e-3 / 4.3e-4,
//              momentum 0.85 4.7e-4 / 2.1e-4, smoothing on 1.4e-3 / 2.2e-4
//              (its small learning rate hides a missing weight decay,
//              5.7e-7, which lenet5 catches).
//
// The report printed for each model and thread count lists every key with its
// mean and max absolute difference, the metric, the threshold and pass/fail.
//===----------------------------------------------------------------------===//
#include "kiln/Driver/Compiler.h"
#include "kiln/runtime/Runtime.h"
#include "kiln/tools/Common.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#ifndef KILN_ALIGNMENT_FIXTURES
#define KILN_ALIGNMENT_FIXTURES "test/alignment/fixtures"
#endif

namespace {

using namespace kiln;

constexpr double kLogitsMeanAbs = 1e-5;
constexpr double kLossRel = 1e-5;
constexpr double kGradRelL2 = 1e-4;
constexpr double kParamRelL2 = 5e-5;

struct ManifestEntry {
  std::string name;
  bool trainable = false;
  std::vector<int64_t> shape;
  int64_t numel = 1;
};

/// One model's fixtures (see make_fixtures.py for the files).
struct Fixture {
  std::string model, dir;
  TrainingOptions training;
  int steps = 0;
  std::vector<ManifestEntry> manifest;
  rt::Tensor paramsInitial, gradsStep1, paramsStep5, images, target, logitsEval, lossEval, lrs,
      losses;
};

[[noreturn]] void fail(const std::string &path, const std::string &what) {
  throw std::runtime_error(path + ": " + what +
                           " (regenerate with test/alignment/make_fixtures.py)");
}

std::map<std::string, std::string> readKeyValues(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    fail(path, "cannot open");
  std::map<std::string, std::string> kv;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    std::istringstream words(line);
    std::string key, value;
    if (!(words >> key >> value))
      fail(path, "expected '<key> <value>', got '" + line + "'");
    kv[key] = value;
  }
  return kv;
}

std::vector<ManifestEntry> readManifest(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    fail(path, "cannot open");
  std::vector<ManifestEntry> entries;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    ManifestEntry e;
    int trainable = -1;
    std::string shape;
    if (!(words >> e.name >> trainable >> shape) || (trainable != 0 && trainable != 1))
      fail(path, "expected '<name> <0|1> <d0>x<d1>...', got '" + line + "'");
    e.trainable = trainable == 1;
    std::istringstream dims(shape);
    std::string d;
    while (std::getline(dims, d, 'x')) {
      e.shape.push_back(std::stoll(d));
      e.numel *= e.shape.back();
    }
    entries.push_back(std::move(e));
  }
  if (entries.empty())
    fail(path, "no parameters");
  return entries;
}

Fixture loadFixture(const std::string &model) {
  Fixture f;
  f.model = model;
  f.dir = std::string(KILN_ALIGNMENT_FIXTURES) + "/" + model;
  auto config = readKeyValues(f.dir + "/config.txt");
  auto get = [&](const std::string &key) {
    auto it = config.find(key);
    if (it == config.end())
      fail(f.dir + "/config.txt", "no '" + key + "'");
    return it->second;
  };
  f.training.optimizer = get("optimizer");
  f.training.momentum = std::stod(get("momentum"));
  f.training.nesterov = get("nesterov") == "1";
  f.training.weightDecay = std::stod(get("weight_decay"));
  f.training.labelSmoothing = std::stof(get("label_smoothing"));
  f.steps = std::stoi(get("steps"));
  f.manifest = readManifest(f.dir + "/manifest.txt");
  auto npy = [&](const char *name) { return rt::loadNpy(f.dir + "/" + name); };
  f.paramsInitial = npy("params_initial.npy");
  f.gradsStep1 = npy("grads_step1.npy");
  f.paramsStep5 = npy("params_step5.npy");
  f.images = npy("images.npy");
  f.target = npy("target.npy");
  f.logitsEval = npy("logits_eval.npy");
  f.lossEval = npy("loss_eval.npy");
  f.lrs = npy("lrs.npy");
  f.losses = npy("losses.npy");

  int64_t all = 0, trainable = 0;
  for (const auto &e : f.manifest) {
    all += e.numel;
    trainable += e.trainable ? e.numel : 0;
  }
  auto expectSize = [&](const char *file, const rt::Tensor &t, int64_t n) {
    if (t.numel() != n)
      fail(f.dir + "/" + file, std::to_string(t.numel()) + " values, the manifest needs " +
                                   std::to_string(n));
  };
  expectSize("params_initial.npy", f.paramsInitial, all);
  expectSize("params_step5.npy", f.paramsStep5, all);
  expectSize("grads_step1.npy", f.gradsStep1, trainable);
  if (f.images.shape.size() != 4 || f.images.shape[1] != 1 || f.images.shape[2] != 28 ||
      f.images.shape[3] != 28)
    fail(f.dir + "/images.npy", "expected [N, 1, 28, 28]");
  const int64_t batch = f.images.shape[0];
  expectSize("target.npy", f.target, batch * 10);
  expectSize("logits_eval.npy", f.logitsEval, batch * 10);
  expectSize("loss_eval.npy", f.lossEval, 1);
  expectSize("lrs.npy", f.lrs, f.steps);
  expectSize("losses.npy", f.losses, f.steps);
  return f;
}

/// Slices a flat manifest-ordered tensor into named tensors (`trainableOnly`: grads).
std::map<std::string, rt::Tensor> unflatten(const Fixture &f, const rt::Tensor &flat,
                                            bool trainableOnly) {
  std::map<std::string, rt::Tensor> out;
  size_t offset = 0;
  for (const auto &e : f.manifest) {
    if (trainableOnly && !e.trainable)
      continue;
    rt::Tensor t;
    t.shape = e.shape;
    t.data.assign(flat.data.begin() + long(offset), flat.data.begin() + long(offset + e.numel));
    offset += size_t(e.numel);
    out.emplace(e.name, std::move(t));
  }
  return out;
}

struct Diff {
  double meanAbs = 0, maxAbs = 0, relL2 = 0;
};

Diff diff(const float *got, const float *want, size_t n) {
  Diff d;
  double sq = 0, ref = 0;
  for (size_t i = 0; i < n; ++i) {
    double e = double(got[i]) - double(want[i]);
    d.meanAbs += std::abs(e);
    d.maxAbs = std::max(d.maxAbs, std::abs(e));
    sq += e * e;
    ref += double(want[i]) * double(want[i]);
  }
  d.meanAbs /= double(std::max<size_t>(n, 1));
  d.relL2 = std::sqrt(sq) / std::max(std::sqrt(ref), 1e-30);
  return d;
}

/// The report: one line per key, like the reproduction standard's diff log.
class Report {
public:
  explicit Report(std::string title) : title_(std::move(title)) {}

  /// Records one check; `metric` is the value compared with `threshold`.
  void add(const std::string &key, const Diff &d, const char *metricName, double metric,
           double threshold) {
    const bool pass = metric < threshold; // NaN fails
    lines_.push_back({key, d, metricName, metric, threshold, pass});
    EXPECT_TRUE(pass) << title_ << ": " << key << ": " << metricName << " " << metric
                      << " >= " << threshold << " (mean abs diff " << d.meanAbs
                      << ", max abs diff " << d.maxAbs << ")";
  }

  void print() const {
    size_t width = 3;
    int failed = 0;
    double worst[3] = {0, 0, 0};
    for (const auto &l : lines_)
      width = std::max(width, l.key.size());
    std::printf("[alignment] %s\n%-*s %12s %12s  %-8s %10s %10s  %s\n", title_.c_str(),
                int(width), "key", "mean diff", "max diff", "metric", "value", "threshold",
                "result");
    for (const auto &l : lines_) {
      std::printf("%-*s %12.3e %12.3e  %-8s %10.3e %10.0e  %s\n", int(width), l.key.c_str(),
                  l.d.meanAbs, l.d.maxAbs, l.metricName, l.metric, l.threshold,
                  l.pass ? "pass" : "FAIL");
      failed += !l.pass;
      int kind = l.key.rfind("grad:", 0) == 0 ? 0 : l.key.rfind("step5:", 0) == 0 ? 1 : 2;
      worst[kind] = std::max(worst[kind], l.metric);
    }
    std::printf("[alignment] %s: %zu keys, %d failed; worst gradient rel L2 %.3e, worst final "
                "parameter rel L2 %.3e\n\n",
                title_.c_str(), lines_.size(), failed, worst[0], worst[1]);
    std::fflush(stdout);
  }

private:
  struct Line {
    std::string key;
    Diff d;
    const char *metricName;
    double metric, threshold;
    bool pass;
  };
  std::string title_;
  std::vector<Line> lines_;
};

void checkModel(const std::string &model) {
  const Fixture f = loadFixture(model);
  const int64_t batch = f.images.shape[0];
  CompileResult compiled = compileTrainingModel(model, 42, f.training, CompileOptions{});
  auto artifact = rt::Artifact::loadBuffer(std::move(compiled.artifact), model + " training");
  const auto initial = unflatten(f, f.paramsInitial, false);
  const auto wantGrads = unflatten(f, f.gradsStep1, true);
  const auto wantStep5 = unflatten(f, f.paramsStep5, false);

  // The artifact's trainable parameters are exactly the fixture's.
  std::vector<std::string> artifactTrainable, fixtureTrainable;
  for (const auto &p : artifact->params())
    if (p.trainable && tools::isModelParam(p.name))
      artifactTrainable.push_back(p.name);
  for (const auto &e : f.manifest)
    if (e.trainable)
      fixtureTrainable.push_back(e.name);
  std::sort(artifactTrainable.begin(), artifactTrainable.end());
  std::sort(fixtureTrainable.begin(), fixtureTrainable.end());
  ASSERT_EQ(artifactTrainable, fixtureTrainable);

  std::vector<rt::NamedTensor> initialTensors;
  for (const auto &[name, t] : initial)
    initialTensors.push_back({name, t});
  const rt::TensorView images{f.images.data.data(), f.images.shape};
  const rt::TensorView target{f.target.data.data(), {batch, 10}};

  for (int threads : {1, 2}) {
    SCOPED_TRACE(model + ", " + std::to_string(threads) + " threads");
    Report report(model + ", " + std::to_string(threads) +
                  " thread(s), Kiln float32 vs PyTorch float64 (" + f.dir + ")");
    rt::Session session(artifact, {threads});
    // Every model parameter and buffer must be given (names and shapes are
    // checked); optimizer state starts at zero, as in PyTorch.
    session.importParams(initialTensors, f.dir + "/params_initial.npy", /*requireAll=*/true,
                         [](const rt::ParamInfo &p) { return tools::isModelParam(p.name); });

    // Forward, eval mode.
    auto infer = session.run("infer", {images});
    Diff d = diff(infer[0].data.data(), f.logitsEval.data.data(), f.logitsEval.data.size());
    report.add("logits (infer)", d, "mean abs", d.meanAbs, kLogitsMeanAbs);
    auto eval = session.run("eval_step", {images, target});
    d = diff(eval[1].data.data(), f.logitsEval.data.data(), f.logitsEval.data.size());
    report.add("logits (eval_step)", d, "mean abs", d.meanAbs, kLogitsMeanAbs);
    d = diff(eval[0].data.data(), f.lossEval.data.data(), 1);
    report.add("loss (eval_step)", d, "rel", d.relL2, kLossRel);

    // Training: 5 steps; the gradients of the first.
    const auto &outputs = artifact->outputs("train_step");
    for (int step = 0; step < f.steps; ++step) {
      const float lr = f.lrs.data[size_t(step)];
      auto out = session.run("train_step", {images, target, {&lr, {1}}});
      d = diff(out[0].data.data(), &f.losses.data[size_t(step)], 1);
      report.add("loss step " + std::to_string(step + 1) + " (train_step)", d, "rel", d.relL2,
                 kLossRel);
      if (step != 0)
        continue;
      size_t found = 0;
      for (size_t i = 1; i < outputs.size(); ++i) {
        const std::string &name = outputs[i].name;
        ASSERT_EQ(name.rfind("grad:", 0), 0u) << name;
        auto want = wantGrads.find(name.substr(5));
        ASSERT_NE(want, wantGrads.end()) << name << " is not in the fixture";
        ASSERT_EQ(out[i].shape, want->second.shape) << name;
        d = diff(out[i].data.data(), want->second.data.data(), want->second.data.size());
        report.add(name, d, "rel L2", d.relL2, kGradRelL2);
        ++found;
      }
      EXPECT_EQ(found, wantGrads.size()) << "train_step returned fewer gradients than the fixture";
    }
    // Parameters and running statistics after the 5 steps.
    for (const auto &e : f.manifest) {
      const rt::Tensor &want = wantStep5.at(e.name);
      d = diff(session.paramData(e.name), want.data.data(), want.data.size());
      report.add("step5: " + e.name, d, "rel L2", d.relL2, kParamRelL2);
    }
    report.print();
  }
}

TEST(PyTorchAlignment, Lenet5) { checkModel("lenet5"); }
TEST(PyTorchAlignment, Resnet20) { checkModel("resnet20"); }

} // namespace
