//===- CpuFeatures.cpp - can this CPU run the artifact's kernels? ---------===//
#include "CpuFeatures.h"

#include <fstream>
#include <map>
#include <sstream>

namespace kiln::rt {
namespace {

/// LLVM x86 feature name -> /proc/cpuinfo flag (the kernel's spelling).
const std::map<std::string, std::string> &cpuinfoNames() {
  static const std::map<std::string, std::string> names = {
      {"sse3", "pni"},           {"ssse3", "ssse3"},
      {"sse4.1", "sse4_1"},      {"sse4.2", "sse4_2"},
      {"popcnt", "popcnt"},      {"avx", "avx"},
      {"avx2", "avx2"},          {"fma", "fma"},
      {"f16c", "f16c"},          {"bmi", "bmi1"},
      {"bmi2", "bmi2"},          {"lzcnt", "abm"},
      {"movbe", "movbe"},        {"avx512f", "avx512f"},
      {"avx512cd", "avx512cd"},  {"avx512bw", "avx512bw"},
      {"avx512dq", "avx512dq"},  {"avx512vl", "avx512vl"},
      {"avx512vnni", "avx512_vnni"}, {"avx512bf16", "avx512_bf16"},
      {"avx512fp16", "avx512_fp16"}, {"avx512vbmi", "avx512vbmi"},
      {"avx512vbmi2", "avx512_vbmi2"}, {"avx512ifma", "avx512ifma"},
      {"avx512bitalg", "avx512_bitalg"}, {"avx512vpopcntdq", "avx512_vpopcntdq"},
      {"avxvnni", "avx_vnni"},   {"amx-tile", "amx_tile"},
      {"amx-bf16", "amx_bf16"},  {"amx-int8", "amx_int8"},
      {"sha", "sha_ni"},         {"aes", "aes"},
      {"pclmul", "pclmulqdq"},   {"vaes", "vaes"},
      {"vpclmulqdq", "vpclmulqdq"}, {"gfni", "gfni"},
      {"adx", "adx"},            {"cx16", "cx16"},
      {"amx-fp16", "amx_fp16"},  {"sse4a", "sse4a"},
      {"fma4", "fma4"},          {"xop", "xop"},
  };
  return names;
}

} // namespace

std::vector<std::string> missingCpuFeatures(const std::string &moduleFeatures,
                                            const std::set<std::string> &hostFlags) {
  std::vector<std::string> missing;
  std::stringstream list(moduleFeatures);
  std::string item;
  while (std::getline(list, item, ',')) {
    if (item.size() < 2 || item[0] != '+')
      continue;
    const std::string name = item.substr(1);
    auto it = cpuinfoNames().find(name);
    if (it != cpuinfoNames().end() && !hostFlags.count(it->second))
      missing.push_back(name);
  }
  return missing;
}

const std::set<std::string> &hostCpuFlags() {
  // Read once per process: every artifact load asks.
  static const std::set<std::string> flags = readHostCpuFlags();
  return flags;
}

std::set<std::string> readHostCpuFlags() {
  std::set<std::string> flags;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0)
      continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    std::stringstream words(line.substr(colon + 1));
    std::string flag;
    while (words >> flag)
      flags.insert(flag);
    break; // every processor of a machine reports the same flags
  }
  return flags;
}

} // namespace kiln::rt
