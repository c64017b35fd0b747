//===- Layers.cpp - layer parameters and initialisers ---------------------===//
#include "kiln/frontend/Layers.h"

#include "kiln/frontend/Random.h"

#include <cmath>
#include <stdexcept>

namespace kiln::fe {

Conv2d::Conv2d(Graph& g, const std::string& name, int64_t inChannels, int64_t outChannels,
               std::array<int64_t, 2> kernelSize, const Conv2dOptions& options, uint64_t seed)
    : g_(&g), name_(name), options_(options) {
  // Checked here (not only in Graph::conv2d) because the weight shape and the
  // fan-out below depend on these before any op is built.
  if (inChannels < 1 || outChannels < 1 || kernelSize[0] < 1 || kernelSize[1] < 1)
    throw std::invalid_argument("Conv2d '" + name + "': channels and kernel size must be >= 1");
  if (options.groups < 1 || inChannels % options.groups != 0 ||
      outChannels % options.groups != 0)
    throw std::invalid_argument("Conv2d '" + name + "': groups (" +
                                std::to_string(options.groups) +
                                ") must divide input channels (" + std::to_string(inChannels) +
                                ") and output channels (" + std::to_string(outChannels) + ")");
  Shape wShape{outChannels, inChannels / options.groups, kernelSize[0], kernelSize[1]};
  double fanOut = static_cast<double>(outChannels * kernelSize[0] * kernelSize[1]) /
                  static_cast<double>(options.groups);
  initStd_ = std::sqrt(2.0 / fanOut);
  Rng rng = parameterRng(seed, weightName());
  weight_ = g.parameter(weightName(), wShape,
                        normalValues(static_cast<size_t>(numElements(wShape)), initStd_, rng));
  if (options.bias)
    bias_ = g.parameter(biasName(), Shape{outChannels},
                        std::vector<float>(static_cast<size_t>(outChannels), 0.0f));
}

Value Conv2d::operator()(Value x) const {
  return g_->conv2d(x, weight_, bias_, options_.strides, options_.padding, options_.dilation,
                    options_.groups, name_);
}

Linear::Linear(Graph& g, const std::string& name, int64_t inFeatures, int64_t outFeatures,
               bool bias, uint64_t seed)
    : g_(&g), name_(name) {
  if (inFeatures < 1 || outFeatures < 1)
    throw std::invalid_argument("Linear '" + name + "': feature counts must be >= 1");
  double bound = 1.0 / std::sqrt(static_cast<double>(inFeatures));
  Rng wRng = parameterRng(seed, weightName());
  weight_ = g.parameter(weightName(), Shape{outFeatures, inFeatures},
                        uniformValues(static_cast<size_t>(outFeatures * inFeatures), -bound,
                                      bound, wRng));
  if (bias) {
    Rng bRng = parameterRng(seed, name + ".bias");
    bias_ = g.parameter(name + ".bias", Shape{outFeatures},
                        uniformValues(static_cast<size_t>(outFeatures), -bound, bound, bRng));
  }
}

Value Linear::operator()(Value x) const { return g_->linear(x, weight_, bias_, name_); }

BatchNorm2d::BatchNorm2d(Graph& g, const std::string& name, int64_t channels, float epsilon,
                         float momentum)
    : g_(&g), name_(name), epsilon_(epsilon), momentum_(momentum) {
  if (channels < 1)
    throw std::invalid_argument("BatchNorm2d '" + name + "': channels must be >= 1");
  auto filled = [channels](float v) { return std::vector<float>(static_cast<size_t>(channels), v); };
  Shape s{channels};
  weight_ = g.parameter(weightName(), s, filled(1.0f), true);
  bias_ = g.parameter(biasName(), s, filled(0.0f), true);
  mean_ = g.parameter(runningMeanName(), s, filled(0.0f), false);
  var_ = g.parameter(runningVarName(), s, filled(1.0f), false);
}

Value BatchNorm2d::operator()(Value x) const {
  return g_->batchNorm(x, weight_, bias_, mean_, var_, epsilon_, name_, momentum_);
}

MaxPool2d::MaxPool2d(Graph& g, const std::string& name, int64_t kernelSize, int64_t stride,
                     int64_t padding, bool ceilMode)
    : g_(&g), name_(name), kernel_(kernelSize), stride_(stride == 0 ? kernelSize : stride),
      padding_(padding), ceilMode_(ceilMode) {}

Value MaxPool2d::operator()(Value x) const {
  return g_->maxPool2d(x, {kernel_, kernel_}, {stride_, stride_}, {padding_, padding_}, ceilMode_,
                       name_);
}

AvgPool2d::AvgPool2d(Graph& g, const std::string& name, int64_t kernelSize, int64_t stride,
                     int64_t padding, bool ceilMode, bool countIncludePad)
    : g_(&g), name_(name), kernel_(kernelSize), stride_(stride == 0 ? kernelSize : stride),
      padding_(padding), ceilMode_(ceilMode), countIncludePad_(countIncludePad) {}

Value AvgPool2d::operator()(Value x) const {
  return g_->avgPool2d(x, {kernel_, kernel_}, {stride_, stride_}, {padding_, padding_},
                       ceilMode_, countIncludePad_, name_);
}

}  // namespace kiln::fe
