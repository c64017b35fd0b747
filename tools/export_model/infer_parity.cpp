//===- infer_parity.cpp - exported model vs the training artifact's infer --===//
//
//   infer_parity --model resnet20 --pretrained ./output/resnet20/latest.kparams
//                --model-dir ./output/resnet20_infer --img-path ./lite_data/val
//
// Runs the same images through
//   A: the training artifact's `infer` entry with the checkpoint's weights -
//      exactly what `predict` runs (same compile cache, same weight import,
//      same preprocessing, batches of 64), and
//   B: the exported model in --model-dir through the inference API, the way
//      `infer` runs it (batches of --batch-size),
// and prints the differences in the reproduction standard's style (per key:
// mean diff, max diff, check passed), then "diff check passed" or
// "diff check failed". The keys and when they pass:
//   prob      the softmax probability of every class (double): max |A - B|
//             <= --tolerance (1e-6, the export/infer parity bar);
//   class_id  the top-1 class: identical for every image;
//   logits    mean |A - B| <= --logits-tolerance (1e-5, the reproduction
//             standard's forward-output threshold). Not their max: logits of
//             ~10 carry rounding of ~1e-6 that depends on the batch size
//             (OpenBLAS picks other kernels for other shapes), so A and B
//             agree bitwise only at equal batches.
// Exit 0 when every key passes, 1 otherwise or on an error.
//===----------------------------------------------------------------------===//
#include "kiln/data/Image.h"
#include "kiln/inference/Predictor.h"
#include "kiln/predict/Classify.h"
#include "kiln/tools/Common.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <filesystem>

namespace fs = std::filesystem;
using namespace kiln;

namespace {

constexpr int64_t kPredictBatch = 64; // predict's batch (tools/predict/predict.cpp)

struct Diff {
  double sum = 0, max = 0;
  int64_t count = 0;
  void add(double a, double b) {
    double d = std::abs(a - b);
    sum += d;
    max = std::max(max, d);
    ++count;
  }
  double mean() const { return count ? sum / double(count) : 0.0; }
};

const char *pyBool(bool b) { return b ? "True" : "False"; }

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"infer_parity: compare an exported inference model with the training artifact's "
               "infer entry (what predict runs) on the same checkpoint and images"};
  std::string model = "lenet5", pretrained, modelDir, imgPath = "./images/demo";
  int64_t batchSize = 1;
  int threads = 0;
  double tolerance = 1e-6, logitsTolerance = 1e-5;
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--model", model, "model name")->capture_default_str();
  app.add_option("--pretrained", pretrained,
                 "the checkpoint the model was exported from (default "
                 "./pretrain_models/<model>_fashion_mnist.kparams)");
  app.add_option("--model-dir", modelDir, "the export directory (default ./output/<model>_infer)");
  app.add_option("--img-path", imgPath, "image file or directory")->capture_default_str();
  app.add_option("--batch-size", batchSize, "batch of the inference-API runs")
      ->capture_default_str();
  app.add_option("--threads", threads, "threads of both (0: all hardware threads)")
      ->capture_default_str();
  app.add_option("--tolerance", tolerance, "largest |probability difference| that passes")
      ->capture_default_str();
  app.add_option("--logits-tolerance", logitsTolerance, "largest mean |logit difference|")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    fmt::print(stderr, "infer_parity: {} (see --help)\n", tools::oneLine(e.what()));
    return 1;
  }
  try {
    if (batchSize < 1 || threads < 0)
      throw tools::ToolError("--batch-size must be >= 1 and --threads >= 0");
    tools::checkModelName(model);
    if (pretrained.empty())
      pretrained = "./pretrain_models/" + model + "_fashion_mnist.kparams";
    if (modelDir.empty())
      modelDir = "./output/" + model + "_infer";

    std::vector<std::string> files = data::listImageFiles(imgPath);
    const int64_t count = int64_t(files.size());
    std::vector<float> inputs(size_t(count) * size_t(data::kImageSize));
    for (int64_t i = 0; i < count; ++i)
      data::readModelInput(files[size_t(i)], inputs.data() + i * data::kImageSize);
    const std::vector<int64_t> imageShape = {1, data::kImageHeight, data::kImageWidth};

    // A: predict's path.
    std::vector<rt::NamedTensor> weights = tools::readModelWeights(model, pretrained);
    fs::path weightsDir = fs::absolute(pretrained).lexically_normal().parent_path();
    std::string note;
    auto artifact = tools::compileTrainingCached(
        model, 42, TrainingOptions{},
        tools::cacheDir((weightsDir.parent_path() / ".kiln-cache").string()), note);
    rt::Session session(artifact, rt::SessionOptions{threads});
    tools::importModelWeights(session, weights, pretrained);
    std::vector<float> logitsA;
    for (int64_t start = 0; start < count; start += kPredictBatch) {
      int64_t n = std::min(kPredictBatch, count - start);
      auto out = session.run("infer", {rt::TensorView{inputs.data() + start * data::kImageSize,
                                                      {n, imageShape[0], imageShape[1],
                                                       imageShape[2]}}});
      logitsA.insert(logitsA.end(), out[0].data.begin(), out[0].data.end());
    }

    // B: infer's path.
    inference::Config config(modelDir);
    config.set_cpu_math_library_num_threads(threads);
    auto predictor = inference::create_predictor(config);
    auto input = predictor->get_input_handle(predictor->get_input_names().at(0));
    auto output = predictor->get_output_handle(predictor->get_output_names().at(0));
    std::vector<float> logitsB;
    for (int64_t start = 0; start < count; start += batchSize) {
      int n = int(std::min(batchSize, count - start));
      input->reshape({n, int(imageShape[0]), int(imageShape[1]), int(imageShape[2])});
      input->copy_from_cpu(inputs.data() + start * data::kImageSize);
      predictor->run();
      std::vector<float> out(size_t(output->numel()));
      output->copy_to_cpu(out.data());
      logitsB.insert(logitsB.end(), out.begin(), out.end());
    }
    if (logitsA.size() != logitsB.size() || count == 0)
      throw tools::ToolError(fmt::format("the two models return {} and {} logits for {} images",
                                         logitsA.size(), logitsB.size(), count));
    const int classes = int(logitsA.size() / size_t(count));

    Diff logits, prob;
    int64_t mismatches = 0;
    for (int64_t i = 0; i < count; ++i) {
      const float *a = logitsA.data() + i * classes, *b = logitsB.data() + i * classes;
      for (int c = 0; c < classes; ++c)
        logits.add(a[c], b[c]);
      std::vector<double> pa = predict::softmax(a, classes), pb = predict::softmax(b, classes);
      for (int c = 0; c < classes; ++c)
        prob.add(pa[size_t(c)], pb[size_t(c)]);
      mismatches += predict::topK(pa, 1)[0].classId != predict::topK(pb, 1)[0].classId;
    }
    const bool logitsOk = logits.mean() <= logitsTolerance, probOk = prob.max <= tolerance,
               classOk = mismatches == 0;
    fmt::print("infer_parity: {} on {} images of {}: A = training artifact 'infer' entry with {} "
               "(what predict runs), B = {} (what infer runs, batch {})\n",
               model, count, imgPath, pretrained, modelDir, batchSize);
    fmt::print("logits:\n\tmean diff: check passed: {}, value: {:.6e} (tolerance {:g}; max diff "
               "{:.6e})\n",
               pyBool(logitsOk), logits.mean(), logitsTolerance, logits.max);
    fmt::print("prob:\n\tmax diff: check passed: {}, value: {:.6e} (tolerance {:g}; mean diff "
               "{:.6e})\n",
               pyBool(probOk), prob.max, tolerance, prob.mean());
    fmt::print("class_id:\n\tmismatches: check passed: {}, value: {} of {}\n", pyBool(classOk),
               mismatches, count);
    bool ok = logitsOk && probOk && classOk;
    fmt::print("diff check {}\n", ok ? "passed" : "failed");
    return ok ? 0 : 1;
  } catch (const std::exception &e) {
    std::fflush(stdout);
    fmt::print(stderr, "infer_parity: {}\n", tools::oneLine(e.what()));
    return 1;
  }
}
