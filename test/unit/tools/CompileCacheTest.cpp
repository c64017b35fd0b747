//===- CompileCacheTest.cpp - the drivers' compile cache -------------------===//
//
// The keys: a new compiler build id gives new keys (a rebuilt compiler never
// reuses an old artifact); the training key covers every option; the eval key
// only what changes eval_step and infer. The eval cache for real (lenet5,
// compiled twice): eval reuses the artifact train compiled with other options
// and another seed, and that artifact's eval_step and infer give bitwise the
// results of the one eval would compile itself, once both hold the same weights.
//===----------------------------------------------------------------------===//
#include "kiln/tools/Common.h"

#include "kiln/frontend/Models.h"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace kiln;

namespace {

const std::string kIdA = "0123456789abcdef", kIdB = "0123456789abcdee";

TEST(CompileCacheKey, ANewCompilerBuildIdGivesNewKeys) {
  TrainingOptions t;
  EXPECT_EQ(tools::trainingCacheKey("lenet5", 42, t, false, kIdA),
            tools::trainingCacheKey("lenet5", 42, t, false, kIdA));
  EXPECT_NE(tools::trainingCacheKey("lenet5", 42, t, false, kIdA),
            tools::trainingCacheKey("lenet5", 42, t, false, kIdB));
  EXPECT_NE(tools::trainingCacheKey("lenet5", 42, t, true, kIdA),
            tools::trainingCacheKey("lenet5", 42, t, true, kIdB));
  EXPECT_NE(tools::evalCacheKey("lenet5", 0.0f, false, kIdA),
            tools::evalCacheKey("lenet5", 0.0f, false, kIdB));
}

TEST(CompileCacheKey, TheBuiltCompilerHasAnId) {
  const std::string id = tools::compilerBuildId();
  ASSERT_EQ(id.size(), 16u) << id;
  EXPECT_TRUE(std::all_of(id.begin(), id.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0;
  })) << id;
}

TEST(CompileCacheKey, TheTrainingKeyCoversEveryOption) {
  const TrainingOptions base;
  const std::string key = tools::trainingCacheKey("lenet5", 42, base, false, kIdA);
  EXPECT_EQ(key.rfind("lenet5-", 0), 0u) << key;
  std::vector<TrainingOptions> variants(9, base);
  variants[0].optimizer = "adamw";
  variants[1].momentum = 0.8;
  variants[2].nesterov = true;
  variants[3].weightDecay = 5e-4;
  variants[4].noDecayBnBias = true;
  variants[5].beta1 = 0.8;
  variants[6].beta2 = 0.99;
  variants[7].epsilon = 1e-7;
  variants[8].labelSmoothing = 0.1f;
  for (size_t i = 0; i < variants.size(); ++i)
    EXPECT_NE(tools::trainingCacheKey("lenet5", 42, variants[i], false, kIdA), key) << i;
  EXPECT_NE(tools::trainingCacheKey("lenet5", 7, base, false, kIdA), key);
  EXPECT_NE(tools::trainingCacheKey("resnet20", 42, base, false, kIdA), key);
  EXPECT_NE(tools::trainingCacheKey("lenet5", 42, base, true, kIdA), key);
}

TEST(CompileCacheKey, TheEvalKeyCoversWhatChangesEvalStep) {
  const std::string key = tools::evalCacheKey("lenet5", 0.0f, false, kIdA);
  EXPECT_EQ(key, tools::evalCacheKey("lenet5", 0.0f, false, kIdA));
  EXPECT_NE(key, tools::evalCacheKey("lenet5", 0.1f, false, kIdA)); // eval_step's loss
  EXPECT_NE(key, tools::evalCacheKey("resnet20", 0.0f, false, kIdA));
  EXPECT_NE(key, tools::evalCacheKey("lenet5", 0.0f, true, kIdA));
  // Never the name of a training artifact.
  EXPECT_NE(key, tools::trainingCacheKey("lenet5", 42, TrainingOptions{}, false, kIdA));
}

/// A fresh directory, removed at the end of the test.
struct TempDir {
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "kiln-cache-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::vector<std::string> files(const std::string &suffix) const {
    std::vector<std::string> out;
    for (const auto &e : fs::directory_iterator(path)) {
      std::string name = e.path().filename().string();
      if (name.size() >= suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
        out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string path;
};

/// eval_step's loss and logits and infer's logits for `weights` on a fixed batch.
std::vector<std::vector<float>> evalOutputs(std::shared_ptr<const rt::Artifact> artifact,
                                            const std::vector<rt::NamedTensor> &weights) {
  rt::Session session(artifact, rt::SessionOptions{1});
  tools::importModelWeights(session, weights, "test weights");
  const int64_t batch = 3;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> pixel(-1.0f, 1.0f);
  std::vector<float> images(batch * 28 * 28), target(batch * 10, 0.0f);
  for (float &v : images)
    v = pixel(rng);
  for (int64_t i = 0; i < batch; ++i)
    target[i * 10 + (i * 3) % 10] = 1.0f;
  auto step = session.run("eval_step", {{images.data(), {batch, 1, 28, 28}},
                                        {target.data(), {batch, 10}}});
  auto infer = session.run("infer", {{images.data(), {batch, 1, 28, 28}}});
  return {step.at(0).data, step.at(1).data, infer.at(0).data};
}

TEST(EvalCache, ReusesTrainsArtifactWhateverItsOptimizerAndSeed) {
  TempDir dir;
  TrainingOptions recipe; // TIPC's resnet20 recipe: another artifact than eval's default
  recipe.nesterov = true;
  recipe.weightDecay = 5e-4;
  std::string note;
  auto trained = tools::compileTrainingCached("lenet5", 7, recipe, dir.path, note);
  ASSERT_EQ(note.rfind("compiled in", 0), 0u) << note;
  const std::string trainedFile =
      tools::trainingCacheKey("lenet5", 7, recipe, false, tools::compilerBuildId()) + ".kiln";
  ASSERT_EQ(dir.files(".kiln"), std::vector<std::string>{trainedFile});

  auto reused = tools::evalArtifactCached("lenet5", dir.path, note);
  EXPECT_EQ(note, "loaded from cache " + (fs::path(dir.path) / trainedFile).string());
  EXPECT_EQ(dir.files(".kiln").size(), 1u) << "eval compiled an artifact of its own";

  // With the pointer gone (or naming something else), eval compiles the
  // default artifact as before; it gives bitwise the same eval results.
  ASSERT_EQ(dir.files(".ref").size(), 1u);
  {
    std::ofstream(fs::path(dir.path) / dir.files(".ref")[0]) << "../lenet5-elsewhere.kiln\n";
  }
  auto own = tools::evalArtifactCached("lenet5", dir.path, note);
  EXPECT_EQ(note.rfind("compiled in", 0), 0u) << note;
  EXPECT_EQ(dir.files(".kiln").size(), 2u);

  fe::Model model = fe::buildModel("lenet5", 3); // weights neither artifact started from
  std::vector<rt::NamedTensor> weights;
  for (const fe::Parameter &p : model.graph.parameters())
    weights.push_back({p.name, {p.shape, p.value}});
  auto a = evalOutputs(reused, weights), b = evalOutputs(own, weights);
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i], b[i]) << "output " << i << " differs between the two artifacts";

  // Now the default artifact is the one eval was pointed at last.
  tools::evalArtifactCached("lenet5", dir.path, note);
  EXPECT_EQ(note.rfind("loaded from cache", 0), 0u) << note;
}

} // namespace
