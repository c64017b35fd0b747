//===- Common.cpp - shared by the train and eval drivers ------------------===//
#include "kiln/tools/Common.h"

#include "kiln/tools/BoolFlags.h"

#include "kiln/frontend/Models.h"
#include "kiln/runtime/Cuda.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <unistd.h>

namespace fs = std::filesystem;

namespace kiln::tools {

uint64_t fnv1a(const void *data, size_t size, uint64_t h) {
  const auto *p = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

std::string cacheDir(const std::string &fallback) {
  const char *env = std::getenv("KILN_CACHE_DIR");
  return env && *env ? std::string(env) : fallback;
}

std::string oneLine(const std::string &s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n') {
      if (i + 1 < s.size())
        out += "; ";
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string trainingCacheKey(const std::string &model, uint64_t seed, const TrainingOptions &t,
                             bool cuda, const std::string &buildId) {
  std::string keyText = fmt::format(
      "{}|{}|{}|{:.17g}|{}|{:.17g}|{}|{:.17g}|{:.17g}|{:.17g}|{:.9g}|{}+{}", model, seed,
      t.optimizer, t.momentum, t.nesterov, t.weightDecay, t.noDecayBnBias, t.beta1, t.beta2,
      t.epsilon, t.labelSmoothing, compilerVersion(), buildId);
  if (cuda)
    keyText += "|cuda";
  return fmt::format("{}-{:016x}", model, fnv1a(keyText.data(), keyText.size()));
}

std::string evalCacheKey(const std::string &model, float labelSmoothing, bool cuda,
                         const std::string &buildId) {
  std::string keyText = fmt::format("eval|{}|{:.9g}|{}+{}{}", model, labelSmoothing,
                                    compilerVersion(), buildId, cuda ? "|cuda" : "");
  return fmt::format("{}-eval-{:016x}", model, fnv1a(keyText.data(), keyText.size()));
}

namespace {

/// A cached training artifact, or null when the file is missing, damaged or
/// lacks the entries the drivers run.
std::shared_ptr<const rt::Artifact> loadCachedArtifact(const std::string &path) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    return nullptr;
  try {
    auto artifact = rt::Artifact::loadFile(path);
    if (artifact->hasEntry("train_step") && artifact->hasEntry("eval_step") &&
        artifact->hasEntry("infer"))
      return artifact;
  } catch (const std::exception &) {
    // A damaged (or older-schema) cache entry: the caller recompiles it.
  }
  return nullptr;
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a
/// reader never sees half a file. False (and nothing written) on failure.
bool writeAtomically(const std::string &path, const char *bytes, size_t size) {
  std::string tmp = path + fmt::format(".tmp{}", ::getpid());
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out)
    return false;
  out.write(bytes, static_cast<std::streamsize>(size));
  out.close();
  if (out.good() && std::rename(tmp.c_str(), path.c_str()) == 0)
    return true;
  std::remove(tmp.c_str());
  return false;
}

/// The file <dir>/<evalKey>.ref names the artifact (a file in `dir`) that
/// evalArtifactCached hands out; rewritten only when it names another one.
void pointEvalAt(const std::string &dir, const std::string &evalKey,
                 const std::string &artifactFile) {
  const std::string ref = (fs::path(dir) / (evalKey + ".ref")).string();
  std::string current;
  if (std::ifstream in(ref); in && std::getline(in, current) && current == artifactFile)
    return;
  const std::string text = artifactFile + "\n";
  writeAtomically(ref, text.data(), text.size()); // the cache is an optimisation
}

} // namespace

std::shared_ptr<const rt::Artifact> compileTrainingCached(const std::string &model, uint64_t seed,
                                                          const TrainingOptions &t,
                                                          const std::string &dir,
                                                          std::string &note, bool cuda) {
  const std::string buildId = compilerBuildId();
  const std::string file = trainingCacheKey(model, seed, t, cuda, buildId) + ".kiln";
  const std::string evalKey = evalCacheKey(model, t.labelSmoothing, cuda, buildId);
  const std::string path = (fs::path(dir) / file).string();
  if (auto artifact = loadCachedArtifact(path)) {
    note = "loaded from cache " + path;
    pointEvalAt(dir, evalKey, file);
    return artifact;
  }
  CompileOptions options;
  options.cuda = cuda;
  CompileResult r = compileTrainingModel(model, seed, t, options);
  note = fmt::format("compiled in {:.2f} s", r.seconds);
  if (cuda)
    note += " (" + r.cudaReport + ")";
  // The cache is an optimisation: failing to write it is not an error.
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!ec && writeAtomically(path, reinterpret_cast<const char *>(r.artifact.data()),
                             r.artifact.size())) {
    note += ", cached as " + path;
    pointEvalAt(dir, evalKey, file);
  }
  return rt::Artifact::loadBuffer(std::move(r.artifact), model + " (training)");
}

std::shared_ptr<const rt::Artifact> evalArtifactCached(const std::string &model,
                                                       const std::string &dir, std::string &note,
                                                       bool cuda) {
  const std::string evalKey = evalCacheKey(model, 0.0f, cuda, compilerBuildId());
  std::string file;
  if (std::ifstream in(fs::path(dir) / (evalKey + ".ref")); in && std::getline(in, file)) {
    // Only a training artifact of this model in the cache dir itself.
    const bool plainName = file.rfind(model + "-", 0) == 0 && file.size() > 5 &&
                           file.compare(file.size() - 5, 5, ".kiln") == 0 &&
                           file.find('/') == std::string::npos;
    const std::string path = (fs::path(dir) / file).string();
    if (plainName)
      if (auto artifact = loadCachedArtifact(path)) {
        note = "loaded from cache " + path;
        return artifact;
      }
  }
  return compileTrainingCached(model, 42, TrainingOptions{}, dir, note, cuda);
}

rt::SessionOptions sessionOptions(const std::string &device, int threads) {
  rt::SessionOptions options;
  options.numThreads = threads;
  std::string d;
  for (char c : device)
    d += char(std::tolower(static_cast<unsigned char>(c)));
  if (d == "cpu")
    return options;
  std::string ordinal;
  if (d == "gpu" || d == "cuda")
    ordinal = "0";
  else if (d.rfind("gpu:", 0) == 0 || d.rfind("cuda:", 0) == 0)
    ordinal = d.substr(d.find(':') + 1);
  bool digits = !ordinal.empty() && ordinal.size() < 4 &&
                std::all_of(ordinal.begin(), ordinal.end(), ::isdigit);
  if (!digits)
    throw ToolError("--device " + device + ": expected cpu, gpu or gpu:<N> (cuda, cuda:<N>)");
  options.device = rt::Device::Cuda;
  options.deviceOrdinal = std::stoi(ordinal);
  return options;
}

void requireDevice(const rt::SessionOptions &options) {
  if (options.device != rt::Device::Cuda)
    return;
  rt::CudaDeviceInfo info = rt::probeCuda(options.deviceOrdinal);
  if (!info.available)
    throw ToolError(oneLine(info.error) + " (--device cpu runs on the CPU)");
}

bool isOptimizerState(const std::string &name) {
  auto ends = [&](const char *suffix) {
    size_t n = std::strlen(suffix);
    return name.size() > n && name.compare(name.size() - n, n, suffix) == 0;
  };
  return ends(".momentum_buffer") || ends(".exp_avg") || ends(".exp_avg_sq");
}

bool isCheckpointed(const std::string &name) { return name.rfind("constant.", 0) != 0; }

bool isModelParam(const std::string &name) {
  return isCheckpointed(name) && !isOptimizerState(name);
}

void checkModelName(const std::string &model) {
  auto names = fe::modelNames();
  if (std::find(names.begin(), names.end(), model) != names.end())
    return;
  std::string known;
  for (const auto &n : names)
    known += (known.empty() ? "" : ", ") + n;
  throw ToolError(fmt::format("unknown model '{}' (known models: {})", model, known));
}

std::shared_ptr<const data::Dataset> openSplit(const std::string &path, data::Split split) {
  std::error_code ec;
  if (!fs::is_directory(path, ec))
    throw ToolError(fmt::format(
        "dataset not found: '{}' is not a directory; pass --data-path, extract the lite data "
        "(tar -xf lite_data.tar) or install the full set (apt-get install dataset-fashion-mnist, "
        "{})",
        path, data::kSystemFashionMnistDir));
  try {
    return std::shared_ptr<const data::Dataset>(data::openDataset(path, split));
  } catch (const std::exception &e) {
    throw ToolError(oneLine(e.what()));
  }
}

std::vector<rt::NamedTensor> readModelWeights(const std::string &model, const std::string &path) {
  std::vector<rt::NamedTensor> tensors;
  try {
    tensors = rt::loadParams(path);
  } catch (const rt::Error &e) {
    throw ToolError(oneLine(e.what()));
  }
  tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                               [](const rt::NamedTensor &t) { return !isModelParam(t.name); }),
                tensors.end());
  fe::Model m = fe::buildModel(model, 42);
  std::map<std::string, std::vector<int64_t>> want;
  for (const auto &p : m.graph.parameters())
    want[p.name] = p.shape;
  std::vector<std::string> problems;
  std::set<std::string> seen;
  auto shapeText = [](const std::vector<int64_t> &s) {
    return "[" + fmt::format("{}", fmt::join(s, ",")) + "]";
  };
  for (const auto &t : tensors) {
    seen.insert(t.name);
    auto it = want.find(t.name);
    if (it == want.end())
      problems.push_back("unexpected '" + t.name + "'");
    else if (it->second != t.tensor.shape)
      problems.push_back(fmt::format("'{}' is {}, the model needs {}", t.name,
                                     shapeText(t.tensor.shape), shapeText(it->second)));
  }
  for (const auto &[name, shape] : want)
    if (!seen.count(name))
      problems.push_back("missing '" + name + "'");
  if (!problems.empty()) {
    std::string list;
    for (size_t i = 0; i < problems.size() && i < 4; ++i)
      list += (i ? "; " : "") + problems[i];
    if (problems.size() > 4)
      list += fmt::format("; and {} more", problems.size() - 4);
    throw ToolError(fmt::format("{}: not weights of model '{}' ({} mismatches: {})", path, model,
                                problems.size(), list));
  }
  return tensors;
}

void importModelWeights(rt::Session &session, const std::vector<rt::NamedTensor> &tensors,
                        const std::string &origin) {
  try {
    session.importParams(tensors, origin, /*requireAll=*/true,
                         [](const rt::ParamInfo &p) { return isModelParam(p.name); });
  } catch (const rt::Error &e) {
    throw ToolError(oneLine(e.what()));
  }
}

void oneHot(const data::Batch &batch, int numClasses, std::vector<float> &target) {
  target.assign(size_t(batch.size) * numClasses, 0.0f);
  for (int64_t i = 0; i < batch.size; ++i) {
    int32_t l = batch.labels[i];
    if (l < 0 || l >= numClasses)
      throw ToolError(fmt::format("label {} of sample {} is out of range [0, {})", l,
                                  batch.indices[i], numClasses));
    target[size_t(i) * numClasses + l] = 1.0f;
  }
}

EvalResult evaluate(rt::Session &session, data::DataLoader &loader, int numClasses) {
  EvalResult r;
  auto start = std::chrono::steady_clock::now();
  loader.startEpoch(0);
  data::Batch batch;
  std::vector<float> target;
  double lossSum = 0;
  int64_t top1 = 0, top5 = 0;
  while (loader.next(batch)) {
    oneHot(batch, numClasses, target);
    auto out = session.run("eval_step", {{batch.images.data(), {batch.size, 1, 28, 28}},
                                         {target.data(), {batch.size, int64_t(numClasses)}}});
    lossSum += double(out[0].data[0]) * batch.size;
    const float *logits = out[1].data.data();
    for (int64_t i = 0; i < batch.size; ++i) {
      const float *row = logits + i * numClasses;
      int32_t label = batch.labels[i];
      int rank = 0; // classes scoring strictly higher (ties: lower index first)
      for (int c = 0; c < numClasses; ++c)
        if (row[c] > row[label] || (row[c] == row[label] && c < label))
          ++rank;
      top1 += rank < 1;
      top5 += rank < 5;
    }
    r.count += batch.size;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (r.count > 0) {
    r.top1 = double(top1) / r.count;
    r.top5 = double(top5) / r.count;
    r.loss = lossSum / r.count;
    r.imagesPerSecond = r.count / std::max(r.seconds, 1e-9);
  }
  return r;
}

Log::~Log() {
  if (file_)
    std::fclose(file_);
}

void Log::open(const std::string &path, bool append) {
  file_ = std::fopen(path.c_str(), append ? "a" : "w");
  if (!file_)
    throw ToolError(fmt::format("cannot write the log '{}': {}", path, std::strerror(errno)));
}

void Log::line(const std::string &text) {
  std::fputs(text.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (file_) {
    std::fputs(text.c_str(), file_);
    std::fputc('\n', file_);
    std::fflush(file_);
  }
}

namespace {
constexpr const char *kStateInts = "kiln.train_state";
constexpr const char *kStateFloats = "kiln.train_state_f";
constexpr int kInts = 8;
} // namespace

std::vector<rt::NamedTensor> encodeState(const TrainState &s) {
  int64_t ints[kInts] = {s.version,  s.nextEpoch, s.nextBatch,  s.globalStep,
                         s.seed,     s.batchSize, s.paramsHash, s.epochsPlanned};
  rt::NamedTensor a{kStateInts, {{kInts * 4}, {}}};
  for (int64_t v : ints) {
    uint64_t u = uint64_t(v);
    for (int k = 0; k < 4; ++k)
      a.tensor.data.push_back(float((u >> (16 * k)) & 0xffff)); // exact in f32
  }
  rt::NamedTensor b{kStateFloats, {{2}, {float(s.bestTop1), float(s.nextLr)}}};
  return {a, b};
}

TrainState decodeState(std::vector<rt::NamedTensor> &tensors, const std::string &origin) {
  auto take = [&](const char *name, size_t n) {
    auto it = std::find_if(tensors.begin(), tensors.end(),
                           [&](const rt::NamedTensor &t) { return t.name == name; });
    if (it == tensors.end() || it->tensor.data.size() != n)
      throw ToolError(fmt::format("'{}' is not a Kiln training state: no valid '{}' tensor",
                                  origin, name));
    std::vector<float> v = it->tensor.data;
    tensors.erase(it);
    return v;
  };
  std::vector<float> a = take(kStateInts, kInts * 4);
  std::vector<float> b = take(kStateFloats, 2);
  int64_t ints[kInts];
  for (int i = 0; i < kInts; ++i) {
    uint64_t u = 0;
    for (int k = 0; k < 4; ++k) {
      float f = a[i * 4 + k];
      if (!(f >= 0 && f <= 65535 && f == std::floor(f)))
        throw ToolError(fmt::format("'{}': corrupt training state", origin));
      u |= uint64_t(f) << (16 * k);
    }
    ints[i] = int64_t(u);
  }
  TrainState s;
  s.version = ints[0];
  if (s.version != 1)
    throw ToolError(fmt::format("'{}': unsupported training state version {}", origin, s.version));
  s.nextEpoch = ints[1];
  s.nextBatch = ints[2];
  s.globalStep = ints[3];
  s.seed = ints[4];
  s.batchSize = ints[5];
  s.paramsHash = ints[6];
  s.epochsPlanned = ints[7];
  s.bestTop1 = b[0];
  s.nextLr = b[1];
  return s;
}

uint64_t hashTensors(const std::vector<rt::NamedTensor> &tensors) {
  uint64_t h = fnv1a(nullptr, 0);
  for (const auto &t : tensors) {
    h = fnv1a(t.name.data(), t.name.size(), h);
    h = fnv1a(t.tensor.shape.data(), t.tensor.shape.size() * sizeof(int64_t), h);
    h = fnv1a(t.tensor.data.data(), t.tensor.data.size() * sizeof(float), h);
  }
  return h;
}

bool parseBool(const std::string &flag, const std::string &value) {
  if (std::optional<bool> v = boolFlagValue(value))
    return *v;
  throw ToolError(fmt::format("{}: expected True/False, got '{}'", flag, value));
}

} // namespace kiln::tools
