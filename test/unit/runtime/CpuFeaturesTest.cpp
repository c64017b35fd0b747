// The check that an artifact's CPU kernels can run on this CPU
// (runtime/src/CpuFeatures.cpp): LLVM feature names against /proc/cpuinfo
// flags, with the host's flags given explicitly so every case runs anywhere.
#include "CpuFeatures.h"
#include "TestArtifact.h"

#include "kiln/runtime/Runtime.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace {

using kiln::rt::missingCpuFeatures;
using Names = std::vector<std::string>;

const std::set<std::string> kAvx2Host = {"fpu", "sse4_2", "avx", "avx2", "fma", "bmi1", "pni"};

TEST(CpuFeatures, ModuleForThisHostRuns) {
  EXPECT_EQ(missingCpuFeatures("+sse3,+sse4.2,+avx,+avx2,+fma,+bmi", kAvx2Host), Names{});
}

TEST(CpuFeatures, NamesWhatANewerCpuHad) {
  // An AVX-512 module (the compiler lists every host feature, most of them
  // disabled ones) on an AVX2 machine: the enabled AVX-512 ones are missing,
  // in the module's order, and cpuinfo's spellings are mapped.
  EXPECT_EQ(missingCpuFeatures("+avx2,+avx512f,-amx-fp16,+avx512vnni,+fma,+avx512bw", kAvx2Host),
            (Names{"avx512f", "avx512vnni", "avx512bw"}));
  EXPECT_EQ(missingCpuFeatures("+sse3,+sha", {"sse3"}), (Names{"sse3", "sha"}))
      << "sse3 is 'pni' in /proc/cpuinfo, sha is 'sha_ni'";
  EXPECT_EQ(missingCpuFeatures("+sse3,+sha", {"pni", "sha_ni"}), Names{});
}

TEST(CpuFeatures, IgnoresDisabledUnknownAndMalformedEntries) {
  EXPECT_EQ(missingCpuFeatures("-avx512f,+kiln-future-feature,,+,avx512f,+avx2", kAvx2Host),
            Names{});
}

TEST(CpuFeatures, ThisHostHasFlagsAndRunsItsOwnFeatures) {
  const std::set<std::string> host = kiln::rt::hostCpuFlags();
#if defined(__x86_64__)
  ASSERT_FALSE(host.empty()) << "/proc/cpuinfo has no flags line";
  EXPECT_TRUE(host.count("sse2")) << "every x86-64 CPU has SSE2";
#endif
}

// End to end: an artifact whose CPU module needs a feature this CPU lacks is
// refused with a message naming it, before the module is mapped (a SIGILL in
// a kernel otherwise); the host's own features load.
TEST(CpuFeatures, ArtifactForAnotherCpuIsACleanError) {
  const std::set<std::string> host = kiln::rt::hostCpuFlags();
  if (host.empty())
    GTEST_SKIP() << "no /proc/cpuinfo flags to check against";
  // LLVM name -> cpuinfo name of features some x86-64 CPUs lack: Intel CPUs
  // lack AMD's sse4a, AMD CPUs lack Intel's AMX.
  const std::vector<std::pair<std::string, std::string>> candidates = {
      {"sse4a", "sse4a"},       {"amx-fp16", "amx_fp16"},       {"amx-int8", "amx_int8"},
      {"avx512f", "avx512f"},   {"avx512fp16", "avx512_fp16"}, {"avx2", "avx2"}};
  std::string absent;
  for (const auto &[llvmName, flag] : candidates)
    if (!host.count(flag)) {
      absent = llvmName;
      break;
    }
  if (absent.empty())
    GTEST_SKIP() << "this CPU has every candidate feature";
  kiln::test::ArtifactDesc d = kiln::test::referenceDesc();
  d.cpuFeatures = "+sse2,-avx512vl,+" + absent;
  try {
    kiln::rt::Artifact::loadBuffer(kiln::test::buildArtifact(d), "cpu.kiln");
    ADD_FAILURE() << "loaded an artifact that needs " << absent;
  } catch (const kiln::rt::Error &e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(absent), std::string::npos) << what;
    EXPECT_NE(what.find("this CPU lacks"), std::string::npos) << what;
  }
  d.cpuFeatures = "+sse2,-" + absent;
  EXPECT_NO_THROW(kiln::rt::Artifact::loadBuffer(kiln::test::buildArtifact(d), "cpu.kiln"));
}

} // namespace
