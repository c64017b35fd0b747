//===- Emulator.h - run Kiln's generated CUDA kernels on the CPU -*- C++ -*-===//
//
// Test support, never shipped. The generated CUDA C (plus the prelude) is
// compiled as host C++ against cuda_emu.h into a shared object; a launch runs
// the grid's blocks one after another and every thread of a block as a fiber,
// switching at __syncthreads() and warp shuffles. Strict: a barrier must be
// reached by every thread of the block and a shuffle by all 32 lanes of the
// warp, otherwise the launch fails with a description (real hardware would
// hang or compute garbage). This lets CI check the kernels' semantics
// (indexing, tiling, reductions, split-K) without a GPU; the GPU tests then
// check the same kernels on the device.
//===----------------------------------------------------------------------===//
#ifndef KILN_TEST_CUDA_EMU_EMULATOR_H
#define KILN_TEST_CUDA_EMU_EMULATOR_H

#include <string>
#include <utility>
#include <vector>

struct kiln_emu_thread;

namespace kiln::emu {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

class Module {
public:
  using Entry = void (*)(void **params);
  /// dlopen()s a module made by buildModule. Throws std::runtime_error.
  explicit Module(const std::string &path);
  ~Module();
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;

  /// The launch wrapper of kernel `symbol` (null if the module has none) and
  /// its parameter count.
  Entry function(const std::string &symbol, int *numParams) const;
  /// Runs `fn` on grid x block threads. Throws std::runtime_error when a
  /// barrier or shuffle is not reached by every thread it concerns.
  void launch(Entry fn, Dim3 grid, Dim3 block, void **params) const;

private:
  void *dl_ = nullptr;
  kiln_emu_thread **current_ = nullptr;
  void (**sync_)(void) = nullptr;
  float (**shfl_)(float, int) = nullptr;
};

/// Compiles `source` (a whole generated translation unit) with the host C++
/// compiler into the shared object `out`, adding one launch wrapper per
/// kernel: (symbol, number of buffers = inputs + output). Throws
/// std::runtime_error with the compiler's output on failure.
void buildModule(const std::string &source,
                 const std::vector<std::pair<std::string, int>> &kernels, const std::string &out);

/// The name under which the emulated driver looks a module image up:
/// 16 hex digits of FNV-1a over the image (a cubin's ELF bytes, or PTX text).
std::string imageKey(const void *image);

} // namespace kiln::emu

#endif
