//===- Classify.cpp - softmax, top-k, output names ------------------------===//
#include "kiln/predict/Classify.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

namespace fs = std::filesystem;

namespace kiln::predict {

std::vector<double> softmax(const float *logits, int numClasses) {
  std::vector<double> probs(size_t(std::max(numClasses, 0)));
  if (numClasses <= 0)
    return probs;
  double maxLogit = double(logits[0]);
  for (int c = 1; c < numClasses; ++c)
    maxLogit = std::max(maxLogit, double(logits[c]));
  double sum = 0.0;
  for (int c = 0; c < numClasses; ++c) {
    probs[size_t(c)] = std::exp(double(logits[c]) - maxLogit);
    sum += probs[size_t(c)];
  }
  for (double &p : probs)
    p /= sum;
  return probs;
}

std::vector<RankedClass> topK(const std::vector<double> &probs, int k) {
  std::vector<RankedClass> all;
  for (size_t c = 0; c < probs.size(); ++c)
    all.push_back({int(c), probs[c]});
  // stable_sort keeps equal probabilities in class-id order.
  std::stable_sort(all.begin(), all.end(),
                   [](const RankedClass &a, const RankedClass &b) { return a.prob > b.prob; });
  all.resize(std::min(all.size(), size_t(std::max(k, 0))));
  return all;
}

std::string formatTopK(const std::vector<RankedClass> &ranked,
                       const std::vector<std::string> &classNames) {
  std::string out = "[";
  for (size_t i = 0; i < ranked.size(); ++i) {
    const RankedClass &r = ranked[i];
    char prob[32];
    std::snprintf(prob, sizeof prob, "%.5f", r.prob);
    const std::string &name =
        r.classId >= 0 && size_t(r.classId) < classNames.size() ? classNames[size_t(r.classId)]
                                                                  : std::string("?");
    out += (i ? ", (" : "(") + std::to_string(r.classId) + ", " + name + ", " + prob + ")";
  }
  return out + "]";
}

std::vector<std::string> visualisationNames(const std::vector<std::string> &imagePaths) {
  std::map<std::string, int> stemCount;
  for (const std::string &p : imagePaths)
    ++stemCount[fs::path(p).stem().string()];
  std::set<std::string> taken;
  std::vector<std::string> names;
  for (const std::string &p : imagePaths) {
    fs::path path(p);
    std::string base = path.stem().string();
    if (stemCount[base] > 1) {
      std::string ext = path.extension().string();
      if (!ext.empty())
        base += "_" + ext.substr(1);
    }
    std::string name = base + ".png";
    for (int n = 2; taken.count(name); ++n)
      name = base + "_" + std::to_string(n) + ".png";
    taken.insert(name);
    names.push_back(name);
  }
  return names;
}

}  // namespace kiln::predict
