//===- FakeDriver.cpp - a CUDA driver library that runs kernels in the emulator ===//
//
// Test support. Built as libkiln_fake_cuda.so (not libcuda.so.1: see
// CMakeLists.txt); the runtime loads it when KILN_CUDA_DRIVER points at it. It implements exactly the
// driver API subset the runtime declares (runtime/src/cuda/CudaDriver.h):
//   - device: one GPU, compute capability $KILN_EMU_CC (default 90);
//   - memory: every allocation in its own mapping, 256-byte aligned, ending
//     right before a PROT_NONE guard page (an overrun faults); copies and
//     kernel pointer arguments must lie inside a live allocation;
//   - modules: the image (cubin or PTX) is looked up as
//     $KILN_EMU_MODULE_DIR/<kiln::emu::imageKey(image)>.so, built by the test
//     from the same CUDA source with kiln::emu::buildModule;
//   - streams run synchronously; stream capture records launches (with their
//     parameter values, as the real driver does) and copies into a graph that
//     cuGraphLaunch replays; a graph built node by node (cuGraphAddKernelNode)
//     runs its kernels in a random order that its edges allow, different at
//     every launch, so that a missing dependency changes the results.
// kiln_fake_cuda_stats() reports launch counts to the tests.
//===----------------------------------------------------------------------===//
#include "Emulator.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

namespace {

using CUresult = int;
using CUdeviceptr = unsigned long long;
constexpr CUresult kSuccess = 0, kInvalidValue = 1, kOutOfMemory = 2, kNoDevice = 100,
                   kInvalidDevice = 101, kInvalidImage = 200, kInvalidHandle = 400,
                   kNotFound = 500, kLaunchFailed = 719, kCaptureUnsupported = 900;

struct Allocation {
  void *mapping;
  size_t mappingBytes;
  size_t bytes; // usable
};
std::map<uintptr_t, Allocation> gAllocations; // by start address

struct Function {
  kiln::emu::Module::Entry entry;
  const kiln::emu::Module *module;
  int numParams;
  std::string name;
};
struct FakeModule {
  std::unique_ptr<kiln::emu::Module> module;
  std::map<std::string, std::unique_ptr<Function>> functions;
};
using Op = std::function<CUresult()>;
struct Graph {
  std::vector<Op> ops;                     // captured from a stream, in order
  std::vector<std::vector<size_t>> deps;   // per op, for graphs built node by node
  bool explicitNodes = false;
};
struct Stream {
  Graph *capture = nullptr;
};

int gContext = 0; // its address is the context handle
int gLaunches = 0, gGraphLaunches = 0, gDagLaunches = 0;

void complain(const std::string &what) { std::fprintf(stderr, "fake libcuda: %s\n", what.c_str()); }

/// Is [p, p + bytes) inside one live allocation?
bool inside(uintptr_t p, size_t bytes) {
  auto it = gAllocations.upper_bound(p);
  if (it == gAllocations.begin())
    return false;
  --it;
  return p >= it->first && p + bytes <= it->first + it->second.bytes;
}

CUresult enqueue(void *stream, Op op) {
  auto *s = static_cast<Stream *>(stream);
  if (s && s->capture) {
    s->capture->ops.push_back(std::move(op));
    return kSuccess;
  }
  return op();
}

CUresult copy(uintptr_t dst, uintptr_t src, size_t bytes, bool dstDevice, bool srcDevice,
              const char *what) {
  if ((dstDevice && !inside(dst, bytes)) || (srcDevice && !inside(src, bytes))) {
    complain(std::string(what) + ": range outside any device allocation");
    return kInvalidValue;
  }
  std::memmove(reinterpret_cast<void *>(dst), reinterpret_cast<const void *>(src), bytes);
  return kSuccess;
}

} // namespace

extern "C" {

/// Kernel launches, graph launches, and launches of graphs built node by node.
__attribute__((visibility("default"))) void kiln_fake_cuda_stats(int *launches, int *graphLaunches,
                                                                  int *dagLaunches) {
  *launches = gLaunches;
  *graphLaunches = gGraphLaunches;
  *dagLaunches = gDagLaunches;
}

CUresult cuInit(unsigned flags) { return flags == 0 ? kSuccess : kInvalidValue; }
CUresult cuDriverGetVersion(int *v) {
  *v = 13000;
  return kSuccess;
}
CUresult cuDeviceGetCount(int *count) {
  *count = 1;
  return kSuccess;
}
CUresult cuDeviceGet(int *dev, int ordinal) {
  if (ordinal != 0)
    return kInvalidDevice;
  *dev = 0;
  return kSuccess;
}
CUresult cuDeviceGetName(char *name, int len, int dev) {
  if (dev != 0)
    return kInvalidDevice;
  std::snprintf(name, size_t(len), "Kiln CPU emulator");
  return kSuccess;
}
CUresult cuDeviceGetAttribute(int *value, int attribute, int dev) {
  if (dev != 0)
    return kInvalidDevice;
  const char *cc = std::getenv("KILN_EMU_CC");
  int capability = cc ? std::atoi(cc) : 90;
  switch (attribute) {
  case 16: // multiprocessors
    *value = 4;
    return kSuccess;
  case 75:
    *value = capability / 10;
    return kSuccess;
  case 76:
    *value = capability % 10;
    return kSuccess;
  }
  return kInvalidValue;
}
CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev) {
  if (dev != 0)
    return kInvalidDevice;
  *ctx = &gContext;
  return kSuccess;
}
CUresult cuDevicePrimaryCtxRelease_v2(int dev) { return dev == 0 ? kSuccess : kInvalidDevice; }
CUresult cuCtxSetCurrent(void *ctx) { return ctx == &gContext ? kSuccess : kInvalidHandle; }

CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned numOptions, int *options,
                            void **values) {
  for (unsigned i = 0; i < numOptions; ++i)
    if (options[i] == 5) // CU_JIT_ERROR_LOG_BUFFER
      static_cast<char *>(values[i])[0] = '\0';
  const char *dir = std::getenv("KILN_EMU_MODULE_DIR");
  if (!dir || !image)
    return kInvalidImage;
  std::string path = std::string(dir) + "/" + kiln::emu::imageKey(image) + ".so";
  if (access(path.c_str(), R_OK) != 0) {
    complain("no emulated module " + path + " for this image");
    return kInvalidImage;
  }
  auto m = std::make_unique<FakeModule>();
  try {
    m->module = std::make_unique<kiln::emu::Module>(path);
  } catch (const std::exception &e) {
    complain(e.what());
    return kInvalidImage;
  }
  *module = m.release();
  return kSuccess;
}
CUresult cuModuleUnload(void *module) {
  delete static_cast<FakeModule *>(module);
  return kSuccess;
}
CUresult cuModuleGetFunction(void **fn, void *module, const char *name) {
  auto *m = static_cast<FakeModule *>(module);
  auto &slot = m->functions[name];
  if (!slot) {
    int numParams = 0;
    auto entry = m->module->function(name, &numParams);
    if (!entry) {
      m->functions.erase(name);
      return kNotFound;
    }
    slot = std::make_unique<Function>(Function{entry, m->module.get(), numParams, name});
  }
  *fn = slot.get();
  return kSuccess;
}

CUresult cuMemAlloc_v2(CUdeviceptr *ptr, size_t bytes) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  size_t usable = (bytes + 255) / 256 * 256;
  size_t body = (usable + page - 1) / page * page;
  size_t total = body + page;
  void *map = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED)
    return kOutOfMemory;
  char *guard = static_cast<char *>(map) + body;
  mprotect(guard, page, PROT_NONE);
  char *start = guard - usable;
  // Fresh device memory is garbage, not zeros: make reads of unwritten data show.
  std::memset(start, 0x7f, usable);
  gAllocations[reinterpret_cast<uintptr_t>(start)] = {map, total, usable};
  *ptr = reinterpret_cast<uintptr_t>(start);
  return kSuccess;
}
CUresult cuMemFree_v2(CUdeviceptr ptr) {
  auto it = gAllocations.find(uintptr_t(ptr));
  if (it == gAllocations.end())
    return kInvalidValue;
  munmap(it->second.mapping, it->second.mappingBytes);
  gAllocations.erase(it);
  return kSuccess;
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t bytes, void *stream) {
  uintptr_t s = reinterpret_cast<uintptr_t>(src);
  if (static_cast<Stream *>(stream) && static_cast<Stream *>(stream)->capture)
    return kCaptureUnsupported; // the runtime keeps host copies out of graphs
  return copy(uintptr_t(dst), s, bytes, true, false, "cuMemcpyHtoDAsync");
}
CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t bytes, void *stream) {
  if (static_cast<Stream *>(stream) && static_cast<Stream *>(stream)->capture)
    return kCaptureUnsupported;
  return copy(reinterpret_cast<uintptr_t>(dst), uintptr_t(src), bytes, false, true,
              "cuMemcpyDtoHAsync");
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes, void *stream) {
  return enqueue(stream, [=] {
    return copy(uintptr_t(dst), uintptr_t(src), bytes, true, true, "cuMemcpyDtoDAsync");
  });
}
CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char value, size_t bytes, void *stream) {
  return enqueue(stream, [=] {
    if (!inside(uintptr_t(dst), bytes)) {
      complain("cuMemsetD8Async: range outside any device allocation");
      return kInvalidValue;
    }
    std::memset(reinterpret_cast<void *>(dst), value, bytes);
    return kSuccess;
  });
}
CUresult cuStreamCreate(void **stream, unsigned) {
  *stream = new Stream;
  return kSuccess;
}
CUresult cuStreamDestroy_v2(void *stream) {
  delete static_cast<Stream *>(stream);
  return kSuccess;
}
CUresult cuStreamSynchronize(void *stream) {
  auto *s = static_cast<Stream *>(stream);
  return s && s->capture ? kCaptureUnsupported : kSuccess;
}

} // extern "C"

namespace {
/// Checks a launch and makes it an operation, with its parameter values
/// copied now (as the driver does).
CUresult makeLaunch(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                    unsigned bz, unsigned shared, void **params, void **extra, Op &op) {
  auto *fn = static_cast<Function *>(f);
  if (!fn || extra || shared != 0 || bx * by * bz == 0 || bx * by * bz > 1024 || gy > 65535 ||
      gz > 65535 || gx == 0 || gy == 0 || gz == 0)
    return kInvalidValue;
  // Copy the parameter values now, as the driver does (all are 8 bytes).
  std::vector<uint64_t> values(size_t(fn->numParams));
  for (int i = 0; i < fn->numParams; ++i)
    std::memcpy(&values[size_t(i)], params[i], 8);
  // Every pointer argument (all but the batch) must be device memory; the
  // scratch may be null.
  for (int i = 0; i + 1 < fn->numParams; ++i) {
    bool isScratch = i == fn->numParams - 2;
    if ((values[size_t(i)] != 0 || !isScratch) && !inside(uintptr_t(values[size_t(i)]), 4)) {
      complain("launch of " + fn->name + ": argument " + std::to_string(i) +
               " is not device memory");
      return kInvalidValue;
    }
  }
  op = [fn, values, gx, gy, gz, bx, by, bz]() mutable {
    std::vector<void *> argv;
    for (uint64_t &v : values)
      argv.push_back(&v);
    ++gLaunches;
    try {
      fn->module->launch(fn->entry, {gx, gy, gz}, {bx, by, bz}, argv.data());
    } catch (const std::exception &e) {
      complain("kernel " + fn->name + ": " + e.what());
      return kLaunchFailed;
    }
    return kSuccess;
  };
  return kSuccess;
}
} // namespace

extern "C" {

CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned shared, void *stream, void **params, void **extra) {
  Op op;
  if (CUresult r = makeLaunch(f, gx, gy, gz, bx, by, bz, shared, params, extra, op); r != kSuccess)
    return r;
  return enqueue(stream, std::move(op));
}

struct KernelNodeParams {
  void *func;
  unsigned gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes;
  void **kernelParams;
  void **extra;
  void *kern;
  void *ctx;
};

CUresult cuGraphCreate(void **graph, unsigned flags) {
  if (flags != 0)
    return kInvalidValue;
  auto *g = new Graph;
  g->explicitNodes = true;
  *graph = g;
  return kSuccess;
}

// Node handles are 1-based op indices.
CUresult cuGraphAddKernelNode_v2(void **node, void *graph, void *const *deps, size_t numDeps,
                                 const KernelNodeParams *p) {
  auto *g = static_cast<Graph *>(graph);
  if (!g || !g->explicitNodes || !p || !p->func)
    return kInvalidValue;
  Op op;
  if (CUresult r = makeLaunch(p->func, p->gridDimX, p->gridDimY, p->gridDimZ, p->blockDimX,
                              p->blockDimY, p->blockDimZ, p->sharedMemBytes, p->kernelParams,
                              p->extra, op);
      r != kSuccess)
    return r;
  std::vector<size_t> d;
  for (size_t i = 0; i < numDeps; ++i) {
    size_t index = reinterpret_cast<uintptr_t>(deps[i]);
    if (index == 0 || index > g->ops.size())
      return kInvalidValue;
    d.push_back(index - 1);
  }
  g->ops.push_back(std::move(op));
  g->deps.push_back(std::move(d));
  *node = reinterpret_cast<void *>(uintptr_t(g->ops.size()));
  return kSuccess;
}

CUresult cuStreamBeginCapture_v2(void *stream, int) {
  auto *s = static_cast<Stream *>(stream);
  if (!s || s->capture)
    return kInvalidValue;
  s->capture = new Graph;
  return kSuccess;
}
CUresult cuStreamEndCapture(void *stream, void **graph) {
  auto *s = static_cast<Stream *>(stream);
  if (!s || !s->capture)
    return kInvalidValue;
  *graph = s->capture;
  s->capture = nullptr;
  return kSuccess;
}
CUresult cuGraphInstantiateWithFlags(void **exec, void *graph, unsigned long long) {
  *exec = new Graph(*static_cast<Graph *>(graph));
  return kSuccess;
}
CUresult cuGraphLaunch(void *exec, void *stream) {
  auto *s = static_cast<Stream *>(stream);
  if (s && s->capture)
    return kCaptureUnsupported;
  auto *g = static_cast<Graph *>(exec);
  ++gGraphLaunches;
  if (!g->explicitNodes) {
    for (Op &op : g->ops)
      if (CUresult r = op(); r != kSuccess)
        return r;
    return kSuccess;
  }
  ++gDagLaunches;
  // A random order the edges allow (Kahn's algorithm with random picks).
  std::mt19937 rng(unsigned(gGraphLaunches) * 7919u);
  const size_t n = g->ops.size();
  std::vector<size_t> waiting(n);
  std::vector<std::vector<size_t>> users(n);
  for (size_t i = 0; i < n; ++i) {
    waiting[i] = g->deps[i].size();
    for (size_t d : g->deps[i])
      users[d].push_back(i);
  }
  std::vector<size_t> ready;
  for (size_t i = 0; i < n; ++i)
    if (waiting[i] == 0)
      ready.push_back(i);
  while (!ready.empty()) {
    size_t pick = std::uniform_int_distribution<size_t>(0, ready.size() - 1)(rng);
    size_t i = ready[pick];
    ready[pick] = ready.back();
    ready.pop_back();
    if (CUresult r = g->ops[i](); r != kSuccess)
      return r;
    for (size_t u : users[i])
      if (--waiting[u] == 0)
        ready.push_back(u);
  }
  return kSuccess;
}
CUresult cuGraphExecDestroy(void *exec) {
  delete static_cast<Graph *>(exec);
  return kSuccess;
}
CUresult cuGraphDestroy(void *graph) {
  delete static_cast<Graph *>(graph);
  return kSuccess;
}

CUresult cuGetErrorName(CUresult r, const char **name) {
  switch (r) {
  case kSuccess: *name = "CUDA_SUCCESS"; break;
  case kInvalidValue: *name = "CUDA_ERROR_INVALID_VALUE"; break;
  case kOutOfMemory: *name = "CUDA_ERROR_OUT_OF_MEMORY"; break;
  case kNoDevice: *name = "CUDA_ERROR_NO_DEVICE"; break;
  case kInvalidDevice: *name = "CUDA_ERROR_INVALID_DEVICE"; break;
  case kInvalidImage: *name = "CUDA_ERROR_INVALID_IMAGE"; break;
  case kInvalidHandle: *name = "CUDA_ERROR_INVALID_HANDLE"; break;
  case kNotFound: *name = "CUDA_ERROR_NOT_FOUND"; break;
  case kLaunchFailed: *name = "CUDA_ERROR_LAUNCH_FAILED"; break;
  case kCaptureUnsupported: *name = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"; break;
  default: *name = nullptr; return kInvalidValue;
  }
  return kSuccess;
}
CUresult cuGetErrorString(CUresult r, const char **text) {
  const char *name = nullptr;
  if (cuGetErrorName(r, &name) != kSuccess)
    return kInvalidValue;
  *text = "reported by the Kiln test emulator";
  return kSuccess;
}

} // extern "C"
