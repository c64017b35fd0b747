//===- eval.cpp - top-1/top-5/loss of a checkpoint on the val split -------===//
//
//   eval --model lenet5 --pretrained ./output/lenet5/best_model.kparams
//        --data-path ./lite_data --batch-size 128
//
// Defaults that work with no flag (TIPC drops flags): model lenet5, weights
// ./output/<model>/best_model.kparams, data kiln::data::defaultDataPath().
// The artifact comes from the same compile cache as train's:
// $KILN_CACHE_DIR, else <dir of the weights>/../.kiln-cache; eval reuses the
// artifact train last compiled for the model (whatever its optimizer flags:
// eval_step does not depend on them) and compiles one only when there is none
// (tools::evalArtifactCached).
//===----------------------------------------------------------------------===//
#include "kiln/tools/Common.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>

namespace fs = std::filesystem;
using namespace kiln;
using kiln::tools::ToolError;

int main(int argc, char **argv) {
  CLI::App app{"eval: top-1, top-5, loss and images/s of Kiln weights on the val split"};
  std::string model = "lenet5", pretrained, dataPath, device = "cpu";
  int64_t batchSize = 128;
  int threads = 0, numWorkers = 1;
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--model", model, "model name")->capture_default_str();
  app.add_option("--pretrained", pretrained,
                 "weights (.kparams; default ./output/<model>/best_model.kparams)");
  app.add_option("--data-path", dataPath,
                 "dataset dir (default: ./data, ./lite_data, /usr/share/datasets/fashion-mnist)");
  app.add_option("--batch-size", batchSize)->capture_default_str();
  app.add_option("--threads", threads, "compute threads (0: all)")->capture_default_str();
  app.add_option("--num-workers", numWorkers, "data loading threads")->capture_default_str();
  app.add_option("--device", device, "cpu, gpu or gpu:<N> (CUDA)")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e);
  }
  try {
    const rt::SessionOptions sessionOptions = tools::sessionOptions(device, threads);
    const bool gpu = sessionOptions.device == rt::Device::Cuda;
    tools::requireDevice(sessionOptions); // before the (slow) compile
    if (batchSize < 1 || threads < 0 || numWorkers < 0)
      throw ToolError("--batch-size must be >= 1, --threads and --num-workers >= 0");
    tools::checkModelName(model);
    for (std::string *v : {&pretrained, &dataPath}) // TIPC's "null": no such flag
      if (*v == "null" || *v == "None")
        v->clear();
    if (pretrained.empty())
      pretrained = "./output/" + model + "/best_model.kparams";
    if (!fs::exists(pretrained))
      throw ToolError(fmt::format("--pretrained {}: no such file (train writes "
                                  "<output-dir>/best_model.kparams)",
                                  pretrained));
    if (dataPath.empty())
      dataPath = data::defaultDataPath();
    auto weights = tools::readModelWeights(model, pretrained);
    auto valSet = tools::openSplit(dataPath, data::Split::Val);
    fs::path weightsDir = fs::absolute(pretrained).lexically_normal().parent_path();
    std::string note;
    auto artifact = tools::evalArtifactCached(
        model, tools::cacheDir((weightsDir.parent_path() / ".kiln-cache").string()), note, gpu);
    rt::Session session(artifact, sessionOptions);
    tools::importModelWeights(session, weights, pretrained);
    data::DataLoader loader(valSet, batchSize, false, false, 0, numWorkers, false);
    tools::EvalResult r = tools::evaluate(session, loader, 10);
    fmt::print("eval: {} on {}\n", pretrained, valSet->describe());
    fmt::print("top1: {:.4f}, top5: {:.4f}, loss: {:.4f}, images/s: {:.1f} ({} images, "
               "batch {}, {})\n",
               r.top1, r.top5, r.loss, r.imagesPerSecond, r.count, batchSize,
               session.deviceDescription());
    return 0;
  } catch (const std::exception &e) {
    fmt::print(stderr, "eval: {}\n", tools::oneLine(e.what()));
    return 1;
  }
}
