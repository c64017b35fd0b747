//===- Predictor.cpp - Config, Tensor handles, Predictor, create_predictor ===//
//
// create_predictor() reads the two files, checks them against each other and
// against this runtime (schema version, "is this an inference model", every
// parameter present with its shape) before anything runs, so that a bad file
// is one clear message instead of a failure halfway through a batch. The
// input/output slots behind the Tensor handles live as long as any handle or
// the predictor does.
//===----------------------------------------------------------------------===//
#include "Executor.h"

#include "kiln/runtime/KernelABI.h"
#include "kiln/runtime/schema/kiln_artifact_generated.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace kiln::inference {

namespace fb = kiln::artifact;

namespace {

constexpr uint64_t kMaxModelBytes = uint64_t(1) << 31; // flatbuffers' 32-bit offsets
// A reshape may ask for at most this many floats (64 GiB): far above any real
// batch, low enough that the byte count cannot overflow.
constexpr int64_t kMaxInputElements = int64_t(1) << 34;

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "," : "") + (shape[i] < 0 ? std::string("?") : std::to_string(shape[i]));
  return s + "]";
}

std::string joined(const std::vector<std::string> &names) {
  std::string s;
  for (const std::string &n : names)
    s += (s.empty() ? "" : ", ") + n;
  return s.empty() ? "none" : s;
}

/// The whole file, or Error naming it and why it cannot be read.
std::vector<uint8_t> readModelFile(const std::string &path) {
  auto fail = [&](const std::string &what) {
    throw Error(fmt::format("kiln: {}: {}", path, what));
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail(fmt::format("cannot open the inference model: {}{}", std::strerror(errno),
                     errno == ENOENT ? " (write it with export_model --save-inference-dir)" : ""));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0)
    fail(fmt::format("cannot read the inference model: {}", std::strerror(errno)));
  if (S_ISDIR(st.st_mode))
    fail("cannot read the inference model: is a directory");
  if (S_ISREG(st.st_mode) && uint64_t(st.st_size) >= kMaxModelBytes)
    fail(fmt::format("inference model is {} bytes; models are limited to 2 GiB",
                     uint64_t(st.st_size)));
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      fail(fmt::format("cannot read the inference model: {}", std::strerror(errno)));
    }
    if (n == 0)
      break;
    bytes.insert(bytes.end(), chunk, chunk + n);
    if (bytes.size() >= kMaxModelBytes)
      fail("inference model is larger than 2 GiB");
  }
  return bytes;
}

/// A model from another Kiln version must say "re-export", not "corrupt": the
/// schema version is read (from a verified root table) before the full check.
void checkVersion(const std::vector<uint8_t> &bytes, const std::string &path) {
  auto fail = [&](const std::string &what) {
    throw Error(fmt::format("kiln: {}: {}", path, what));
  };
  if (bytes.size() < 8)
    fail(fmt::format("not a Kiln inference model (only {} bytes; truncated?)", bytes.size()));
  if (!fb::ArtifactBufferHasIdentifier(bytes.data()))
    fail("not a Kiln inference model (bad magic; expected a file written by export_model)");
  flatbuffers::Verifier pre(bytes.data(), bytes.size());
  uint32_t rootOffset = flatbuffers::ReadScalar<flatbuffers::uoffset_t>(bytes.data());
  if (rootOffset % 4 != 0 || uint64_t(rootOffset) + 4 > bytes.size())
    fail("corrupt or truncated inference model");
  auto *table = reinterpret_cast<const flatbuffers::Table *>(bytes.data() + rootOffset);
  if (!table->VerifyTableStart(pre) ||
      !table->VerifyField<uint32_t>(pre, fb::Artifact::VT_SCHEMA_VERSION, 4))
    fail("corrupt or truncated inference model");
  uint32_t version = fb::GetArtifact(bytes.data())->schema_version();
  if (version != KILN_ARTIFACT_SCHEMA_VERSION)
    fail(fmt::format("inference model from another Kiln version (artifact schema version {}; "
                     "this runtime, kiln {}, reads version {}): re-export it with this "
                     "version's export_model",
                     version, KILN_VERSION, KILN_ARTIFACT_SCHEMA_VERSION));
}

std::shared_ptr<const Model> loadModel(const Config &config) {
  if (config.model_file().empty())
    throw Error("kiln: Config has no model file: use Config(model_file, params_file) or "
                "Config(model_dir)");
  if (config.params_file().empty())
    throw Error(fmt::format("kiln: Config has no params file for the model {}",
                            config.model_file()));
  auto model = std::make_shared<Model>();
  model->modelFile = config.model_file();
  model->paramsFile = config.params_file();

  std::vector<uint8_t> bytes = readModelFile(model->modelFile);
  checkVersion(bytes, model->modelFile);
  model->artifact = rt::Artifact::loadBuffer(bytes, model->modelFile); // verifies a copy
  // Verified above (the same bytes): the CUDA table can be read directly.
  if (const auto *cuda = fb::GetArtifact(bytes.data())->cuda())
    for (const fb::CudaModule *m : *cuda)
      model->cudaArchitectures.push_back(m->arch() ? m->arch()->str() : std::string("?"));
  bytes = {};

  const rt::Artifact &a = *model->artifact;
  std::vector<std::string> entries = a.entryNames();
  if (!a.hasEntry(kInferEntry) || entries.size() != 1)
    throw Error(fmt::format("kiln: {}: not an inference model (entries: {}; expected only "
                            "'{}'): export it with export_model",
                            model->modelFile, joined(entries), kInferEntry));
  model->inputs = a.inputs(kInferEntry);
  model->outputs = a.outputs(kInferEntry);

  // Parameters: loadParams checks the file itself (magic, version, CRC,
  // truncation); here every artifact parameter must be given with its shape.
  struct stat st;
  if (::stat(model->paramsFile.c_str(), &st) != 0)
    throw Error(fmt::format("kiln: {}: cannot open the parameters: {}{}", model->paramsFile,
                            std::strerror(errno),
                            errno == ENOENT ? " (export_model writes them beside the model)" : ""));
  model->params = rt::loadParams(model->paramsFile);
  std::map<std::string, std::vector<int64_t>> want;
  for (const rt::ParamInfo &p : a.params())
    want[p.name] = p.shape;
  std::vector<std::string> problems;
  std::set<std::string> seen;
  for (const rt::NamedTensor &t : model->params) {
    auto it = want.find(t.name);
    if (!seen.insert(t.name).second)
      problems.push_back(fmt::format("'{}' given twice", t.name));
    else if (it == want.end())
      problems.push_back(fmt::format("unexpected '{}'", t.name));
    else if (it->second != t.tensor.shape)
      problems.push_back(fmt::format("'{}' is {}, the model needs {}", t.name,
                                     shapeText(t.tensor.shape), shapeText(it->second)));
  }
  for (const rt::ParamInfo &p : a.params())
    if (!seen.count(p.name))
      problems.push_back(fmt::format("missing '{}'", p.name));
  if (!problems.empty()) {
    std::string list;
    for (size_t i = 0; i < problems.size() && i < 4; ++i)
      list += (i ? "; " : "") + problems[i];
    if (problems.size() > 4)
      list += fmt::format("; and {} more", problems.size() - 4);
    throw Error(fmt::format("kiln: {}: parameters do not match the model {} ('{}', {} "
                            "parameters): {} problem{}: {}; were they exported with another "
                            "model?",
                            model->paramsFile, model->modelFile, a.modelName(), want.size(),
                            problems.size(), problems.size() == 1 ? "" : "s", list));
  }
  return model;
}

} // namespace

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

Config::Config(std::string model_file, std::string params_file)
    : modelFile_(std::move(model_file)), paramsFile_(std::move(params_file)) {}

Config::Config(const std::string &model_dir) {
  std::string dir = model_dir;
  if (!dir.empty() && dir.back() != '/')
    dir += '/';
  modelFile_ = dir + kModelFileName;
  paramsFile_ = dir + kParamsFileName;
}

void Config::set_model(const std::string &model_file, const std::string &params_file) {
  modelFile_ = model_file;
  paramsFile_ = params_file;
}

void Config::set_cpu_math_library_num_threads(int threads) {
  if (threads < 0)
    throw Error(fmt::format("kiln: set_cpu_math_library_num_threads({}): the thread count must "
                            "be >= 0 (0 = all hardware threads)",
                            threads));
  cpuThreads_ = threads;
}

void Config::enable_use_gpu(uint64_t memory_pool_init_size_mb, int device_id) {
  if (device_id < 0)
    throw Error(fmt::format("kiln: enable_use_gpu: device id {} is invalid (must be >= 0)",
                            device_id));
  useGpu_ = true;
  gpuMemoryMb_ = memory_pool_init_size_mb;
  gpuDeviceId_ = device_id;
}

void Config::disable_gpu() { useGpu_ = false; }

std::string Config::summary() const {
  return fmt::format("model: {}, params: {}, device: {}, cpu threads: {}", modelFile_,
                     paramsFile_,
                     useGpu_ ? fmt::format("gpu:{} ({} MB pool)", gpuDeviceId_, gpuMemoryMb_)
                             : std::string("cpu"),
                     cpuThreads_);
}

// ---------------------------------------------------------------------------
// Tensor handles
// ---------------------------------------------------------------------------

struct Tensor::Slot {
  std::string name;
  bool isInput = true;
  std::vector<int64_t> signature; // -1 = dynamic batch
  std::vector<int64_t> shape;     // valid when shapeSet
  bool shapeSet = false;
  std::vector<float> data;        // numel(shape) floats when hasData
  bool hasData = false;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
  std::string what() const {
    return fmt::format("{} '{}'", isInput ? "input" : "output", name);
  }
};

Tensor::Tensor(std::shared_ptr<Slot> slot) : slot_(std::move(slot)) {}
Tensor::~Tensor() = default;

const std::string &Tensor::name() const { return slot_->name; }

void Tensor::reshape(const std::vector<int> &shape) {
  Slot &s = *slot_;
  std::vector<int64_t> wanted(shape.begin(), shape.end());
  if (!s.isInput)
    throw Error(fmt::format("kiln: {}: reshape is for inputs; an output's shape comes from run()",
                            s.what()));
  auto mismatch = [&](const std::string &why) {
    throw Error(fmt::format("kiln: {}: shape {} does not match the model's {} ({})", s.what(),
                            shapeText(wanted), shapeText(s.signature), why));
  };
  if (wanted.size() != s.signature.size())
    mismatch(fmt::format("rank {}, expected {}", wanted.size(), s.signature.size()));
  int64_t numel = 1;
  for (size_t d = 0; d < wanted.size(); ++d) {
    if (s.signature[d] < 0) {
      if (wanted[d] < 1)
        mismatch(fmt::format("the batch, dimension {}, must be >= 1", d));
    } else if (wanted[d] != s.signature[d]) {
      mismatch(fmt::format("dimension {} must be {}", d, s.signature[d]));
    }
    if (__builtin_mul_overflow(numel, wanted[d], &numel) || numel > kMaxInputElements)
      throw Error(fmt::format("kiln: {}: shape {} is too large ({} elements at most)", s.what(),
                              shapeText(wanted), kMaxInputElements));
  }
  s.shape = std::move(wanted);
  s.shapeSet = true;
  s.hasData = false;
}

void Tensor::copy_from_cpu(const float *data) {
  Slot &s = *slot_;
  if (!s.isInput)
    throw Error(fmt::format("kiln: {}: outputs are read-only (copy_to_cpu reads them)", s.what()));
  if (!s.shapeSet)
    throw Error(fmt::format("kiln: {}: call reshape() with the batch shape (model: {}) before "
                            "copy_from_cpu",
                            s.what(), shapeText(s.signature)));
  if (!data)
    throw Error(fmt::format("kiln: {}: copy_from_cpu got a null pointer", s.what()));
  int64_t n = s.numel();
  try {
    s.data.assign(data, data + n);
  } catch (const std::bad_alloc &) {
    throw Error(fmt::format("kiln: {}: cannot allocate {} floats for shape {}", s.what(), n,
                            shapeText(s.shape)));
  }
  s.hasData = true;
}

void Tensor::copy_to_cpu(float *data) const {
  const Slot &s = *slot_;
  if (!s.hasData)
    throw Error(s.isInput
                    ? fmt::format("kiln: {}: no data yet (reshape, then copy_from_cpu)", s.what())
                    : fmt::format("kiln: {}: no data yet: call run() first", s.what()));
  if (!data)
    throw Error(fmt::format("kiln: {}: copy_to_cpu got a null pointer", s.what()));
  std::copy(s.data.begin(), s.data.end(), data);
}

std::vector<int> Tensor::shape() const {
  const Slot &s = *slot_;
  // Before reshape/run: the model's signature (-1 = dynamic batch), as
  // Paddle reports an unset input.
  const std::vector<int64_t> &src = s.shapeSet ? s.shape : s.signature;
  std::vector<int> out;
  for (int64_t d : src) {
    if (d > INT_MAX)
      throw Error(fmt::format("kiln: {}: dimension {} does not fit an int", s.what(), d));
    out.push_back(int(d));
  }
  return out;
}

int64_t Tensor::numel() const { return slot_->shapeSet ? slot_->numel() : 0; }

// ---------------------------------------------------------------------------
// Predictor
// ---------------------------------------------------------------------------

struct Predictor::Impl {
  Config config;
  std::shared_ptr<const Model> model;
  std::unique_ptr<Executor> executor;
  std::vector<std::shared_ptr<Tensor::Slot>> inputs, outputs;

  void makeSlots() {
    for (const rt::TensorInfo &t : model->inputs) {
      auto s = std::make_shared<Tensor::Slot>();
      s->name = t.name;
      s->isInput = true;
      s->signature = t.shape;
      // A fully static input needs no reshape.
      if (std::none_of(t.shape.begin(), t.shape.end(), [](int64_t d) { return d < 0; })) {
        s->shape = t.shape;
        s->shapeSet = true;
      }
      inputs.push_back(std::move(s));
    }
    for (const rt::TensorInfo &t : model->outputs) {
      auto s = std::make_shared<Tensor::Slot>();
      s->name = t.name;
      s->isInput = false;
      s->signature = t.shape;
      outputs.push_back(std::move(s));
    }
  }

  const std::shared_ptr<Tensor::Slot> &find(const std::vector<std::shared_ptr<Tensor::Slot>> &slots,
                                            const std::string &name, const char *kind) const {
    for (const auto &s : slots)
      if (s->name == name)
        return s;
    std::vector<std::string> names;
    for (const auto &s : slots)
      names.push_back(s->name);
    throw Error(fmt::format("kiln: {}: no {} named '{}' (the model's {}s: {})", model->modelFile,
                            kind, name, kind, joined(names)));
  }
};

Predictor::Predictor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Predictor::~Predictor() = default;

std::vector<std::string> Predictor::get_input_names() const {
  std::vector<std::string> names;
  for (const auto &s : impl_->inputs)
    names.push_back(s->name);
  return names;
}

std::vector<std::string> Predictor::get_output_names() const {
  std::vector<std::string> names;
  for (const auto &s : impl_->outputs)
    names.push_back(s->name);
  return names;
}

std::unique_ptr<Tensor> Predictor::get_input_handle(const std::string &name) {
  return std::make_unique<Tensor>(impl_->find(impl_->inputs, name, "input"));
}

std::unique_ptr<Tensor> Predictor::get_output_handle(const std::string &name) {
  return std::make_unique<Tensor>(impl_->find(impl_->outputs, name, "output"));
}

std::vector<int64_t> Predictor::get_input_shape(const std::string &name) const {
  return impl_->find(impl_->inputs, name, "input")->signature;
}

std::vector<int64_t> Predictor::get_output_shape(const std::string &name) const {
  return impl_->find(impl_->outputs, name, "output")->signature;
}

void Predictor::run() {
  Impl &p = *impl_;
  // Outputs of an earlier run must not be mistaken for this one's if it fails.
  for (auto &s : p.outputs) {
    s->hasData = false;
    s->shapeSet = false;
  }
  std::vector<rt::TensorView> views;
  int64_t batch = -1;
  std::string batchFrom;
  for (const auto &s : p.inputs) {
    if (!s->hasData)
      throw Error(fmt::format("kiln: {}: no data: reshape it and copy_from_cpu before run()",
                              s->what()));
    if (!s->signature.empty() && s->signature[0] < 0) {
      if (batch >= 0 && s->shape[0] != batch)
        throw Error(fmt::format("kiln: {}: batch {} differs from input '{}' batch {}",
                                s->what(), s->shape[0], batchFrom, batch));
      batch = s->shape[0];
      batchFrom = s->name;
    }
    views.push_back(rt::TensorView{s->data.data(), s->shape});
  }
  std::vector<rt::Tensor> results = p.executor->run(views);
  if (results.size() != p.outputs.size())
    throw Error(fmt::format("kiln: {}: the executor returned {} outputs, the model has {}",
                            p.model->modelFile, results.size(), p.outputs.size()));
  for (size_t i = 0; i < results.size(); ++i) {
    Tensor::Slot &s = *p.outputs[i];
    s.shape = std::move(results[i].shape);
    s.data = std::move(results[i].data);
    s.shapeSet = true;
    s.hasData = true;
  }
}

std::unique_ptr<Predictor> Predictor::clone() const {
  auto impl = std::make_unique<Impl>();
  impl->config = impl_->config;
  impl->model = impl_->model;
  impl->executor = impl_->executor->clone();
  impl->makeSlots();
  return std::make_unique<Predictor>(std::move(impl));
}

const Config &Predictor::config() const { return impl_->config; }

std::string Predictor::model_name() const { return impl_->model->artifact->modelName(); }

std::string Predictor::device() const { return impl_->executor->device(); }

std::string Predictor::device_description() const {
  return impl_->executor->deviceDescription();
}

int Predictor::num_threads() const { return impl_->executor->numThreads(); }

std::shared_ptr<Predictor> create_predictor(const Config &config) {
  auto impl = std::make_unique<Predictor::Impl>();
  impl->config = config;
  impl->model = loadModel(config);
  impl->executor = config.use_gpu()
                       ? createCudaExecutor(impl->model, config)
                       : createCpuExecutor(impl->model, config.cpu_math_library_num_threads());
  impl->makeSlots();
  return std::make_shared<Predictor>(std::move(impl));
}

} // namespace kiln::inference
