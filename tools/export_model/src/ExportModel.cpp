//===- ExportModel.cpp - trained weights -> a static inference model ------===//
#include "kiln/export/ExportModel.h"

#include "kiln/Driver/Compiler.h"
#include "kiln/data/Dataset.h"
#include "kiln/data/Image.h"
#include "kiln/frontend/Models.h"
#include "kiln/inference/Predictor.h"
#include "kiln/predict/Classify.h"
#include "kiln/runtime/schema/kiln_artifact_generated.h"
#include "kiln/tools/Common.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <unistd.h>

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace kiln::exporter {

namespace {

constexpr int kJsonFormatVersion = 1;
// Folding is kept only when the check's largest probability difference is
// within a quarter of the tolerance: one half is margin for inputs outside
// the check (resnet20 after a short lite_data run: 4.6e-7 on the 40 check
// inputs, 9.0e-7 on the 100 lite_data val images), the other for the float
// rounding that running at another batch size adds on top (that model,
// unfolded: up to 4.7e-7 between batch 1 and batch 64), so that infer on the
// folded model stays within the tolerance of predict's unfolded one.
constexpr double kFoldMargin = 0.25;

std::string hex(const unsigned char *bytes, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i)
    s += fmt::format("{:02x}", bytes[i]);
  return s;
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, so the path never holds half a file.
void writeFileAtomic(const std::string &path, const void *bytes, size_t size) {
  std::string tmp = fmt::format("{}.tmp{}", path, ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      throw ExportError(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
    out.write(static_cast<const char *>(bytes), std::streamsize(size));
    out.close();
    if (!out.good()) {
      std::remove(tmp.c_str());
      throw ExportError(fmt::format("cannot write {} (disk full?)", tmp));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    throw ExportError(fmt::format("cannot write {}: {}", path, std::strerror(err)));
  }
}

int argmax(const float *row, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (row[i] > row[best])
      best = i;
  return best;
}

/// Runs the `infer` entry of an artifact on `inputs` (count images).
std::vector<float> runInfer(const std::vector<uint8_t> &artifactBytes, const std::string &origin,
                            const std::vector<float> &inputs, int64_t count) {
  auto artifact = rt::Artifact::loadBuffer(artifactBytes, origin);
  rt::Session session(artifact);
  auto out = session.run(
      "infer", {rt::TensorView{inputs.data(), {count, 1, data::kImageHeight, data::kImageWidth}}});
  return std::move(out.at(0).data);
}

/// How far model b's outputs are from model a's on the same inputs.
struct ModelDiff {
  double maxLogitDiff = 0, maxProbDiff = 0;
  int top1Mismatches = 0;
};

ModelDiff compareModels(const std::vector<uint8_t> &a, const std::string &originA,
                        const std::vector<uint8_t> &b, const std::string &originB,
                        const std::vector<float> &inputs, int64_t count) {
  const std::vector<float> ya = runInfer(a, originA, inputs, count);
  const std::vector<float> yb = runInfer(b, originB, inputs, count);
  const int classes = int(ya.size() / size_t(count));
  ModelDiff d;
  for (int64_t i = 0; i < count; ++i) {
    const float *ra = ya.data() + i * classes, *rb = yb.data() + i * classes;
    std::vector<double> pa = predict::softmax(ra, classes), pb = predict::softmax(rb, classes);
    for (int c = 0; c < classes; ++c) {
      d.maxLogitDiff = std::max(d.maxLogitDiff, std::abs(double(ra[c]) - double(rb[c])));
      d.maxProbDiff = std::max(d.maxProbDiff, std::abs(pa[size_t(c)] - pb[size_t(c)]));
    }
    d.top1Mismatches += argmax(ra, classes) != argmax(rb, classes);
  }
  return d;
}

/// The compile flags the compiler recorded in the artifact.
std::string compileFlags(const std::vector<uint8_t> &artifactBytes) {
  const auto *root = kiln::artifact::GetArtifact(artifactBytes.data());
  return root->compile_flags() ? root->compile_flags()->str() : std::string();
}

/// True when `b` carries exactly the CPU kernels and parameters of `a` (the
/// CUDA modules and the compile flags may differ).
bool sameCpuModel(const std::vector<uint8_t> &a, const std::vector<uint8_t> &b) {
  const auto *ra = kiln::artifact::GetArtifact(a.data());
  const auto *rb = kiln::artifact::GetArtifact(b.data());
  auto bytesEqual = [](const auto *x, const auto *y) {
    if (!x || !y)
      return x == y;
    return x->size() == y->size() &&
           std::memcmp(x->data(), y->data(), x->size() * sizeof(*x->data())) == 0;
  };
  if (!ra->cpu() || !rb->cpu() ||
      !bytesEqual(ra->cpu()->shared_object(), rb->cpu()->shared_object()) ||
      !bytesEqual(ra->param_data(), rb->param_data()))
    return false;
  const auto *pa = ra->params(), *pb = rb->params();
  if (!pa || !pb || pa->size() != pb->size())
    return false;
  for (uint32_t i = 0; i < pa->size(); ++i)
    if (pa->Get(i)->name()->str() != pb->Get(i)->name()->str() ||
        pa->Get(i)->offset() != pb->Get(i)->offset())
      return false;
  return ra->kernels() && rb->kernels() && ra->kernels()->size() == rb->kernels()->size();
}

/// NVRTC's version recorded in the CUDA modules ("" without them).
std::string nvrtcVersionOf(const std::vector<uint8_t> &artifactBytes) {
  if (const auto *mods = kiln::artifact::GetArtifact(artifactBytes.data())->cuda())
    for (const kiln::artifact::CudaModule *m : *mods)
      if (m->nvrtc_version())
        return m->nvrtc_version()->str();
  return "";
}

/// The CUDA modules of an artifact by architecture ("sm_90", "compute_80").
std::vector<std::string> cudaModules(const std::vector<uint8_t> &artifactBytes) {
  std::vector<std::string> archs;
  if (const auto *mods = kiln::artifact::GetArtifact(artifactBytes.data())->cuda())
    for (const kiln::artifact::CudaModule *m : *mods)
      archs.push_back(m->arch() ? m->arch()->str() : std::string("?"));
  return archs;
}

/// Checks the --cuda-arch list before anything is compiled.
void checkCudaArchs(const std::vector<std::string> &archs) {
  if (archs.empty())
    throw ExportError("--cuda-arch: no architecture given (e.g. --cuda-arch=sm_80,sm_90)");
  for (const std::string &arch : archs) {
    size_t digits = 3;
    while (digits < arch.size() && std::isdigit(static_cast<unsigned char>(arch[digits])))
      ++digits;
    // sm_90, sm_100, and the architecture-specific sm_90a
    bool suffixOk = digits == arch.size() ||
                    (digits + 1 == arch.size() &&
                     std::islower(static_cast<unsigned char>(arch[digits])));
    if (arch.rfind("sm_", 0) != 0 || digits < 5 || !suffixOk)
      throw ExportError(fmt::format("--cuda-arch {}: expected real architectures sm_<NN> "
                                    "(e.g. sm_80,sm_90; the PTX of the first one is added for "
                                    "newer GPUs)",
                                    arch));
  }
}

ordered_json signatureJson(const std::vector<rt::TensorInfo> &infos) {
  ordered_json list = ordered_json::array();
  for (const rt::TensorInfo &t : infos) {
    bool dynamic = !t.shape.empty() && t.shape[0] < 0;
    list.push_back({{"name", t.name},
                    {"dtype", "float32"},
                    {"shape", t.shape},
                    {"dynamic_batch", dynamic}});
  }
  return list;
}

} // namespace

std::string sha256File(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw ExportError(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx);
    throw ExportError("OpenSSL: cannot initialise SHA-256");
  }
  std::vector<char> buf(1 << 16);
  bool ok = true;
  while (in) {
    in.read(buf.data(), std::streamsize(buf.size()));
    if (in.gcount() > 0)
      ok &= EVP_DigestUpdate(ctx, buf.data(), size_t(in.gcount())) == 1;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ok &= !in.bad() && EVP_DigestFinal_ex(ctx, digest, &len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok)
    throw ExportError(fmt::format("cannot hash {}", path));
  return hex(digest, len);
}

std::vector<float> syntheticInputs(int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> pixel(0, 255);
  std::vector<float> out(size_t(count) * size_t(data::kImageSize));
  data::DecodedImage img;
  img.width = data::kImageWidth;
  img.height = data::kImageHeight;
  img.channels = 1;
  img.source = "synthetic";
  img.pixels.resize(size_t(data::kImageSize));
  for (int i = 0; i < count; ++i) {
    for (float &p : img.pixels)
      p = float(pixel(rng));
    data::preprocessImage(img, out.data() + size_t(i) * size_t(data::kImageSize));
  }
  return out;
}

ExportResult exportModel(const ExportOptions &o) {
  tools::checkModelName(o.model);
  if (o.saveDir.empty())
    throw ExportError("no --save-inference-dir given");
  if (!(o.foldTolerance >= 0))
    throw ExportError(fmt::format("--fold-tolerance {}: must be >= 0", o.foldTolerance));
  if (o.cuda) {
    if (std::string why = cudaTargetUnavailable(); !why.empty())
      throw ExportError("--target=cpu,cuda: " + why);
    checkCudaArchs(o.cudaArchs);
  }
  std::error_code ec;
  if (!fs::is_regular_file(o.pretrained, ec))
    throw ExportError(fmt::format(
        "--pretrained {}: {} (pass the .kparams of a trained {}: train writes "
        "<output-dir>/latest.kparams and best_model.kparams; released weights are "
        "./pretrain_models/<model>_fashion_mnist.kparams)",
        o.pretrained, fs::exists(o.pretrained, ec) ? "not a file" : "no such file", o.model));

  ExportResult r;
  // The weights, checked against the model's parameter names and shapes.
  std::vector<rt::NamedTensor> weights = tools::readModelWeights(o.model, o.pretrained);
  r.checkpointSha256 = sha256File(o.pretrained);
  fe::Model model = fe::buildModel(o.model, 42);
  for (rt::NamedTensor &t : weights)
    model.graph.setParameterValue(t.name, std::move(t.tensor.data));

  CompileOptions copts;
  copts.modelName = o.model;
  auto inferenceOptions = [&](bool fold) {
    InferenceOptions inference;
    inference.foldBatchNorm = fold;
    inference.packConvWeights = o.packConvWeights;
    return inference;
  };
  // The folding check below compares two models packed alike (packing is a
  // transposition of the weights, or checked on its own further down); the
  // packs of the variant written are reported.
  std::vector<ConvWeightPack> unfoldedPacks, foldedPacks;
  CompileResult unfolded =
      compileInference(model.graph, inferenceOptions(false), copts, nullptr, &unfoldedPacks);
  r.compileSeconds = unfolded.seconds;
  CompileResult *chosen = &unfolded;

  // The inputs folding and packing are checked on: the check images, then
  // synthetic ones (read on first use: a model with nothing to check never
  // opens the images).
  std::optional<std::vector<float>> checkInputValues;
  auto checkInputs = [&]() -> const std::vector<float> & {
    if (!checkInputValues) {
      std::vector<float> &v = checkInputValues.emplace();
      for (const std::string &file : o.checkImages) {
        std::vector<float> x = data::readModelInput(file);
        v.insert(v.end(), x.begin(), x.end());
      }
      std::vector<float> synthetic = syntheticInputs(o.syntheticChecks, 20240601);
      v.insert(v.end(), synthetic.begin(), synthetic.end());
    }
    return *checkInputValues;
  };

  // ---- batch-norm folding, kept only where it stays within the tolerance ----
  CompileResult folded;
  std::vector<BatchNormFold> folds;
  FoldReport &f = r.fold;
  f.requested = o.foldBatchNorm;
  if (!o.foldBatchNorm) {
    f.note = "not requested (--fold-bn=False): batch_norm runs as its own epilogue";
  } else {
    folded = compileInference(model.graph, inferenceOptions(true), copts, &folds, &foldedPacks);
    r.compileSeconds += folded.seconds;
    f.folds = int(folds.size());
    if (folds.empty()) {
      f.note = "nothing to fold: no batch_norm follows a convolution in this model";
    } else {
      const std::vector<float> &inputs = checkInputs();
      const int64_t count = int64_t(inputs.size() / size_t(data::kImageSize));
      f.checkInputs = int(count);
      if (count == 0) {
        f.note = "not applied: no check inputs to verify the folded model on";
      } else {
        const ModelDiff d = compareModels(unfolded.artifact, o.model + " (unfolded)",
                                          folded.artifact, o.model + " (folded)", inputs, count);
        f.maxLogitDiff = d.maxLogitDiff;
        f.maxProbDiff = d.maxProbDiff;
        f.top1Mismatches = d.top1Mismatches;
        const std::string measured = fmt::format(
            "max |diff| over {} check inputs: logits {:.3g}, probabilities {:.3g}, "
            "top-1 mismatches {}",
            count, f.maxLogitDiff, f.maxProbDiff, f.top1Mismatches);
        const double limit = o.foldTolerance * kFoldMargin;
        if (f.maxProbDiff <= limit && f.top1Mismatches == 0) {
          f.applied = true;
          chosen = &folded;
          f.note = fmt::format("applied: {} conv2d+batch_norm pairs folded ({}; probabilities "
                               "within {:g} = tolerance {:g} x margin {:g})",
                               folds.size(), measured, limit, o.foldTolerance, kFoldMargin);
        } else {
          f.note = fmt::format("not applied, exported unfolded: {}; the folded model must keep "
                               "probabilities within {:g} (tolerance {:g} x margin {:g}) and "
                               "every top-1 class",
                               measured, limit, o.foldTolerance, kFoldMargin);
        }
      }
    }
  }

  // ---- convolution weight packing: what the chosen variant holds ----
  // A pack whose convolutions the unpacked model ran through im2col + sgemm
  // changes the order of their sums (channels in lanes adds taps, then input
  // channels): such a model is checked against the same variant unpacked on
  // the check inputs, with folding's tolerance and margin, and exported
  // unpacked where it is not within them.
  PackReport &pk = r.pack;
  pk.requested = o.packConvWeights;
  bool packApplied = o.packConvWeights;
  const std::vector<ConvWeightPack> &chosenPacks = f.applied ? foldedPacks : unfoldedPacks;
  pk.reordered = int(std::count_if(chosenPacks.begin(), chosenPacks.end(),
                                   [](const ConvWeightPack &p) { return !p.exact; }));
  CompileResult unpacked;
  std::string checked;
  if (pk.reordered > 0) {
    InferenceOptions plain = inferenceOptions(f.applied);
    plain.packConvWeights = false;
    unpacked = compileInference(model.graph, plain, copts);
    r.compileSeconds += unpacked.seconds;
    const std::vector<float> &inputs = checkInputs();
    const int64_t count = int64_t(inputs.size() / size_t(data::kImageSize));
    const double limit = o.foldTolerance * kFoldMargin;
    bool within = false;
    if (count > 0) {
      const ModelDiff d = compareModels(unpacked.artifact, o.model + " (unpacked)",
                                        chosen->artifact, o.model + " (packed)", inputs, count);
      pk.maxLogitDiff = d.maxLogitDiff;
      pk.maxProbDiff = d.maxProbDiff;
      within = d.maxProbDiff <= limit && d.top1Mismatches == 0;
      checked = fmt::format("max |diff| against the unpacked model over {} check inputs: logits "
                            "{:.3g}, probabilities {:.3g}, top-1 mismatches {}; limit {:g}",
                            count, d.maxLogitDiff, d.maxProbDiff, d.top1Mismatches, limit);
    } else {
      checked = "no check inputs to verify them on";
    }
    if (!within) {
      packApplied = false;
      chosen = &unpacked;
    }
  }
  if (packApplied)
    for (const ConvWeightPack &p : chosenPacks)
      pk.packs.emplace_back(p.source, p.packed);
  if (!o.packConvWeights)
    pk.note = "not requested (--pack-conv-weights=False): every convolution weight stays OIHW";
  else if (!packApplied)
    pk.note = fmt::format("not applied, exported unpacked: {} of the packs change the order of "
                          "their convolutions' sums ({})",
                          pk.reordered, checked);
  else if (pk.packs.empty())
    pk.note = "nothing to pack: no convolution of stride 1 or 2 with an output plane of at most "
              "28 columns and 784 pixels and output channels a multiple of 16, or the CPU "
              "kernels do not use the direct convolution on this machine (no AVX-512)";
  else if (pk.reordered == 0)
    pk.note = fmt::format("applied: {} convolution weight{} stored HWIO for the direct "
                          "convolution's channels-in-lanes kernel (a transposition: outputs "
                          "bitwise unchanged)",
                          pk.packs.size(), pk.packs.size() == 1 ? "" : "s");
  else
    pk.note = fmt::format("applied: {} convolution weight{} stored HWIO for the direct "
                          "convolution's channels-in-lanes kernel ({} a transposition; {} "
                          "computed there instead of by im2col + sgemm, summing in another "
                          "order: {})",
                          pk.packs.size(), pk.packs.size() == 1 ? "" : "s",
                          pk.packs.size() - size_t(pk.reordered), pk.reordered, checked);

  // ---- CUDA kernels: the chosen variant once more, with the CUDA target ----
  CompileResult withCuda;
  if (o.cuda) {
    CompileOptions cudaOptions = copts;
    cudaOptions.cuda = true;
    cudaOptions.cudaArchs = o.cudaArchs;
    cudaOptions.cudaCacheDir = o.cudaCacheDir;
    InferenceOptions cudaInference = inferenceOptions(f.applied);
    cudaInference.packConvWeights = packApplied;
    withCuda = compileInference(model.graph, cudaInference, cudaOptions);
    // The CPU kernels written must be the ones the folding check ran (the
    // compiler is deterministic; this makes it a checked fact).
    if (!sameCpuModel(chosen->artifact, withCuda.artifact))
      throw ExportError("internal error: compiling the CUDA kernels changed the model's CPU "
                        "kernels or parameters; export with --target=cpu and report this");
    r.compileSeconds += withCuda.seconds;
    r.cudaSeconds = withCuda.seconds;
    r.cudaReport = withCuda.cudaReport;
    r.cudaSource = withCuda.cudaSource;
    r.cudaModules = cudaModules(withCuda.artifact);
    chosen = &withCuda;
  }

  // ---- the files ----
  fs::create_directories(o.saveDir, ec);
  if (!fs::is_directory(o.saveDir, ec))
    throw ExportError(fmt::format("--save-inference-dir {}: cannot create the directory{}",
                                  o.saveDir, ec ? ": " + ec.message() : ""));
  r.modelPath = (fs::path(o.saveDir) / inference::kModelFileName).string();
  r.paramsPath = (fs::path(o.saveDir) / inference::kParamsFileName).string();
  r.jsonPath = r.modelPath + ".json";

  auto artifact = rt::Artifact::loadBuffer(chosen->artifact, r.modelPath);
  std::vector<rt::NamedTensor> params;
  std::vector<rt::ParamInfo> infos = artifact->params();
  for (size_t i = 0; i < infos.size(); ++i) {
    rt::NamedTensor t{infos[i].name, rt::Tensor{infos[i].shape, {}}};
    const float *v = artifact->initialParam(i);
    t.tensor.data.assign(v, v + t.tensor.numel());
    r.paramElements += t.tensor.numel();
    params.push_back(std::move(t));
  }
  r.params = int(params.size());
  rt::saveParams(r.paramsPath, params);
  writeFileAtomic(r.modelPath, chosen->artifact.data(), chosen->artifact.size());
  r.modelBytes = chosen->artifact.size();
  r.paramsBytes = uint64_t(fs::file_size(r.paramsPath, ec));

  // ---- the description ----
  const CompiledEntry &entry = chosen->entries.at(0);
  r.kernels = int(entry.kernels.size());
  ordered_json kernels = ordered_json::array();
  int64_t flops = 0;
  for (const CompiledKernel &k : entry.kernels) {
    kernels.push_back({{"name", k.name},
                       {"ops", k.ops},
                       {"kind", k.kind},
                       {"flops_per_item", k.flopsPerItem}});
    flops += k.flopsPerItem;
  }
  ordered_json foldJson = {{"requested", f.requested},
                           {"applied", f.applied},
                           {"pairs", f.folds},
                           {"tolerance", o.foldTolerance},
                           {"margin", kFoldMargin},
                           {"check_inputs", f.checkInputs},
                           {"check_images", o.checkImagesSource.empty()
                                                ? ordered_json(nullptr)
                                                : ordered_json(o.checkImagesSource)},
                           {"check_images_count", o.checkImages.size()},
                           {"check_synthetic_count", f.checkInputs > 0 ? o.syntheticChecks : 0},
                           {"max_abs_diff_logits", f.maxLogitDiff},
                           {"max_abs_diff_prob", f.maxProbDiff},
                           {"top1_mismatches", f.top1Mismatches},
                           {"note", f.note}};
  ordered_json foldList = ordered_json::array();
  if (f.applied)
    for (const BatchNormFold &b : folds)
      foldList.push_back({{"conv_weight", b.convWeight},
                          {"batch_norm", b.bnWeight.substr(0, b.bnWeight.rfind('.'))},
                          {"folded_weight", b.foldedWeight},
                          {"folded_bias", b.foldedBias}});
  foldJson["folds"] = foldList;
  ordered_json packList = ordered_json::array();
  for (const auto &[source, packed] : r.pack.packs)
    packList.push_back({{"source", source}, {"packed", packed}});
  ordered_json packJson = {{"requested", r.pack.requested},
                           {"applied", !r.pack.packs.empty()},
                           {"layout", "hwio"},
                           {"packs", packList},
                           {"reordered", r.pack.reordered},
                           {"max_logit_diff", r.pack.maxLogitDiff},
                           {"max_prob_diff", r.pack.maxProbDiff},
                           {"note", r.pack.note}};

  ordered_json j;
  j["format"] = "kiln-inference-model";
  j["format_version"] = kJsonFormatVersion;
  j["model_name"] = o.model;
  j["model_file"] = inference::kModelFileName;
  j["params_file"] = inference::kParamsFileName;
  j["model_sha256"] = sha256File(r.modelPath);
  j["params_sha256"] = sha256File(r.paramsPath);
  j["entry"] = "infer";
  j["inputs"] = signatureJson(artifact->inputs("infer"));
  j["outputs"] = signatureJson(artifact->outputs("infer"));
  j["kernels"] = kernels;
  j["flops_per_item"] = flops;
  j["arena_bytes_per_item"] = entry.arenaBytesPerItem;
  j["arena_bytes_fixed"] = entry.arenaBytesFixed;
  j["parameters"] = {{"count", r.params}, {"elements", r.paramElements}};
  j["compiler"] = {{"version", artifact->compilerVersion()},
                   {"flags", compileFlags(chosen->artifact)},
                   {"artifact_schema_version", artifact->schemaVersion()},
                   {"batch_norm_folded", f.applied},
                   {"conv_weights_packed", !r.pack.packs.empty()}};
  j["targets"] = o.cuda ? ordered_json::array({"cpu", "cuda"}) : ordered_json::array({"cpu"});
  if (o.cuda) {
    std::vector<std::string> cubins, ptx;
    for (const std::string &m : r.cudaModules)
      (m.rfind("compute_", 0) == 0 ? ptx : cubins).push_back(m);
    j["cuda"] = {{"architectures", r.cudaModules},
                 {"cubin", cubins},
                 {"ptx", ptx},
                 {"nvrtc_version", nvrtcVersionOf(chosen->artifact)},
                 {"distinct_kernels", withCuda.cudaDistinctKernels},
                 {"note", "the GPU loads the cubin of its architecture, else JIT-compiles the "
                          "newest PTX not above it (infer --use-gpu=True)"}};
  } else {
    j["cuda"] = nullptr;
  }
  j["source_checkpoint"] = {{"path", o.pretrained}, {"sha256", r.checkpointSha256}};
  j["batch_norm_folding"] = foldJson;
  j["conv_weight_packing"] = packJson;
  j["preprocess"] = {
      {"function", "kiln::data::readModelInput"},
      {"steps",
       {"decode PNG/JPEG", "gray (ITU-R 601 luma; alpha over black)",
        "resize the shorter side to 28 (area when shrinking, bilinear when enlarging)",
        "center crop 28x28", "x / 255", fmt::format("(x - {}) / {}", data::kMean, data::kStd)}},
      {"input_shape", {1, data::kImageHeight, data::kImageWidth}}};
  j["postprocess"] = "softmax over the logits (double), top-1 class and its probability";
  j["labels"] = data::fashionMnistClassNames();
  j["export_command"] = o.commandLine;
  j["created_by"] = compilerVersion() + " export_model";
  std::string text = j.dump(2) + "\n";
  writeFileAtomic(r.jsonPath, text.data(), text.size());
  return r;
}

} // namespace kiln::exporter
