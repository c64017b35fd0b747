//===- cuda_emu_types.h - what a thread of the emulator knows about itself ===//
#ifndef KILN_CUDA_EMU_TYPES_H
#define KILN_CUDA_EMU_TYPES_H

struct kiln_emu_dim3 {
  unsigned x, y, z;
};
struct kiln_emu_thread {
  kiln_emu_dim3 threadIdx, blockIdx, blockDim, gridDim;
};

#endif
