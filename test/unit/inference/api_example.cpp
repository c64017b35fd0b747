//===- api_example.cpp - the inference API example, as a program ----------===//
//
//   api_example <model dir> <batch> [<channels> <height> <width>]
//
// The example of kiln/inference/Predictor.h and docs/inference_api.md, kept
// compiling and running by the tests: feeds `batch` seeded random images of
// the given shape (default 1x28x28) through a predictor and prints the output
// shape and the first row. A shape the model does not take ends in one line
// "api_example: ..." on stderr and exit 1 (test/e2e/infer).
//===----------------------------------------------------------------------===//
#include "kiln/inference/Predictor.h"

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace ki = kiln::inference;

int main(int argc, char **argv) {
  if (argc != 3 && argc != 6) {
    std::fprintf(stderr, "usage: api_example <model dir> <batch> [<channels> <height> <width>]\n");
    return 1;
  }
  try {
    std::vector<int> shape = {std::atoi(argv[2]), 1, 28, 28};
    if (argc == 6)
      shape = {std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5])};

    ki::Config config(argv[1]); // <dir>/inference.kmodel + <dir>/inference.kparams
    config.set_cpu_math_library_num_threads(2);
    std::shared_ptr<ki::Predictor> predictor = ki::create_predictor(config);

    size_t count = 1;
    for (int d : shape)
      count *= size_t(d > 0 ? d : 0);
    std::vector<float> images(count);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float &v : images)
      v = normal(rng);

    auto input = predictor->get_input_handle(predictor->get_input_names()[0]);
    input->reshape(shape);
    input->copy_from_cpu(images.data());
    predictor->run();

    auto output = predictor->get_output_handle(predictor->get_output_names()[0]);
    std::vector<int> outShape = output->shape();
    std::vector<float> logits(size_t(output->numel()));
    output->copy_to_cpu(logits.data());

    std::printf("output '%s' [%d, %d]:", output->name().c_str(), outShape[0], outShape[1]);
    for (int c = 0; c < outShape[1]; ++c)
      std::printf(" %.5f", logits[size_t(c)]);
    std::printf("\n");
    return 0;
  } catch (const ki::Error &e) {
    std::fprintf(stderr, "api_example: %s\n", e.what());
    return 1;
  }
}
