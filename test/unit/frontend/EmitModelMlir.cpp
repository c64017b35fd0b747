// Prints a registered model as kiln dialect text, so that the compiler's parser
// and verifier can be run on exactly what the frontend emits:
//   frontend_emit_mlir <model> [seed] | kiln-opt
#include "kiln/frontend/Models.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s <model> [seed]\n", argv[0]);
    return 2;
  }
  try {
    uint64_t seed = argc == 3 ? std::strtoull(argv[2], nullptr, 10) : 42;
    std::cout << kiln::fe::buildModel(argv[1], seed).graph.toMlir();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
