// Model registry, parameter/FLOP counts, initialisation and seeded RNG.
#include "kiln/frontend/Layers.h"
#include "kiln/frontend/Models.h"
#include "kiln/frontend/Random.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

using namespace kiln::fe;

namespace {

struct Moments {
  double mean, std;
};

Moments moments(const std::vector<float>& v) {
  double s = 0.0, s2 = 0.0;
  for (float x : v) {
    s += x;
    s2 += static_cast<double>(x) * x;
  }
  double n = static_cast<double>(v.size());
  double mean = s / n;
  return {mean, std::sqrt(s2 / n - mean * mean)};
}

bool sameBytes(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

size_t countOf(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST(Models, Registry) {
  EXPECT_EQ(modelNames(), (std::vector<std::string>{"lenet5", "resnet20"}));
  try {
    buildModel("foo");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "unknown model 'foo' (known: lenet5, resnet20)");
  }
}

TEST(Models, InterfaceShapes) {
  for (const std::string& name : modelNames()) {
    Model m = buildModel(name);
    const Graph& g = m.graph;
    ASSERT_EQ(g.inputs().size(), 1u) << name;
    ASSERT_EQ(g.outputs().size(), 1u) << name;
    EXPECT_EQ(g.node(g.inputs()[0]).name, m.inputName);
    EXPECT_EQ(m.inputName, "image");
    EXPECT_EQ(g.node(g.inputs()[0]).shape, (Shape{kDynamic, 1, 28, 28}));
    EXPECT_EQ(g.outputNames()[0], "logits");
    EXPECT_EQ(g.node(g.outputs()[0]).shape, (Shape{kDynamic, 10}));
  }
}

TEST(Models, ParameterCounts) {
  Model lenet = buildModel("lenet5");
  EXPECT_EQ(lenet.parameterCount(), 61706);
  EXPECT_EQ(lenet.bufferCount(), 0);
  Model resnet = buildModel("resnet20");
  EXPECT_EQ(resnet.parameterCount(), 272186);
  // Running mean + var of 21 BN layers: 2 * (16 + 6*16 + 7*32 + 7*64).
  EXPECT_EQ(resnet.bufferCount(), 1568);
}

TEST(Models, Flops) {
  Model resnet = buildModel("resnet20");
  double mflop = static_cast<double>(resnet.macFlopsPerImage()) / 1e6;
  EXPECT_NEAR(mflop, 62.0, 62.0 * 0.005);
  // The all-op count adds BN, ReLU, residual adds and pooling on top.
  EXPECT_GT(resnet.flopsPerImage(), resnet.macFlopsPerImage());
  EXPECT_LT(resnet.flopsPerImage(), resnet.macFlopsPerImage() * 105 / 100);

  // LeNet-5 MACs: conv1 6*28*28*25 + conv2 16*10*10*150 + fc 400*120 + 120*84 + 84*10.
  Model lenet = buildModel("lenet5");
  EXPECT_EQ(lenet.macFlopsPerImage(), 2 * (117600 + 240000 + 48000 + 10080 + 840));
}

TEST(Models, PyTorchParameterNames) {
  Model resnet = buildModel("resnet20");
  const Graph& g = resnet.graph;
  for (const char* n : {"conv1.weight", "bn1.weight", "bn1.running_var", "layer1.0.conv1.weight",
                        "layer1.2.bn2.bias", "layer2.0.downsample.0.weight",
                        "layer3.0.downsample.1.running_mean", "layer3.2.conv2.weight",
                        "fc.weight", "fc.bias"})
    EXPECT_TRUE(g.hasParameter(n)) << n;
  EXPECT_FALSE(g.hasParameter("layer1.0.downsample.0.weight"));
  EXPECT_FALSE(g.hasParameter("conv1.bias"));
  EXPECT_EQ(g.parameter("layer2.0.downsample.0.weight").shape, (Shape{32, 16, 1, 1}));
  EXPECT_FALSE(g.parameter("layer1.0.bn1.running_mean").trainable);
  EXPECT_TRUE(g.parameter("layer1.0.bn1.weight").trainable);

  Model lenet = buildModel("lenet5");
  std::vector<std::string> names;
  for (const Parameter& p : lenet.graph.parameters()) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"conv1.weight", "conv1.bias", "conv2.weight",
                                             "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight",
                                             "fc2.bias", "fc3.weight", "fc3.bias"}));
}

TEST(Models, BatchNormInfo) {
  Model resnet = buildModel("resnet20");
  std::vector<BatchNormInfo> bns = resnet.graph.batchNorms();
  ASSERT_EQ(bns.size(), 21u);
  EXPECT_EQ(bns[0].layer, "bn1");
  const BatchNormInfo& ds = *std::find_if(bns.begin(), bns.end(), [](const BatchNormInfo& b) {
    return b.layer == "layer2.0.downsample.1";
  });
  EXPECT_EQ(ds.weight, "layer2.0.downsample.1.weight");
  EXPECT_EQ(ds.runningMean, "layer2.0.downsample.1.running_mean");
  EXPECT_EQ(ds.runningVar, "layer2.0.downsample.1.running_var");
  EXPECT_FLOAT_EQ(ds.epsilon, 1e-5f);
  EXPECT_FLOAT_EQ(ds.momentum, 0.1f);
  const Parameter& var = resnet.graph.parameter(ds.runningVar);
  EXPECT_TRUE(std::all_of(var.value.begin(), var.value.end(), [](float v) { return v == 1.0f; }));
}

TEST(Models, MlirTextOfModels) {
  Model resnet = buildModel("resnet20");
  std::string t = resnet.graph.toMlir();
  EXPECT_EQ(t.rfind("module {\n  func.func @infer(%image: tensor<?x1x28x28xf32> loc(\"image\")) "
                    "-> tensor<?x10xf32> {\n",
                    0),
            0u)
      << t.substr(0, 200);
  EXPECT_EQ(countOf(t, "\"kiln.conv2d\""), 21u);
  EXPECT_EQ(countOf(t, "\"kiln.batch_norm\""), 21u);
  EXPECT_EQ(countOf(t, "\"kiln.add\""), 9u);
  EXPECT_EQ(countOf(t, "\"kiln.parameter\""), resnet.graph.parameters().size());
  EXPECT_NE(t.find("{name = \"layer3.0.downsample.1.running_var\", trainable = false}"),
            std::string::npos);
  EXPECT_NE(t.find("loc(\"layer2.0.conv1\")"), std::string::npos);
  EXPECT_NE(t.find("\"kiln.global_avg_pool\""), std::string::npos);

  std::string l = buildModel("lenet5").graph.toMlir();
  EXPECT_EQ(countOf(l, "\"kiln.conv2d\""), 2u);
  EXPECT_EQ(countOf(l, "operandSegmentSizes"), 0u);
  EXPECT_EQ(countOf(l, "\"kiln.linear\""), 3u);
  EXPECT_EQ(countOf(l, "\"kiln.max_pool2d\""), 2u);
}

TEST(Init, SameSeedSameBytesDifferentSeedDifferent) {
  Model a = buildModel("resnet20", 7);
  Model b = buildModel("resnet20", 7);
  Model c = buildModel("resnet20", 8);
  ASSERT_EQ(a.graph.parameters().size(), c.graph.parameters().size());
  for (size_t i = 0; i < a.graph.parameters().size(); ++i) {
    const Parameter& pa = a.graph.parameters()[i];
    EXPECT_TRUE(sameBytes(pa.value, b.graph.parameters()[i].value)) << pa.name;
    bool random = pa.name.find("conv") != std::string::npos ||
                  pa.name.find("downsample.0") != std::string::npos || pa.name.rfind("fc.", 0) == 0;
    // Random tensors change with the seed; BN constants do not.
    EXPECT_EQ(sameBytes(pa.value, c.graph.parameters()[i].value), !random) << pa.name;
  }
}

TEST(Init, ValuesDependOnlyOnSeedAndName) {
  Graph g1, g2;
  Conv2d a1(g1, "a", 8, 8, 3, Conv2dOptions(), 5);
  Conv2d other(g2, "other", 4, 4, 3, Conv2dOptions(), 5);  // built first in g2
  Conv2d a2(g2, "a", 8, 8, 3, Conv2dOptions(), 5);
  EXPECT_TRUE(sameBytes(g1.parameter("a.weight").value, g2.parameter("a.weight").value));
  // A different name draws from a different stream.
  const std::vector<float>& o = g2.parameter("other.weight").value;
  const std::vector<float>& a = g2.parameter("a.weight").value;
  EXPECT_FALSE(sameBytes(o, std::vector<float>(a.begin(), a.begin() + static_cast<long>(o.size()))));
}

TEST(Init, KaimingNormalStatistics) {
  Graph g;
  Conv2d conv(g, "big", 64, 256, 3, Conv2dOptions().withBias(true), 123);
  const std::vector<float>& w = g.parameter("big.weight").value;
  ASSERT_EQ(w.size(), 256u * 64 * 9);
  double expected = std::sqrt(2.0 / (256.0 * 9.0));  // fan_out = Cout * KH * KW
  EXPECT_DOUBLE_EQ(conv.initStd(), expected);
  Moments m = moments(w);
  EXPECT_NEAR(m.std, expected, 0.02 * expected);
  EXPECT_NEAR(m.mean, 0.0, 4.0 * expected / std::sqrt(static_cast<double>(w.size())));
  const std::vector<float>& b = g.parameter("big.bias").value;
  EXPECT_TRUE(std::all_of(b.begin(), b.end(), [](float v) { return v == 0.0f; }));

  // Grouped: fan_out divides by groups.
  Graph gg;
  Conv2d dw(gg, "dw", 32, 32, 3, Conv2dOptions().group(32), 1);
  EXPECT_DOUBLE_EQ(dw.initStd(), std::sqrt(2.0 / 9.0));
  EXPECT_EQ(gg.parameter("dw.weight").shape, (Shape{32, 1, 3, 3}));
}

TEST(Init, LinearUniformBounds) {
  Graph g;
  Linear fc(g, "fc", 400, 300, true, 9);
  double bound = 1.0 / std::sqrt(400.0);
  for (const char* n : {"fc.weight", "fc.bias"}) {
    const std::vector<float>& v = g.parameter(n).value;
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    EXPECT_GE(*lo, -bound) << n;
    EXPECT_LE(*hi, bound) << n;
  }
  const std::vector<float>& w = g.parameter("fc.weight").value;
  auto [lo, hi] = std::minmax_element(w.begin(), w.end());
  EXPECT_LT(*lo, -0.99 * bound);
  EXPECT_GT(*hi, 0.99 * bound);
  EXPECT_NEAR(moments(w).std, bound / std::sqrt(3.0), 0.02 * bound / std::sqrt(3.0));
}

TEST(Init, BatchNormDefaults) {
  Graph g;
  BatchNorm2d bn(g, "bn", 3);
  EXPECT_EQ(g.parameter(bn.weightName()).value, (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(g.parameter(bn.biasName()).value, (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(g.parameter(bn.runningMeanName()).value, (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(g.parameter(bn.runningVarName()).value, (std::vector<float>{1, 1, 1}));
  EXPECT_FALSE(g.parameter("bn.running_var").trainable);
  EXPECT_FLOAT_EQ(bn.epsilon(), 1e-5f);
  EXPECT_FLOAT_EQ(bn.momentum(), 0.1f);
}

TEST(Init, LayerValidation) {
  Graph g;
  EXPECT_THROW(Conv2d(g, "c", 6, 8, 3, Conv2dOptions().group(4), 1), std::invalid_argument);
  EXPECT_THROW(Linear(g, "l", 0, 3, true, 1), std::invalid_argument);
  Conv2d c(g, "c", 6, 8, 3, Conv2dOptions(), 1);
  EXPECT_THROW(Conv2d(g, "c", 6, 8, 3, Conv2dOptions(), 1), std::invalid_argument);  // same name
  Value x = g.input("x", {kDynamic, 5, 8, 8});
  EXPECT_THROW(c(x), std::invalid_argument);  // 5 channels into a 6-channel conv
}

TEST(Random, SplitMix64ReferenceValues) {
  // First outputs of splitmix64 from state 0 (Vigna's reference implementation).
  uint64_t state = 0;
  EXPECT_EQ(splitmix64(state), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(splitmix64(state), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(splitmix64(state), 0x06C45D188009454Full);
}

TEST(Random, UniformAndNormalMoments) {
  Rng rng(2024);
  const int n = 200000;
  double s = 0, s2 = 0, u = 0;
  for (int i = 0; i < n; ++i) {
    double z = rng.normal();
    s += z;
    s2 += z * z;
    double v = rng.uniform();
    ASSERT_GE(v, 0.0);
    ASSERT_LT(v, 1.0);
    u += v;
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.01);
  EXPECT_NEAR(u / n, 0.5, 0.005);
}
