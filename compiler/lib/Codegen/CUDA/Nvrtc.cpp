//===- Nvrtc.cpp - CUDA C -> cubin/PTX with NVRTC, through a disk cache ---===//
//
// One NVRTC program per architecture (the whole module is one translation
// unit), compiled in parallel threads. The PTX of the first (oldest)
// architecture is kept as well: a driver for a newer GPU without a matching
// cubin JIT-compiles it.
//
// Cache: <dir>/<key>.kcu where key = 128-bit FNV-1a of (NVRTC version,
// options, source). The file starts with a header line naming the key and the
// payload sizes; anything that does not match is recompiled (and rewritten
// atomically), so a corrupt cache entry costs time, never a wrong kernel.
//===----------------------------------------------------------------------===//
#include "kiln/Codegen/CudaEmitter.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

#ifdef KILN_HAVE_NVRTC
#include <nvrtc.h>
#endif

namespace fs = std::filesystem;

namespace kiln::codegen {
namespace {

uint64_t fnv1a(const std::string &s, uint64_t h) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string cacheKey(const std::string &version, const std::vector<std::string> &options,
                     const std::string &source) {
  std::string text = version + '\0';
  for (const std::string &o : options)
    text += o + '\0';
  text += source;
  return fmt::format("{:016x}{:016x}", fnv1a(text, 1469598103934665603ull),
                     fnv1a(text, 0x84222325cbf29ce4ull));
}

struct ArchResult {
  std::string arch;
  std::vector<uint8_t> cubin;
  std::string ptx;
  std::string error;
  bool fromCache = false;
};

std::string cachePath(const std::string &dir, const std::string &key) {
  return (fs::path(dir) / (key + ".kcu")).string();
}

bool readCache(const std::string &dir, const std::string &key, ArchResult &r) {
  std::ifstream in(cachePath(dir, key), std::ios::binary);
  if (!in)
    return false;
  std::string header;
  if (!std::getline(in, header))
    return false;
  std::istringstream hs(header);
  std::string magic, gotKey;
  size_t cubinSize = 0, ptxSize = 0;
  if (!(hs >> magic >> gotKey >> cubinSize >> ptxSize) || magic != "kiln-cuda-cache-1" ||
      gotKey != key || cubinSize > (size_t(1) << 30) || ptxSize > (size_t(1) << 30))
    return false;
  std::vector<uint8_t> cubin(cubinSize);
  std::string ptx(ptxSize, '\0');
  if (!in.read(reinterpret_cast<char *>(cubin.data()), std::streamsize(cubinSize)) ||
      !in.read(ptx.data(), std::streamsize(ptxSize)))
    return false;
  char extra;
  if (in.read(&extra, 1))
    return false; // longer than announced
  r.cubin = std::move(cubin);
  r.ptx = std::move(ptx);
  r.fromCache = true;
  return true;
}

void writeCache(const std::string &dir, const std::string &key, const ArchResult &r) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return; // the cache is an optimisation
  std::string path = cachePath(dir, key);
  std::string tmp = path + fmt::format(".tmp{}", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return;
    out << "kiln-cuda-cache-1 " << key << ' ' << r.cubin.size() << ' ' << r.ptx.size() << '\n';
    out.write(reinterpret_cast<const char *>(r.cubin.data()), std::streamsize(r.cubin.size()));
    out.write(r.ptx.data(), std::streamsize(r.ptx.size()));
    if (!out.good()) {
      out.close();
      std::remove(tmp.c_str());
      return;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    std::remove(tmp.c_str());
}

#ifdef KILN_HAVE_NVRTC
/// Each "kiln.cu(LINE): error ..." line of the log followed by that source
/// line and the kernel it belongs to.
std::string annotateLog(const std::string &log, const CudaSource &source) {
  std::vector<std::string> lines;
  {
    std::istringstream ss(source.text);
    for (std::string l; std::getline(ss, l);)
      lines.push_back(l);
  }
  std::string out;
  std::istringstream ls(log);
  int errors = 0;
  for (std::string l; std::getline(ls, l);) {
    out += "  " + l + "\n";
    const std::string tag = "kiln.cu(";
    size_t at = l.find(tag);
    if (at == std::string::npos || l.find("error") == std::string::npos || errors >= 20)
      continue;
    ++errors;
    int line = std::atoi(l.c_str() + at + tag.size());
    if (line < 1 || size_t(line) > lines.size())
      continue;
    std::string kernel = "the prelude";
    for (const auto &[name, first] : source.symbolLines)
      if (first <= line && (kernel == "the prelude" || first > source.symbolLines.at(kernel)))
        kernel = name;
    out += fmt::format("    source line {} (in {}): {}\n", line, kernel, lines[size_t(line) - 1]);
  }
  return out;
}

std::string nvrtcText(nvrtcResult r) { return nvrtcGetErrorString(r); }

void compileOne(const CudaSource &source, const std::string &arch, bool wantPtx,
                ArchResult &r) {
  r.arch = arch;
  std::vector<std::string> opts = nvrtcOptions(arch);
  std::vector<const char *> argv;
  for (const std::string &o : opts)
    argv.push_back(o.c_str());
  nvrtcProgram prog;
  nvrtcResult res = nvrtcCreateProgram(&prog, source.text.c_str(), "kiln.cu", 0, nullptr, nullptr);
  if (res != NVRTC_SUCCESS) {
    r.error = "nvrtcCreateProgram: " + nvrtcText(res);
    return;
  }
  res = nvrtcCompileProgram(prog, int(argv.size()), argv.data());
  size_t logSize = 0;
  nvrtcGetProgramLogSize(prog, &logSize);
  std::string log(logSize, '\0');
  if (logSize)
    nvrtcGetProgramLog(prog, log.data());
  while (!log.empty() && (log.back() == '\0' || log.back() == '\n'))
    log.pop_back();
  if (res != NVRTC_SUCCESS) {
    r.error = fmt::format("NVRTC failed for {} ({}):\n{}", arch, nvrtcText(res),
                          annotateLog(log, source));
    nvrtcDestroyProgram(&prog);
    return;
  }
  size_t size = 0;
  if ((res = nvrtcGetCUBINSize(prog, &size)) != NVRTC_SUCCESS || size == 0) {
    r.error = fmt::format("NVRTC produced no cubin for {} ({})", arch, nvrtcText(res));
    nvrtcDestroyProgram(&prog);
    return;
  }
  r.cubin.resize(size);
  nvrtcGetCUBIN(prog, reinterpret_cast<char *>(r.cubin.data()));
  if (wantPtx) {
    if ((res = nvrtcGetPTXSize(prog, &size)) != NVRTC_SUCCESS || size == 0) {
      r.error = fmt::format("NVRTC produced no PTX for {} ({})", arch, nvrtcText(res));
      nvrtcDestroyProgram(&prog);
      return;
    }
    r.ptx.resize(size);
    nvrtcGetPTX(prog, r.ptx.data());
    while (!r.ptx.empty() && r.ptx.back() == '\0')
      r.ptx.pop_back();
  }
  nvrtcDestroyProgram(&prog);
}
#endif

} // namespace

bool nvrtcAvailable() {
#ifdef KILN_HAVE_NVRTC
  return true;
#else
  return false;
#endif
}

std::string nvrtcVersion() {
#ifdef KILN_HAVE_NVRTC
  int major = 0, minor = 0;
  if (::nvrtcVersion(&major, &minor) == NVRTC_SUCCESS)
    return fmt::format("{}.{}", major, minor);
#endif
  return "";
}

std::vector<std::string> nvrtcOptions(const std::string &arch) {
  // IEEE division and square root, no flush-to-zero (NVRTC's defaults, spelled
  // out): the GPU must match the CPU kernels to rounding. FMA contraction is
  // on, as on the CPU (LLVM contract flags).
  return {"--gpu-architecture=" + arch, "-std=c++17", "--fmad=true", "--prec-div=true",
          "--prec-sqrt=true", "--ftz=false", "-w"};
}

std::string defaultCudaCacheDir() {
  if (const char *d = std::getenv("KILN_CUDA_CACHE_DIR"); d && *d)
    return d;
  if (const char *d = std::getenv("XDG_CACHE_HOME"); d && *d)
    return (fs::path(d) / "kiln" / "cuda").string();
  if (const char *d = std::getenv("HOME"); d && *d)
    return (fs::path(d) / ".cache" / "kiln" / "cuda").string();
  return "";
}

bool compileCudaSource(const CudaSource &source, const CudaCompileOptions &options,
                       std::vector<CudaBinary> &out, CudaCompileReport &report,
                       std::string &error) {
  auto start = std::chrono::steady_clock::now();
  out.clear();
  report = CudaCompileReport{};
  if (!nvrtcAvailable()) {
    error = "this compiler was built without NVRTC (no CUDA toolkit at configure time); "
            "the CUDA target is unavailable";
    return false;
  }
  if (options.archs.empty()) {
    error = "no CUDA architecture to compile for";
    return false;
  }
  for (const std::string &arch : options.archs)
    if (arch.rfind("sm_", 0) != 0 || arch.size() < 5)
      {
        error = "CUDA architecture '" + arch + "': expected sm_<NN> (e.g. sm_90)";
        return false;
      }
  report.nvrtcVersion = nvrtcVersion();
  std::vector<ArchResult> results(options.archs.size());
  std::vector<std::string> keys(options.archs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < options.archs.size(); ++i) {
    const std::string &arch = options.archs[i];
    keys[i] = cacheKey(report.nvrtcVersion, nvrtcOptions(arch), source.text);
    results[i].arch = arch;
    if (!options.cacheDir.empty() && readCache(options.cacheDir, keys[i], results[i]) &&
        (i != 0 || !results[i].ptx.empty()))
      continue;
    results[i] = ArchResult{};
#ifdef KILN_HAVE_NVRTC
    threads.emplace_back(
        [&, i] { compileOne(source, options.archs[i], /*wantPtx=*/i == 0, results[i]); });
#endif
  }
  for (std::thread &t : threads)
    t.join();
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].error.empty()) {
      error = results[i].error;
      return false;
    }
    if (results[i].fromCache) {
      ++report.cacheHits;
    } else {
      ++report.compiled;
      if (!options.cacheDir.empty())
        writeCache(options.cacheDir, keys[i], results[i]);
    }
    out.push_back(CudaBinary{options.archs[i], "", std::move(results[i].cubin)});
    if (i == 0)
      out.push_back(CudaBinary{"compute_" + options.archs[0].substr(3), std::move(results[0].ptx),
                               {}});
  }
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return true;
}

} // namespace kiln::codegen
