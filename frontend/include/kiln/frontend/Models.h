//===- Models.h - the model zoo ---------------------------------------------===//
//
// Every model takes a batch of 28x28 grayscale images (input "image",
// [?, 1, 28, 28]) and returns class scores (output "logits", [?, 10]).
//
//===----------------------------------------------------------------------===//
#ifndef KILN_FRONTEND_MODELS_H
#define KILN_FRONTEND_MODELS_H

#include "kiln/frontend/Graph.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::fe {

struct Model {
  std::string name;
  Graph graph;
  std::string inputName = "image";
  std::string outputName = "logits";

  /// Trainable parameter elements (BN running statistics are buffers, not counted).
  int64_t parameterCount() const { return graph.parameterCount(true); }
  /// Non-trainable parameter elements (BN running statistics).
  int64_t bufferCount() const { return graph.parameterCount(false) - parameterCount(); }
  /// Forward FLOPs per image, all ops (see FlopCount for the rules).
  int64_t flopsPerImage() const { return graph.flops(1).total; }
  /// Forward FLOPs per image of conv2d/linear/matmul only (2 per multiply-add).
  int64_t macFlopsPerImage() const { return graph.flops(1).macFlops; }
};

/// The registered model names, sorted.
std::vector<std::string> modelNames();

/// Builds a model with freshly initialised weights; the same seed gives
/// bit-identical weights. Throws std::invalid_argument for an unknown name.
Model buildModel(const std::string& name, uint64_t seed = 42);

}  // namespace kiln::fe

#endif  // KILN_FRONTEND_MODELS_H
