//===- Runtime.h - load and run Kiln artifacts ------------------*- C++ -*-===//
//
// The runtime's C++ API. It never includes or links MLIR/LLVM: an artifact
// (runtime/schema/kiln_artifact.fbs) is all it needs.
//
//   auto artifact = kiln::rt::Artifact::loadFile("resnet20.kiln");
//   kiln::rt::Session session(artifact, {/*num_threads=*/2});
//   std::vector<float> image(7 * 1 * 28 * 28);
//   auto outputs = session.run("infer", {kiln::rt::TensorView{image.data(), {7, 1, 28, 28}}});
//   // outputs[0].shape == {7, 10}
//
// Every failure (bad file, unknown entry, wrong input shape) throws kiln::rt::Error
// whose what() is a one-line message naming the file/entry/input and what was
// expected.
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_RUNTIME_H
#define KILN_RUNTIME_RUNTIME_H

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln::rt {

class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// An owning host tensor (row-major f32).
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
  int64_t numel() const;
};

/// A named tensor of a parameter checkpoint.
struct NamedTensor {
  std::string name;
  Tensor tensor;
};

/// A non-owning view of caller memory (row-major f32).
struct TensorView {
  const float *data = nullptr;
  std::vector<int64_t> shape;
};

/// An entry input/output. shape[i] == -1 marks the dynamic batch.
struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;
};

struct KernelInfo {
  std::string name;  // symbol
  std::string ops;   // e.g. "conv2d+batch_norm+relu"
  std::string kind;  // fusion kind of the anchor
  int64_t flopsPerItem = 0;
};

struct ParamInfo {
  std::string name;
  std::vector<int64_t> shape;
  bool trainable = true;
};

class ArtifactImpl;

/// A loaded, verified artifact (immutable; share it between sessions/threads).
class Artifact {
public:
  /// Reads, verifies (flatbuffers Verifier, identifier, schema version) and loads
  /// the CPU module. Throws Error naming `path` and what is wrong.
  static std::shared_ptr<const Artifact> loadFile(const std::string &path);
  /// Same from memory; `origin` names the source in messages.
  static std::shared_ptr<const Artifact> loadBuffer(std::vector<uint8_t> bytes,
                                                    const std::string &origin);
  ~Artifact();

  std::string modelName() const;
  std::string compilerVersion() const;
  uint32_t schemaVersion() const;
  std::vector<std::string> entryNames() const;
  bool hasEntry(const std::string &entry) const;
  const std::vector<TensorInfo> &inputs(const std::string &entry) const;
  const std::vector<TensorInfo> &outputs(const std::string &entry) const;
  /// Kernels in launch order for an entry.
  std::vector<KernelInfo> kernels(const std::string &entry) const;
  /// Arena bytes an entry needs at a given batch.
  uint64_t arenaBytes(const std::string &entry, int64_t batch) const;
  /// Forward FLOPs per batch item summed over an entry's kernels.
  int64_t flopsPerItem(const std::string &entry) const;
  /// Whether the entry's batch items are independent (the compiler proved
  /// that no op mixes them and no parameter is written): a session then runs
  /// the batch in chunks of 1-20 items (as many as keep a chunk's arena
  /// within three quarters of a core's L2), every launch on one chunk at a
  /// time, the threads taking chunks (with several threads: when the batch
  /// has at least one item per thread; with one: when it holds more than one
  /// chunk).
  bool itemsIndependent(const std::string &entry) const;
  std::vector<ParamInfo> params() const;
  /// Initial values of parameter `index` (numel floats).
  const float *initialParam(size_t index) const;

  const ArtifactImpl &impl() const { return *impl_; }

private:
  explicit Artifact(std::unique_ptr<ArtifactImpl> impl);
  std::unique_ptr<ArtifactImpl> impl_;
};

/// Where a session runs its kernels.
enum class Device { Cpu, Cuda };

struct SessionOptions {
  int numThreads = 0; // 0: all hardware threads (CPU sessions)
  /// Cuda: the artifact's CUDA kernels (kiln-compile --target=cpu,cuda) on GPU
  /// `deviceOrdinal`, loaded through libcuda.so.1 at run time; the session
  /// constructor throws Error with the reason when that is impossible (no
  /// driver, no device, no CUDA code for the device, no CUDA kernels).
  Device device = Device::Cpu;
  int deviceOrdinal = 0;
  /// GPU: capture each (entry, batch) into a CUDA graph after its first run
  /// and replay it (set KILN_CUDA_GRAPHS=0 in the environment to disable).
  bool cudaGraphs = true;
  /// CPU: time every launch (thread 0's wall time from the start of a launch
  /// to the start of the next, barrier included; for an entry whose items
  /// are split between threads, thread 0's launches on its own items) and
  /// accumulate it per launch; read it with Session::profile(). Costs two
  /// clock reads per launch.
  bool profile = false;
};

/// One launch of an entry with its accumulated time (SessionOptions::profile).
struct LaunchProfile {
  std::string entry;
  uint32_t launch = 0;   // position in the entry's launch order
  KernelInfo kernel;
  int64_t calls = 0;     // runs of the entry that executed this launch
  int64_t tasks = 0;     // tasks of the last call (thread 0's, items split)
  double seconds = 0;    // summed over calls
};

/// Parameters, arenas and worker threads for running an artifact's entries.
/// One session runs one entry at a time (calls are serialised); use one
/// session per thread for concurrency.
class Session {
public:
  Session(std::shared_ptr<const Artifact> artifact, SessionOptions options = {});
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  /// Runs `entry`. Inputs must match the entry's signature (any batch >= 1 for
  /// the dynamic dimension, the same batch for every input); throws Error otherwise.
  std::vector<Tensor> run(const std::string &entry,
                          const std::vector<TensorView> &inputs);

  int numThreads() const;
  const Artifact &artifact() const;
  Device device() const;
  /// "CPU, 2 threads" or "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs), cubin sm_90, driver 13.0".
  std::string deviceDescription() const;

  /// Per-launch times accumulated since construction (or resetProfile()), for
  /// every entry that ran; empty unless SessionOptions::profile (CPU only).
  std::vector<LaunchProfile> profile() const;
  void resetProfile();

  /// Parameter access (by name, in the artifact's parameter order). On a GPU
  /// session the pointer is a host copy, refreshed from the device by this
  /// call; writes through the non-const one reach the device at the next
  /// run(). Do not keep it across run() calls.
  std::vector<ParamInfo> params() const;
  float *paramData(const std::string &name);
  const float *paramData(const std::string &name) const;

  /// The current value of every parameter (in artifact order) whose name
  /// `keep` accepts (all when null).
  std::vector<NamedTensor>
  exportParams(const std::function<bool(const ParamInfo &)> &keep = nullptr) const;
  /// Sets parameters by name. Every given tensor must name a parameter of the
  /// artifact with the same shape; with `requireAll`, every parameter that
  /// `required` accepts (all when null) must be given. Throws Error listing
  /// every mismatch (`origin` names the source, e.g. the checkpoint path);
  /// nothing is changed when it throws.
  void importParams(const std::vector<NamedTensor> &params, const std::string &origin,
                    bool requireAll = true,
                    const std::function<bool(const ParamInfo &)> &required = nullptr);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Parameter checkpoints (.kparams): "KPRM" magic, format version, the
/// tensors (name, shape, f32 data) and a CRC-32 of everything before it.
/// saveParams writes a temporary file in the same directory, fsyncs it and
/// renames it over `path`, so a reader (or a crash) never sees half a file.
/// loadParams throws Error naming the file and what is wrong (missing,
/// truncated, bad magic/version/CRC, malformed entry).
void saveParams(const std::string &path, const std::vector<NamedTensor> &params);
std::vector<NamedTensor> loadParams(const std::string &path);

/// Reads a .npy file (little-endian <f4, C order). Throws Error on anything else.
Tensor loadNpy(const std::string &path);
/// Writes a .npy file (<f4, C order).
void saveNpy(const std::string &path, const Tensor &tensor);

} // namespace kiln::rt

#endif
