//===- DriverDeclTest.cpp - the runtime's driver API matches cuda.h -------===//
//
// The runtime declares the driver API itself (it must build without the
// toolkit). Here, where the toolkit is installed, every declaration is
// compared with cuda.h: the exported symbol (cuda.h maps e.g. cuMemAlloc to
// cuMemAlloc_v2), the function type (enums compared as their underlying type,
// opaque handles as void*), and every enumerator value the runtime uses.
//===----------------------------------------------------------------------===//
#include <cuda.h>

#include "cuda/CudaDriver.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <type_traits>

namespace {

// Normalises a cuda.h or runtime type to what the calling convention sees:
// enums -> the signed integer of their size (GCC gives an enum without
// negative values an unsigned underlying type; the runtime passes them as
// int), classes (opaque handles, parameter structs, behind pointers) -> void,
// cv-qualifiers dropped, pointers normalised level by level.
template <class T, class = void> struct Norm {
  using type = T;
};
template <class T> struct Norm<T, std::enable_if_t<std::is_enum_v<T>>> {
  using type = std::make_signed_t<std::underlying_type_t<T>>;
};
template <class T> struct Norm<T, std::enable_if_t<std::is_class_v<T>>> {
  using type = void;
};
template <class T> struct Norm<T *, void> {
  using type = typename Norm<std::remove_cv_t<T>>::type *;
};
template <class R, class... A> struct Norm<R (*)(A...), void> {
  using type = typename Norm<R>::type (*)(typename Norm<std::remove_cv_t<A>>::type...);
};
template <class T> using NormT = typename Norm<T>::type;

#define KILN_STR2(x) #x
#define KILN_STR(x) KILN_STR2(x)

// cuda.h's name for each member is the member name itself: the macro the
// header defines (if any) turns it into the versioned symbol.
#define KILN_CHECK_DECL(name, symbol, type)                                                  \
  static_assert(std::is_same_v<NormT<decltype(&::name)>,                                     \
                               NormT<kiln::rt::cu::FnPtr<kiln::rt::cu::type>>>,              \
                "declaration of " #name " differs from cuda.h");
KILN_CUDA_DRIVER_FUNCTIONS(KILN_CHECK_DECL)

static_assert(kiln::rt::cu::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR ==
              ::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
static_assert(kiln::rt::cu::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR ==
              ::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
static_assert(kiln::rt::cu::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT ==
              ::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
static_assert(kiln::rt::cu::CU_JIT_ERROR_LOG_BUFFER == ::CU_JIT_ERROR_LOG_BUFFER);
static_assert(kiln::rt::cu::CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES ==
              ::CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
static_assert(kiln::rt::cu::CU_STREAM_NON_BLOCKING == ::CU_STREAM_NON_BLOCKING);
static_assert(kiln::rt::cu::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL ==
              ::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
static_assert(kiln::rt::cu::CUDA_SUCCESS == ::CUDA_SUCCESS);
static_assert(kiln::rt::cu::CUDA_ERROR_STUB_LIBRARY == ::CUDA_ERROR_STUB_LIBRARY);
static_assert(kiln::rt::cu::CUDA_ERROR_NO_DEVICE == ::CUDA_ERROR_NO_DEVICE);
static_assert(sizeof(CUdeviceptr) == sizeof(kiln::rt::cu::CUdeviceptr));

// The kernel node parameters, field by field.
using RtParams = kiln::rt::cu::KernelNodeParams;
static_assert(sizeof(RtParams) == sizeof(CUDA_KERNEL_NODE_PARAMS));
#define KILN_SAME_OFFSET(field)                                                              \
  static_assert(offsetof(RtParams, field) == offsetof(CUDA_KERNEL_NODE_PARAMS, field),       \
                "KernelNodeParams::" #field " is not where cuda.h has it");
KILN_SAME_OFFSET(func)
KILN_SAME_OFFSET(gridDimX)
KILN_SAME_OFFSET(gridDimY)
KILN_SAME_OFFSET(gridDimZ)
KILN_SAME_OFFSET(blockDimX)
KILN_SAME_OFFSET(blockDimY)
KILN_SAME_OFFSET(blockDimZ)
KILN_SAME_OFFSET(sharedMemBytes)
KILN_SAME_OFFSET(kernelParams)
KILN_SAME_OFFSET(extra)
KILN_SAME_OFFSET(kern)
KILN_SAME_OFFSET(ctx)
static_assert(sizeof(CUresult) == sizeof(kiln::rt::cu::CUresult));

} // namespace

TEST(CudaDriverDecl, SymbolNamesMatchCudaH) {
#define KILN_CHECK_SYMBOL(name, symbol, type) EXPECT_STREQ(KILN_STR(name), symbol);
  KILN_CUDA_DRIVER_FUNCTIONS(KILN_CHECK_SYMBOL)
}
