//===- CpuFeatures.h - can this CPU run the artifact's kernels? -*- C++ -*-===//
//
// The compiler builds the CPU module for the CPU it runs on (every feature of
// that host, e.g. AVX-512) and records the feature list in the artifact
// (CpuModule.features, LLVM's "+avx2,+fma,-avx512f,..." spelling). Run on an
// older CPU, such a module dies of SIGILL in the middle of a kernel; checking
// the list against the host's features first turns that into a clear error.
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_CPUFEATURES_H
#define KILN_RUNTIME_CPUFEATURES_H

#include <set>
#include <string>
#include <vector>

namespace kiln::rt {

/// The "+feature" entries of `moduleFeatures` (LLVM names) that `hostFlags`
/// (/proc/cpuinfo "flags" names) lacks, in the module's order. Only
/// instruction-set features with a known /proc/cpuinfo name are checked;
/// "-feature" entries and unknown names are ignored.
std::vector<std::string> missingCpuFeatures(const std::string &moduleFeatures,
                                            const std::set<std::string> &hostFlags);

/// The "flags" of the first processor in /proc/cpuinfo; empty if unreadable
/// (then nothing can be checked). hostCpuFlags() reads them once per process.
std::set<std::string> readHostCpuFlags();
const std::set<std::string> &hostCpuFlags();

} // namespace kiln::rt

#endif
