//===- DataLoader.h - batches in background threads, in order ---*- C++ -*-===//
//
//   kiln::data::DataLoader loader(dataset, /*batchSize=*/128, /*shuffle=*/true,
//                                 /*augment=*/true, /*seed=*/42, /*numWorkers=*/2,
//                                 /*dropLast=*/false);
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.startEpoch(epoch);            // or startEpoch(epoch, batchesDone) to resume
//     kiln::data::Batch batch;
//     while (loader.next(batch)) { ... batch.readerSeconds ... }
//   }
//
// The samples of an epoch are epochPermutation(n, seed, epoch) (identity
// without shuffle), cut into batches of batchSize (the last one smaller unless
// dropLast). Each sample is preprocessed by the dataset and, with augment,
// transformed by augmentParams(seed, epoch, dataset index): so a batch depends
// only on (seed, epoch, batch index), never on the number of workers or on
// timing, and startEpoch(e, k) yields exactly the batches k.. of epoch e.
//
// numWorkers > 0 threads build batches ahead of the consumer, at most
// 2 * numWorkers batches ahead (ready or in progress); next() hands them out
// strictly in order. numWorkers == 0 builds each batch in next(). An exception
// while building a batch (an unreadable image) is rethrown by the next() that
// reaches that batch.
//===----------------------------------------------------------------------===//
#ifndef KILN_DATA_DATALOADER_H
#define KILN_DATA_DATALOADER_H

#include "kiln/data/Dataset.h"

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln::data {

struct Batch {
  int64_t size = 0;
  std::vector<float> images;     // size * 1 * 28 * 28
  std::vector<int32_t> labels;   // size
  std::vector<int64_t> indices;  // dataset index of each sample
  int64_t epoch = 0;
  int64_t index = 0;             // batch number within the epoch
  /// Seconds next() spent producing this batch for the caller: waiting for the
  /// workers (numWorkers > 0) or building it (numWorkers == 0). The TIPC
  /// avg_reader_cost is the mean of this over a log interval.
  double readerSeconds = 0.0;
};

class DataLoader {
public:
  DataLoader(std::shared_ptr<const Dataset> dataset, int64_t batchSize, bool shuffle,
             bool augment, uint64_t seed, int numWorkers, bool dropLast);
  ~DataLoader();
  DataLoader(const DataLoader &) = delete;
  DataLoader &operator=(const DataLoader &) = delete;

  /// Begins epoch `epoch` at batch `skipBatches` (0 <= skipBatches <=
  /// numBatches()), abandoning whatever remained of the previous epoch.
  void startEpoch(int64_t epoch, int64_t skipBatches = 0);
  /// The next batch of the current epoch; false once the epoch is exhausted
  /// (and on every later call until startEpoch). Throws std::logic_error if no
  /// epoch was started, Error if a sample could not be read.
  bool next(Batch &batch);

  int64_t numBatches() const;
  int64_t batchSize() const { return batchSize_; }
  int numWorkers() const { return numWorkers_; }
  /// Batches that may be ready or in progress ahead of the consumer.
  int prefetchCapacity() const { return capacity_; }
  const Dataset &dataset() const { return *dataset_; }
  int64_t epoch() const { return epoch_; }
  /// readerSeconds of the last batch next() returned.
  double lastReaderSeconds() const { return lastReaderSeconds_; }

  /// Builds batch `b` of the epoch with permutation `order` (used by workers
  /// and by the synchronous path; public for tests).
  void buildBatch(const std::vector<int64_t> &order, int64_t epoch, int64_t b,
                  Batch &out) const;

private:
  void workerLoop();
  void stopWorkers();

  std::shared_ptr<const Dataset> dataset_;
  int64_t batchSize_;
  bool shuffle_, augment_;
  uint64_t seed_;
  int numWorkers_;
  bool dropLast_;
  int capacity_;

  // Epoch state (the consumer's view).
  bool started_ = false;
  int64_t epoch_ = 0;
  int64_t nextToDeliver_ = 0;
  double lastReaderSeconds_ = 0.0;
  std::shared_ptr<const std::vector<int64_t>> order_;

  // Shared with the workers, under mutex_.
  std::mutex mutex_;
  std::condition_variable workCv_;   // workers wait for work or room
  std::condition_variable readyCv_;  // the consumer waits for its batch
  uint64_t generation_ = 0;          // bumped by startEpoch: stale work is dropped
  int64_t nextToClaim_ = 0;
  int64_t endBatch_ = 0;
  int64_t deliverCursor_ = 0;        // nextToDeliver_ as the workers see it
  struct Slot {
    bool ready = false;
    Batch batch;
    std::exception_ptr error;
  };
  std::map<int64_t, Slot> slots_;    // claimed batches by index
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace kiln::data

#endif  // KILN_DATA_DATALOADER_H
