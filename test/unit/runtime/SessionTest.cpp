//===- SessionTest.cpp - running entries ----------------------------------===//
#include "TestArtifact.h"

#include "kiln/runtime/Runtime.h"

#include <gtest/gtest.h>

#include <cblas.h>

#include <atomic>
#include <cmath>
#include <random>
#include <thread>

using namespace kiln::test;
using kiln::rt::Artifact;
using kiln::rt::Error;
using kiln::rt::Session;
using kiln::rt::SessionOptions;
using kiln::rt::Tensor;
using kiln::rt::TensorView;

namespace {

std::shared_ptr<const Artifact> reference() {
  static std::shared_ptr<const Artifact> a =
      Artifact::loadBuffer(buildArtifact(referenceDesc()), "reference.kiln");
  return a;
}

/// Small integers in [-3, 3]: every intermediate of "infer" stays exact.
std::vector<float> integerInput(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(n);
  for (float &x : v)
    x = float(int(rng() % 7) - 3);
  return v;
}

void expectInferCorrect(Session &session, int64_t batch, uint64_t seed,
                        const float *scale = kScale) {
  SCOPED_TRACE("batch " + std::to_string(batch) + ", threads " +
               std::to_string(session.numThreads()));
  std::vector<float> x = integerInput(size_t(batch) * 4, seed);
  auto out = session.run("infer", {TensorView{x.data(), {batch, 4}}});
  InferExpected want = expectedInfer(x, batch, scale);
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[0].shape, (std::vector<int64_t>{batch, 3}));
  EXPECT_EQ(out[0].data, want.y);
  EXPECT_EQ(out[1].shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(out[1].data, want.stats);
  EXPECT_EQ(out[2].shape, (std::vector<int64_t>{batch, 3}));
  EXPECT_EQ(out[2].data, want.y); // copy of output 0
  EXPECT_EQ(out[3].shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(out[3].data, std::vector<float>(kBias, kBias + 4)); // copy of a parameter
  EXPECT_EQ(out[4].data, x);                                    // copy of the input
  EXPECT_EQ(out[5].shape, (std::vector<int64_t>{batch, 4}));
  EXPECT_EQ(out[5].data, want.a); // copy of an arena slice after reuse
}

template <class F> void expectError(F &&f, const std::string &message) {
  try {
    f();
    ADD_FAILURE() << "no error; expected: " << message;
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

} // namespace

TEST(Session, InferExactAcrossBatchesAndThreads) {
  for (int threads : {1, 2, 4}) {
    Session session(reference(), SessionOptions{threads});
    EXPECT_EQ(session.numThreads(), threads);
    // Growing and shrinking the batch within one session reuses the arena.
    for (int64_t batch : {1, 3, 17, 1, 2, 17, 3})
      expectInferCorrect(session, batch, uint64_t(batch * 100 + threads));
  }
}

TEST(Session, ManyTasksAndFewTasks) {
  // Batch 1 with 4 threads leaves threads without tasks (kernels write NaN if
  // called with an empty range); batch 200 gives every thread many.
  Session session(reference(), SessionOptions{4});
  expectInferCorrect(session, 200, 7);
  expectInferCorrect(session, 1, 8);
}

TEST(Session, EveryTaskRunsExactlyOnce) {
  // Small batches leave each thread a short range that it runs whole; the
  // large ones give ranges of 32+ tasks, which threads take in chunks and
  // finish for each other (7 threads on a 2-core machine are descheduled
  // often, so chunks are taken from the others' ranges).
  std::vector<int64_t> batches;
  for (int64_t batch = 1; batch <= 33; ++batch)
    batches.push_back(batch);
  for (int64_t batch : {100, 257, 1000, 4001})
    batches.push_back(batch);
  for (int threads : {1, 2, 3, 4, 7}) {
    Session session(reference(), SessionOptions{threads});
    for (int64_t batch : batches) {
      std::vector<float> x(size_t(batch) * 5, 0.0f);
      auto out = session.run("coverage", {TensorView{x.data(), {batch, 5}}});
      ASSERT_EQ(out[0].data, std::vector<float>(x.size(), 1.0f))
          << "threads " << threads << " batch " << batch;
    }
  }
}

TEST(Session, AThreadTakesOverTheRestOfASlowThreadsShare) {
  // 2 threads, 256 one-item tasks: thread 0 owns tasks 0-127 and runs them in
  // chunks of 16, thread 1 owns 128-255. Task 0 sleeps 50 ms inside thread
  // 0's first chunk, so thread 0 cannot start tasks 16-127 before task 0 has
  // ended; thread 1, done with its own share long before, must take them.
  Session session(reference(), SessionOptions{2});
  const int64_t batch = 256;
  std::vector<float> x(batch, 0.0f);
  auto out = session.run("trace", {TensorView{x.data(), {batch, 1}}});
  const std::vector<float> &ticks = out[0].data;
  const float start0 = ticks[0], end0 = ticks[1];
  int takenOver = 0;
  for (int64_t b = 16; b < 128; ++b)
    takenOver += ticks[2 * b] > start0 && ticks[2 * b] < end0;
  EXPECT_GT(takenOver, 0) << "no task of thread 0's later chunks started while task 0 slept";
  // Tasks 1-15 share task 0's call, so they run after it, on thread 0.
  for (int64_t b = 1; b < 16; ++b)
    EXPECT_GT(ticks[2 * b], end0) << "task " << b;
}

TEST(Session, TwoInputEntry) {
  Session session(reference(), SessionOptions{2});
  for (int64_t batch : {1, 5}) {
    std::vector<float> a(size_t(batch) * 6), b(size_t(batch) * 6);
    for (size_t i = 0; i < a.size(); ++i) {
      a[i] = float(i);
      b[i] = 0.5f * float(i) - 3;
    }
    auto out = session.run("sum2", {TensorView{a.data(), {batch, 2, 3}},
                                    TensorView{b.data(), {batch, 2, 3}}});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].shape, (std::vector<int64_t>{batch, 2, 3}));
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_EQ(out[0].data[i], a[i] + b[i]);
  }
}

// Entries marked items_independent run in chunks of up to 20 items, each
// thread running every launch on the chunks it takes (Session.cpp, items
// mode): sum2 must still add every element, and coverage must write every
// element exactly once, for 1-3 threads and batches that leave a chunk per
// thread, several chunks, or fewer items than threads. The runtime ignores
// the flag on an entry it cannot split (infer: an output without the batch
// dimension and output copies).
TEST(Session, ItemsIndependentEntriesRunInChunks) {
  ArtifactDesc desc = referenceDesc();
  for (EntryDesc &e : desc.entries)
    e.itemsIndependent = e.name == "sum2" || e.name == "coverage" || e.name == "infer";
  auto artifact = Artifact::loadBuffer(buildArtifact(desc), "items.kiln");
  EXPECT_TRUE(artifact->itemsIndependent("sum2"));
  EXPECT_TRUE(artifact->itemsIndependent("coverage"));
  EXPECT_FALSE(artifact->itemsIndependent("infer"));
  for (int threads : {1, 2, 3}) {
    SessionOptions options{threads};
    options.profile = true;
    Session session(artifact, options);
    for (int64_t batch : {1, 2, 5, 41, 64}) {
      std::vector<float> a(size_t(batch) * 6), b(size_t(batch) * 6);
      for (size_t i = 0; i < a.size(); ++i) {
        a[i] = float(i);
        b[i] = 0.5f * float(i) - 3;
      }
      session.resetProfile();
      auto sum = session.run("sum2", {TensorView{a.data(), {batch, 2, 3}},
                                      TensorView{b.data(), {batch, 2, 3}}});
      for (size_t i = 0; i < a.size(); ++i)
        ASSERT_EQ(sum[0].data[i], a[i] + b[i])
            << threads << " threads, batch " << batch << ", element " << i;
      // kt_add: 6 work units per item, 5 per task; chunked runs count the
      // largest chunk's tasks.
      const bool chunked = threads > 1 ? batch >= threads : batch > 20;
      const int64_t chunks = threads * ((batch + 20 * threads - 1) / (20 * threads));
      const int64_t items = chunked ? (batch + chunks - 1) / chunks : batch;
      EXPECT_EQ(session.profile().front().tasks, (6 * items + 4) / 5)
          << threads << " threads, batch " << batch;
      std::vector<float> x(size_t(batch) * 5, 0.0f);
      auto counts = session.run("coverage", {TensorView{x.data(), {batch, 5}}});
      ASSERT_EQ(counts[0].data, std::vector<float>(x.size(), 1.0f))
          << threads << " threads, batch " << batch;
    }
  }
}

TEST(Session, ParametersAreOwnedPerSession) {
  auto artifact = reference();
  Session first(artifact, SessionOptions{2});
  Session second(artifact, SessionOptions{1});
  EXPECT_EQ(first.params().size(), 3u);
  const float *initial = artifact->initialParam(0);
  EXPECT_EQ(std::vector<float>(initial, initial + 4), std::vector<float>(kScale, kScale + 4));

  // "update" writes parameter s in place: s += g.
  std::vector<float> g = {1, -1, 0.5f, 2};
  auto out = first.run("update", {TensorView{g.data(), {4}}});
  EXPECT_TRUE(out.empty());
  float updated[4];
  for (int j = 0; j < 4; ++j)
    updated[j] = kScale[j] + g[size_t(j)];
  EXPECT_EQ(std::vector<float>(first.paramData("s"), first.paramData("s") + 4),
            std::vector<float>(updated, updated + 4));
  // The next run sees the new value; the other session and the artifact do not.
  expectInferCorrect(first, 3, 1, updated);
  expectInferCorrect(second, 3, 1, kScale);
  EXPECT_EQ(std::vector<float>(initial, initial + 4), std::vector<float>(kScale, kScale + 4));

  // Writes through paramData are what the kernels read.
  float *s = second.paramData("s");
  for (int j = 0; j < 4; ++j)
    s[j] = updated[j];
  expectInferCorrect(second, 2, 2, updated);

  const Session &constFirst = first;
  EXPECT_EQ(constFirst.paramData("W")[1], kW[1]);
  expectError([&] { first.paramData("nope"); }, "kiln: reference.kiln: no parameter 'nope'");
}

TEST(Session, InputErrors) {
  Session session(reference(), SessionOptions{1});
  std::vector<float> x(7 * 4, 1.0f), y(7 * 6, 1.0f);
  expectError([&] { session.run("train", {}); },
              "kiln: reference.kiln: no entry 'train' (entries: infer, sum2, coverage, update, trace)");
  expectError([&] { session.run("infer", {}); },
              "kiln: entry 'infer' expects 1 input (x), got 0");
  expectError(
      [&] {
        session.run("infer", {TensorView{x.data(), {7, 4}}, TensorView{x.data(), {7, 4}}});
      },
      "kiln: entry 'infer' expects 1 input (x), got 2");
  expectError([&] { session.run("infer", {TensorView{x.data(), {7, 3}}}); },
              "kiln: entry 'infer' input 'x': expected shape [?,4], got [7,3]");
  expectError([&] { session.run("infer", {TensorView{x.data(), {28}}}); },
              "kiln: entry 'infer' input 'x': expected shape [?,4], got [28]");
  expectError([&] { session.run("infer", {TensorView{x.data(), {-7, 4}}}); },
              "kiln: entry 'infer' input 'x': expected shape [?,4], got [?,4]");
  expectError([&] { session.run("infer", {TensorView{x.data(), {0, 4}}}); },
              "kiln: entry 'infer' input 'x': batch must be >= 1, got shape [0,4]");
  expectError([&] { session.run("infer", {TensorView{nullptr, {7, 4}}}); },
              "kiln: entry 'infer' input 'x': data is null");
  expectError(
      [&] {
        session.run("sum2", {TensorView{y.data(), {7, 2, 3}}, TensorView{y.data(), {5, 2, 3}}});
      },
      "kiln: entry 'sum2' input 'b': batch 5 differs from input 'a' batch 7");
  expectError([&] { session.run("sum2", {TensorView{y.data(), {7, 2, 3}}}); },
              "kiln: entry 'sum2' expects 2 inputs (a, b), got 1");
  expectError([&] { session.run("update", {TensorView{x.data(), {5}}}); },
              "kiln: entry 'update' input 'g': expected shape [4], got [5]");
  // The session still works after errors.
  expectInferCorrect(session, 7, 3);
}

TEST(Session, ThreadCounts) {
  Session all(reference());
  EXPECT_EQ(all.numThreads(), int(std::max(1u, std::thread::hardware_concurrency())));
  expectInferCorrect(all, 5, 11);
  expectError([&] { Session bad(reference(), SessionOptions{-1}); },
              "kiln: invalid thread count -1 (0 means all hardware threads)");
  expectError([&] { Session bad(nullptr); }, "kiln: Session needs an artifact (got null)");
}

TEST(Session, TwoSessionsRunConcurrently) {
  auto artifact = reference();
  std::atomic<int> failures{0};
  auto work = [&](int threads, uint64_t seed) {
    Session session(artifact, SessionOptions{threads});
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 200; ++i) {
      int64_t batch = int64_t(rng() % 20) + 1;
      std::vector<float> x = integerInput(size_t(batch) * 4, rng());
      auto out = session.run("infer", {TensorView{x.data(), {batch, 4}}});
      InferExpected want = expectedInfer(x, batch);
      if (out[0].data != want.y || out[5].data != want.a || out[4].data != x)
        ++failures;
    }
  };
  std::thread t1(work, 2, 1), t2(work, 2, 2);
  t1.join();
  t2.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(Session, OneSessionSharedByThreadsIsSerialised) {
  Session session(reference(), SessionOptions{2});
  std::atomic<int> failures{0};
  auto work = [&](uint64_t seed) {
    for (int i = 0; i < 100; ++i) {
      int64_t batch = int64_t((seed * 7 + uint64_t(i)) % 19) + 1;
      std::vector<float> x = integerInput(size_t(batch) * 4, seed * 1000 + uint64_t(i));
      auto out = session.run("infer", {TensorView{x.data(), {batch, 4}}});
      if (out[0].data != expectedInfer(x, batch).y)
        ++failures;
    }
  };
  std::thread t1(work, 1), t2(work, 2), t3(work, 3);
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(Session, IdleWorkersWakeUp) {
  // Workers fall asleep on a futex after ~0.5 ms without work; a run after a
  // pause must wake them (a lost wake-up would hang here).
  Session session(reference(), SessionOptions{3});
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    expectInferCorrect(session, 9, uint64_t(i));
  }
}

TEST(Session, OpenBlasStillWorksMultithreadedAfterward) {
  // Creating a session pins OpenBLAS to one thread and stops its thread
  // server; code elsewhere in the process that asks for threads again must
  // still get correct results (OpenBLAS restarts the server on demand).
  Session session(reference(), SessionOptions{2});
  expectInferCorrect(session, 4, 5);
  const int n = 192;
  std::vector<float> a(size_t(n) * n), b(size_t(n) * n), c(size_t(n) * n);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = float(int(i % 7) - 3);
    b[i] = float(int(i % 5) - 2);
  }
  openblas_set_num_threads(2);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(),
              n, 0.0f, c.data(), n);
  openblas_set_num_threads(1);
  for (int i = 0; i < n; i += 37)
    for (int j = 0; j < n; j += 41) {
      float want = 0;
      for (int k = 0; k < n; ++k)
        want += a[size_t(i * n + k)] * b[size_t(k * n + j)];
      EXPECT_EQ(c[size_t(i * n + j)], want) << i << "," << j;
    }
  expectInferCorrect(session, 9, 6);
}

TEST(Session, ProfileCountsEveryLaunchOfTheEntriesThatRan) {
  const size_t launches = reference()->kernels("infer").size();
  ASSERT_GT(launches, 1u);
  for (int threads : {1, 3}) {
    SessionOptions options{threads};
    options.profile = true;
    Session session(reference(), options);
    EXPECT_TRUE(session.profile().empty()); // nothing ran yet
    for (int64_t batch : {5, 9, 9})
      expectInferCorrect(session, batch, uint64_t(batch)); // profiling changes no result
    auto profile = session.profile();
    ASSERT_EQ(profile.size(), launches) << "threads " << threads;
    auto kernels = reference()->kernels("infer");
    double total = 0;
    for (size_t i = 0; i < profile.size(); ++i) {
      EXPECT_EQ(profile[i].entry, "infer");
      EXPECT_EQ(profile[i].launch, i);
      EXPECT_EQ(profile[i].kernel.name, kernels[i].name);
      EXPECT_EQ(profile[i].calls, 3);
      EXPECT_GE(profile[i].tasks, 1);
      EXPECT_GE(profile[i].seconds, 0.0);
      total += profile[i].seconds;
    }
    EXPECT_GT(total, 0.0);
    session.resetProfile();
    for (const auto &p : session.profile())
      ADD_FAILURE() << "launch " << p.launch << " kept " << p.calls << " calls after reset";
  }
  Session plain(reference(), SessionOptions{2});
  expectInferCorrect(plain, 4, 4);
  EXPECT_TRUE(plain.profile().empty()); // off unless asked for
}
