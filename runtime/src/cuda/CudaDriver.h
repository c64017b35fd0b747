//===- CudaDriver.h - the CUDA driver API, loaded with dlopen ---*- C++ -*-===//
//
// The runtime builds and runs without the CUDA toolkit or a GPU: it declares
// the few driver API types and entry points it uses here and resolves them
// from libcuda.so.1 at run time (only when a session asks for a GPU). The
// declarations are checked against the toolkit's cuda.h where one is
// installed (test/unit/cuda/DriverDeclTest.cpp).
//
// KILN_CUDA_DRIVER=<path> loads another library instead of libcuda.so.1 (the
// tests point it at a missing file, or at test/support's emulated driver).
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_CUDA_CUDADRIVER_H
#define KILN_RUNTIME_CUDA_CUDADRIVER_H

#include <cstddef>
#include <memory>
#include <string>

namespace kiln::rt::cu {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
struct CUctx_st;
struct CUmod_st;
struct CUfunc_st;
struct CUstream_st;
struct CUgraph_st;
struct CUgraphExec_st;
struct CUgraphNode_st;
using CUcontext = CUctx_st *;
using CUmodule = CUmod_st *;
using CUfunction = CUfunc_st *;
using CUstream = CUstream_st *;
using CUgraph = CUgraph_st *;
using CUgraphExec = CUgraphExec_st *;
using CUgraphNode = CUgraphNode_st *;

/// CUDA_KERNEL_NODE_PARAMS (_v2) of cuda.h, field for field.
struct KernelNodeParams {
  CUfunction func;
  unsigned gridDimX, gridDimY, gridDimZ;
  unsigned blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  void **kernelParams;
  void **extra;
  void *kern; // CUkernel; unused when func is set
  CUcontext ctx;
};

// Enumerator values from cuda.h (CUDA 12/13; stable across versions).
constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_STUB_LIBRARY = 34;
constexpr CUresult CUDA_ERROR_NO_DEVICE = 100;
constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr int CU_JIT_ERROR_LOG_BUFFER = 5;
constexpr int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;
constexpr unsigned CU_STREAM_NON_BLOCKING = 1;
constexpr int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;

// X(member, exported symbol, function type). Enums are passed as int.
#define KILN_CUDA_DRIVER_FUNCTIONS(X)                                                        \
  X(cuInit, "cuInit", CUresult(unsigned))                                                    \
  X(cuDriverGetVersion, "cuDriverGetVersion", CUresult(int *))                               \
  X(cuDeviceGetCount, "cuDeviceGetCount", CUresult(int *))                                   \
  X(cuDeviceGet, "cuDeviceGet", CUresult(CUdevice *, int))                                   \
  X(cuDeviceGetName, "cuDeviceGetName", CUresult(char *, int, CUdevice))                     \
  X(cuDeviceGetAttribute, "cuDeviceGetAttribute", CUresult(int *, int, CUdevice))            \
  X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", CUresult(CUcontext *, CUdevice))   \
  X(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", CUresult(CUdevice))           \
  X(cuCtxSetCurrent, "cuCtxSetCurrent", CUresult(CUcontext))                                 \
  X(cuModuleLoadDataEx, "cuModuleLoadDataEx",                                                \
    CUresult(CUmodule *, const void *, unsigned, int *, void **))                            \
  X(cuModuleUnload, "cuModuleUnload", CUresult(CUmodule))                                    \
  X(cuModuleGetFunction, "cuModuleGetFunction", CUresult(CUfunction *, CUmodule, const char *)) \
  X(cuMemAlloc, "cuMemAlloc_v2", CUresult(CUdeviceptr *, size_t))                            \
  X(cuMemFree, "cuMemFree_v2", CUresult(CUdeviceptr))                                        \
  X(cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2",                                               \
    CUresult(CUdeviceptr, const void *, size_t, CUstream))                                   \
  X(cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2", CUresult(void *, CUdeviceptr, size_t, CUstream)) \
  X(cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2",                                               \
    CUresult(CUdeviceptr, CUdeviceptr, size_t, CUstream))                                    \
  X(cuMemsetD8Async, "cuMemsetD8Async", CUresult(CUdeviceptr, unsigned char, size_t, CUstream)) \
  X(cuStreamCreate, "cuStreamCreate", CUresult(CUstream *, unsigned))                        \
  X(cuStreamDestroy, "cuStreamDestroy_v2", CUresult(CUstream))                               \
  X(cuStreamSynchronize, "cuStreamSynchronize", CUresult(CUstream))                          \
  X(cuLaunchKernel, "cuLaunchKernel",                                                        \
    CUresult(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, \
             CUstream, void **, void **))                                                    \
  X(cuStreamBeginCapture, "cuStreamBeginCapture_v2", CUresult(CUstream, int))                \
  X(cuStreamEndCapture, "cuStreamEndCapture", CUresult(CUstream, CUgraph *))                 \
  X(cuGraphCreate, "cuGraphCreate", CUresult(CUgraph *, unsigned))                           \
  X(cuGraphAddKernelNode, "cuGraphAddKernelNode_v2",                                         \
    CUresult(CUgraphNode *, CUgraph, const CUgraphNode *, size_t,                            \
             const ::kiln::rt::cu::KernelNodeParams *))                                      \
  X(cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags",                              \
    CUresult(CUgraphExec *, CUgraph, unsigned long long))                                    \
  X(cuGraphLaunch, "cuGraphLaunch", CUresult(CUgraphExec, CUstream))                         \
  X(cuGraphExecDestroy, "cuGraphExecDestroy", CUresult(CUgraphExec))                         \
  X(cuGraphDestroy, "cuGraphDestroy", CUresult(CUgraph))                                     \
  X(cuGetErrorName, "cuGetErrorName", CUresult(CUresult, const char **))                     \
  X(cuGetErrorString, "cuGetErrorString", CUresult(CUresult, const char **))

template <class F> using FnPtr = F *;

/// The loaded driver: one per process, never unloaded.
struct Driver {
#define KILN_CU_MEMBER(name, symbol, type) FnPtr<type> name = nullptr;
  KILN_CUDA_DRIVER_FUNCTIONS(KILN_CU_MEMBER)
#undef KILN_CU_MEMBER
  std::string path;       // what was loaded
  int version = 0;        // cuDriverGetVersion, e.g. 13000

  /// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)".
  std::string errorText(CUresult r) const;
};

/// Loads and initialises (cuInit) the driver once. Throws kiln::rt::Error with
/// a one-line reason (library missing, stub library, no device, old driver).
const Driver &driver();

/// Throws kiln::rt::Error("kiln: CUDA: <what> failed: <error>") unless r == 0.
void check(CUresult r, const char *what);

} // namespace kiln::rt::cu

#endif
