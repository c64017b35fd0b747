//===- InferenceTest.cpp - the inference API and exported models ----------===//
//
// The models come from the export_model runs of test/e2e/infer (ctest
// fixtures): lenet5 with the released weights, resnet20 with a synthetic
// checkpoint (seeded weights, non-trivial batch-norm statistics) exported
// three ways (default, --fold-bn False, folding forced), and the damaged
// directories of make_bad_models.py. References: the training artifact's
// `infer` entry (what predict runs) and the double-precision interpreter
// (test/reference).
//===----------------------------------------------------------------------===//
#include "kiln/Driver/Compiler.h"
#include "kiln/data/Image.h"
#include "kiln/frontend/Models.h"
#include "kiln/inference/Predictor.h"
#include "PredictorTestHelpers.h"
#include "kiln/reference/Reference.h"
#include "kiln/tools/Common.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

namespace fs = std::filesystem;
namespace ki = kiln::inference;
using namespace kiln;

namespace {

std::string work(const std::string &rel) { return std::string(KILN_INFER_WORK) + "/" + rel; }
std::string source(const std::string &rel) { return std::string(KILN_SOURCE_DIR) + "/" + rel; }

using kiln::inference::test::demoImages;
int64_t demoCount() { return int64_t(demoImages().size() / size_t(data::kImageSize)); }

std::shared_ptr<ki::Predictor> predictor(const std::string &dir, int threads = 1) {
  ki::Config config(work(dir));
  config.set_cpu_math_library_num_threads(threads);
  return ki::create_predictor(config);
}

using kiln::inference::test::runBatch;

using kiln::inference::test::errorOf;

/// The compile cache of test/e2e/infer (infer_parity's and predict's): the
/// training artifact is compiled once for all tests.
std::string cacheDir() { return work("../kiln-cache"); }

/// The training artifact (train_step, eval_step, infer) predict runs.
std::shared_ptr<const rt::Artifact> trainingArtifact(const std::string &model) {
  std::string note;
  return tools::compileTrainingCached(model, 42, TrainingOptions{}, cacheDir(), note);
}

std::map<std::string, std::vector<float>> readParams(const std::string &path) {
  std::map<std::string, std::vector<float>> out;
  for (rt::NamedTensor &t : rt::loadParams(path))
    out[t.name] = std::move(t.tensor.data);
  return out;
}

} // namespace

// ---------------------------------------------------------------------------
// Parity with the training artifact's infer entry (the predict path)
// ---------------------------------------------------------------------------

// Same weights, images, batch and threads: the exported lenet5 runs the very
// kernels of the training artifact's infer entry, so the logits are bitwise
// equal (lenet5 has no batch norm: nothing is folded).
TEST(Parity, ExportedLenet5EqualsTrainingArtifactInferBitwise) {
  auto artifact = trainingArtifact("lenet5");
  ASSERT_TRUE(artifact->hasEntry("train_step"));
  rt::Session session(artifact, rt::SessionOptions{1});
  const std::string weights = source("pretrain_models/lenet5_fashion_mnist.kparams");
  tools::importModelWeights(session, tools::readModelWeights("lenet5", weights), weights);
  auto p = predictor("lenet5_infer", 1);
  for (int n : {int(demoCount()), 3, 1}) {
    auto a = session.run("infer", {rt::TensorView{demoImages().data(), {n, 1, 28, 28}}});
    std::vector<float> b = runBatch(*p, demoImages(), 0, n);
    ASSERT_EQ(a[0].data.size(), b.size());
    EXPECT_EQ(std::memcmp(a[0].data.data(), b.data(), b.size() * sizeof(float)), 0)
        << "batch " << n;
  }
}

// resnet20 against the double-precision interpreter on the unfolded graph:
// the unfolded and the folded export are both close to it, and folding does
// not make the error meaningfully larger.
TEST(Parity, Resnet20ExportsMatchDoubleReference) {
  fe::Model model = fe::buildModel("resnet20", 42);
  for (rt::NamedTensor &t : rt::loadParams(work("resnet20_synthetic.kparams")))
    model.graph.setParameterValue(t.name, std::move(t.tensor.data));
  const int n = 2;
  std::vector<float> x(demoImages().begin(), demoImages().begin() + n * data::kImageSize);
  auto ref = ref::evaluate(model.graph, {ref::RefTensor::fromFloats({n, 1, 28, 28}, x)});
  double scale = 0;
  for (double v : ref[0].data)
    scale = std::max(scale, std::abs(v));
  double err[2] = {0, 0};
  const char *dirs[2] = {"resnet20_unfolded", "resnet20_folded"};
  for (int k = 0; k < 2; ++k) {
    auto p = predictor(dirs[k], 2);
    std::vector<float> y = runBatch(*p, demoImages(), 0, n);
    for (size_t i = 0; i < y.size(); ++i)
      err[k] = std::max(err[k], std::abs(double(y[i]) - ref[0].data[i]));
  }
  // f32 rounding through 20 layers; measured 2.8e-7 at a logit scale of 1.4
  // for both, so the bound leaves a factor 10 for other CPUs/BLAS kernels.
  EXPECT_LE(err[0], 2e-6 * std::max(1.0, scale)) << "unfolded";
  EXPECT_LE(err[1], 2e-6 * std::max(1.0, scale)) << "folded";
  EXPECT_LE(err[1], 4 * err[0] + 1e-6 * std::max(1.0, scale))
      << "folding made the error much larger: " << err[1] << " vs " << err[0];
  std::printf("max |logit - double reference| (logit scale %.3g): unfolded %.3g, folded %.3g\n",
              scale, err[0], err[1]);
}

// ---------------------------------------------------------------------------
// Batch-norm folding
// ---------------------------------------------------------------------------

// A conv (no bias) + batch_norm + relu and a conv (bias) + batch_norm with
// eps 1e-3: the folded parameters are the formula evaluated in long double
// (to within one f32 rounding), no kernel runs a batch_norm any more, and the
// compiled folded graph matches the double interpreter on the unfolded one.
TEST(Folding, ValuesFollowTheFormulaAndMatchTheReference) {
  std::mt19937 rng(3);
  auto values = [&](size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(n);
    for (float &e : v)
      e = u(rng);
    return v;
  };
  fe::Graph g;
  fe::Value x = g.input("x", {-1, 2, 5, 5});
  fe::Value w1 = g.parameter("c1.weight", {3, 2, 3, 3}, values(54, -0.5f, 0.5f));
  fe::Value y = g.conv2d(x, w1, fe::Value{}, {1, 1}, {1, 1}, {1, 1}, 1, "c1");
  y = g.batchNorm(y, g.parameter("bn1.weight", {3}, values(3, 0.5f, 1.5f)),
                  g.parameter("bn1.bias", {3}, values(3, -0.3f, 0.3f)),
                  g.parameter("bn1.running_mean", {3}, values(3, -0.3f, 0.3f), false),
                  g.parameter("bn1.running_var", {3}, values(3, 0.2f, 2.0f), false), 1e-5f, "bn1");
  y = g.relu(y, "relu1");
  fe::Value w2 = g.parameter("c2.weight", {4, 3, 1, 1}, values(12, -0.5f, 0.5f));
  fe::Value b2 = g.parameter("c2.bias", {4}, values(4, -0.3f, 0.3f));
  y = g.conv2d(y, w2, b2, {1, 1}, {0, 0}, {1, 1}, 1, "c2");
  y = g.batchNorm(y, g.parameter("bn2.weight", {4}, values(4, 0.5f, 1.5f)),
                  g.parameter("bn2.bias", {4}, values(4, -0.3f, 0.3f)),
                  g.parameter("bn2.running_mean", {4}, values(4, -0.3f, 0.3f), false),
                  g.parameter("bn2.running_var", {4}, values(4, 0.2f, 2.0f), false), 1e-3f, "bn2");
  g.output(y, "y");

  CompileOptions options;
  options.modelName = "fold_test";
  std::vector<BatchNormFold> folds;
  CompileResult r = compileInference(g, InferenceOptions{true}, options, &folds);
  ASSERT_EQ(folds.size(), 2u);
  EXPECT_EQ(folds[0].convWeight, "c1.weight");
  EXPECT_EQ(folds[0].convBias, "");
  EXPECT_EQ(folds[1].convBias, "c2.bias");
  EXPECT_FLOAT_EQ(folds[1].epsilon, 1e-3f);
  for (const CompiledKernel &k : r.entries.at(0).kernels)
    EXPECT_EQ(k.ops.find("batch_norm"), std::string::npos) << k.ops;

  auto artifact = rt::Artifact::loadBuffer(r.artifact, "folded");
  std::map<std::string, const float *> got;
  std::vector<std::string> names;
  auto infos = artifact->params();
  for (size_t i = 0; i < infos.size(); ++i) {
    got[infos[i].name] = artifact->initialParam(i);
    names.push_back(infos[i].name);
  }
  // Only what the entry reads: the folded pair per layer, nothing of the batch norms.
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"c1.bias.bn_folded", "c1.weight.bn_folded",
                                             "c2.bias.bn_folded", "c2.weight.bn_folded"}));
  auto param = [&](const std::string &name) { return g.parameter(name).value; };
  auto ulpClose = [](float a, long double b) {
    float fb = float(b);
    return a == fb || std::nextafter(a, fb) == fb;
  };
  for (const BatchNormFold &f : folds) {
    std::vector<float> w = param(f.convWeight), gamma = param(f.bnWeight), beta = param(f.bnBias),
                       mean = param(f.bnMean), var = param(f.bnVar);
    std::vector<float> bias = f.convBias.empty() ? std::vector<float>(gamma.size(), 0.0f)
                                                 : param(f.convBias);
    size_t per = w.size() / gamma.size();
    for (size_t c = 0; c < gamma.size(); ++c) {
      long double s = (long double)gamma[c] /
                      std::sqrt((long double)var[c] + (long double)f.epsilon);
      EXPECT_TRUE(ulpClose(got[f.foldedBias][c],
                           ((long double)bias[c] - mean[c]) * s + (long double)beta[c]))
          << f.foldedBias << "[" << c << "]";
      for (size_t k = 0; k < per; ++k)
        EXPECT_TRUE(ulpClose(got[f.foldedWeight][c * per + k], (long double)w[c * per + k] * s))
            << f.foldedWeight << "[" << c * per + k << "]";
    }
  }

  std::vector<float> input = values(2 * 2 * 5 * 5, -2.0f, 2.0f);
  rt::Session session(artifact, rt::SessionOptions{1});
  auto out = session.run("infer", {rt::TensorView{input.data(), {2, 2, 5, 5}}});
  auto ref = ref::evaluate(g, {ref::RefTensor::fromFloats({2, 2, 5, 5}, input)});
  ASSERT_EQ(out[0].data.size(), ref[0].data.size());
  for (size_t i = 0; i < ref[0].data.size(); ++i)
    EXPECT_NEAR(out[0].data[i], ref[0].data[i], 1e-5 * std::max(1.0, std::abs(ref[0].data[i])))
        << i;
}

// The exports of the fixture: --fold-bn False keeps every batch_norm; forced
// folding leaves no batch_norm kernel and no batch-norm parameter; the
// default decides by the check and says so consistently in the json.
TEST(Folding, ExportedModelsRecordWhatWasDone) {
  auto kernelOps = [](const std::string &dir) {
    std::string all;
    for (const rt::KernelInfo &k : rt::Artifact::loadFile(work(dir + "/inference.kmodel"))
                                       ->kernels("infer"))
      all += k.ops + " ";
    return all;
  };
  EXPECT_CONTAINS(kernelOps("resnet20_unfolded"), "conv2d+batch_norm");
  EXPECT_EQ(kernelOps("resnet20_folded").find("batch_norm"), std::string::npos);
  auto folded = readParams(work("resnet20_folded/inference.kparams"));
  // Folded biases, and folded weights then packed (kiln-pack-conv-weights
  // runs after folding; every convolution of resnet20 is packed).
  EXPECT_TRUE(folded.count("layer2.0.downsample.0.bias.bn_folded"));
  EXPECT_TRUE(folded.count("conv1.weight.bn_folded.hwio"));
  EXPECT_TRUE(folded.count("layer2.0.downsample.0.weight.bn_folded.hwio"));
  EXPECT_FALSE(folded.count("conv1.weight.bn_folded"));
  EXPECT_FALSE(folded.count("bn1.running_mean"));
  EXPECT_FALSE(folded.count("conv1.weight"));
  auto unfolded = readParams(work("resnet20_unfolded/inference.kparams"));
  EXPECT_TRUE(unfolded.count("bn1.running_mean"));
  EXPECT_FALSE(unfolded.count("conv1.weight.bn_folded"));

  std::ifstream json(work("resnet20_infer/inference.kmodel.json"));
  std::string text((std::istreambuf_iterator<char>(json)), std::istreambuf_iterator<char>());
  bool applied = text.find("\"applied\": true") != std::string::npos;
  EXPECT_EQ(applied, kernelOps("resnet20_infer").find("batch_norm") == std::string::npos);
  EXPECT_CONTAINS(text, applied ? "\"note\": \"applied:" : "\"note\": \"not applied");
}

// Folded and unfolded exports of the same checkpoint: the probabilities
// infer reports agree within 1e-6 on the demo images.
TEST(Folding, FoldedProbabilitiesWithinToleranceOfUnfolded) {
  auto a = predictor("resnet20_unfolded", 1), b = predictor("resnet20_folded", 1);
  const int n = int(demoCount());
  std::vector<float> la = runBatch(*a, demoImages(), 0, n), lb = runBatch(*b, demoImages(), 0, n);
  for (int i = 0; i < n; ++i) {
    auto softmax = [](const float *l) {
      double m = *std::max_element(l, l + 10), sum = 0;
      std::vector<double> p(10);
      for (int c = 0; c < 10; ++c)
        sum += p[size_t(c)] = std::exp(double(l[c]) - m);
      for (double &v : p)
        v /= sum;
      return p;
    };
    auto pa = softmax(la.data() + i * 10), pb = softmax(lb.data() + i * 10);
    for (int c = 0; c < 10; ++c)
      EXPECT_NEAR(pa[size_t(c)], pb[size_t(c)], 1e-6) << "image " << i << " class " << c;
  }
}

// ---------------------------------------------------------------------------
// The inference model's contents
// ---------------------------------------------------------------------------

TEST(ExportedModel, HoldsOnlyTheInferEntryAndItsParameters) {
  for (const std::string dir : {"lenet5_infer", "resnet20_infer", "resnet20_folded"}) {
    auto a = rt::Artifact::loadFile(work(dir + "/inference.kmodel"));
    EXPECT_EQ(a->entryNames(), std::vector<std::string>{"infer"}) << dir;
    std::vector<std::string> modelNames, fileNames;
    for (const rt::ParamInfo &p : a->params()) {
      modelNames.push_back(p.name);
      EXPECT_FALSE(tools::isOptimizerState(p.name)) << dir << ": " << p.name;
    }
    for (const rt::NamedTensor &t : rt::loadParams(work(dir + "/inference.kparams")))
      fileNames.push_back(t.name);
    EXPECT_EQ(modelNames, fileNames) << dir << ": inference.kparams holds the model's parameters";
    EXPECT_EQ(a->inputs("infer").at(0).shape, (std::vector<int64_t>{-1, 1, 28, 28}));
  }
  // The lenet5 export carries the released weights unchanged.
  auto released = readParams(source("pretrain_models/lenet5_fashion_mnist.kparams"));
  auto exported = readParams(work("lenet5_infer/inference.kparams"));
  EXPECT_EQ(released, exported);
}

// ---------------------------------------------------------------------------
// Predictor behaviour
// ---------------------------------------------------------------------------

// Any batch size without recompiling, partial batches included: every row
// matches the single batch of all images (float rounding may differ by
// batch, so within 1e-5 of the logit).
TEST(Predictor, AnyBatchSize) {
  auto p = predictor("resnet20_infer", 1);
  const int n = int(demoCount());
  std::vector<float> all = runBatch(*p, demoImages(), 0, n);
  for (int batch : {1, 3, 5, 7}) {
    for (int first = 0; first < n; first += batch) {
      int m = std::min(batch, n - first);
      std::vector<float> part = runBatch(*p, demoImages(), first, m);
      for (size_t i = 0; i < part.size(); ++i)
        EXPECT_NEAR(part[i], all[size_t(first) * 10 + i], 1e-5 * std::max(1.0f, std::abs(part[i])))
            << "batch " << batch << " row " << first + int(i / 10);
    }
  }
}

// One predictor reused for many runs of changing sizes: a run depends only on
// its own input (bitwise, for equal batch sizes).
TEST(Predictor, ReuseIsDeterministic) {
  auto p = predictor("resnet20_infer", 2);
  std::map<int, std::vector<float>> first;
  for (int run = 0; run < 30; ++run) {
    int n = 1 + run % 8;
    std::vector<float> y = runBatch(*p, demoImages(), 0, n);
    auto [it, inserted] = first.emplace(n, y);
    if (!inserted) {
      EXPECT_EQ(it->second, y) << "run " << run << " batch " << n;
    }
  }
}

// Four predictors (two created from the files, a clone, a lenet5 one) run at
// once on four threads; each result equals the same computation done alone.
TEST(Predictor, ConcurrentPredictorsOnThreads) {
  auto base = predictor("resnet20_infer", 1);
  std::vector<std::shared_ptr<ki::Predictor>> ps = {base, predictor("resnet20_infer", 1),
                                                    std::shared_ptr<ki::Predictor>(base->clone()),
                                                    predictor("lenet5_infer", 1)};
  const int n = int(demoCount());
  // Serial expectations: worker t runs batch size 1 + (t + i) % n, first image i % n.
  auto job = [&](ki::Predictor &p, int t, int i) {
    int first = i % n;
    int m = std::min(1 + (t + i) % n, n - first);
    return runBatch(p, demoImages(), first, m);
  };
  auto refResnet = predictor("resnet20_infer", 1), refLenet = predictor("lenet5_infer", 1);
  EXPECT_EQ(kiln::inference::test::concurrentMismatches(
                ps, 12, job,
                [&](size_t t) -> ki::Predictor & { return t == 3 ? *refLenet : *refResnet; }),
            0);
  EXPECT_EQ(ps[2]->model_name(), "resnet20");
  EXPECT_EQ(ps[3]->model_name(), "lenet5");
}

TEST(Predictor, NamesShapesAndConfig) {
  auto p = predictor("resnet20_infer", 0);
  EXPECT_EQ(p->get_input_names(), std::vector<std::string>{"image"});
  EXPECT_EQ(p->get_output_names(), std::vector<std::string>{"logits"});
  EXPECT_EQ(p->get_input_shape("image"), (std::vector<int64_t>{-1, 1, 28, 28}));
  EXPECT_EQ(p->get_output_shape("logits"), (std::vector<int64_t>{-1, 10}));
  EXPECT_EQ(p->get_input_handle("image")->shape(), (std::vector<int>{-1, 1, 28, 28}));
  EXPECT_EQ(p->num_threads(), int(std::max(1u, std::thread::hardware_concurrency())));
  EXPECT_EQ(p->device(), "cpu");
  ki::Config c(work("x"));
  EXPECT_EQ(c.model_file(), work("x/inference.kmodel"));
  EXPECT_EQ(c.params_file(), work("x/inference.kparams"));
  EXPECT_EQ(c.cpu_math_library_num_threads(), 1); // Paddle's default
  EXPECT_CONTAINS(errorOf([&] { c.set_cpu_math_library_num_threads(-1); }), ">= 0");
  EXPECT_FALSE(c.use_gpu());
  c.enable_use_gpu(256, 1);
  EXPECT_TRUE(c.use_gpu());
  EXPECT_EQ(c.gpu_device_id(), 1);
  EXPECT_EQ(c.memory_pool_init_size_mb(), 256u);
  EXPECT_CONTAINS(c.summary(), "gpu:1");
  c.disable_gpu();
  EXPECT_FALSE(c.use_gpu());
}

// Every misuse of the API: one-line Error naming the tensor and what was
// expected; the predictor stays usable afterwards.
TEST(Predictor, MisuseGivesClearErrors) {
  auto p = predictor("lenet5_infer", 1);
  auto in = p->get_input_handle("image");
  auto out = p->get_output_handle("logits");
  std::vector<float> x(2 * 784, 0.5f);
  EXPECT_CONTAINS(errorOf([&] { in->copy_from_cpu(x.data()); }), "call reshape()");
  EXPECT_CONTAINS(errorOf([&] { p->run(); }), "no data");
  EXPECT_CONTAINS(errorOf([&] { out->copy_to_cpu(x.data()); }), "call run() first");
  std::string wrong = errorOf([&] { in->reshape({2, 3, 28, 28}); });
  EXPECT_CONTAINS(wrong, "input 'image'");
  EXPECT_CONTAINS(wrong, "[2,3,28,28]");
  EXPECT_CONTAINS(wrong, "[?,1,28,28]");
  EXPECT_CONTAINS(wrong, "dimension 1 must be 1");
  EXPECT_CONTAINS(errorOf([&] { in->reshape({2, 1, 28}); }), "rank 3, expected 4");
  EXPECT_CONTAINS(errorOf([&] { in->reshape({0, 1, 28, 28}); }), "batch");
  EXPECT_CONTAINS(errorOf([&] { in->reshape({-3, 1, 28, 28}); }), "batch");
  EXPECT_CONTAINS(errorOf([&] { in->reshape({1 << 30, 1, 28, 28}); }), "too large");
  in->reshape({2, 1, 28, 28});
  EXPECT_CONTAINS(errorOf([&] { in->copy_from_cpu(nullptr); }), "null");
  EXPECT_CONTAINS(errorOf([&] { out->reshape({2, 10}); }), "reshape is for inputs");
  EXPECT_CONTAINS(errorOf([&] { out->copy_from_cpu(x.data()); }), "read-only");
  EXPECT_CONTAINS(errorOf([&] { p->get_input_handle("images"); }), "no input named 'images'");
  EXPECT_CONTAINS(errorOf([&] { p->get_output_handle("probs"); }), "logits");
  // Still usable.
  std::vector<float> y = runBatch(*p, demoImages(), 0, 2);
  EXPECT_EQ(y.size(), 20u);
}

// ---------------------------------------------------------------------------
// Bad files (the directories of make_bad_models.py)
// ---------------------------------------------------------------------------

TEST(LoadErrors, EachBadFileHasItsMessage) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"missing_model", {"inference.kmodel", "cannot open", "No such file"}},
      {"missing_params", {"inference.kparams", "No such file"}},
      {"empty_model", {"inference.kmodel", "only 0 bytes"}},
      {"truncated_model", {"inference.kmodel", "truncated"}},
      {"truncated_params", {"inference.kparams"}},
      {"bad_magic_model", {"inference.kmodel", "bad magic"}},
      {"other_version", {"another Kiln version", "schema version 99", "re-export"}},
      {"other_params", {"inference.kparams", "parameters do not match", "'resnet20'"}},
  };
  for (const auto &[dir, parts] : cases) {
    SCOPED_TRACE(dir);
    std::string what = errorOf([&] { predictor("bad/" + dir); });
    for (const std::string &part : parts)
      EXPECT_CONTAINS(what, part);
  }
  EXPECT_CONTAINS(errorOf([] { ki::create_predictor(ki::Config()); }), "no model file");
  EXPECT_CONTAINS(errorOf([] {
                    ki::create_predictor(
                        ki::Config(work("lenet5_infer"), work("lenet5_infer/inference.kparams")));
                  }),
                  "is a directory");
}

// A training artifact (train_step, eval_step, infer) is not an inference model.
TEST(LoadErrors, TrainingArtifactIsRejected) {
  // The compile cache holds exactly such a file.
  trainingArtifact("lenet5");
  // (Artifacts of older builds may lie beside it: take one this runtime reads.)
  std::string path;
  for (const auto &e : fs::directory_iterator(cacheDir()))
    if (e.path().filename().string().rfind("lenet5-", 0) == 0 && e.path().extension() == ".kiln") {
      try {
        if (rt::Artifact::loadFile(e.path().string())->hasEntry("train_step"))
          path = e.path().string();
      } catch (const rt::Error &) {
      }
    }
  ASSERT_FALSE(path.empty());
  std::string what = errorOf([&] {
    ki::create_predictor(ki::Config(path, work("lenet5_infer/inference.kparams")));
  });
  EXPECT_CONTAINS(what, "not an inference model");
  EXPECT_CONTAINS(what, "train_step");
  EXPECT_CONTAINS(what, "export_model");
}

// Asking for the GPU on a machine without the NVIDIA driver (this CPU-only
// one, CI) names what is missing, in one line, and suggests the CPU; it never
// falls back to the CPU silently. Where a driver exists the GPU path itself
// is tested (GpuInferenceTest.cpp: inference_gpu_emu_tests, inference_gpu_tests).
TEST(Gpu, RequestWithoutDriverSaysWhatIsMissing) {
  ki::Config config(work("lenet5_infer"));
  EXPECT_CONTAINS(errorOf([&] { config.enable_use_gpu(100, -1); }), "device id -1");
  if (void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
    dlclose(driver);
    GTEST_SKIP() << "this machine has an NVIDIA driver (libcuda.so.1)";
  }
  config.enable_use_gpu(100, 0);
  std::string what = errorOf([&] { ki::create_predictor(config); });
  EXPECT_CONTAINS(what, "GPU device 0 requested but it is not usable");
  EXPECT_CONTAINS(what, "libcuda.so.1");
  EXPECT_CONTAINS(what, "run on the CPU instead");
}
