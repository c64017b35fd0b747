//===- CudaDriver.cpp - dlopen libcuda.so.1 and resolve the driver API ----===//
#include "CudaDriver.h"

#include "kiln/runtime/Runtime.h"

#include <fmt/format.h>

#include <cstdlib>
#include <dlfcn.h>
#include <mutex>

namespace kiln::rt::cu {

namespace {

struct Loaded {
  Driver driver;
  std::string error; // non-empty: loading failed (reported on every use)
};

Loaded load() {
  Loaded out;
  Driver &d = out.driver;
  const char *override = std::getenv("KILN_CUDA_DRIVER");
  d.path = override && *override ? override : "libcuda.so.1";
  void *lib = dlopen(d.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    out.error = fmt::format("kiln: CUDA: cannot load the NVIDIA driver library {} ({})", d.path,
                            why ? why : "unknown error");
    return out;
  }
#define KILN_CU_RESOLVE(name, symbol, type)                                                    \
  d.name = reinterpret_cast<FnPtr<type>>(dlsym(lib, symbol));                                       \
  if (!d.name) {                                                                               \
    out.error = fmt::format("kiln: CUDA: {} does not export {} (driver too old for CUDA 12?)", \
                            d.path, symbol);                                                   \
    return out;                                                                                \
  }
  KILN_CUDA_DRIVER_FUNCTIONS(KILN_CU_RESOLVE)
#undef KILN_CU_RESOLVE
  CUresult r = d.cuInit(0);
  if (r == CUDA_ERROR_STUB_LIBRARY) {
    out.error = fmt::format("kiln: CUDA: {} is the toolkit's stub library, not the NVIDIA "
                            "driver (CUDA_ERROR_STUB_LIBRARY)",
                            d.path);
    return out;
  }
  if (r == CUDA_ERROR_NO_DEVICE) {
    out.error = "kiln: CUDA: the NVIDIA driver found no CUDA-capable device";
    return out;
  }
  if (r != CUDA_SUCCESS) {
    out.error = fmt::format("kiln: CUDA: cuInit failed: {}", d.errorText(r));
    return out;
  }
  d.cuDriverGetVersion(&d.version);
  return out;
}

} // namespace

std::string Driver::errorText(CUresult r) const {
  const char *name = nullptr, *text = nullptr;
  if (cuGetErrorName)
    cuGetErrorName(r, &name);
  if (cuGetErrorString)
    cuGetErrorString(r, &text);
  if (!name)
    return fmt::format("CUDA error {}", r);
  return text ? fmt::format("{} ({})", name, text) : std::string(name);
}

const Driver &driver() {
  static Loaded loaded = load();
  if (!loaded.error.empty())
    throw Error(loaded.error);
  return loaded.driver;
}

void check(CUresult r, const char *what) {
  if (r != CUDA_SUCCESS)
    throw Error(fmt::format("kiln: CUDA: {} failed: {}", what, driver().errorText(r)));
}

} // namespace kiln::rt::cu
