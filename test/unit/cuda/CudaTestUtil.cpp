//===- CudaTestUtil.cpp ----------------------------------------------------===//
#include "CudaTestUtil.h"

#include "kiln/Codegen/CudaEmitter.h"
#include "kiln/Driver/Compiler.h"
#include "kiln/runtime/schema/kiln_artifact_generated.h"
#ifdef KILN_TEST_WITH_EMULATOR
#include "Emulator.h"
#endif

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <elf.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace kiln::test {

namespace {
std::vector<uint8_t> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

/// Written under a name of this process's own, then renamed: ctest runs
/// tests of the same binary in parallel, and each may write the same cache
/// entry the first time.
void writeFile(const std::string &path, const void *data, size_t size) {
  std::string tmp = path + "." + std::to_string(::getpid()) + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char *>(data), std::streamsize(size));
    if (!out.good())
      throw std::runtime_error("cannot write " + tmp);
  }
  fs::rename(tmp, path);
}

/// Changes whenever the test binary (and so the statically linked compiler) does.
std::string binaryStamp() {
  struct stat st;
  if (stat("/proc/self/exe", &st) != 0)
    return "0";
  return fmt::format("{:x}{:x}", uint64_t(st.st_mtim.tv_sec), uint64_t(st.st_size));
}
} // namespace

CudaArtifact cudaTrainingArtifact(const std::string &model, const std::vector<std::string> &archs,
                                  const std::string &optimizer) {
  std::string dir = KILN_CUDA_TEST_DIR;
  fs::create_directories(dir);
  std::string archList;
  for (const std::string &a : archs)
    archList += "-" + a;
  std::string base = fmt::format("{}/{}-{}{}-{}", dir, model, optimizer, archList, binaryStamp());
  CudaArtifact out;
  if (fs::exists(base + ".kiln") && fs::exists(base + ".cu")) {
    out.bytes = readFile(base + ".kiln");
    std::vector<uint8_t> src = readFile(base + ".cu");
    out.cudaSource.assign(src.begin(), src.end());
  } else {
    CompileOptions options;
    options.cuda = true;
    options.cudaArchs = archs;
    options.cudaCacheDir = dir + "/nvrtc-cache";
    TrainingOptions training;
    training.optimizer = optimizer;
    CompileResult r = compileTrainingModel(model, 42, training, options);
    out.bytes = r.artifact;
    out.cudaSource = r.cudaSource;
    writeFile(base + ".cu", out.cudaSource.data(), out.cudaSource.size());
    writeFile(base + ".kiln", out.bytes.data(), out.bytes.size());
  }
  out.artifact = rt::Artifact::loadBuffer(out.bytes, model + " (CUDA test artifact)");
  return out;
}

std::string cudaTargetUnavailable() {
  return codegen::nvrtcAvailable() ? "" : "built without NVRTC (no CUDA toolkit at configure time)";
}

void useEmulatedDriver(const CudaArtifact &a) {
#ifdef KILN_TEST_WITH_EMULATOR
  std::string dir = std::string(KILN_CUDA_TEST_DIR) + "/emu-modules";
  fs::create_directories(dir);
  setenv("KILN_CUDA_DRIVER", KILN_FAKE_CUDA_DRIVER, 1);
  setenv("KILN_EMU_MODULE_DIR", dir.c_str(), 1);
  const auto *root = artifact::GetArtifact(a.bytes.data());
  std::vector<std::pair<std::string, int>> kernels;
  std::set<std::string> seen;
  for (const artifact::Kernel *k : *root->kernels())
    if (k->cuda_symbol() && seen.insert(k->cuda_symbol()->str()).second)
      kernels.push_back({k->cuda_symbol()->str(), int(k->num_inputs()) + 1});
  // Every image (each cubin, the PTX) holds the same kernels: build the
  // emulated module once and give it each image's name.
  std::string built;
  for (const artifact::CudaModule *m : *root->cuda()) {
    const void *image = m->cubin() && m->cubin()->size()
                            ? static_cast<const void *>(m->cubin()->data())
                            : static_cast<const void *>(m->ptx()->c_str());
    std::string path = dir + "/" + emu::imageKey(image) + ".so";
    if (fs::exists(path)) {
      built = path;
      continue;
    }
    if (built.empty()) {
      emu::buildModule(a.cudaSource, kernels, path);
      built = path;
    } else {
      const std::string tmp = path + "." + std::to_string(::getpid()) + ".tmp";
      fs::copy_file(built, tmp, fs::copy_options::overwrite_existing);
      fs::rename(tmp, path);
    }
  }
#else
  (void)a;
  throw std::runtime_error("this test binary was built without the emulator");
#endif
}

Inputs entryInputs(const rt::Artifact &artifact, const std::string &entry, int64_t batch,
                   uint64_t seed) {
  Inputs in;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const rt::TensorInfo &t : artifact.inputs(entry)) {
    std::vector<int64_t> shape = t.shape;
    if (!shape.empty() && shape[0] < 0)
      shape[0] = batch;
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    std::vector<float> v(size_t(n), 0.0f);
    if (t.name == "target") {
      int64_t classes = shape[1];
      for (int64_t i = 0; i < shape[0]; ++i)
        v[size_t(i * classes + int64_t(rng() % uint64_t(classes)))] = 1.0f;
    } else if (t.name == "lr") {
      v[0] = 0.05f;
    } else if (t.name == "bias_correction1") {
      v[0] = 0.1f; // 1 - 0.9^1
    } else if (t.name == "bias_correction2") {
      v[0] = 0.001f; // 1 - 0.999^1
    } else {
      for (float &x : v)
        x = normal(rng);
    }
    in.data.push_back(std::move(v));
    in.views.push_back({in.data.back().data(), shape});
  }
  // views must point at the final storage
  for (size_t i = 0; i < in.data.size(); ++i)
    in.views[i].data = in.data[i].data();
  return in;
}

std::set<std::string> elfSymbols(const std::vector<uint8_t> &elf) {
  std::set<std::string> names;
  if (elf.size() < sizeof(Elf64_Ehdr) || std::memcmp(elf.data(), ELFMAG, SELFMAG) != 0)
    return names;
  Elf64_Ehdr eh;
  std::memcpy(&eh, elf.data(), sizeof eh);
  auto section = [&](unsigned i) {
    Elf64_Shdr sh;
    std::memcpy(&sh, elf.data() + eh.e_shoff + size_t(i) * eh.e_shentsize, sizeof sh);
    return sh;
  };
  for (unsigned i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh = section(i);
    if (sh.sh_type != SHT_SYMTAB)
      continue;
    Elf64_Shdr strtab = section(sh.sh_link);
    for (size_t off = 0; off + sizeof(Elf64_Sym) <= sh.sh_size; off += sizeof(Elf64_Sym)) {
      Elf64_Sym sym;
      std::memcpy(&sym, elf.data() + sh.sh_offset + off, sizeof sym);
      if (sym.st_name)
        names.insert(reinterpret_cast<const char *>(elf.data() + strtab.sh_offset + sym.st_name));
    }
  }
  return names;
}


} // namespace kiln::test
