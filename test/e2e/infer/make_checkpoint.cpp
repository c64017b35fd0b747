//===- make_checkpoint.cpp - a resnet20/lenet5 checkpoint for the tests -----===//
//
//   make_checkpoint <model> <seed> <out.kparams>
//
// The model's seeded initial weights with its batch-norm layers made
// non-trivial: weight U(0.7, 1.3), bias U(-0.2, 0.2), running_mean
// U(-0.2, 0.2), running_var U(0.5, 2.0), so that folding them into the
// convolutions changes real numbers. Stands in for a trained resnet20 (no
// released resnet20 weights exist, and training one in a test is too slow).
//===----------------------------------------------------------------------===//
#include "kiln/frontend/Models.h"
#include "kiln/runtime/Runtime.h"

#include <cstdio>
#include <random>
#include <string>

int main(int argc, char **argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: make_checkpoint <model> <seed> <out.kparams>\n");
    return 1;
  }
  try {
    const std::string model = argv[1];
    const uint64_t seed = std::stoull(argv[2]);
    kiln::fe::Model m = kiln::fe::buildModel(model, seed);
    std::mt19937_64 rng(seed * 7919 + 1);
    auto uniform = [&](double lo, double hi) {
      return float(std::uniform_real_distribution<double>(lo, hi)(rng));
    };
    std::vector<kiln::rt::NamedTensor> tensors;
    for (const kiln::fe::Parameter &p : m.graph.parameters()) {
      kiln::rt::NamedTensor t{p.name, kiln::rt::Tensor{p.shape, p.value}};
      auto ends = [&](const std::string &s) {
        return p.name.size() > s.size() && p.name.compare(p.name.size() - s.size(), s.size(), s) == 0;
      };
      bool bn = false;
      for (const auto &info : m.graph.batchNorms())
        bn |= p.name == info.weight || p.name == info.bias || p.name == info.runningMean ||
              p.name == info.runningVar;
      if (bn) {
        for (float &v : t.tensor.data) {
          if (ends(".running_var"))
            v = uniform(0.5, 2.0);
          else if (ends(".running_mean"))
            v = uniform(-0.2, 0.2);
          else if (ends(".weight"))
            v = uniform(0.7, 1.3);
          else
            v = uniform(-0.2, 0.2);
        }
      }
      tensors.push_back(std::move(t));
    }
    kiln::rt::saveParams(argv[3], tensors);
    std::printf("make_checkpoint: %s (seed %llu, %zu tensors) -> %s\n", model.c_str(),
                (unsigned long long)seed, tensors.size(), argv[3]);
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "make_checkpoint: %s\n", e.what());
    return 1;
  }
}
