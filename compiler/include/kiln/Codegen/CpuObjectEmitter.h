//===- CpuObjectEmitter.h - LLVM dialect kernels -> shared object -*- C++ -*-===//
#ifndef KILN_CODEGEN_CPUOBJECTEMITTER_H
#define KILN_CODEGEN_CPUOBJECTEMITTER_H

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::codegen {

struct CpuTarget {
  std::string triple;   // e.g. x86_64-pc-linux-gnu
  std::string cpu;      // e.g. znver3 (the host CPU)
  std::string features; // e.g. +avx2,+fma,...
};

/// The host CPU as LLVM sees it.
CpuTarget hostCpuTarget();

/// Whether kiln-lower-to-llvm with conv-algorithm `convAlgorithm` computes
/// stride-1 "same" convolutions with the runtime's direct convolution:
/// "direct", or "auto" on a host with AVX-512 (the kernels are compiled for
/// the host). compileInference packs convolution weights only then.
bool lowersToDirectConv(const std::string &convAlgorithm);

struct CpuObject {
  std::vector<uint8_t> sharedObject; // ELF .so exporting every kernel symbol
  std::string optimizedIR;           // LLVM IR after O3 (when requested)
};

/// Translates the llvm.func kernels of `module` (func.func scheduling
/// functions are ignored) to LLVM IR, optimises it at O3 for `target`, emits
/// an object file and links it into a shared object (with the system C
/// compiler driver, against OpenBLAS and libm). Returns false and sets
/// `error` on failure.
bool emitCpuSharedObject(mlir::ModuleOp module, const CpuTarget &target, bool wantIR,
                         CpuObject &out, std::string &error);

} // namespace kiln::codegen

#endif
