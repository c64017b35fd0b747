/* test_kernels.c - hand-written kernels that follow KernelABI.h, standing in
 * for compiler output in the runtime tests. Each kernel, like generated code,
 * knows its shapes and its task size; the runtime only hands it pointers, the
 * batch and a task range. Kernels write NaN where they detect a contract
 * violation (empty task range, misaligned scratch) so that the tests see it
 * in the outputs. */
#define _POSIX_C_SOURCE 199309L /* nanosleep */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "kiln/runtime/KernelABI.h"

/* Elements per task in the elementwise kernels; deliberately not a divisor of
 * the row width so that task boundaries cut rows. */
#define EW_TASK 3
#define ROW 4

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* out[b,j] = x[b,j] * s[j]; x [?,4], s [4]. */
void kt_scale(float *const *buf, int64_t batch, int64_t tb, int64_t te, float *scratch) {
  const float *x = buf[0], *s = buf[1];
  float *out = buf[2];
  if (tb >= te) { out[0] = NAN; return; }
  int64_t end = min64(te * EW_TASK, batch * ROW);
  for (int64_t i = tb * EW_TASK; i < end; ++i)
    out[i] = x[i] * s[i % ROW];
}

/* out[b,j] = a[b,j] + bias[j]. */
void kt_add_bias(float *const *buf, int64_t batch, int64_t tb, int64_t te, float *scratch) {
  const float *a = buf[0], *bias = buf[1];
  float *out = buf[2];
  if (tb >= te) { out[0] = NAN; return; }
  int64_t end = min64(te * EW_TASK, batch * ROW);
  for (int64_t i = tb * EW_TASK; i < end; ++i)
    out[i] = a[i] + bias[i % ROW];
}

/* One task per row: out[b,j] = in[b,j] + sum_k in[b,k], computed from a copy
 * of the row in the thread's scratch (scratch_bytes = 256). */
void kt_rowsum(float *const *buf, int64_t batch, int64_t tb, int64_t te, float *scratch) {
  const float *in = buf[0];
  float *out = buf[1];
  int bad = tb >= te || scratch == NULL || ((uintptr_t)scratch % KILN_ARENA_ALIGNMENT) != 0;
  for (int64_t b = tb; b < te; ++b) {
    if (bad) {
      for (int j = 0; j < ROW; ++j) out[b * ROW + j] = NAN;
      continue;
    }
    memcpy(scratch, in + b * ROW, ROW * sizeof(float));
    /* Poison the rest of the 256-byte scratch: it is ours alone. */
    for (int j = ROW; j < 64; ++j) scratch[j] = -1.0f;
    float sum = 0;
    for (int j = 0; j < ROW; ++j) sum += scratch[j];
    for (int j = 0; j < ROW; ++j) out[b * ROW + j] = scratch[j] + sum;
  }
}

/* Two rows per task: y[rows] = a[rows] (rows x 4) @ w (4 x 3), via OpenBLAS. */
void kt_matmul(float *const *buf, int64_t batch, int64_t tb, int64_t te, float *scratch) {
  const float *a = buf[0], *w = buf[1];
  float *y = buf[2];
  if (tb >= te) { y[0] = NAN; return; }
  int64_t r0 = tb * 2, r1 = min64(te * 2, batch);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(r1 - r0), 3, 4, 1.0f,
              a + r0 * 4, 4, w, 3, 0.0f, y + r0 * 3, 3);
}

/* Built a second time with KT_STATS_OFFSET=1000 (and -z nodelete) to tell two
 * modules apart in the module-aliasing test. */
#ifndef KT_STATS_OFFSET
#define KT_STATS_OFFSET 0
#endif

/* Batch-independent work (work_fixed = 3, one element per task):
 * stats[t] = 10 * s[t] + t (+ KT_STATS_OFFSET). */
void kt_stats(float *const *buf, int64_t batch, int64_t tb, int64_t te, float *scratch) {
  const float *s = buf[0];
  float *out = buf[1];
  if (tb >= te) { out[0] = NAN; return; }
  for (int64_t t = tb; t < te; ++t)
    out[t] = 10.0f * s[t] + (float)t + KT_STATS_OFFSET;
}

/* Elementwise out = a + b over [?,2,3], 5 elements per task. */
void kt_add(float *const *buf, int64_t batch, int64_t tb, int64_t te, float *scratch) {
  const float *a = buf[0], *b = buf[1];
  float *out = buf[2];
  if (tb >= te) { out[0] = NAN; return; }
  int64_t end = min64(te * 5, batch * 6);
  for (int64_t i = tb * 5; i < end; ++i)
    out[i] = a[i] + b[i];
}

/* Coverage probe: out[i] += 1 over [?,5], 2 elements per task. Every element
 * must end up exactly 1 (outputs start zeroed): 0 means a task was skipped,
 * 2 that one ran twice. */
void kt_count(float *const *buf, int64_t batch, int64_t tb, int64_t te, float *scratch) {
  float *out = buf[1];
  if (tb >= te) { out[0] = NAN; return; }
  int64_t end = min64(te * 2, batch * 5);
  for (int64_t i = tb * 2; i < end; ++i)
    out[i] += 1.0f;
}

/* In-place parameter update (a train_step in miniature): p[j] += g[j], [4]. */
void kt_accumulate(float *const *buf, int64_t batch, int64_t tb, int64_t te, float *scratch) {
  const float *g = buf[0];
  float *p = buf[1];
  for (int64_t j = tb; j < te; ++j)
    p[j] += g[j];
}

/* Take-over probe: one task per item; out[b,0] and out[b,1] are the ticks of a
 * counter shared by all threads when task b starts and ends. Task 0 sleeps
 * 50 ms, so the tasks its thread would run next can only start while it
 * sleeps if another thread takes them over. */
static atomic_llong kt_trace_clock;
void kt_trace(float *const *buf, int64_t batch, int64_t tb, int64_t te, float *scratch) {
  float *out = buf[1];
  (void)batch;
  (void)scratch;
  for (int64_t b = tb; b < te; ++b) {
    out[2 * b] = (float)atomic_fetch_add(&kt_trace_clock, 1);
    if (b == 0) {
      struct timespec pause = {0, 50 * 1000 * 1000};
      nanosleep(&pause, NULL);
    }
    out[2 * b + 1] = (float)atomic_fetch_add(&kt_trace_clock, 1);
  }
}
