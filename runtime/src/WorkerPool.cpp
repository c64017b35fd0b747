//===- WorkerPool.cpp -----------------------------------------------------===//
#include "WorkerPool.h"

#include "kiln/runtime/Runtime.h"

#include <chrono>
#include <climits>
#include <linux/futex.h>
#include <sched.h>
#include <string>
#include <sys/syscall.h>
#include <system_error>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KILN_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define KILN_CPU_RELAX() asm volatile("yield" ::: "memory")
#else
#define KILN_CPU_RELAX() ((void)0)
#endif

namespace kiln::rt {

namespace {

// The futex syscall operates on the atomic's 32-bit object representation.
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "futex needs a plain 32-bit atomic");

// Spin this long, then yield this long, then sleep. Spinning covers the gap
// between launches and between back-to-back runs; yielding lets a thread that
// waits for a descheduled one (more threads than cores, other processes) give
// up its core quickly without paying a futex round trip.
constexpr auto kSpinTime = std::chrono::microseconds(50);
constexpr auto kYieldTime = std::chrono::microseconds(500);

void futexWait(const std::atomic<uint32_t> &word, uint32_t old) {
  syscall(SYS_futex, reinterpret_cast<const uint32_t *>(&word), FUTEX_WAIT_PRIVATE, old,
          nullptr, nullptr, 0);
}

void futexWakeAll(std::atomic<uint32_t> &word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t *>(&word), FUTEX_WAKE_PRIVATE, INT_MAX,
          nullptr, nullptr, 0);
}

} // namespace

WorkerPool::WorkerPool(int numThreads) : n_(numThreads < 1 ? 1 : numThreads) {
  threads_.reserve(size_t(n_ - 1));
  try {
    for (int tid = 1; tid < n_; ++tid)
      threads_.emplace_back([this, tid] { workerLoop(tid); });
  } catch (const std::system_error &e) {
    stop_ = true;
    publish(generation_);
    for (std::thread &t : threads_)
      t.join();
    throw Error(std::string("kiln: cannot start ") + std::to_string(n_ - 1) +
                " worker threads: " + e.what());
  }
}

WorkerPool::~WorkerPool() {
  stop_ = true; // published by the release in publish()
  publish(generation_);
  for (std::thread &t : threads_)
    t.join();
}

void WorkerPool::waitWhileEquals(const std::atomic<uint32_t> &word, uint32_t old) {
  using Clock = std::chrono::steady_clock;
  if (word.load(std::memory_order_acquire) != old)
    return;
  auto start = Clock::now();
  for (;;) {
    // Reading the clock costs ~20 ns; amortise it over a few pauses.
    for (int i = 0; i < 32; ++i) {
      if (word.load(std::memory_order_acquire) != old)
        return;
      KILN_CPU_RELAX();
    }
    if (Clock::now() - start > kSpinTime)
      break;
  }
  for (;;) {
    if (word.load(std::memory_order_acquire) != old)
      return;
    sched_yield();
    if (Clock::now() - start > kSpinTime + kYieldTime)
      break;
  }
  // Dekker-style handshake with publish(): we announce ourselves, then look
  // at the word; it bumps the word, then looks at the sleepers (all seq_cst),
  // so at least one side sees the other. FUTEX_WAIT re-checks atomically.
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  while (word.load(std::memory_order_seq_cst) == old)
    futexWait(word, old);
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
}

void WorkerPool::publish(std::atomic<uint32_t> &word) {
  word.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) != 0)
    futexWakeAll(word);
}

void WorkerPool::barrier() {
  if (n_ == 1)
    return;
  // The phase cannot move between this load and our arrival: it only moves
  // once all n_ threads, us included, have arrived.
  uint32_t phase = phase_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == uint32_t(n_)) {
    // Last to arrive: everyone else is spinning on phase_, so nobody touches
    // arrived_ until we publish the new phase.
    arrived_.store(0, std::memory_order_relaxed);
    publish(phase_);
  } else {
    waitWhileEquals(phase_, phase);
  }
}

void WorkerPool::run(Job job, void *ctx) {
  if (n_ == 1) {
    job(ctx, 0);
    return;
  }
  job_ = job;
  ctx_ = ctx;
  publish(generation_); // release: workers see job_/ctx_
  job(ctx, 0);
  // After this barrier no worker touches job_/ctx_ again until the next
  // generation, so the caller may reuse everything the job referenced.
  barrier();
}

void WorkerPool::workerLoop(int tid) {
  // Not generation_.load(): the owner may already have published a job (or
  // the stop) before this thread got scheduled, and that must not be missed.
  uint32_t seen = 0;
  for (;;) {
    waitWhileEquals(generation_, seen);
    seen = generation_.load(std::memory_order_acquire);
    if (stop_)
      return;
    job_(ctx_, tid);
    barrier();
  }
}

} // namespace kiln::rt
