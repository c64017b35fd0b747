//===- Layers.h - PyTorch-style layers on top of Graph ---------------------===//
//
// A layer registers its parameters in the graph when it is constructed, under
// PyTorch's state_dict names ("<layer>.weight", "<layer>.running_mean"), and
// emits its ops each time it is applied, so applying it twice shares weights.
// Layers hold a pointer to their Graph: build the graph, then drop the layers
// (they must not outlive or be used with a copy of the graph).
//
// Initial values follow PyTorch/torchvision and are drawn from parameterRng(seed,
// parameter name), so they depend only on the seed and the name.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_FRONTEND_LAYERS_H
#define KILN_FRONTEND_LAYERS_H

#include "kiln/frontend/Graph.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::fe {

struct Conv2dOptions {
  std::array<int64_t, 2> strides{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
  bool bias = true;

  Conv2dOptions& stride(int64_t s) { strides = {s, s}; return *this; }
  Conv2dOptions& pad(int64_t p) { padding = {p, p}; return *this; }
  Conv2dOptions& dilate(int64_t d) { dilation = {d, d}; return *this; }
  Conv2dOptions& group(int64_t g) { groups = g; return *this; }
  Conv2dOptions& withBias(bool b) { bias = b; return *this; }
};

/// nn.Conv2d with torchvision ResNet's initialisation: weight ~ N(0, 2/fan_out),
/// fan_out = Cout*KH*KW/groups (kaiming_normal_, mode="fan_out",
/// nonlinearity="relu"); bias zeros.
class Conv2d {
 public:
  Conv2d(Graph& g, const std::string& name, int64_t inChannels, int64_t outChannels,
         std::array<int64_t, 2> kernelSize, const Conv2dOptions& options, uint64_t seed);
  Conv2d(Graph& g, const std::string& name, int64_t inChannels, int64_t outChannels,
         int64_t kernelSize, const Conv2dOptions& options, uint64_t seed)
      : Conv2d(g, name, inChannels, outChannels, {kernelSize, kernelSize}, options, seed) {}

  Value operator()(Value x) const;

  const std::string& name() const { return name_; }
  std::string weightName() const { return name_ + ".weight"; }
  /// "" without bias.
  std::string biasName() const { return options_.bias ? name_ + ".bias" : ""; }
  /// The standard deviation the weight was drawn with.
  double initStd() const { return initStd_; }

 private:
  Graph* g_;
  std::string name_;
  Conv2dOptions options_;
  Value weight_, bias_;
  double initStd_;
};

/// nn.Linear with PyTorch's default initialisation: weight and bias
/// ~ U(-1/sqrt(in), 1/sqrt(in)).
class Linear {
 public:
  Linear(Graph& g, const std::string& name, int64_t inFeatures, int64_t outFeatures, bool bias,
         uint64_t seed);

  Value operator()(Value x) const;

  const std::string& name() const { return name_; }
  std::string weightName() const { return name_ + ".weight"; }
  std::string biasName() const { return bias_.valid() ? name_ + ".bias" : ""; }

 private:
  Graph* g_;
  std::string name_;
  Value weight_, bias_;
};

/// nn.BatchNorm2d: weight 1, bias 0 (trainable); running_mean 0, running_var 1
/// (non-trainable buffers). Applied as the dialect's inference-form batch_norm;
/// training reads the momentum from the node (Graph::batchNorms()).
class BatchNorm2d {
 public:
  BatchNorm2d(Graph& g, const std::string& name, int64_t channels, float epsilon = 1e-5f,
              float momentum = 0.1f);

  Value operator()(Value x) const;

  const std::string& name() const { return name_; }
  std::string weightName() const { return name_ + ".weight"; }
  std::string biasName() const { return name_ + ".bias"; }
  std::string runningMeanName() const { return name_ + ".running_mean"; }
  std::string runningVarName() const { return name_ + ".running_var"; }
  float epsilon() const { return epsilon_; }
  float momentum() const { return momentum_; }

 private:
  Graph* g_;
  std::string name_;
  float epsilon_, momentum_;
  Value weight_, bias_, mean_, var_;
};

/// nn.MaxPool2d (square kernel; stride 0 = kernel size, as PyTorch's None).
class MaxPool2d {
 public:
  MaxPool2d(Graph& g, const std::string& name, int64_t kernelSize, int64_t stride = 0,
            int64_t padding = 0, bool ceilMode = false);
  Value operator()(Value x) const;

 private:
  Graph* g_;
  std::string name_;
  int64_t kernel_, stride_, padding_;
  bool ceilMode_;
};

/// nn.AvgPool2d (square kernel; stride 0 = kernel size).
class AvgPool2d {
 public:
  AvgPool2d(Graph& g, const std::string& name, int64_t kernelSize, int64_t stride = 0,
            int64_t padding = 0, bool ceilMode = false, bool countIncludePad = true);
  Value operator()(Value x) const;

 private:
  Graph* g_;
  std::string name_;
  int64_t kernel_, stride_, padding_;
  bool ceilMode_, countIncludePad_;
};

/// nn.AdaptiveAvgPool2d((1, 1)).
class GlobalAvgPool {
 public:
  GlobalAvgPool(Graph& g, const std::string& name) : g_(&g), name_(name) {}
  Value operator()(Value x) const { return g_->globalAvgPool(x, name_); }

 private:
  Graph* g_;
  std::string name_;
};

/// nn.Flatten (start_dim 1 by default).
class Flatten {
 public:
  Flatten(Graph& g, const std::string& name, int64_t startDim = 1)
      : g_(&g), name_(name), startDim_(startDim) {}
  Value operator()(Value x) const { return g_->flatten(x, startDim_, name_); }

 private:
  Graph* g_;
  std::string name_;
  int64_t startDim_;
};

/// Parameter-free elementwise activations.
class ReLU {
 public:
  ReLU(Graph& g, const std::string& name) : g_(&g), name_(name) {}
  Value operator()(Value x) const { return g_->relu(x, name_); }

 private:
  Graph* g_;
  std::string name_;
};

class ReLU6 {
 public:
  ReLU6(Graph& g, const std::string& name) : g_(&g), name_(name) {}
  Value operator()(Value x) const { return g_->relu6(x, name_); }

 private:
  Graph* g_;
  std::string name_;
};

class Sigmoid {
 public:
  Sigmoid(Graph& g, const std::string& name) : g_(&g), name_(name) {}
  Value operator()(Value x) const { return g_->sigmoid(x, name_); }

 private:
  Graph* g_;
  std::string name_;
};

class Hardswish {
 public:
  Hardswish(Graph& g, const std::string& name) : g_(&g), name_(name) {}
  Value operator()(Value x) const { return g_->hardswish(x, name_); }

 private:
  Graph* g_;
  std::string name_;
};

}  // namespace kiln::fe

#endif  // KILN_FRONTEND_LAYERS_H
