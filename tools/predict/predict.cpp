//===- predict.cpp - classify images and draw the result ------------------===//
//
//   predict --model lenet5 --pretrained pretrain_models/lenet5_fashion_mnist.kparams
//           --img-path images/demo --topk 5 --save-dir output/predict
//
// Defaults that work with no flag (run from the repository root): model
// lenet5, weights pretrain_models/<model>_fashion_mnist.kparams, images
// images/demo, pictures to output/predict, top-5, the Fashion-MNIST class
// names. Flags take "--key value" or "--key=value"; booleans True/False.
//
// Each image (a file, or every .png/.jpg/.jpeg of a directory, sorted by name)
// goes through kiln::data::readModelInput, the preprocessing train and eval
// use (gray, shorter side to 28, center crop, the training normalisation);
// the batch runs the artifact's `infer` entry, which returns LOGITS: the
// probabilities are their softmax, computed here in double. Per image stdout
// gets
//   image: <path>, class_id: <id>, class_name: <name>, prob: <p>
//     top-5: [(<id>, <name>, <p>), ...]
// and --save-dir gets <image stem>.png: the 28x28 model input enlarged 8x
// with the top-k classes drawn as bars beside it.
//
// Exit status: 0 every image predicted; 1 an error (bad flag, weights,
// label list, no readable image; one line "predict: ..." on stderr);
// 2 some images of a directory could not be read: each is reported on
// stderr ("predict: ... (skipped)") and the others are still predicted.
//
// The artifact comes from the compile cache train and eval use:
// $KILN_CACHE_DIR, else <dir of the weights>/../.kiln-cache (the one train
// last compiled for the model, if any: tools::evalArtifactCached).
//===----------------------------------------------------------------------===//
#include "kiln/predict/Classify.h"
#include "kiln/predict/Visualize.h"
#include "kiln/tools/BoolFlags.h"
#include "kiln/tools/Common.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace fs = std::filesystem;
using namespace kiln;
using kiln::tools::ToolError;

namespace {

constexpr int64_t kBatch = 64;  // images per `infer` run

struct Options {
  std::string model = "lenet5", pretrained, imgPath = "images/demo",
              saveDir = "output/predict", labelList, visualize = "True", device = "cpu";
  int topk = 5;
  int threads = 0;
};

/// A kiln_data failure as a one-line tool error.
ToolError dataError(const std::exception &e) { return ToolError(tools::oneLine(e.what())); }

int run(Options o) {
  if (o.device != "cpu")
    throw ToolError("--device " + o.device + ": no CUDA backend yet (use --device cpu)");
  if (o.topk < 1)
    throw ToolError(fmt::format("--topk {}: must be at least 1", o.topk));
  if (o.threads < 0)
    throw ToolError(fmt::format("--threads {}: must be >= 0 (0: all hardware threads)", o.threads));
  const bool visualize = tools::parseBool("--visualize", o.visualize);
  tools::checkModelName(o.model);
  for (std::string *v : {&o.pretrained, &o.labelList})  // TIPC's "null": no such flag
    if (*v == "null" || *v == "None")
      v->clear();
  if (o.pretrained.empty())
    o.pretrained = "pretrain_models/" + o.model + "_fashion_mnist.kparams";
  std::error_code ec;
  if (!fs::is_regular_file(o.pretrained, ec))
    throw ToolError(fmt::format(
        "--pretrained {}: {} (pass the .kparams of a trained {}: the released weights are "
        "pretrain_models/<model>_fashion_mnist.kparams, train writes "
        "<output-dir>/best_model.kparams)",
        o.pretrained, fs::exists(o.pretrained, ec) ? "not a file" : "no such file", o.model));
  std::vector<rt::NamedTensor> weights = tools::readModelWeights(o.model, o.pretrained);

  std::vector<std::string> classNames;
  try {
    classNames = o.labelList.empty() ? data::fashionMnistClassNames()
                                     : data::readLabelList(o.labelList);
  } catch (const data::Error &e) {
    throw dataError(e);
  }

  std::vector<std::string> files;
  try {
    files = data::listImageFiles(o.imgPath);
  } catch (const data::Error &e) {
    throw dataError(e);
  }
  const bool fromDirectory = fs::is_directory(o.imgPath, ec);

  std::unique_ptr<predict::PredictionPainter> painter;
  if (visualize) {
    try {
      painter = std::make_unique<predict::PredictionPainter>();
    } catch (const data::Error &e) {
      throw ToolError(tools::oneLine(e.what()) + " (or pass --visualize=False)");
    }
    std::error_code isDirEc;
    fs::create_directories(o.saveDir, ec);
    if (ec || !fs::is_directory(o.saveDir, isDirEc))
      throw ToolError(fmt::format("--save-dir {}: cannot create the directory{}", o.saveDir,
                                  ec ? ": " + ec.message() : ""));
  }

  // Read every image first: a bad file in a directory is reported and skipped.
  std::vector<std::string> good;
  std::vector<float> inputs;
  int failed = 0;
  for (const std::string &file : files) {
    std::vector<float> input;
    try {
      input = data::readModelInput(file);
    } catch (const data::Error &e) {
      if (!fromDirectory)
        throw dataError(e);
      fmt::print(stderr, "predict: {} (skipped)\n", tools::oneLine(e.what()));
      ++failed;
      continue;
    }
    good.push_back(file);
    inputs.insert(inputs.end(), input.begin(), input.end());
  }
  if (good.empty())
    throw ToolError(fmt::format("none of the {} images in {} could be read", files.size(),
                                o.imgPath));

  fs::path weightsDir = fs::absolute(o.pretrained).lexically_normal().parent_path();
  std::string note;
  auto artifact = tools::evalArtifactCached(
      o.model, tools::cacheDir((weightsDir.parent_path() / ".kiln-cache").string()), note);
  if (!artifact->hasEntry("infer"))
    throw ToolError(fmt::format("the compiled {} has no 'infer' entry", o.model));
  const auto &outputs = artifact->outputs("infer");
  if (outputs.empty() || outputs[0].shape.size() != 2)
    throw ToolError(fmt::format("the 'infer' entry of {} does not return [batch, classes]",
                                o.model));
  const int numClasses = int(outputs[0].shape[1]);
  if (int(classNames.size()) != numClasses)
    throw ToolError(fmt::format(
        "{}: names {} classes (ids 0..{}) but {} predicts {} (ids 0..{}){}", o.labelList,
        classNames.size(), classNames.size() - 1, o.model, numClasses, numClasses - 1,
        int(classNames.size()) < numClasses
            ? fmt::format(": class ids {}..{} are outside the label list", classNames.size(),
                          numClasses - 1)
            : ""));
  const int k = std::min(o.topk, numClasses);

  rt::Session session(artifact, rt::SessionOptions{o.threads});
  tools::importModelWeights(session, weights, o.pretrained);

  const std::vector<std::string> pictureNames = predict::visualisationNames(good);
  const std::string subtitle =
      fmt::format("{} \u00b7 top-{} of {} classes", o.model, k, numClasses);
  const int64_t count = int64_t(good.size());
  for (int64_t start = 0; start < count; start += kBatch) {
    const int64_t n = std::min(kBatch, count - start);
    std::vector<rt::Tensor> out;
    try {
      out = session.run("infer", {rt::TensorView{inputs.data() + start * data::kImageSize,
                                                 {n, 1, data::kImageHeight, data::kImageWidth}}});
    } catch (const rt::Error &e) {
      throw ToolError(tools::oneLine(e.what()));
    }
    for (int64_t i = 0; i < n; ++i) {
      const size_t index = size_t(start + i);
      std::vector<double> probs = predict::softmax(out[0].data.data() + i * numClasses, numClasses);
      if (!std::all_of(probs.begin(), probs.end(), [](double p) { return std::isfinite(p); }))
        throw ToolError(fmt::format("{}: the model's logits are not finite (are the weights "
                                    "{} damaged?)",
                                    good[index], o.pretrained));
      std::vector<predict::RankedClass> ranked = predict::topK(probs, k);
      const predict::RankedClass &best = ranked[0];
      fmt::print("image: {}, class_id: {}, class_name: {}, prob: {:.5f}\n", good[index],
                 best.classId, classNames[size_t(best.classId)], best.prob);
      fmt::print("  top-{}: {}\n", k, predict::formatTopK(ranked, classNames));
      if (painter) {
        std::vector<uint8_t> gray(static_cast<size_t>(data::kImageSize));
        data::modelInputToGray8(inputs.data() + index * size_t(data::kImageSize), gray.data());
        std::vector<predict::ClassProb> bars;
        for (const predict::RankedClass &r : ranked)
          bars.push_back({classNames[size_t(r.classId)], r.prob});
        std::string caption = fs::path(good[index]).filename().string();
        try {
          predict::writePng((fs::path(o.saveDir) / pictureNames[index]).string(),
                            painter->paint(gray.data(), bars, caption, subtitle));
        } catch (const data::Error &e) {
          throw dataError(e);
        }
      }
    }
    std::fflush(stdout);
  }
  fmt::print("predict: {} image{} with {} ({}){}{}\n", count, count == 1 ? "" : "s", o.model,
             o.pretrained, painter ? ", pictures in " + o.saveDir : "",
             failed ? fmt::format(", {} unreadable skipped", failed) : "");
  return failed ? 2 : 0;
}

}  // namespace

int main(int argc, char **argv) {
  CLI::App app{"predict: classify PNG/JPEG images with trained Kiln weights, print the top-k "
               "classes and draw each result as a PNG"};
  app.footer("Exit status: 0 every image predicted; 1 an error (one line on stderr); 2 some "
             "images of a directory could not be read (each reported, the others predicted).");
  Options o;
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--model", o.model, "model name")->capture_default_str();
  app.add_option("--pretrained", o.pretrained,
                 "weights (.kparams; default pretrain_models/<model>_fashion_mnist.kparams)");
  app.add_option("--img-path", o.imgPath,
                 "an image file, or a directory of .png/.jpg/.jpeg images")
      ->capture_default_str();
  app.add_option("--topk", o.topk, "classes to print and draw per image")->capture_default_str();
  app.add_option("--save-dir", o.saveDir, "where the pictures go (<image stem>.png)")
      ->capture_default_str();
  app.add_option("--label-list", o.labelList,
                 "class names, '<id> <name>' a line (e.g. lite_data/label_list.txt; default: "
                 "the Fashion-MNIST names)");
  tools::addBoolFlag(app, "--visualize", o.visualize, "write the pictures");
  app.add_option("--threads", o.threads, "compute threads (0: all hardware threads)")
      ->capture_default_str();
  app.add_option("--device", o.device, "cpu (gpu: no CUDA backend yet)")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e);
  }
  try {
    return run(o);
  } catch (const std::exception &e) {
    std::fflush(stdout);
    fmt::print(stderr, "predict: {}\n", tools::oneLine(e.what()));
    return 1;
  }
}
