//===- export_model.cpp - trained weights -> inference.kmodel/.kparams/.json ===//
//
//   export_model --model resnet20 --pretrained ./output/resnet20/latest.kparams
//                --save-inference-dir ./output/resnet20_infer
//
// Defaults that work with no flag (TIPC drops flags; run from the repository
// root): model lenet5, weights ./pretrain_models/<model>_fashion_mnist.kparams
// (the released weights), output ./output/<model>_infer. Flags take
// "--key value" or "--key=value"; booleans True/False; a value "null" or
// "None" (TIPC's "no value") counts as not given.
//
// What is written and how batch-norm folding is checked:
// tools/export_model/include/kiln/export/ExportModel.h. The model is
// compiled for this machine's CPU (as kiln-compile does); `infer` runs it
// with only the runtime. Errors: one line "export_model: ..." on stderr, exit 1.
//===----------------------------------------------------------------------===//
#include "kiln/data/Image.h"
#include "kiln/export/ExportModel.h"
#include "kiln/tools/Common.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace kiln;

namespace {

bool isNull(const std::string &v) { return v == "null" || v == "None"; }

/// TIPC's "null"/"None" value means "flag not given" for every flag: drops
/// "--key=null" and "--key null" (and None) before parsing, so that numeric
/// flags take their defaults too.
std::vector<char *> withoutNullFlags(int argc, char **argv) {
  auto isNullValue = [](const std::string &v) { return v == "null" || v == "None"; };
  std::vector<char *> kept;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    size_t eq = arg.find('=');
    if (i > 0 && arg.rfind("--", 0) == 0 && eq != std::string::npos &&
        isNullValue(arg.substr(eq + 1)))
      continue;
    if (i > 0 && arg.rfind("--", 0) == 0 && eq == std::string::npos && i + 1 < argc &&
        isNullValue(argv[i + 1])) {
      ++i;
      continue;
    }
    kept.push_back(argv[i]);
  }
  return kept;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"export_model: export trained Kiln weights as a static inference model "
               "(inference.kmodel, inference.kparams, inference.kmodel.json) for infer"};
  std::string model = "lenet5", pretrained, saveDir, foldBn = "True", checkImages,
              device = "cpu";
  double foldTolerance = 1e-6;
  int syntheticChecks = 32;
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--model", model, "model name (lenet5, resnet20)")->capture_default_str();
  app.add_option("--pretrained", pretrained,
                 "weights to export (.kparams; default "
                 "./pretrain_models/<model>_fashion_mnist.kparams)");
  app.add_option("--save-inference-dir", saveDir,
                 "output directory (default ./output/<model>_infer)");
  app.add_option("--fold-bn", foldBn,
                 "fold batch_norm into the convolution before it where the result stays within "
                 "--fold-tolerance of the unfolded model (True/False)")
      ->capture_default_str();
  app.add_option("--fold-tolerance", foldTolerance,
                 "largest |logit| and |probability| difference folding may cause on the check "
                 "inputs")
      ->capture_default_str();
  app.add_option("--check-images", checkImages,
                 "image file or directory for the folding check (default: ./images/demo and "
                 "./lite_data/val, those that exist), besides --synthetic-checks random images");
  app.add_option("--synthetic-checks", syntheticChecks,
                 "seeded random images in the folding check")
      ->capture_default_str();
  app.add_option("--device", device, "cpu (the exported kernels are CPU kernels)")
      ->capture_default_str();
  try {
    std::vector<char *> args = withoutNullFlags(argc, argv);
    app.parse(int(args.size()), args.data());
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    fmt::print(stderr, "export_model: {} (see --help)\n", tools::oneLine(e.what()));
    return 1;
  }
  try {
    for (std::string *v : {&pretrained, &saveDir, &checkImages, &device})
      if (isNull(*v))
        v->clear();
    if (device != "cpu" && !device.empty())
      throw tools::ToolError("--device " + device +
                             ": export_model writes CPU kernels only (no CUDA target yet)");
    if (syntheticChecks < 0)
      throw tools::ToolError(fmt::format("--synthetic-checks {}: must be >= 0", syntheticChecks));
    exporter::ExportOptions o;
    o.model = model;
    tools::checkModelName(model);
    o.pretrained = pretrained.empty() ? "./pretrain_models/" + model + "_fashion_mnist.kparams"
                                      : pretrained;
    o.saveDir = saveDir.empty() ? "./output/" + model + "_infer" : saveDir;
    o.foldBatchNorm = tools::parseBool("--fold-bn", foldBn);
    o.foldTolerance = foldTolerance;
    o.syntheticChecks = syntheticChecks;
    std::error_code ec;
    std::vector<std::string> checkSources;
    if (!checkImages.empty())
      checkSources.push_back(checkImages);
    else // what a checkout (and TIPC's prepare.sh) has: the demo and lite_data images
      for (const char *dir : {"./images/demo", "./lite_data/val"})
        if (fs::is_directory(dir, ec))
          checkSources.push_back(dir);
    for (const std::string &src : checkSources) {
      std::vector<std::string> files = data::listImageFiles(src);
      o.checkImages.insert(o.checkImages.end(), files.begin(), files.end());
      o.checkImagesSource += (o.checkImagesSource.empty() ? "" : ", ") + src;
    }
    for (int i = 0; i < argc; ++i)
      o.commandLine += (i ? " " : "") + std::string(argv[i]);

    exporter::ExportResult r = exporter::exportModel(o);
    fmt::print("export_model: {} from {} (sha256 {})\n", o.model, o.pretrained,
               r.checkpointSha256.substr(0, 16));
    fmt::print("  batch-norm folding: {}\n", r.fold.note);
    fmt::print("  {} ({} bytes): entry 'infer', {} kernels\n", r.modelPath, r.modelBytes,
               r.kernels);
    fmt::print("  {} ({} bytes): {} parameters, {} values\n", r.paramsPath, r.paramsBytes,
               r.params, r.paramElements);
    fmt::print("  {}\n", r.jsonPath);
    fmt::print("export_model: done in {:.2f} s of compilation; run it with: infer "
               "--model-dir={}\n",
               r.compileSeconds, o.saveDir);
    return 0;
  } catch (const std::exception &e) {
    std::fflush(stdout);
    fmt::print(stderr, "export_model: {}\n", tools::oneLine(e.what()));
    return 1;
  }
}
