//===- Session.cpp - parameters, arenas, threads; runs entries ------------===//
//
// run() checks the inputs, sizes the arena for the batch, resolves every
// launch's bindings to pointers, then hands the launch list to the worker
// pool: each thread runs its contiguous share of each launch's tasks (in
// chunks, taking over what is left of a slower thread's share when it is done
// with its own) and waits at a barrier before the next launch. Chunk bounds
// depend only on the task count and the thread count, so a run repeats its
// kernel calls exactly whichever thread takes a chunk. An entry whose batch
// items are independent (Entry.items_independent) runs instead in chunks of
// the batch, a thread running every launch on a chunk (items mode, in run()).
// Everything that can fail is done before the threads start, so a job never
// throws.
//===----------------------------------------------------------------------===//
#include "ArtifactImpl.h"
#include "Blas.h"
#include "WorkerPool.h"
#include "cuda/CudaExecutor.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include <unistd.h>


namespace kiln::rt {

namespace fb = kiln::artifact;

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

namespace {
constexpr int kMaxThreads = 4096;

uint64_t roundUp64(uint64_t n) {
  return (n + KILN_ARENA_ALIGNMENT - 1) / KILN_ARENA_ALIGNMENT * KILN_ARENA_ALIGNMENT;
}

std::string joinNames(const std::vector<TensorInfo> &infos) {
  std::string s;
  for (const TensorInfo &t : infos)
    s += (s.empty() ? "" : ", ") + t.name;
  return s;
}
} // namespace

struct Session::Impl {
  std::shared_ptr<const Artifact> artifact;
  const ArtifactImpl *a = nullptr;
  int numThreads = 1;

  AlignedBuffer params; // the session's copy of param_data
  std::vector<float *> paramPtrs;

  struct Arena {
    AlignedBuffer data;
    uint64_t capacity = 0;
    /// The arena grown to `bytes` if needed (its contents need not survive).
    uint8_t *atLeast(uint64_t bytes) {
      if (bytes > capacity || !data) {
        data.reset();
        data = allocateAligned(bytes, "arena");
        capacity = bytes;
      }
      return data.get();
    }
  };
  std::vector<Arena> arenas; // one per entry, grown to the largest batch seen
  // Entries whose items are independent (EntryPlan::itemsIndependent), run
  // with a share of the batch per thread: one arena per (entry, thread).
  std::vector<std::vector<Arena>> threadArenas;

  AlignedBuffer scratch;
  uint64_t scratchStride = 0;

  std::unique_ptr<WorkerPool> pool; // null for one thread
  std::mutex mutex;                 // serialises run()

  // GPU sessions: the executor owns the device copy of the parameters;
  // `params` above is a host mirror. Stale: the device has run since the
  // mirror was refreshed. Dirty: the mirror may have been written (through
  // paramData) and must be uploaded before the next run.
  Device device = Device::Cpu;
  std::unique_ptr<cuda::Executor> gpu;
  bool mirrorStale = false, mirrorDirty = false;
  void pullParams() {
    if (gpu && mirrorStale) {
      gpu->downloadParams(reinterpret_cast<float *>(params.get()));
      mirrorStale = false;
    }
  }

  // State of the run in progress, read by the job on every thread.
  const EntryPlan *entry = nullptr;
  int64_t batch = 0;
  std::vector<float *> ptrs;      // bindings, flattened like EntryPlan::bindings
  std::vector<int64_t> numTasks;  // per launch (items mode: the largest chunk's)
  std::vector<int64_t> chunks;    // per launch: tasks per call (chunkSize)
  // Task cursors, one per (launch, thread), set before the threads start (so
  // no thread can see a cursor of an earlier run). Thread t owns the
  // contiguous range [rangeBegin(t), rangeBegin(t + 1)) of each launch and
  // takes it front to back in chunks through its cursor; a thread that has
  // finished its own range takes the remaining chunks of the others' the
  // same way. A task's result never depends on which thread runs it (kernels
  // keep one summation order per output), so this only evens out a core that
  // runs slower for a while (another process, the hypervisor) without giving
  // up the static split's locality.
  struct alignas(64) Cursor {
    std::atomic<int64_t> next{0};
  };
  std::unique_ptr<Cursor[]> cursors;
  size_t cursorCapacity = 0;

  // SessionOptions::profile: per entry, per launch.
  struct LaunchCounters {
    int64_t ns = 0, calls = 0, tasks = 0; // tasks: of the last call
  };
  bool profiling = false;
  std::vector<std::vector<LaunchCounters>> counters;
  std::vector<LaunchCounters> *running = nullptr; // the running entry's, or null

  float *scratchFor(int tid) {
    return scratch ? reinterpret_cast<float *>(scratch.get() + scratchStride * uint64_t(tid))
                   : nullptr;
  }

  // Items mode (run()): each thread takes chunks of the batch and runs
  // every launch on a chunk with its own bindings and arena, no barrier
  // between launches.
  bool itemsMode = false;
  int64_t itemsChunks = 0;                      // chunks of the batch
  size_t itemsEntry = 0;                        // index of the running entry
  std::atomic<int64_t> itemsCursor{0};          // the next chunk to take
  const std::vector<TensorView> *itemsInputs = nullptr;
  std::vector<Tensor> *itemsOutputs = nullptr;
  std::vector<std::vector<float *>> threadPtrs; // per thread, like ptrs

  static void job(void *ctx, int tid);
  void itemsJob(int tid);

  /// Runs entry e's launches on every thread (job), its profile counting
  /// one call with numTasks[i] tasks for launch i.
  void runLaunches(const EntryPlan &e, size_t entryIndex, int64_t runBatch) {
    entry = &e;
    batch = runBatch;
    running = profiling ? &counters[entryIndex] : nullptr;
    if (running)
      for (size_t i = 0; i < e.launches.size(); ++i) {
        ++(*running)[i].calls;
        (*running)[i].tasks = numTasks[i];
      }
    if (e.launches.empty())
      return;
    if (pool)
      pool->run(&Impl::job, this);
    else
      job(this, 0);
  }

  /// The pointer of binding b for a run over `items` items starting at item
  /// `first` of the inputs and outputs, with the arena at `arenaBase`.
  float *bindingPointer(const BindingPlan &b, const EntryPlan &e, uint8_t *arenaBase,
                        int64_t items, int64_t first, const std::vector<TensorView> &inputs,
                        std::vector<Tensor> &outputs) const {
    switch (b.kind) {
    case fb::BufferKind::Arena:
      // In bounds for every batch: checked against the arena plan at load.
      return reinterpret_cast<float *>(arenaBase + b.offsetFixed + b.offsetPerItem * uint64_t(items));
    case fb::BufferKind::Param:
      return paramPtrs[b.index];
    case fb::BufferKind::Input:
      // Kernels only read inputs (an input as a kernel output is rejected at
      // load). first > 0 only in items mode, where every input is batched.
      return const_cast<float *>(inputs[b.index].data) + first * e.inputElems[b.index];
    case fb::BufferKind::Output:
      return outputs[b.index].data.data() + first * e.outputElems[b.index];
    }
    return nullptr; // unreachable: kinds are range-checked at load
  }
};

/// Work units of launch i at a batch, or an error where they overflow.
static int64_t launchWork(const EntryPlan &e, size_t i, int64_t batch) {
  const LaunchPlan &l = e.launches[i];
  int64_t work;
  if (__builtin_mul_overflow(l.workPerItem, batch, &work) ||
      __builtin_add_overflow(work, l.workFixed, &work))
    throw Error(fmt::format("kiln: entry '{}': work of launch {} overflows at batch {}", e.name,
                            i, batch));
  return work;
}

/// Tasks of launch l on a chunk of `items` items (items mode; run() has
/// checked launchWork at the whole batch, so this cannot overflow).
static int64_t chunkTasks(const LaunchPlan &l, int64_t items) {
  return l.tasksFor(l.workPerItem * items + l.workFixed);
}

/// Thread t's range of a launch starts here: contiguous near-equal ranges,
/// the first tasks % n threads one task longer.
static int64_t rangeBegin(int64_t tasks, int64_t n, int64_t t) {
  return t * (tasks / n) + std::min<int64_t>(t, tasks % n);
}

/// A core's L2 cache in bytes, as the C library reads it from the CPU (1 MiB
/// where it does not say).
static int64_t l2CacheBytes() {
  static const int64_t bytes = [] {
    const long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return v > 0 ? int64_t(v) : int64_t(1) << 20;
  }();
  return bytes;
}

/// Items per chunk (items mode): as many as keep a chunk's arena (all its
/// activations, arena_per_item_bytes an item) within three quarters of a
/// core's L2, so that every launch finds its inputs there, the rest left to
/// weights and scratch; at least 1, at most 20 (the pixel-lane convolutions
/// pack up to 20 small images per call). resnet20 (147 KiB an item) on a
/// 1 MiB L2: 5 items; 20 (3 MiB) ran 1.5-2% slower at batch 128 on 1 and 2
/// threads (Zen 4; 4, 6 and 8 items within 1% of 5).
static int64_t itemsPerChunk(uint64_t arenaPerItem) {
  constexpr int64_t kMaxItems = 20;
  const uint64_t budget = uint64_t(l2CacheBytes()) * 3 / 4;
  if (arenaPerItem == 0)
    return kMaxItems;
  return std::clamp<int64_t>(int64_t(budget / arenaPerItem), 1, kMaxItems);
}

/// Chunks of a batch split by items between n threads: a multiple of n (equal
/// shares when the cores run at one speed) of at most `perChunk` items each,
/// where the batch allows.
static int64_t itemChunkCount(int64_t batch, int64_t n, int64_t perChunk) {
  return n * std::max<int64_t>(1, (batch + n * perChunk - 1) / (n * perChunk));
}

/// Tasks taken at once: an eighth of a thread's range, so a slow core leaves
/// at most about an eighth of its share to the others. Ranges under 32 tasks
/// of light work (batch-1 inference: a few output rows per thread) stay
/// whole: smaller calls would cut the convolutions' pixel vectors short and
/// cost more than the balance gains; but heavy tasks (a weight gradient's
/// 8-16 channel blocks, tens of MFLOP each) go one at a time. One thread
/// takes its range whole.
static int64_t chunkSize(int64_t tasks, int64_t n, double flopsPerTask) {
  constexpr double kHeavyTaskFlops = 4e6; // ~30 us on one core here
  const int64_t range = (tasks + n - 1) / n;
  if (n == 1)
    return std::max<int64_t>(1, range);
  if (range < 32)
    return flopsPerTask >= kHeavyTaskFlops ? 1 : std::max<int64_t>(1, range);
  return (range + 7) / 8;
}

void Session::Impl::itemsJob(int tid) {
  const EntryPlan &e = *entry;
  float *threadScratch = scratchFor(tid);
  std::vector<float *> &bound = threadPtrs[size_t(tid)];
  uint8_t *base = threadArenas[itemsEntry][size_t(tid)].data.get();
  // Profiling: thread 0's launches, over its own chunks.
  std::vector<LaunchCounters> *profile = tid == 0 ? running : nullptr;
  auto now = [] { return std::chrono::steady_clock::now(); };
  for (int64_t c = itemsCursor.fetch_add(1, std::memory_order_relaxed); c < itemsChunks;
       c = itemsCursor.fetch_add(1, std::memory_order_relaxed)) {
    const int64_t first = rangeBegin(batch, itemsChunks, c);
    const int64_t items = rangeBegin(batch, itemsChunks, c + 1) - first;
    for (size_t i = 0; i < e.bindings.size(); ++i)
      bound[i] = bindingPointer(e.bindings[i], e, base, items, first, *itemsInputs, *itemsOutputs);
    auto last = profile ? now() : std::chrono::steady_clock::time_point{};
    for (size_t i = 0; i < e.launches.size(); ++i) {
      const LaunchPlan &l = e.launches[i];
      l.fn(bound.data() + l.firstBinding, items, 0, chunkTasks(l, items), threadScratch);
      if (profile) {
        auto t = now();
        (*profile)[i].ns += std::chrono::duration_cast<std::chrono::nanoseconds>(t - last).count();
        last = t;
      }
    }
  }
}

void Session::Impl::job(void *ctx, int tid) {
  auto *s = static_cast<Session::Impl *>(ctx);
  if (s->itemsMode) {
    s->itemsJob(tid);
    return;
  }
  const EntryPlan &e = *s->entry;
  const int64_t n = s->numThreads;
  float *scratch = s->scratchFor(tid);
  // Profiling: thread 0 charges launch i - 1 with the time up to the end of
  // the barrier before launch i, so the slowest thread's share and the
  // barrier itself are counted where they belong.
  std::vector<LaunchCounters> *profile = tid == 0 ? s->running : nullptr;
  auto now = [] { return std::chrono::steady_clock::now(); };
  auto last = profile ? now() : std::chrono::steady_clock::time_point{};
  for (size_t i = 0; i < e.launches.size(); ++i) {
    if (i != 0 && s->pool)
      s->pool->barrier(); // launch i reads what launch i-1 wrote
    if (profile && i != 0) {
      auto t = now();
      (*profile)[i - 1].ns += std::chrono::duration_cast<std::chrono::nanoseconds>(t - last).count();
      last = t;
    }
    const LaunchPlan &l = e.launches[i];
    const int64_t tasks = s->numTasks[i], chunk = s->chunks[i];
    for (int64_t j = 0; j < n; ++j) { // own range first, then the others'
      const int64_t owner = (tid + j) % n;
      const int64_t end = rangeBegin(tasks, n, owner + 1);
      std::atomic<int64_t> &cursor = s->cursors[i * size_t(n) + size_t(owner)].next;
      if (j != 0 && cursor.load(std::memory_order_relaxed) >= end)
        continue; // nothing left there: look without writing the owner's line
      for (int64_t b = cursor.fetch_add(chunk, std::memory_order_relaxed); b < end;
           b = cursor.fetch_add(chunk, std::memory_order_relaxed))
        l.fn(s->ptrs.data() + l.firstBinding, s->batch, b, std::min(b + chunk, end), scratch);
    }
  }
  if (s->running && s->pool)
    s->pool->barrier(); // the last launch ends when every thread is done with it
  if (profile && !e.launches.empty())
    profile->back().ns += std::chrono::duration_cast<std::chrono::nanoseconds>(now() - last).count();
}

Session::Session(std::shared_ptr<const Artifact> artifact, SessionOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!artifact)
    throw Error("kiln: Session needs an artifact (got null)");
  Impl &s = *impl_;
  s.artifact = std::move(artifact);
  s.a = &s.artifact->impl();

  if (options.numThreads < 0 || options.numThreads > kMaxThreads)
    throw Error(fmt::format("kiln: invalid thread count {} (0 means all hardware threads)",
                            options.numThreads));
  s.numThreads = options.numThreads;
  s.profiling = options.profile;
  if (s.numThreads == 0)
    s.numThreads = std::max(1u, std::thread::hardware_concurrency());

  // OpenBLAS is loaded (and pinned to one thread per caller) with the CPU
  // module; see Blas.cpp.
  ensureBlasLoaded();

  // Parameters: one private, aligned copy of the whole table so that
  // param offsets keep their meaning and sessions never share state.
  uint64_t paramBytes = s.a->paramDataSize * sizeof(float);
  s.params = allocateAligned(paramBytes, "parameters");
  if (paramBytes)
    std::memcpy(s.params.get(), s.a->paramData, paramBytes);
  auto *base = reinterpret_cast<float *>(s.params.get());
  for (const ParamPlan &p : s.a->params)
    s.paramPtrs.push_back(base + p.offset);

  s.arenas.resize(s.a->entries.size());
  s.threadArenas.resize(s.a->entries.size());
  if (s.profiling)
    for (const EntryPlan &e : s.a->entries)
      s.counters.emplace_back(e.launches.size());
  s.device = options.device;
  if (options.device == Device::Cuda) {
    const char *graphs = std::getenv("KILN_CUDA_GRAPHS");
    bool useGraphs = options.cudaGraphs && !(graphs && std::string(graphs) == "0");
    s.gpu = std::make_unique<cuda::Executor>(*s.a, options.deviceOrdinal, useGraphs,
                                             reinterpret_cast<const float *>(s.params.get()));
    s.numThreads = 1; // the host only issues work
    return;
  }
  if (s.a->maxScratchBytes > 0) {
    s.scratchStride = roundUp64(s.a->maxScratchBytes);
    s.scratch = allocateAligned(s.scratchStride * uint64_t(s.numThreads), "kernel scratch");
  }
  if (s.numThreads > 1)
    s.pool = std::make_unique<WorkerPool>(s.numThreads);
}

Session::~Session() = default;

int Session::numThreads() const { return impl_->numThreads; }

const Artifact &Session::artifact() const { return *impl_->artifact; }

Device Session::device() const { return impl_->device; }

std::string Session::deviceDescription() const {
  if (impl_->gpu)
    return impl_->gpu->description();
  return fmt::format("CPU, {} thread{}", impl_->numThreads, impl_->numThreads == 1 ? "" : "s");
}

std::vector<LaunchProfile> Session::profile() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const Impl &s = *impl_;
  std::vector<LaunchProfile> out;
  if (!s.profiling || s.gpu)
    return out;
  for (size_t ei = 0; ei < s.a->entries.size(); ++ei) {
    const EntryPlan &e = s.a->entries[ei];
    for (size_t i = 0; i < e.launches.size(); ++i) {
      const Impl::LaunchCounters &c = s.counters[ei][i];
      if (c.calls == 0)
        continue;
      LaunchProfile p;
      p.entry = e.name;
      p.launch = uint32_t(i);
      p.kernel = s.a->kernels[e.launches[i].kernel];
      p.calls = c.calls;
      p.tasks = c.tasks;
      p.seconds = double(c.ns) * 1e-9;
      out.push_back(std::move(p));
    }
  }
  return out;
}

void Session::resetProfile() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  for (auto &entry : impl_->counters)
    std::fill(entry.begin(), entry.end(), Impl::LaunchCounters{});
}

std::vector<ParamInfo> Session::params() const { return impl_->artifact->params(); }

float *Session::paramData(const std::string &name) {
  auto it = impl_->a->paramIndex.find(name);
  if (it == impl_->a->paramIndex.end())
    throw Error(fmt::format("kiln: {}: no parameter '{}'", impl_->a->origin, name));
  if (impl_->gpu) {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->pullParams();
    impl_->mirrorDirty = true;
  }
  return impl_->paramPtrs[it->second];
}

const float *Session::paramData(const std::string &name) const {
  auto it = impl_->a->paramIndex.find(name);
  if (it == impl_->a->paramIndex.end())
    throw Error(fmt::format("kiln: {}: no parameter '{}'", impl_->a->origin, name));
  if (impl_->gpu) {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->pullParams();
  }
  return impl_->paramPtrs[it->second];
}

std::vector<NamedTensor>
Session::exportParams(const std::function<bool(const ParamInfo &)> &keep) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->pullParams();
  std::vector<NamedTensor> out;
  for (size_t i = 0; i < impl_->a->params.size(); ++i) {
    const ParamPlan &p = impl_->a->params[i];
    if (keep && !keep(p.info))
      continue;
    NamedTensor t{p.info.name, Tensor{p.info.shape, {}}};
    t.tensor.data.assign(impl_->paramPtrs[i], impl_->paramPtrs[i] + p.numel);
    out.push_back(std::move(t));
  }
  return out;
}

void Session::importParams(const std::vector<NamedTensor> &params, const std::string &origin,
                           bool requireAll,
                           const std::function<bool(const ParamInfo &)> &required) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const ArtifactImpl &a = *impl_->a;
  // Check everything first: a failed import changes nothing.
  std::vector<std::string> problems;
  std::vector<bool> given(a.params.size(), false);
  for (const NamedTensor &t : params) {
    auto it = a.paramIndex.find(t.name);
    if (it == a.paramIndex.end()) {
      problems.push_back(fmt::format("unexpected '{}'", t.name));
      continue;
    }
    const ParamPlan &p = a.params[it->second];
    if (t.tensor.shape != p.info.shape || t.tensor.data.size() != p.numel) {
      problems.push_back(fmt::format("'{}' has shape {}, the model needs {}", t.name,
                                     formatShape(t.tensor.shape), formatShape(p.info.shape)));
      continue;
    }
    given[it->second] = true;
  }
  if (requireAll)
    for (size_t i = 0; i < a.params.size(); ++i)
      if (!given[i] && (!required || required(a.params[i].info)))
        problems.push_back(fmt::format("missing '{}'", a.params[i].info.name));
  if (!problems.empty()) {
    std::string list;
    for (size_t i = 0; i < problems.size() && i < 5; ++i)
      list += (i ? "; " : "") + problems[i];
    if (problems.size() > 5)
      list += fmt::format("; and {} more", problems.size() - 5);
    throw Error(fmt::format("kiln: {}: parameters do not match model '{}' ({} problem{}: {})",
                            origin, impl_->artifact->modelName(), problems.size(),
                            problems.size() == 1 ? "" : "s", list));
  }
  impl_->pullParams(); // parameters not given keep their current value
  for (const NamedTensor &t : params) {
    size_t index = a.paramIndex.at(t.name);
    std::copy(t.tensor.data.begin(), t.tensor.data.end(), impl_->paramPtrs[index]);
  }
  if (impl_->gpu) {
    impl_->gpu->uploadParams(reinterpret_cast<const float *>(impl_->params.get()));
    impl_->mirrorDirty = false;
  }
}

std::vector<Tensor> Session::run(const std::string &entryName,
                                 const std::vector<TensorView> &inputs) {
  Impl &s = *impl_;
  std::lock_guard<std::mutex> lock(s.mutex);
  const EntryPlan &e = s.a->entry(entryName);
  const size_t entryIndex = size_t(&e - s.a->entries.data());

  // ---- inputs: count, rank, static dims, one shared batch ----
  if (inputs.size() != e.inputs.size())
    throw Error(fmt::format("kiln: entry '{}' expects {} input{} ({}), got {}", e.name,
                            e.inputs.size(), e.inputs.size() == 1 ? "" : "s",
                            joinNames(e.inputs), inputs.size()));
  int64_t batch = -1;
  size_t batchFrom = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorInfo &sig = e.inputs[i];
    const TensorView &in = inputs[i];
    bool ok = in.shape.size() == sig.shape.size();
    for (size_t d = 0; ok && d < sig.shape.size(); ++d)
      ok = sig.shape[d] < 0 ? in.shape[d] >= 0 : in.shape[d] == sig.shape[d];
    if (!ok)
      throw Error(fmt::format("kiln: entry '{}' input '{}': expected shape {}, got {}", e.name,
                              sig.name, formatShape(sig.shape), formatShape(in.shape)));
    if (!sig.shape.empty() && sig.shape[0] < 0) {
      if (in.shape[0] < 1)
        throw Error(fmt::format("kiln: entry '{}' input '{}': batch must be >= 1, got shape {}",
                                e.name, sig.name, formatShape(in.shape)));
      if (batch < 0) {
        batch = in.shape[0];
        batchFrom = i;
      } else if (in.shape[0] != batch) {
        throw Error(fmt::format("kiln: entry '{}' input '{}': batch {} differs from input "
                                "'{}' batch {}",
                                e.name, sig.name, in.shape[0], e.inputs[batchFrom].name, batch));
      }
    }
    bool empty = false;
    for (int64_t d : in.shape)
      empty |= d == 0;
    if (!in.data && !empty)
      throw Error(fmt::format("kiln: entry '{}' input '{}': data is null", e.name, sig.name));
  }
  if (batch < 0)
    batch = 1; // no dynamic input: the entry has a fixed size

  // ---- outputs ----
  std::vector<Tensor> outputs(e.outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    uint64_t numel = uint64_t(e.outputElems[i]);
    if (e.outputDynamic[i] && __builtin_mul_overflow(numel, uint64_t(batch), &numel))
      throw Error(fmt::format("kiln: entry '{}' output '{}' is too large at batch {}", e.name,
                              e.outputs[i].name, batch));
    outputs[i].shape = e.outputs[i].shape;
    if (e.outputDynamic[i])
      outputs[i].shape[0] = batch;
    try {
      outputs[i].data.resize(size_t(numel));
    } catch (const std::exception &) {
      throw Error(fmt::format("kiln: entry '{}': cannot allocate output '{}' ({} floats)",
                              e.name, e.outputs[i].name, numel));
    }
  }

  if (s.gpu) {
    if (s.mirrorDirty) {
      s.gpu->uploadParams(reinterpret_cast<const float *>(s.params.get()));
      s.mirrorDirty = false;
    }
    s.mirrorStale = true; // even a failed run may have updated parameters
    s.gpu->run(e, batch, inputs, outputs);
    return outputs;
  }

  // ---- items mode: each thread runs the whole entry on chunks of items ----
  // Where no item depends on another (the compiler says so), a thread can
  // run every launch on its own images: no barrier between launches, no
  // activation travelling between cores. Splitting every launch instead
  // splits small batches inside images, whose NCHW rows the two threads then
  // read and write across cores: resnet20 inference on 2 threads ran 6-11%
  // faster this way at batches 8-32 and 2-4% at 128 (bench_artifact_ab).
  // Chunks are taken from a shared counter, so a core the hypervisor slows
  // down takes fewer (as the launch split's task stealing does); see
  // itemChunkCount for their sizes. One thread runs a batch of more than
  // one chunk chunk by chunk too: each chunk's activations stay in its
  // core's L2 from one launch to the next (resnet20, batch 128: 5.5-6%
  // faster; batch 64: 3.6%).
  const int64_t perChunk = itemsPerChunk(e.arenaPerItem);
  s.itemsMode = e.itemsIndependent && (s.pool ? batch >= s.numThreads : batch > perChunk);
  if (s.itemsMode) {
    const int n = s.numThreads;
    s.itemsChunks = itemChunkCount(batch, n, perChunk);
    s.itemsEntry = entryIndex;
    const int64_t most = (batch + s.itemsChunks - 1) / s.itemsChunks; // the largest chunk
    for (size_t i = 0; i < e.launches.size(); ++i)
      launchWork(e, i, batch); // a chunk's work is smaller: checked here, once
    const uint64_t bytes = s.artifact->arenaBytes(e.name, most);
    std::vector<Impl::Arena> &arenas = s.threadArenas[entryIndex];
    arenas.resize(size_t(n));
    for (Impl::Arena &arena : arenas)
      arena.atLeast(bytes);
    s.threadPtrs.resize(size_t(n));
    for (std::vector<float *> &bound : s.threadPtrs)
      bound.resize(e.bindings.size());
    s.itemsInputs = &inputs;
    s.itemsOutputs = &outputs;
    s.itemsCursor.store(0, std::memory_order_relaxed);
    // The largest chunk's tasks, for the profile (itemsJob counts its own).
    s.numTasks.resize(e.launches.size());
    for (size_t i = 0; i < e.launches.size(); ++i)
      s.numTasks[i] = chunkTasks(e.launches[i], most);
    s.runLaunches(e, entryIndex, batch);
    return outputs; // no copies: EntryPlan::itemsIndependent
  }

  // ---- arena, grown to this batch if needed (contents need not survive) ----
  uint64_t arenaBytes = s.artifact->arenaBytes(e.name, batch);
  uint8_t *arenaBase = s.arenas[entryIndex].atLeast(arenaBytes);

  // ---- bindings -> pointers ----
  auto resolve = [&](const BindingPlan &b) {
    return s.bindingPointer(b, e, arenaBase, batch, 0, inputs, outputs);
  };
  s.ptrs.resize(e.bindings.size());
  for (size_t i = 0; i < e.bindings.size(); ++i)
    s.ptrs[i] = resolve(e.bindings[i]);

  s.numTasks.resize(e.launches.size());
  s.chunks.resize(e.launches.size());
  for (size_t i = 0; i < e.launches.size(); ++i) {
    const LaunchPlan &l = e.launches[i];
    s.numTasks[i] = l.tasksFor(launchWork(e, i, batch));
    const double flopsPerTask =
        s.numTasks[i] ? double(s.a->kernels[l.kernel].flopsPerItem) * double(batch) /
                            double(s.numTasks[i])
                      : 0.0;
    s.chunks[i] = chunkSize(s.numTasks[i], s.numThreads, flopsPerTask);
  }

  // ---- launches ----
  const size_t cursorCount = e.launches.size() * size_t(s.numThreads);
  if (cursorCount > s.cursorCapacity) {
    s.cursors = std::make_unique<Impl::Cursor[]>(cursorCount);
    s.cursorCapacity = cursorCount;
  }
  for (size_t i = 0; i < e.launches.size(); ++i)
    for (int t = 0; t < s.numThreads; ++t)
      s.cursors[i * size_t(s.numThreads) + size_t(t)].next.store(
          rangeBegin(s.numTasks[i], s.numThreads, t), std::memory_order_relaxed);
  s.runLaunches(e, entryIndex, batch);

  // ---- copies: outputs that alias an input, a parameter, an arena slice or
  // another output (sizes checked at load) ----
  for (const CopyPlan &c : e.copies) {
    Tensor &dst = outputs[c.to];
    const float *src = resolve(c.from);
    if (!dst.data.empty() && src != dst.data.data())
      std::memmove(dst.data.data(), src, dst.data.size() * sizeof(float));
  }
  return outputs;
}

} // namespace kiln::rt
