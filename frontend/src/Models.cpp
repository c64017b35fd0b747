//===- Models.cpp - lenet5 and resnet20 --------------------------------------===//
#include "kiln/frontend/Models.h"

#include "kiln/frontend/Layers.h"

#include <functional>
#include <map>
#include <stdexcept>

namespace kiln::fe {

namespace {

// Classic LeNet-5 adapted to 28x28 inputs (the first conv pads by 2, as the
// original did to its 32x32 digits), with ReLU and max pooling.
void buildLeNet5(Graph& g, uint64_t seed) {
  Value x = g.input("image", {kDynamic, 1, 28, 28});
  Conv2d conv1(g, "conv1", 1, 6, 5, Conv2dOptions().pad(2), seed);
  Conv2d conv2(g, "conv2", 6, 16, 5, Conv2dOptions(), seed);
  Linear fc1(g, "fc1", 16 * 5 * 5, 120, true, seed);
  Linear fc2(g, "fc2", 120, 84, true, seed);
  Linear fc3(g, "fc3", 84, 10, true, seed);

  x = MaxPool2d(g, "pool1", 2)(ReLU(g, "relu1")(conv1(x)));  // [?, 6, 14, 14]
  x = MaxPool2d(g, "pool2", 2)(ReLU(g, "relu2")(conv2(x)));  // [?, 16, 5, 5]
  x = Flatten(g, "flatten")(x);                               // [?, 400]
  x = ReLU(g, "relu3")(fc1(x));
  x = ReLU(g, "relu4")(fc2(x));
  g.output(fc3(x), "logits");
}

// torchvision-style BasicBlock: conv3x3-BN-ReLU-conv3x3-BN, plus the identity or
// a 1x1 strided conv + BN projection, then ReLU.
Value basicBlock(Graph& g, const std::string& name, Value x, int64_t inPlanes, int64_t planes,
                 int64_t stride, uint64_t seed) {
  Conv2d conv1(g, name + ".conv1", inPlanes, planes, 3,
               Conv2dOptions().stride(stride).pad(1).withBias(false), seed);
  BatchNorm2d bn1(g, name + ".bn1", planes);
  Conv2d conv2(g, name + ".conv2", planes, planes, 3, Conv2dOptions().pad(1).withBias(false),
               seed);
  BatchNorm2d bn2(g, name + ".bn2", planes);

  Value shortcut = x;
  if (stride != 1 || inPlanes != planes) {
    Conv2d down(g, name + ".downsample.0", inPlanes, planes, 1,
                Conv2dOptions().stride(stride).withBias(false), seed);
    BatchNorm2d downBn(g, name + ".downsample.1", planes);
    shortcut = downBn(down(x));
  }
  Value y = ReLU(g, name + ".relu1")(bn1(conv1(x)));
  y = bn2(conv2(y));
  y = g.add(y, shortcut, name + ".add");
  return ReLU(g, name + ".relu2")(y);
}

// ResNet-20 (He et al. 2016, the CIFAR variant: 3 stages x 3 blocks, 16/32/64
// channels) on one input channel.
void buildResNet20(Graph& g, uint64_t seed) {
  Value x = g.input("image", {kDynamic, 1, 28, 28});
  Conv2d conv1(g, "conv1", 1, 16, 3, Conv2dOptions().pad(1).withBias(false), seed);
  BatchNorm2d bn1(g, "bn1", 16);
  x = ReLU(g, "relu")(bn1(conv1(x)));

  int64_t inPlanes = 16;
  const int64_t widths[] = {16, 32, 64};
  for (int stage = 0; stage < 3; ++stage) {
    for (int block = 0; block < 3; ++block) {
      int64_t stride = (stage > 0 && block == 0) ? 2 : 1;
      std::string name = "layer" + std::to_string(stage + 1) + "." + std::to_string(block);
      x = basicBlock(g, name, x, inPlanes, widths[stage], stride, seed);
      inPlanes = widths[stage];
    }
  }
  x = GlobalAvgPool(g, "avgpool")(x);  // [?, 64, 1, 1]
  x = Flatten(g, "flatten")(x);        // [?, 64]
  Linear fc(g, "fc", 64, 10, true, seed);
  g.output(fc(x), "logits");
}

const std::map<std::string, std::function<void(Graph&, uint64_t)>>& registry() {
  static const std::map<std::string, std::function<void(Graph&, uint64_t)>> r = {
      {"lenet5", buildLeNet5},
      {"resnet20", buildResNet20},
  };
  return r;
}

}  // namespace

std::vector<std::string> modelNames() {
  std::vector<std::string> names;
  for (const auto& kv : registry()) names.push_back(kv.first);
  return names;
}

Model buildModel(const std::string& name, uint64_t seed) {
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string known;
    for (const std::string& n : modelNames()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown model '" + name + "' (known: " + known + ")");
  }
  Model m;
  m.name = name;
  it->second(m.graph, seed);
  return m;
}

}  // namespace kiln::fe
