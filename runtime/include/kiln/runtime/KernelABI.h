/* KernelABI.h - the calling convention between generated kernels and the runtime.
 *
 * Plain C so that the codegen (which emits it in LLVM IR) and the runtime (which
 * calls it) agree without sharing any other code.
 */
#ifndef KILN_RUNTIME_KERNELABI_H
#define KILN_RUNTIME_KERNELABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* buffers[0..num_inputs) are the kernel's inputs, buffers[num_inputs] its output;
 * batch is the runtime batch size; the call runs tasks [task_begin, task_end);
 * scratch is this thread's private scratch (Kernel.scratch_bytes, 64-byte aligned). */
typedef void (*kiln_cpu_kernel_fn)(float *const *buffers, int64_t batch,
                                   int64_t task_begin, int64_t task_end,
                                   float *scratch);

#define KILN_ARTIFACT_SCHEMA_VERSION 1u
#define KILN_ARENA_ALIGNMENT 64

#ifdef __cplusplus
}
#endif

#endif
