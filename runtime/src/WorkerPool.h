//===- WorkerPool.h - persistent spinning worker threads ---------*- C++ -*-===//
//
// A session's threads. An entry is a few dozen kernel launches separated by
// barriers, and at batch 1 each launch runs for microseconds, so both waking
// the workers and every barrier must cost well under a microsecond when the
// threads are busy. Waiting therefore spins first, then yields (so that more
// threads than cores still make progress), and only then sleeps on a futex,
// which keeps idle sessions from burning CPU.
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_WORKERPOOL_H
#define KILN_RUNTIME_WORKERPOOL_H

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace kiln::rt {

class WorkerPool {
public:
  using Job = void (*)(void *ctx, int tid);

  /// Starts numThreads - 1 workers; the thread calling run() is thread 0.
  explicit WorkerPool(int numThreads);
  ~WorkerPool();
  WorkerPool(const WorkerPool &) = delete;
  WorkerPool &operator=(const WorkerPool &) = delete;

  int size() const { return n_; }

  /// Runs job(ctx, tid) on every thread, tid in [0, size()), and returns when
  /// all of them have returned. Not reentrant: one run() at a time.
  void run(Job job, void *ctx);

  /// Waits until every thread of the pool has reached the barrier. Only valid
  /// inside a job, and every thread must call it the same number of times.
  void barrier();

private:
  void workerLoop(int tid);
  /// Returns once `word` no longer holds `old`.
  void waitWhileEquals(const std::atomic<uint32_t> &word, uint32_t old);
  /// Bumps `word` and wakes its futex sleepers, if any.
  void publish(std::atomic<uint32_t> &word);

  int n_;
  std::vector<std::thread> threads_;
  Job job_ = nullptr;
  void *ctx_ = nullptr;
  bool stop_ = false;
  // Each on its own cache line: they are hammered by different threads.
  alignas(64) std::atomic<uint32_t> generation_{0};
  alignas(64) std::atomic<uint32_t> arrived_{0};
  alignas(64) std::atomic<uint32_t> phase_{0};
  alignas(64) std::atomic<uint32_t> sleepers_{0};
};

} // namespace kiln::rt

#endif
