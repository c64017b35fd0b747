//===- CudaExecutor.cpp - device memory, module, stream, graphs -----------===//
#include "CudaExecutor.h"
#include "LaunchDag.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace kiln::rt::cuda {

namespace fb = kiln::artifact;
using namespace cu;

namespace {
constexpr uint64_t kDeviceAlignment = 256; // param slices, staging buffers
constexpr uint64_t kMaxScratchBytes = uint64_t(1) << 32;

uint64_t alignUp(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

/// sm_90 -> 90, compute_80 -> 80, anything else -> -1.
int archNumber(const std::string &arch, const char *prefix) {
  size_t n = std::strlen(prefix);
  if (arch.compare(0, n, prefix) != 0 || arch.size() == n)
    return -1;
  int value = 0;
  for (size_t i = n; i < arch.size(); ++i) {
    if (arch[i] < '0' || arch[i] > '9' || value > 10000)
      return -1;
    value = value * 10 + (arch[i] - '0');
  }
  return value;
}
} // namespace

/// The driver, after checking that the artifact has CUDA code at all (the
/// more useful message when both are missing).
static const Driver &driverFor(const ArtifactImpl &a) {
  const auto *mods = a.root->cuda();
  if (!mods || mods->size() == 0)
    a.fail("the artifact has no CUDA kernels; compile it with kiln-compile --target=cpu,cuda");
  return driver();
}

uint64_t numelAt(const std::vector<int64_t> &shape, int64_t batch) {
  uint64_t n = 1;
  for (int64_t d : shape)
    n *= uint64_t(d < 0 ? batch : d);
  return n;
}

Executor::Executor(const ArtifactImpl &a, int ordinal, bool useGraphs, const float *hostParams)
    : a_(a), d_(driverFor(a)), useGraphs_(useGraphs) {
  // ---- per-kernel launch data, validated like the rest of the artifact ----
  uint64_t maxScratch = 0;
  const auto *ks = a.root->kernels();
  for (uint32_t i = 0; ks && i < ks->size(); ++i) {
    const fb::Kernel *k = ks->Get(i);
    const std::string &name = a.kernels[i].name;
    KernelLaunch l;
    if (!k->cuda_symbol() || k->cuda_symbol()->size() == 0)
      a.fail(fmt::format("kernel '{}' has no CUDA kernel; recompile with --target=cpu,cuda", name));
    l.symbol = k->cuda_symbol()->str();
    l.blockThreads = k->cuda_block_threads();
    l.gridY = k->cuda_grid_y();
    l.gridXFixed = k->cuda_grid_x_fixed();
    l.gridXPerItem = k->cuda_grid_x_per_item();
    l.gridXDivisor = k->cuda_grid_x_divisor();
    l.maxBatch = k->cuda_max_batch();
    if (l.blockThreads < 1 || l.blockThreads > 1024 || l.gridY < 1 || l.gridY > 65535 ||
        l.gridXDivisor < 1 || l.gridXFixed < 0 || l.gridXPerItem < 0 || l.maxBatch < 0 ||
        l.gridXFixed > INT_MAX || l.gridXPerItem > INT_MAX)
      a.fail(fmt::format("kernel '{}' has an invalid CUDA launch shape", name));
    if (k->cuda_scratch_bytes() > kMaxScratchBytes)
      a.fail(fmt::format("kernel '{}' asks for {} bytes of CUDA scratch", name,
                         k->cuda_scratch_bytes()));
    maxScratch = std::max<uint64_t>(maxScratch, k->cuda_scratch_bytes());
    usesScratch_.push_back(k->cuda_scratch_bytes() > 0);
    if (const auto *args = k->args()) {
      if (args->size() != k->num_inputs() + 1)
        a.fail(fmt::format("kernel '{}' lists {} argument shapes for {} buffers", name,
                           args->size(), k->num_inputs() + 1));
      for (const fb::TensorSig *sig : *args) {
        std::vector<int64_t> shape;
        if (sig->shape())
          for (int64_t dim : *sig->shape()) {
            if (dim < -1 || dim > INT_MAX)
              a.fail(fmt::format("kernel '{}' has an invalid argument shape", name));
            shape.push_back(dim);
          }
        l.args.push_back(std::move(shape));
      }
    }
    argShapes_.push_back(l.args);
    kernels_.push_back(std::move(l));
  }
  if (const char *dag = std::getenv("KILN_CUDA_GRAPH_DAG"); dag && std::string(dag) == "0")
    useDag_ = false;

  try {
    int count = 0;
    check(d_.cuDeviceGetCount(&count), "cuDeviceGetCount");
    if (ordinal < 0 || ordinal >= count)
      throw Error(fmt::format("kiln: CUDA: device {} requested, the driver sees {} device{}",
                              ordinal, count, count == 1 ? "" : "s"));
    check(d_.cuDeviceGet(&device_, ordinal), "cuDeviceGet");
    check(d_.cuDevicePrimaryCtxRetain(&ctx_, device_), "cuDevicePrimaryCtxRetain");
    check(d_.cuCtxSetCurrent(ctx_), "cuCtxSetCurrent");
    pickModule();
    std::map<std::string, CUfunction> bySymbol;
    for (KernelLaunch &l : kernels_) {
      auto [it, inserted] = bySymbol.emplace(l.symbol, nullptr);
      if (inserted) {
        CUresult r = d_.cuModuleGetFunction(&it->second, module_, l.symbol.c_str());
        if (r != CUDA_SUCCESS)
          throw Error(fmt::format("kiln: {}: the CUDA module has no kernel '{}' ({})", a.origin,
                                  l.symbol, d_.errorText(r)));
      }
      l.fn = it->second;
    }
    check(d_.cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING), "cuStreamCreate");

    // ---- parameters: one buffer, every tensor 256-byte aligned ----
    uint64_t total = 0;
    for (const ParamPlan &p : a.params) {
      paramOffsets_.push_back(total);
      total = alignUp(total + p.numel * sizeof(float), kDeviceAlignment);
    }
    reserve(params_, total);
    uploadParams(hostParams);
    if (maxScratch > 0) {
      reserve(scratch_, maxScratch);
      check(d_.cuMemsetD8Async(scratch_.ptr, 0, scratch_.capacity, stream_), "cuMemsetD8Async");
    }
    check(d_.cuStreamSynchronize(stream_), "initialising the device");
    entries_.resize(a.entries.size());
    for (size_t i = 0; i < a.entries.size(); ++i) {
      entries_[i].inputs.resize(a.entries[i].inputs.size());
      entries_[i].outputs.resize(a.entries[i].outputs.size());
    }
  } catch (...) {
    cleanup();
    throw;
  }
}

Executor::~Executor() { cleanup(); }

void Executor::cleanup() noexcept {
  if (!ctx_)
    return;
  d_.cuCtxSetCurrent(ctx_);
  if (stream_)
    d_.cuStreamSynchronize(stream_);
  for (EntryState &s : entries_) {
    dropGraphs(s);
    release(s.arena);
    for (Buffer &b : s.inputs)
      release(b);
    for (Buffer &b : s.outputs)
      release(b);
  }
  entries_.clear();
  release(params_);
  release(scratch_);
  if (module_)
    d_.cuModuleUnload(module_);
  module_ = nullptr;
  if (stream_)
    d_.cuStreamDestroy(stream_);
  stream_ = nullptr;
  d_.cuDevicePrimaryCtxRelease(device_);
  ctx_ = nullptr;
}

void Executor::pickModule() {
  int major = 0, minor = 0, sms = 0;
  check(d_.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device_),
        "cuDeviceGetAttribute");
  check(d_.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device_),
        "cuDeviceGetAttribute");
  d_.cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device_);
  char name[256] = {0};
  d_.cuDeviceGetName(name, int(sizeof name) - 1, device_);
  const int cc = major * 10 + minor;
  // A cubin runs on its own major version at an equal or higher minor; PTX
  // for any compute capability up to the device's can be JIT-compiled.
  const fb::CudaModule *cubin = nullptr, *ptx = nullptr;
  int cubinCc = -1, ptxCc = -1;
  std::string available;
  for (const fb::CudaModule *m : *a_.root->cuda()) {
    std::string arch = m->arch() ? m->arch()->str() : std::string();
    available += (available.empty() ? "" : ", ") + arch;
    int sm = archNumber(arch, "sm_"), compute = archNumber(arch, "compute_");
    if (sm >= 0 && sm / 10 == major && sm <= cc && sm > cubinCc && m->cubin() &&
        m->cubin()->size() > 0) {
      cubin = m;
      cubinCc = sm;
    }
    if (compute >= 0 && compute <= cc && compute > ptxCc && m->ptx() && m->ptx()->size() > 0) {
      ptx = m;
      ptxCc = compute;
    }
  }
  const void *image = nullptr;
  std::string chosen;
  if (cubin) {
    image = cubin->cubin()->data();
    chosen = "cubin " + cubin->arch()->str();
  } else if (ptx) {
    image = ptx->ptx()->c_str();
    chosen = "PTX JIT of " + ptx->arch()->str();
  } else {
    throw Error(fmt::format("kiln: {}: no CUDA code for {} (sm_{}); the artifact has {}; "
                            "recompile with --cuda-arch=sm_{}",
                            a_.origin, name, cc, available, cc));
  }
  char log[8192] = {0};
  int options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {log, reinterpret_cast<void *>(uintptr_t(sizeof log - 1))};
  CUresult r = d_.cuModuleLoadDataEx(&module_, image, 2, options, values);
  if (r != CUDA_SUCCESS) {
    module_ = nullptr;
    throw Error(fmt::format("kiln: {}: cannot load the CUDA module ({}) on {}: {}{}{}", a_.origin,
                            chosen, name, d_.errorText(r), log[0] ? ": " : "", log));
  }
  description_ = fmt::format("{} (sm_{}, {} SMs), {}, driver {}.{}", name, cc, sms, chosen,
                             d_.version / 1000, (d_.version % 1000) / 10);
}

bool Executor::reserve(Buffer &b, uint64_t bytes) {
  bytes = std::max<uint64_t>(alignUp(bytes, kDeviceAlignment), kDeviceAlignment);
  if (b.ptr && b.capacity >= bytes)
    return false;
  release(b);
  CUresult r = d_.cuMemAlloc(&b.ptr, bytes);
  if (r != CUDA_SUCCESS) {
    b.ptr = 0;
    throw Error(fmt::format("kiln: CUDA: cannot allocate {} bytes of device memory: {}", bytes,
                            d_.errorText(r)));
  }
  b.capacity = bytes;
  return true;
}

void Executor::release(Buffer &b) {
  if (b.ptr)
    d_.cuMemFree(b.ptr);
  b.ptr = 0;
  b.capacity = 0;
}

void Executor::dropGraphs(EntryState &s) {
  for (auto &[batch, g] : s.graphs) {
    if (g.exec)
      d_.cuGraphExecDestroy(g.exec);
    if (g.graph)
      d_.cuGraphDestroy(g.graph);
  }
  s.graphs.clear();
  s.ranOnce.clear();
}

void Executor::uploadParams(const float *hostBase) {
  if (!params_.ptr)
    return;
  check(d_.cuCtxSetCurrent(ctx_), "cuCtxSetCurrent");
  std::vector<uint8_t> staging(params_.capacity, 0);
  for (size_t i = 0; i < a_.params.size(); ++i)
    std::memcpy(staging.data() + paramOffsets_[i], hostBase + a_.params[i].offset,
                a_.params[i].numel * sizeof(float));
  check(d_.cuMemcpyHtoDAsync(params_.ptr, staging.data(), staging.size(), stream_),
        "copying the parameters to the device");
  check(d_.cuStreamSynchronize(stream_), "copying the parameters to the device");
}

void Executor::downloadParams(float *hostBase) {
  if (!params_.ptr)
    return;
  check(d_.cuCtxSetCurrent(ctx_), "cuCtxSetCurrent");
  std::vector<uint8_t> staging(params_.capacity);
  check(d_.cuMemcpyDtoHAsync(staging.data(), params_.ptr, staging.size(), stream_),
        "copying the parameters from the device");
  check(d_.cuStreamSynchronize(stream_), "copying the parameters from the device");
  for (size_t i = 0; i < a_.params.size(); ++i)
    std::memcpy(hostBase + a_.params[i].offset, staging.data() + paramOffsets_[i],
                a_.params[i].numel * sizeof(float));
}

int64_t Executor::gridX(uint32_t kernel, int64_t batch) const {
  const KernelLaunch &k = kernels_[kernel];
  int64_t work = k.gridXFixed + k.gridXPerItem * batch; // batch <= maxBatch: no overflow
  int64_t blocks = (work + k.gridXDivisor - 1) / k.gridXDivisor;
  if (blocks > INT_MAX)
    throw Error(fmt::format("kiln: CUDA: kernel '{}' needs {} blocks at batch {}",
                            a_.kernels[kernel].name, blocks, batch));
  return std::max<int64_t>(blocks, 0);
}

void Executor::launch(uint32_t kernel, int64_t batch, std::vector<CUdeviceptr> &buffers) {
  const KernelLaunch &k = kernels_[kernel];
  const int64_t gridX = this->gridX(kernel, batch);
  if (gridX <= 0)
    return;
  CUdeviceptr scratch = scratch_.ptr;
  long long b = batch;
  void *params[64];
  std::vector<void *> many;
  void **argv = params;
  if (buffers.size() + 2 > 64) {
    many.resize(buffers.size() + 2);
    argv = many.data();
  }
  for (size_t i = 0; i < buffers.size(); ++i)
    argv[i] = &buffers[i];
  argv[buffers.size()] = &scratch;
  argv[buffers.size() + 1] = &b;
  CUresult r = d_.cuLaunchKernel(k.fn, unsigned(gridX), k.gridY, 1, k.blockThreads, 1, 1, 0,
                                 stream_, argv, nullptr);
  if (r != CUDA_SUCCESS)
    throw Error(fmt::format("kiln: CUDA: launching kernel '{}' ({} x {} blocks of {}) failed: {}",
                            a_.kernels[kernel].name, gridX, k.gridY, k.blockThreads,
                            d_.errorText(r)));
}

CUdeviceptr Executor::resolve(const BindingPlan &b, EntryState &s, int64_t batch) const {
  switch (b.kind) {
  case fb::BufferKind::Arena:
    return s.arena.ptr + b.offsetFixed + b.offsetPerItem * uint64_t(batch);
  case fb::BufferKind::Param:
    return params_.ptr + paramOffsets_[b.index];
  case fb::BufferKind::Input:
    return s.inputs[b.index].ptr;
  case fb::BufferKind::Output:
    return s.outputs[b.index].ptr;
  }
  return 0; // unreachable: kinds are range-checked at load
}

void Executor::enqueue(const EntryPlan &e, EntryState &s, int64_t batch) {
  std::vector<CUdeviceptr> buffers;
  for (const LaunchPlan &l : e.launches) {
    buffers.clear();
    for (uint32_t j = 0; j < l.numBindings; ++j)
      buffers.push_back(resolve(e.bindings[l.firstBinding + j], s, batch));
    launch(l.kernel, batch, buffers);
  }
  enqueueCopies(e, s, batch);
}

void Executor::enqueueCopies(const EntryPlan &e, EntryState &s, int64_t batch) {
  for (const CopyPlan &c : e.copies) {
    CUdeviceptr dst = s.outputs[c.to].ptr, src = resolve(c.from, s, batch);
    uint64_t bytes =
        uint64_t(e.outputElems[c.to]) * (e.outputDynamic[c.to] ? uint64_t(batch) : 1) * 4;
    if (bytes && src != dst)
      check(d_.cuMemcpyDtoDAsync(dst, src, bytes, stream_), "copying an output");
  }
}

bool Executor::buildDagGraph(const EntryPlan &e, EntryState &s, int64_t batch, Graph &g) {
  if (!useDag_ || e.launches.empty())
    return false;
  std::vector<std::vector<uint32_t>> deps = launchDependencies(e, batch, argShapes_, usesScratch_);
  if (deps.size() != e.launches.size())
    return false; // no argument shapes in this artifact
  for (const LaunchPlan &l : e.launches)
    if (gridX(l.kernel, batch) <= 0)
      return false; // an empty launch would need its edges forwarded: keep it simple
  if (d_.cuGraphCreate(&g.graph, 0) != CUDA_SUCCESS) {
    g.graph = nullptr;
    return false;
  }
  std::vector<CUgraphNode> nodes(e.launches.size(), nullptr);
  std::vector<CUgraphNode> depNodes;
  std::vector<CUdeviceptr> buffers;
  std::vector<void *> argv;
  for (size_t i = 0; i < e.launches.size(); ++i) {
    const LaunchPlan &l = e.launches[i];
    const KernelLaunch &k = kernels_[l.kernel];
    buffers.clear();
    for (uint32_t j = 0; j < l.numBindings; ++j)
      buffers.push_back(resolve(e.bindings[l.firstBinding + j], s, batch));
    CUdeviceptr scratch = scratch_.ptr;
    long long b = batch;
    argv.clear();
    for (CUdeviceptr &p : buffers)
      argv.push_back(&p);
    argv.push_back(&scratch);
    argv.push_back(&b);
    KernelNodeParams params{};
    params.func = k.fn;
    params.gridDimX = unsigned(gridX(l.kernel, batch));
    params.gridDimY = k.gridY;
    params.gridDimZ = 1;
    params.blockDimX = k.blockThreads;
    params.blockDimY = 1;
    params.blockDimZ = 1;
    params.kernelParams = argv.data(); // copied by the driver
    depNodes.clear();
    for (uint32_t d : deps[i])
      depNodes.push_back(nodes[d]);
    if (d_.cuGraphAddKernelNode(&nodes[i], g.graph, depNodes.empty() ? nullptr : depNodes.data(),
                                depNodes.size(), &params) != CUDA_SUCCESS) {
      d_.cuGraphDestroy(g.graph);
      g.graph = nullptr;
      return false;
    }
  }
  if (d_.cuGraphInstantiateWithFlags(&g.exec, g.graph, 0) != CUDA_SUCCESS) {
    d_.cuGraphDestroy(g.graph);
    g = Graph{};
    return false;
  }
  g.copiesOutside = true;
  return true;
}

void Executor::run(const EntryPlan &e, int64_t batch, const std::vector<TensorView> &inputs,
                   std::vector<Tensor> &outputs) {
  check(d_.cuCtxSetCurrent(ctx_), "cuCtxSetCurrent");
  EntryState &s = entries_[size_t(&e - a_.entries.data())];
  for (const LaunchPlan &l : e.launches) {
    const KernelLaunch &k = kernels_[l.kernel];
    if (k.maxBatch > 0 && batch > k.maxBatch)
      throw Error(fmt::format("kiln: entry '{}': batch {} is too large for the GPU (kernel '{}' "
                              "indexes with 32 bits up to batch {})",
                              e.name, batch, a_.kernels[l.kernel].name, k.maxBatch));
  }
  bool moved = reserve(s.arena, e.arenaFixed + e.arenaPerItem * uint64_t(batch));
  std::vector<uint64_t> inBytes(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    inBytes[i] = numelAt(inputs[i].shape, batch) * sizeof(float);
    moved |= reserve(s.inputs[i], inBytes[i]);
  }
  for (size_t i = 0; i < outputs.size(); ++i)
    moved |= reserve(s.outputs[i], outputs[i].data.size() * sizeof(float));
  if (moved)
    dropGraphs(s);

  for (size_t i = 0; i < inputs.size(); ++i)
    if (inBytes[i])
      check(d_.cuMemcpyHtoDAsync(s.inputs[i].ptr, inputs[i].data, inBytes[i], stream_),
            "copying an input to the device");

  auto graph = s.graphs.find(batch);
  Graph dag;
  if (graph != s.graphs.end()) {
    check(d_.cuGraphLaunch(graph->second.exec, stream_), "cuGraphLaunch");
    ++graphLaunches_;
    if (graph->second.copiesOutside)
      enqueueCopies(e, s, batch);
  } else if (useGraphs_ && s.ranOnce.count(batch) && !s.noGraph.count(batch) &&
             buildDagGraph(e, s, batch, dag)) {
    // Second run at this batch: the dependency graph of the launches.
    s.graphs[batch] = dag;
    ++graphCaptures_;
    ++dagGraphs_;
    check(d_.cuGraphLaunch(dag.exec, stream_), "cuGraphLaunch");
    ++graphLaunches_;
    enqueueCopies(e, s, batch);
  } else if (useGraphs_ && s.ranOnce.count(batch) && !s.noGraph.count(batch)) {
    // Or the launches captured from the stream, in order. Anything that goes
    // wrong with the capture itself falls back to eager launches.
    Graph g;
    if (d_.cuStreamBeginCapture(stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL) == CUDA_SUCCESS) {
      std::string launchError;
      try {
        enqueue(e, s, batch);
      } catch (const Error &err) {
        launchError = err.what();
      }
      CUresult end = d_.cuStreamEndCapture(stream_, &g.graph);
      if (!launchError.empty()) {
        if (g.graph)
          d_.cuGraphDestroy(g.graph);
        throw Error(launchError);
      }
      if (end == CUDA_SUCCESS && g.graph &&
          d_.cuGraphInstantiateWithFlags(&g.exec, g.graph, 0) == CUDA_SUCCESS) {
        s.graphs[batch] = g;
        ++graphCaptures_;
        check(d_.cuGraphLaunch(g.exec, stream_), "cuGraphLaunch");
        ++graphLaunches_;
      } else {
        if (g.graph)
          d_.cuGraphDestroy(g.graph);
        s.noGraph.insert(batch);
        enqueue(e, s, batch);
      }
    } else {
      s.noGraph.insert(batch);
      enqueue(e, s, batch);
    }
  } else {
    enqueue(e, s, batch);
    s.ranOnce.insert(batch);
  }

  for (size_t i = 0; i < outputs.size(); ++i)
    if (!outputs[i].data.empty())
      check(d_.cuMemcpyDtoHAsync(outputs[i].data.data(), s.outputs[i].ptr,
                                 outputs[i].data.size() * sizeof(float), stream_),
            "copying an output from the device");
  CUresult r = d_.cuStreamSynchronize(stream_);
  if (r != CUDA_SUCCESS)
    throw Error(fmt::format("kiln: CUDA: running entry '{}' at batch {} failed: {} (a kernel "
                            "fault leaves the context unusable; recreate the session)",
                            e.name, batch, d_.errorText(r)));
}

std::vector<float> Executor::runKernel(uint32_t kernel, int64_t batch,
                                       const std::vector<std::vector<float>> &inputs,
                                       int outputAliasesInput) {
  check(d_.cuCtxSetCurrent(ctx_), "cuCtxSetCurrent");
  const KernelLaunch &k = kernels_[kernel];
  if (k.args.size() != inputs.size() + 1)
    throw Error(fmt::format("kiln: {}: kernel '{}' has no argument shapes (recompile)", a_.origin,
                            a_.kernels[kernel].name));
  std::vector<Buffer> bufs(inputs.size() + 1);
  std::vector<CUdeviceptr> ptrs;
  const uint64_t outFloats = numelAt(k.args.back(), batch);
  try {
    for (size_t i = 0; i < inputs.size(); ++i) {
      reserve(bufs[i], inputs[i].size() * sizeof(float));
      if (!inputs[i].empty())
        check(d_.cuMemcpyHtoDAsync(bufs[i].ptr, inputs[i].data(), inputs[i].size() * 4, stream_),
              "copying a kernel input");
      ptrs.push_back(bufs[i].ptr);
    }
    if (outputAliasesInput >= 0) {
      ptrs.push_back(ptrs[size_t(outputAliasesInput)]);
    } else {
      reserve(bufs.back(), outFloats * sizeof(float));
      // NaN everywhere: an element the kernel forgets to write shows up.
      check(d_.cuMemsetD8Async(bufs.back().ptr, 0xff, outFloats * sizeof(float), stream_),
            "cuMemsetD8Async");
      ptrs.push_back(bufs.back().ptr);
    }
    launch(kernel, batch, ptrs);
    std::vector<float> out(outFloats);
    if (outFloats)
      check(d_.cuMemcpyDtoHAsync(out.data(), ptrs.back(), outFloats * sizeof(float), stream_),
            "copying a kernel output");
    CUresult r = d_.cuStreamSynchronize(stream_);
    if (r != CUDA_SUCCESS)
      throw Error(fmt::format("kiln: CUDA: kernel '{}' failed at batch {}: {}",
                              a_.kernels[kernel].name, batch, d_.errorText(r)));
    for (Buffer &b : bufs)
      release(b);
    return out;
  } catch (...) {
    for (Buffer &b : bufs)
      release(b);
    throw;
  }
}

} // namespace kiln::rt::cuda
