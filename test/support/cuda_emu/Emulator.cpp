//===- Emulator.cpp - fibers for GPU threads ------------------------------===//
#include "Emulator.h"
#include "cuda_emu_types.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <elf.h>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <unistd.h>

// ---- context switch (x86-64 System V): saves the callee-saved registers on
// the current stack, stores the stack pointer to *save, switches to `load`.
extern "C" void kiln_emu_switch(void **save, void *load);
asm(R"(
  .pushsection .text
  .globl kiln_emu_switch
  .hidden kiln_emu_switch
  .type kiln_emu_switch,@function
kiln_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size kiln_emu_switch,.-kiln_emu_switch
  .popsection
)");

namespace kiln::emu {
namespace {

constexpr size_t kStackBytes = 128 * 1024;

struct Fiber {
  kiln_emu_thread t{};
  void *sp = nullptr;
  enum Status { Ready, Barrier, Shuffle, Done } status = Ready;
  float shflIn = 0, shflOut = 0;
  int shflMask = 0;
};

struct Run {
  Module::Entry fn = nullptr;
  void **params = nullptr;
  std::vector<Fiber> fibers;
  void *mainSp = nullptr;
  size_t current = 0;
};

Run *gRun = nullptr;
std::vector<std::unique_ptr<char[]>> gStacks;

void onSync() {
  Fiber &f = gRun->fibers[gRun->current];
  f.status = Fiber::Barrier;
  kiln_emu_switch(&f.sp, gRun->mainSp);
}

float onShuffle(float v, int mask) {
  Fiber &f = gRun->fibers[gRun->current];
  f.status = Fiber::Shuffle;
  f.shflIn = v;
  f.shflMask = mask;
  kiln_emu_switch(&f.sp, gRun->mainSp);
  return f.shflOut;
}

[[noreturn]] void fiberMain() {
  Run *run = gRun;
  run->fn(run->params);
  Fiber &f = run->fibers[run->current];
  f.status = Fiber::Done;
  kiln_emu_switch(&f.sp, run->mainSp);
  std::abort(); // a finished fiber is never resumed
}

void *initialStack(char *stack) {
  auto top = reinterpret_cast<uintptr_t>(stack + kStackBytes) & ~uintptr_t(15);
  auto *sp = reinterpret_cast<uintptr_t *>(top);
  *--sp = 0;                                      // fiberMain's (unused) return address
  *--sp = reinterpret_cast<uintptr_t>(&fiberMain); // popped by kiln_emu_switch's ret
  for (int i = 0; i < 6; ++i)
    *--sp = 0; // rbp rbx r12 r13 r14 r15
  return sp;
}

std::string describe(const Run &run, const Dim3 &block) {
  size_t counts[4] = {0, 0, 0, 0};
  for (const Fiber &f : run.fibers)
    ++counts[f.status];
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "block (%u,%u) of %u threads: %zu at __syncthreads, %zu at a warp shuffle, "
                "%zu finished",
                run.fibers[0].t.blockIdx.x, run.fibers[0].t.blockIdx.y,
                block.x * block.y * block.z, counts[Fiber::Barrier], counts[Fiber::Shuffle],
                counts[Fiber::Done]);
  return buf;
}

uint64_t fnv1a(const unsigned char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

} // namespace

Module::Module(const std::string &path) {
  dl_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!dl_) {
    const char *e = dlerror();
    throw std::runtime_error("emulator: cannot load " + path + ": " + (e ? e : "?"));
  }
  current_ = static_cast<kiln_emu_thread **>(dlsym(dl_, "kiln_emu_current"));
  sync_ = reinterpret_cast<void (**)(void)>(dlsym(dl_, "kiln_emu_syncthreads"));
  shfl_ = reinterpret_cast<float (**)(float, int)>(dlsym(dl_, "kiln_emu_shfl_xor"));
  if (!current_ || !sync_ || !shfl_)
    throw std::runtime_error("emulator: " + path + " is not an emulated Kiln CUDA module");
}

Module::~Module() {
  if (dl_)
    dlclose(dl_);
}

Module::Entry Module::function(const std::string &symbol, int *numParams) const {
  auto entry = reinterpret_cast<Entry>(dlsym(dl_, ("kiln_emu_call_" + symbol).c_str()));
  auto *count = static_cast<const int *>(dlsym(dl_, ("kiln_emu_nparams_" + symbol).c_str()));
  if (numParams)
    *numParams = count ? *count : 0;
  return count ? entry : nullptr;
}

void Module::launch(Entry fn, Dim3 grid, Dim3 block, void **params) const {
  const size_t threads = size_t(block.x) * block.y * block.z;
  if (threads == 0 || threads > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0)
    throw std::runtime_error("emulator: invalid launch shape");
  while (gStacks.size() < threads)
    gStacks.push_back(std::make_unique<char[]>(kStackBytes));
  Run run;
  run.fn = fn;
  run.params = params;
  run.fibers.resize(threads);
  Run *saved = gRun;
  gRun = &run;
  *sync_ = &onSync;
  *shfl_ = &onShuffle;
  struct Restore {
    Run *saved;
    ~Restore() { gRun = saved; }
  } restore{saved};
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        for (size_t t = 0; t < threads; ++t) {
          Fiber &f = run.fibers[t];
          f = Fiber{};
          f.t.threadIdx = {unsigned(t % block.x), unsigned((t / block.x) % block.y),
                           unsigned(t / (size_t(block.x) * block.y))};
          f.t.blockIdx = {bx, by, bz};
          f.t.blockDim = {block.x, block.y, block.z};
          f.t.gridDim = {grid.x, grid.y, grid.z};
          f.sp = initialStack(gStacks[t].get());
        }
        for (;;) {
          for (size_t t = 0; t < threads; ++t) {
            Fiber &f = run.fibers[t];
            if (f.status != Fiber::Ready)
              continue;
            run.current = t;
            *current_ = &f.t;
            kiln_emu_switch(&run.mainSp, f.sp);
          }
          size_t done = 0, atBarrier = 0;
          for (const Fiber &f : run.fibers) {
            done += f.status == Fiber::Done;
            atBarrier += f.status == Fiber::Barrier;
          }
          if (done == threads)
            break;
          bool released = false;
          for (size_t w = 0; w * 32 < threads; ++w) {
            size_t first = w * 32, lanes = std::min<size_t>(32, threads - first), waiting = 0;
            for (size_t l = 0; l < lanes; ++l)
              waiting += run.fibers[first + l].status == Fiber::Shuffle;
            if (waiting == 0 || waiting != lanes)
              continue;
            for (size_t l = 0; l < lanes; ++l) {
              Fiber &f = run.fibers[first + l];
              if (f.shflMask != run.fibers[first].shflMask)
                throw std::runtime_error("emulator: lanes of warp " + std::to_string(w) +
                                         " shuffle with different masks; " + describe(run, block));
              size_t src = l ^ size_t(f.shflMask);
              f.shflOut = src < lanes ? run.fibers[first + src].shflIn : f.shflIn;
            }
            for (size_t l = 0; l < lanes; ++l)
              run.fibers[first + l].status = Fiber::Ready;
            released = true;
          }
          if (released)
            continue;
          if (atBarrier == threads) {
            for (Fiber &f : run.fibers)
              f.status = Fiber::Ready;
            continue;
          }
          throw std::runtime_error("emulator: deadlock (a barrier or shuffle that not every "
                                   "thread reaches): " +
                                   describe(run, block));
        }
      }
}

void buildModule(const std::string &source,
                 const std::vector<std::pair<std::string, int>> &kernels, const std::string &out) {
  // Names of this process's own: ctest runs tests of the same binary in
  // parallel, and each may build the same module the first time.
  const std::string own = out + "." + std::to_string(::getpid());
  std::string cpp = own + ".cpp";
  {
    std::ofstream f(cpp, std::ios::trunc);
    f << source << "\n// ---- emulator glue ----\n"
      << "extern \"C\" {\nkiln_emu_thread *kiln_emu_current;\n"
      << "void (*kiln_emu_syncthreads)(void);\nfloat (*kiln_emu_shfl_xor)(float, int);\n";
    for (const auto &[symbol, buffers] : kernels) {
      f << "extern const int kiln_emu_nparams_" << symbol << ";\n";
      f << "const int kiln_emu_nparams_" << symbol << " = " << buffers + 2 << ";\n";
      f << "void kiln_emu_call_" << symbol << "(void **p) { " << symbol << "(";
      for (int i = 0; i < buffers + 1; ++i) // buffers, then scratch
        f << "*(float **)p[" << i << "], ";
      f << "*(long long *)p[" << buffers + 1 << "]); }\n";
    }
    f << "}\n";
    if (!f.good())
      throw std::runtime_error("emulator: cannot write " + cpp);
  }
  std::string log = own + ".log";
  std::string cmd = std::string(KILN_EMU_CXX) + " -std=c++17 -O1 -fPIC -shared -w -include " +
                    KILN_EMU_INCLUDE_DIR + "/cuda_emu.h -o " + own + ".tmp " + cpp + " > " + log +
                    " 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream l(log);
    std::string text((std::istreambuf_iterator<char>(l)), std::istreambuf_iterator<char>());
    throw std::runtime_error("emulator: compiling " + cpp + " failed:\n" + text.substr(0, 8000));
  }
  if (std::rename((own + ".tmp").c_str(), out.c_str()) != 0)
    throw std::runtime_error("emulator: cannot rename " + own + ".tmp");
  std::remove(cpp.c_str());
  std::remove(log.c_str());
}

std::string imageKey(const void *image) {
  const auto *p = static_cast<const unsigned char *>(image);
  size_t size;
  if (std::memcmp(p, ELFMAG, SELFMAG) == 0 && p[EI_CLASS] == ELFCLASS64) {
    Elf64_Ehdr eh;
    std::memcpy(&eh, p, sizeof eh);
    size = std::max<size_t>(eh.e_shoff + size_t(eh.e_shnum) * eh.e_shentsize,
                            eh.e_phoff + size_t(eh.e_phnum) * eh.e_phentsize);
    for (unsigned i = 0; i < eh.e_shnum; ++i) {
      Elf64_Shdr sh;
      std::memcpy(&sh, p + eh.e_shoff + size_t(i) * eh.e_shentsize, sizeof sh);
      if (sh.sh_type != SHT_NOBITS)
        size = std::max<size_t>(size, sh.sh_offset + sh.sh_size);
    }
  } else {
    size = std::strlen(reinterpret_cast<const char *>(p));
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fnv1a(p, size)));
  return buf;
}

} // namespace kiln::emu
