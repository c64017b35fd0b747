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
// What is written, how batch-norm folding is checked and what
// --pack-conv-weights does: tools/export_model/include/kiln/export/ExportModel.h.
// The CPU kernels are compiled for this machine's CPU (as kiln-compile does);
// `infer` runs the model with only the runtime. --target=cpu,cuda (as kiln-compile) also
// stores CUDA kernels compiled with NVRTC (cubins for --cuda-arch plus the
// PTX of the first one) so that `infer --use-gpu=True` can run the model on
// a GPU; it is the default when this Kiln was built with NVRTC, else the
// default is --target=cpu and a one-line note says so. No GPU is needed to
// export: the batch-norm folding check runs on the CPU.
// Errors: one line "export_model: ..." on stderr, exit 1.
//===----------------------------------------------------------------------===//
#include "kiln/data/Image.h"
#include "kiln/export/ExportModel.h"
#include "kiln/tools/Common.h"
#include "kiln/tools/BoolFlags.h"
#include "kiln/tools/CommaList.h"
#include "kiln/tools/NullFlags.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace kiln;

int main(int argc, char **argv) {
  CLI::App app{"export_model: export trained Kiln weights as a static inference model "
               "(inference.kmodel, inference.kparams, inference.kmodel.json) for infer"};
  std::string model = "lenet5", pretrained, saveDir, foldBn = "True", packConv = "True",
              checkImages, device, targets, cudaArchs = "sm_80,sm_90", cudaCacheDir;
  double foldTolerance = 1e-6;
  int syntheticChecks = 32;
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--model", model, "model name (lenet5, resnet20)")->capture_default_str();
  app.add_option("--pretrained", pretrained,
                 "weights to export (.kparams; default "
                 "./pretrain_models/<model>_fashion_mnist.kparams)");
  app.add_option("--save-inference-dir", saveDir,
                 "output directory (default ./output/<model>_infer)");
  tools::addBoolFlag(app, "--fold-bn", foldBn,
                     "fold batch_norm into the convolution before it where the result stays "
                     "within --fold-tolerance of the unfolded model");
  app.add_option("--fold-tolerance", foldTolerance,
                 "largest |logit| and |probability| difference folding may cause on the check "
                 "inputs")
      ->capture_default_str();
  tools::addBoolFlag(app, "--pack-conv-weights", packConv,
                     "store the weights of convolutions of stride 1 or 2 with a small output "
                     "plane and output channels a multiple of 16 as HWIO, for the direct "
                     "convolution's channels-in-lanes kernel (outputs bitwise unchanged where "
                     "the unpacked model summed in the same order; otherwise checked like "
                     "folding, within --fold-tolerance)");
  app.add_option("--check-images", checkImages,
                 "image file or directory for the folding check (default: ./images/demo and "
                 "./lite_data/val, those that exist), besides --synthetic-checks random images");
  app.add_option("--synthetic-checks", syntheticChecks,
                 "seeded random images in the folding check")
      ->capture_default_str();
  const std::string cudaUnavailable = exporter::cudaTargetUnavailable();
  app.add_option("--target", targets,
                 std::string("cpu, or cpu,cuda: also compile every kernel with NVRTC into the "
                             "model for infer --use-gpu=True (default here: ") +
                     (cudaUnavailable.empty() ? "cpu,cuda" : "cpu, no NVRTC in this build") + ")");
  app.add_option("--cuda-arch", cudaArchs,
                 "with --target=cpu,cuda: cubin architectures, comma-separated (the first one's "
                 "PTX is the JIT fallback for newer GPUs)")
      ->capture_default_str();
  app.add_option("--cuda-cache-dir", cudaCacheDir,
                 "NVRTC cache (default $KILN_CUDA_CACHE_DIR, else ~/.cache/kiln/cuda; none: off)");
  app.add_option("--device", device,
                 "cpu or gpu: the device the model is meant for; gpu requires the CUDA target "
                 "(the export itself never needs a GPU)");
  try {
    std::vector<char *> args = tools::withoutNullFlags(argc, argv);
    app.parse(int(args.size()), args.data());
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    fmt::print(stderr, "export_model: {} (see --help)\n", tools::oneLine(e.what()));
    return 1;
  }
  try {
    for (std::string *v : {&pretrained, &saveDir, &checkImages, &device, &targets, &cudaCacheDir})
      if (tools::isNullValue(*v))
        v->clear();
    const bool forGpu = device == "gpu" || device == "cuda" || device.rfind("gpu:", 0) == 0 ||
                        device.rfind("cuda:", 0) == 0;
    if (!device.empty() && device != "cpu" && !forGpu)
      throw tools::ToolError("--device " + device + ": expected cpu or gpu");
    // --target: the CPU kernels always (the runtime's reference, and what the
    // folding check runs), CUDA kernels as asked or by default where NVRTC is.
    bool cuda = false;
    std::string defaultNote;
    if (targets.empty()) {
      cuda = cudaUnavailable.empty();
      if (!cuda && forGpu)
        throw tools::ToolError("--device " + device + ": the model needs CUDA kernels, but " +
                               cudaUnavailable);
      if (!cuda)
        defaultNote = "export_model: note: exporting CPU kernels only (--target=cpu): " +
                      cudaUnavailable + "; infer --use-gpu=True needs a model exported with "
                                        "--target=cpu,cuda";
    } else {
      bool cpu = false;
      for (const std::string &t : tools::splitCommaList(targets)) {
        if (t == "cuda")
          cuda = true;
        else if (t == "cpu")
          cpu = true;
        else
          throw tools::ToolError("--target: unknown target '" + t +
                                 "' (expected cpu or cpu,cuda)");
      }
      if (!cpu)
        throw tools::ToolError("--target=" + targets +
                               ": the model always carries the CPU kernels; use --target=cpu,cuda");
      if (!cuda && forGpu)
        throw tools::ToolError("--device " + device + " with --target=" + targets +
                               ": a model for the GPU needs --target=cpu,cuda");
    }
    if (syntheticChecks < 0)
      throw tools::ToolError(fmt::format("--synthetic-checks {}: must be >= 0", syntheticChecks));
    exporter::ExportOptions o;
    o.model = model;
    tools::checkModelName(model);
    o.pretrained = pretrained.empty() ? "./pretrain_models/" + model + "_fashion_mnist.kparams"
                                      : pretrained;
    o.saveDir = saveDir.empty() ? "./output/" + model + "_infer" : saveDir;
    o.foldBatchNorm = tools::parseBool("--fold-bn", foldBn);
    o.packConvWeights = tools::parseBool("--pack-conv-weights", packConv);
    o.foldTolerance = foldTolerance;
    o.syntheticChecks = syntheticChecks;
    o.cuda = cuda;
    o.cudaArchs = tools::splitCommaList(cudaArchs);
    o.cudaCacheDir = cudaCacheDir;
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

    if (!defaultNote.empty())
      fmt::print("{}\n", defaultNote);
    exporter::ExportResult r = exporter::exportModel(o);
    fmt::print("export_model: {} from {} (sha256 {})\n", o.model, o.pretrained,
               r.checkpointSha256.substr(0, 16));
    fmt::print("  batch-norm folding: {}\n", r.fold.note);
    fmt::print("  conv weight packing: {}\n", r.pack.note);
    fmt::print("  {} ({} bytes): entry 'infer', {} kernels\n", r.modelPath, r.modelBytes,
               r.kernels);
    fmt::print("  {} ({} bytes): {} parameters, {} values\n", r.paramsPath, r.paramsBytes,
               r.params, r.paramElements);
    if (o.cuda) {
      std::vector<std::string> cubins, ptx;
      for (const std::string &m : r.cudaModules)
        (m.rfind("compute_", 0) == 0 ? ptx : cubins).push_back(m);
      fmt::print("  CUDA kernels: cubins {}, PTX {} ({})\n", fmt::join(cubins, ", "),
                 ptx.empty() ? std::string("none") : fmt::format("{}", fmt::join(ptx, ", ")),
                 r.cudaReport);
    } else {
      fmt::print("  CUDA kernels: none (--target=cpu): runs on the CPU only\n");
    }
    fmt::print("  {}\n", r.jsonPath);
    fmt::print("export_model: done in {:.2f} s of compilation; run it with: infer "
               "--model-dir={}{}\n",
               r.compileSeconds, o.saveDir, o.cuda ? " [--use-gpu=True]" : "");
    return 0;
  } catch (const std::exception &e) {
    std::fflush(stdout);
    fmt::print(stderr, "export_model: {}\n", tools::oneLine(e.what()));
    return 1;
  }
}
