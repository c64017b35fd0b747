//===- DataLoaderTest.cpp - order, determinism, resume, prefetch bound -----===//
#include "TestUtil.h"

#include "kiln/data/Augment.h"
#include "kiln/data/DataLoader.h"

#include <gmock/gmock.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

using ::testing::HasSubstr;

namespace kiln::data::test {
namespace {

/// n synthetic samples: image k has pixel p = normalized((k * 31 + p * 7) % 256),
/// label k % 10. Counts reads; can fail on one index or sleep per sample.
class SyntheticDataset : public Dataset {
public:
  explicit SyntheticDataset(int64_t n, int64_t failAt = -1, int sleepMicros = 0)
      : n_(n), failAt_(failAt), sleepMicros_(sleepMicros), names_(10, "c") {}
  int64_t size() const override { return n_; }
  int numClasses() const override { return 10; }
  const std::vector<std::string> &classNames() const override { return names_; }
  int32_t getInto(int64_t i, float *image) const override {
    checkIndex(i);
    reads_.fetch_add(1);
    if (sleepMicros_ > 0)
      std::this_thread::sleep_for(std::chrono::microseconds(sleepMicros_));
    if (i == failAt_)
      throw Error("kiln: synthetic sample " + std::to_string(i) + ": unreadable");
    for (int p = 0; p < 784; ++p)
      image[p] = normalized(float((i * 31 + p * 7) % 256));
    return int32_t(i % 10);
  }
  int32_t label(int64_t i) const override { return int32_t(i % 10); }
  std::string sampleName(int64_t i) const override { return "synthetic[" + std::to_string(i) + "]"; }
  std::string describe() const override { return "synthetic"; }
  int64_t reads() const { return reads_.load(); }

private:
  int64_t n_, failAt_;
  int sleepMicros_;
  std::vector<std::string> names_;
  mutable std::atomic<int64_t> reads_{0};
};

std::vector<Batch> drain(DataLoader &loader) {
  std::vector<Batch> out;
  Batch b;
  while (loader.next(b))
    out.push_back(b);
  return out;
}

std::vector<Batch> epochBatches(std::shared_ptr<const Dataset> ds, int workers, uint64_t seed,
                                int64_t epoch, bool shuffle = true, bool augment = true,
                                int64_t batch = 8, bool dropLast = false, int64_t skip = 0) {
  DataLoader loader(std::move(ds), batch, shuffle, augment, seed, workers, dropLast);
  loader.startEpoch(epoch, skip);
  return drain(loader);
}

void expectSameBatches(const std::vector<Batch> &a, const std::vector<Batch> &b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size, b[i].size) << "batch " << i;
    ASSERT_EQ(a[i].index, b[i].index) << "batch " << i;
    ASSERT_EQ(a[i].epoch, b[i].epoch) << "batch " << i;
    ASSERT_EQ(a[i].indices, b[i].indices) << "batch " << i;
    ASSERT_EQ(a[i].labels, b[i].labels) << "batch " << i;
    ASSERT_EQ(a[i].images.size(), b[i].images.size());
    ASSERT_EQ(std::memcmp(a[i].images.data(), b[i].images.data(), a[i].images.size() * sizeof(float)),
              0)
        << "images of batch " << i;
  }
}

TEST(DataLoader, SequentialOrderAndLastPartialBatch) {
  auto ds = std::make_shared<SyntheticDataset>(95);
  for (int workers : {0, 2}) {
    DataLoader loader(ds, 10, /*shuffle=*/false, /*augment=*/false, 1, workers, false);
    EXPECT_EQ(loader.numBatches(), 10);
    loader.startEpoch(0);
    std::vector<Batch> batches = drain(loader);
    ASSERT_EQ(batches.size(), 10u);
    for (size_t b = 0; b < 10; ++b) {
      const Batch &batch = batches[b];
      EXPECT_EQ(batch.index, int64_t(b));
      ASSERT_EQ(batch.size, b < 9 ? 10 : 5);
      ASSERT_EQ(batch.images.size(), size_t(batch.size) * 784);
      for (int64_t k = 0; k < batch.size; ++k) {
        int64_t idx = int64_t(b) * 10 + k;
        ASSERT_EQ(batch.indices[size_t(k)], idx);
        ASSERT_EQ(batch.labels[size_t(k)], idx % 10);
        Sample s = ds->get(idx);
        ASSERT_EQ(std::memcmp(batch.images.data() + k * 784, s.image.data(), 784 * sizeof(float)), 0);
      }
    }
    Batch b;
    EXPECT_FALSE(loader.next(b));
    EXPECT_FALSE(loader.next(b));  // stays exhausted
  }
}

TEST(DataLoader, DropLast) {
  auto ds = std::make_shared<SyntheticDataset>(95);
  DataLoader loader(ds, 10, false, false, 1, 1, /*dropLast=*/true);
  EXPECT_EQ(loader.numBatches(), 9);
  loader.startEpoch(0);
  std::vector<Batch> batches = drain(loader);
  ASSERT_EQ(batches.size(), 9u);
  for (const Batch &b : batches)
    EXPECT_EQ(b.size, 10);
  EXPECT_EQ(batches.back().indices.back(), 89);
  // Exact multiple: nothing dropped.
  DataLoader exact(std::make_shared<SyntheticDataset>(40), 10, false, false, 1, 0, true);
  EXPECT_EQ(exact.numBatches(), 4);
}

TEST(DataLoader, ShuffleCoversEveryIndexOncePerEpoch) {
  auto ds = std::make_shared<SyntheticDataset>(101);
  std::vector<Batch> e0 = epochBatches(ds, 2, 9, 0), e1 = epochBatches(ds, 2, 9, 1);
  std::vector<int64_t> order0, order1;
  for (const Batch &b : e0)
    order0.insert(order0.end(), b.indices.begin(), b.indices.end());
  for (const Batch &b : e1)
    order1.insert(order1.end(), b.indices.begin(), b.indices.end());
  EXPECT_EQ(order0, epochPermutation(101, 9, 0));
  EXPECT_EQ(order1, epochPermutation(101, 9, 1));
  EXPECT_NE(order0, order1);
  std::vector<int64_t> sorted = order0;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 101; ++i)
    ASSERT_EQ(sorted[size_t(i)], i);
}

TEST(DataLoader, AugmentedImagesAreTheDocumentedFunctionOfSeedEpochIndex) {
  auto ds = std::make_shared<SyntheticDataset>(30);
  std::vector<Batch> batches = epochBatches(ds, 2, 5, 3);
  int flipped = 0;
  for (const Batch &b : batches)
    for (int64_t k = 0; k < b.size; ++k) {
      int64_t idx = b.indices[size_t(k)];
      Sample s = ds->get(idx);
      AugmentParams p = augmentParams(5, 3, idx);
      flipped += p.flip;
      applyAugmentation(s.image.data(), p);
      ASSERT_EQ(std::memcmp(b.images.data() + k * 784, s.image.data(), 784 * sizeof(float)), 0);
    }
  EXPECT_GT(flipped, 0);
}

TEST(DataLoader, SameSeedSameBatchesWhateverTheWorkerCount) {
  auto ds = std::make_shared<SyntheticDataset>(203);
  for (int64_t epoch : {0, 1}) {
    std::vector<Batch> ref = epochBatches(ds, 0, 77, epoch);
    ASSERT_EQ(ref.size(), 26u);
    for (int workers : {1, 2, 4}) {
      SCOPED_TRACE("workers " + std::to_string(workers) + ", epoch " + std::to_string(epoch));
      expectSameBatches(epochBatches(ds, workers, 77, epoch), ref);
    }
  }
}

TEST(DataLoader, DifferentSeedsDiffer) {
  auto ds = std::make_shared<SyntheticDataset>(64);
  std::vector<Batch> a = epochBatches(ds, 2, 1, 0), b = epochBatches(ds, 2, 2, 0);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_NE(a[0].indices, b[0].indices);
  // Without shuffling only the augmentation differs, and it does.
  a = epochBatches(ds, 2, 1, 0, /*shuffle=*/false);
  b = epochBatches(ds, 2, 2, 0, /*shuffle=*/false);
  EXPECT_EQ(a[0].indices, b[0].indices);
  EXPECT_NE(a[0].images, b[0].images);
}

TEST(DataLoader, ResumeAtABatchGivesTheRemainingBatches) {
  auto ds = std::make_shared<SyntheticDataset>(77);
  const std::vector<Batch> full = epochBatches(ds, 0, 3, 2);
  ASSERT_EQ(full.size(), 10u);
  for (int workers : {0, 2})
    for (int64_t skip : {0, 1, 6, 9, 10}) {
      SCOPED_TRACE("workers " + std::to_string(workers) + ", skip " + std::to_string(skip));
      std::vector<Batch> rest = epochBatches(ds, workers, 3, 2, true, true, 8, false, skip);
      expectSameBatches(rest, std::vector<Batch>(full.begin() + skip, full.end()));
    }
}

TEST(DataLoader, RestartingMidEpochDropsThePrefetchedBatches) {
  auto ds = std::make_shared<SyntheticDataset>(120);
  const std::vector<Batch> ref1 = epochBatches(ds, 0, 4, 1);
  DataLoader loader(ds, 8, true, true, 4, 3, false);
  loader.startEpoch(0);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.epoch, 0);
  loader.startEpoch(1);  // abandon epoch 0 with batches in flight
  expectSameBatches(drain(loader), ref1);
  loader.startEpoch(1, 14);
  std::vector<Batch> last = drain(loader);
  ASSERT_EQ(last.size(), 1u);
  expectSameBatches(last, {ref1.back()});
}

TEST(DataLoader, PrefetchIsBoundedByTwiceTheWorkers) {
  auto ds = std::make_shared<SyntheticDataset>(200);
  DataLoader loader(ds, 5, false, false, 1, 2, false);
  EXPECT_EQ(loader.prefetchCapacity(), 4);
  loader.startEpoch(0);
  auto waitFor = [&](int64_t reads) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (ds->reads() < reads && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  waitFor(20);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(ds->reads(), 20);  // 4 batches of 5, no more while nobody consumes
  Batch b;
  ASSERT_TRUE(loader.next(b));
  waitFor(25);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ds->reads(), 25);
}

TEST(DataLoader, ReadErrorsSurfaceAtTheirBatchInOrder) {
  auto ds = std::make_shared<SyntheticDataset>(60, /*failAt=*/37);
  for (int workers : {0, 2}) {
    DataLoader loader(ds, 10, false, false, 1, workers, false);
    loader.startEpoch(0);
    Batch b;
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(loader.next(b));
      EXPECT_EQ(b.index, i);
    }
    EXPECT_THAT(errorOf([&] { loader.next(b); }), HasSubstr("synthetic sample 37: unreadable"));
    ASSERT_TRUE(loader.next(b));  // the epoch goes on after the bad batch
    EXPECT_EQ(b.index, 4);
  }
}

TEST(DataLoader, ReaderTimeIsMeasured) {
  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  auto ds = std::make_shared<SyntheticDataset>(20, -1, /*sleepMicros=*/5000);
  for (int workers : {0, 1}) {
    DataLoader loader(ds, 5, false, false, 1, workers, false);
    const Clock::time_point start = Clock::now();
    loader.startEpoch(0);
    const Clock::time_point beforeNext = Clock::now();
    Batch b;
    ASSERT_TRUE(loader.next(b));
    const Clock::time_point after = Clock::now();
    // The batch takes >= 25 ms to build (5 samples x 5 ms), from startEpoch
    // on with a worker, inside next() without: next() waited for the part of
    // that which had not passed before it was called.
    EXPECT_GE(b.readerSeconds + seconds(beforeNext - start), 0.025) << "workers " << workers;
    EXPECT_LE(b.readerSeconds, seconds(after - beforeNext));
    EXPECT_EQ(loader.lastReaderSeconds(), b.readerSeconds);
  }
}

TEST(DataLoader, MisuseAndBadArguments) {
  auto ds = std::make_shared<SyntheticDataset>(10);
  DataLoader loader(ds, 4, false, false, 1, 1, false);
  Batch b;
  EXPECT_THROW(loader.next(b), std::logic_error);
  EXPECT_THAT(errorOf([&] { loader.startEpoch(0, 4); }),
              HasSubstr("cannot resume at batch 4 of an epoch of 3 batches"));
  EXPECT_THAT(errorOf([&] { DataLoader(ds, 0, false, false, 1, 0, false); }),
              HasSubstr("batch size must be at least 1"));
  EXPECT_THAT(errorOf([&] { DataLoader(ds, 4, false, false, 1, -1, false); }),
              HasSubstr("number of workers must be >= 0"));
  loader.startEpoch(0, 3);  // resuming at the very end: an empty remainder
  EXPECT_FALSE(loader.next(b));
}

TEST(DataLoader, DestroyingWhileWorkersAreBusyDoesNotHang) {
  auto ds = std::make_shared<SyntheticDataset>(400, -1, 500);
  for (int i = 0; i < 3; ++i) {
    DataLoader loader(ds, 16, true, true, 1, 4, false);
    loader.startEpoch(0);
  }
  // Each loader stopped within its prefetch window (8 batches of 16).
  EXPECT_LE(ds->reads(), 3 * 8 * 16);
}

}  // namespace
}  // namespace kiln::data::test
