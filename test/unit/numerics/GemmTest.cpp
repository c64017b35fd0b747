// matmul and linear against the reference: odd sizes, with and without bias,
// short (K = 1) and long (K = 300) reductions.
#include "NumericsHarness.h"

#include <gtest/gtest.h>

using namespace kiln;
using namespace kiln::numtest;

TEST(Linear, WithAndWithoutBias) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 13});
  g.output(g.linear(x, weightParam(g, "w7", {7, 13}, 13, rng),
                    randomParam(g, "b7", {7}, rng, -0.5, 0.5), "bias"),
           "bias");
  g.output(g.linear(x, weightParam(g, "w5", {5, 13}, 13, rng), fe::Value(), "nobias"), "nobias");
  g.output(g.linear(x, weightParam(g, "w1", {1, 13}, 13, rng),
                    randomParam(g, "b1", {1}, rng, -0.5, 0.5), "one_output"),
           "one_output");
  CheckSpec spec;
  spec.tolerances["one_output"] = accumulation(13 + 1);
  spec.tolerances["bias"] = accumulation(13 + 1);
  spec.tolerances["nobias"] = accumulation(13);
  checkGraph(g, spec);
}

// K = 300: the relL2 bound is K * 2^-24 = 1.8e-5 (see accumulation()).
TEST(Linear, LongReduction) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 300});
  g.output(g.linear(x, weightParam(g, "w", {9, 300}, 300, rng),
                    randomParam(g, "b", {9}, rng, -0.5, 0.5), "long"),
           "long");
  CheckSpec spec;
  spec.tolerance = accumulation(301);
  checkGraph(g, spec);
}

// One input feature: each output is x * w + b.
TEST(Linear, SingleInputFeature) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 1});
  g.output(g.linear(x, weightParam(g, "w", {3, 1}, 1, rng),
                    randomParam(g, "b", {3}, rng, -0.5, 0.5), "k1"),
           "k1");
  CheckSpec spec;
  spec.tolerance = accumulation(2);
  checkGraph(g, spec);
}

TEST(Matmul, ParameterRhs) {
  fe::Rng rng(testSeed());
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 13});
  g.output(g.matmul(x, weightParam(g, "w7", {13, 7}, 13, rng), "k13"), "k13");
  fe::Value y = g.input("y", {fe::kDynamic, 300});
  g.output(g.matmul(y, weightParam(g, "w5", {300, 5}, 300, rng), "k300"), "k300");
  CheckSpec spec;
  spec.tolerances["k13"] = accumulation(13);
  spec.tolerances["k300"] = accumulation(300);
  checkGraph(g, spec);
}

// A fully static second input (only dim 0 may be dynamic, none has to be).
TEST(Matmul, StaticInputRhs) {
  fe::Graph g;
  fe::Value x = g.input("x", {fe::kDynamic, 5});
  fe::Value y = g.input("y", {5, 7});
  g.output(g.matmul(x, y, "xy"), "xy");
  CheckSpec spec;
  spec.tolerance = accumulation(5);
  checkGraph(g, spec);
}
