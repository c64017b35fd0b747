//===- Blas.cpp - OpenBLAS, loaded at run time with the right kernels -----===//
//
// Why OpenBLAS is dlopen()ed instead of linked: OpenBLAS (DYNAMIC_ARCH) picks
// its GEMM kernels once, in its library constructor, from the CPU model. The
// Debian build (0.3.21) does not know CPUs newer than itself and falls back to
// the SSE3 "Prescott" kernels: on the Sapphire Rapids machines we run on, that
// made every convolution 2.5x slower (resnet20 batch 128, 2 threads: 410-590
// img/s with Prescott, 980-1070 with SkylakeX, measured side by side). The
// variable that overrides the choice, OPENBLAS_CORETYPE, is read in that
// constructor, so it must be set before the library is loaded - which a link
// dependency would do before main(). We set it only when the user has not, and
// only to a kernel family the CPU's features support.
//===----------------------------------------------------------------------===//
#include "Blas.h"

#include "kiln/runtime/Runtime.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace kiln::rt {
namespace {

/// The best OpenBLAS 0.3.21 kernel family for this CPU, or nullptr to let
/// OpenBLAS decide (AMD: 0.3.21 detects Zen itself).
const char *preferredCoreType() {
  __builtin_cpu_init();
  if (!__builtin_cpu_is("intel"))
    return nullptr;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return "Haswell";
  return nullptr;
}

std::once_flag loadOnce;
std::string loadError;
void *handle = nullptr;

void load() {
  if (!std::getenv("OPENBLAS_CORETYPE"))
    if (const char *core = preferredCoreType())
      setenv("OPENBLAS_CORETYPE", core, /*overwrite=*/0);
  // RTLD_GLOBAL: the kernel modules resolve cblas_sgemm against it.
  for (const char *name : {"libopenblas.so.0", "libopenblas.so"}) {
    handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL);
    if (handle)
      break;
  }
  if (!handle) {
    const char *err = dlerror();
    loadError = std::string("kiln: cannot load OpenBLAS (libopenblas.so.0), which the CPU "
                            "kernels need: ") +
                (err ? err : "unknown error") + "; install libopenblas0 (scripts/install_deps.sh)";
    return;
  }
  // Kernels call cblas_sgemm from inside our worker threads; letting OpenBLAS
  // also fan out would oversubscribe the cores (shared/toolchain-notes.md).
  using SetThreads = void (*)(int);
  if (auto setThreads = reinterpret_cast<SetThreads>(dlsym(handle, "openblas_set_num_threads")))
    setThreads(1);
  // Setting the count to 1 does not stop the server threads OpenBLAS started
  // when it was loaded, and those spin with sched_yield for ~90 ms after
  // start-up: batch-1 runs on 2 threads took ~310 us instead of ~3.5 us while
  // they did. The internal shutdown stops them; OpenBLAS restarts them itself
  // if anyone asks for threads again.
  using Shutdown = int (*)();
  if (auto shutdown = reinterpret_cast<Shutdown>(dlsym(handle, "blas_thread_shutdown_")))
    shutdown();
}

} // namespace

void ensureBlasLoaded() {
  std::call_once(loadOnce, load);
  if (!handle)
    throw Error(loadError);
}

std::string blasCoreName() {
  if (!handle)
    return "";
  using CoreName = char *(*)();
  auto coreName = reinterpret_cast<CoreName>(dlsym(handle, "openblas_get_corename"));
  return coreName ? coreName() : "";
}

} // namespace kiln::rt
