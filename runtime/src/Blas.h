//===- Blas.h - OpenBLAS, loaded at run time with the right kernels -*- C++ -*-===//
#ifndef KILN_RUNTIME_BLAS_H
#define KILN_RUNTIME_BLAS_H

#include <string>

namespace kiln::rt {

/// Makes OpenBLAS available to generated kernels (which call cblas_sgemm),
/// pinned to one thread per caller. Idempotent and thread-safe. Throws Error
/// if libopenblas cannot be loaded.
void ensureBlasLoaded();

/// The OpenBLAS kernel family in use (e.g. "SkylakeX"), or "" if unknown.
std::string blasCoreName();

} // namespace kiln::rt

#endif
