//===- Classify.h - logits to ranked class probabilities --------*- C++ -*-===//
//
// The artifact's `infer` entry returns logits (the last linear layer, no
// softmax): predict and infer turn each row into probabilities here, in
// double precision, and rank them.
//===----------------------------------------------------------------------===//
#ifndef KILN_PREDICT_CLASSIFY_H
#define KILN_PREDICT_CLASSIFY_H

#include <string>
#include <vector>

namespace kiln::predict {

struct RankedClass {
  int classId = 0;
  double prob = 0.0;
};

/// Softmax of one row of `numClasses` logits, in double: exp(l - max) / sum,
/// so large logits cannot overflow. A non-finite logit gives NaN probabilities
/// (the caller reports it).
std::vector<double> softmax(const float *logits, int numClasses);

/// The `k` most probable classes (k clamped to probs.size()), most probable
/// first; equal probabilities rank the lower class id first.
std::vector<RankedClass> topK(const std::vector<double> &probs, int k);

/// "[(9, Ankle boot, 0.97312), (7, Sneaker, 0.02001)]": id, name and
/// probability (5 decimals) of each ranked class.
std::string formatTopK(const std::vector<RankedClass> &ranked,
                       const std::vector<std::string> &classNames);

/// The visualisation file name of each input image: its stem + ".png"; where
/// two inputs share a stem ("a.png", "a.jpg"), stem + "_" + extension + ".png"
/// ("a_png.png", "a_jpg.png"); any name still taken gets "_2", "_3", ...
std::vector<std::string> visualisationNames(const std::vector<std::string> &imagePaths);

}  // namespace kiln::predict

#endif  // KILN_PREDICT_CLASSIFY_H
