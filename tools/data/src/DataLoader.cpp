//===- DataLoader.cpp - prefetching, in-order batch loader -----------------===//
//
// Workers claim batch numbers in increasing order (at most prefetchCapacity()
// ahead of the consumer), build them without the lock, and park them in a
// slot keyed by batch number; next() waits for the slot of the batch it owes.
// startEpoch bumps a generation counter so that batches still being built for
// an abandoned epoch are dropped when they finish.
//===----------------------------------------------------------------------===//
#include "kiln/data/DataLoader.h"

#include "kiln/data/Augment.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <stdexcept>

namespace kiln::data {

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, int64_t batchSize, bool shuffle,
                       bool augment, uint64_t seed, int numWorkers, bool dropLast)
    : dataset_(std::move(dataset)), batchSize_(batchSize), shuffle_(shuffle), augment_(augment),
      seed_(seed), numWorkers_(numWorkers), dropLast_(dropLast),
      capacity_(std::max(1, 2 * numWorkers)) {
  if (!dataset_)
    throw Error("kiln: DataLoader: no dataset");
  if (batchSize_ < 1)
    throw Error("kiln: DataLoader: batch size must be at least 1, got " + std::to_string(batchSize_));
  if (numWorkers_ < 0)
    throw Error("kiln: DataLoader: number of workers must be >= 0, got " +
                std::to_string(numWorkers_));
  try {
    for (int i = 0; i < numWorkers_; ++i)
      workers_.emplace_back([this] { workerLoop(); });
  } catch (...) {
    stopWorkers();
    throw;
  }
}

DataLoader::~DataLoader() { stopWorkers(); }

void DataLoader::stopWorkers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  workCv_.notify_all();
  for (std::thread &t : workers_)
    if (t.joinable())
      t.join();
  workers_.clear();
}

int64_t DataLoader::numBatches() const {
  const int64_t n = dataset_->size();
  return dropLast_ ? n / batchSize_ : (n + batchSize_ - 1) / batchSize_;
}

void DataLoader::startEpoch(int64_t epoch, int64_t skipBatches) {
  const int64_t nb = numBatches();
  if (epoch < 0)
    throw Error("kiln: DataLoader: epoch must be >= 0, got " + std::to_string(epoch));
  if (skipBatches < 0 || skipBatches > nb)
    throw Error("kiln: DataLoader: cannot resume at batch " + std::to_string(skipBatches) +
                " of an epoch of " + std::to_string(nb) + " batches");
  auto order = std::make_shared<std::vector<int64_t>>();
  if (shuffle_) {
    *order = epochPermutation(dataset_->size(), seed_, epoch);
  } else {
    order->resize(size_t(dataset_->size()));
    std::iota(order->begin(), order->end(), int64_t(0));
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    slots_.clear();
    order_ = std::move(order);
    epoch_ = epoch;
    nextToClaim_ = skipBatches;
    endBatch_ = nb;
    deliverCursor_ = skipBatches;
  }
  started_ = true;
  nextToDeliver_ = skipBatches;
  workCv_.notify_all();
}

void DataLoader::buildBatch(const std::vector<int64_t> &order, int64_t epoch, int64_t b,
                            Batch &out) const {
  const int64_t n = int64_t(order.size());
  const int64_t begin = b * batchSize_;
  const int64_t end = std::min(begin + batchSize_, n);
  if (begin < 0 || begin >= n)
    throw Error("kiln: DataLoader: batch " + std::to_string(b) + " is outside the epoch");
  const int64_t size = end - begin;
  out.size = size;
  out.epoch = epoch;
  out.index = b;
  out.readerSeconds = 0.0;
  out.images.resize(size_t(size * kImageSize));
  out.labels.resize(size_t(size));
  out.indices.resize(size_t(size));
  for (int64_t k = 0; k < size; ++k) {
    const int64_t idx = order[size_t(begin + k)];
    float *image = out.images.data() + k * kImageSize;
    out.indices[size_t(k)] = idx;
    out.labels[size_t(k)] = dataset_->getInto(idx, image);
    if (augment_)
      applyAugmentation(image, augmentParams(seed_, epoch, idx));
  }
}

void DataLoader::workerLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    workCv_.wait(lock, [&] {
      return stop_ || (nextToClaim_ < endBatch_ && nextToClaim_ < deliverCursor_ + capacity_);
    });
    if (stop_)
      return;
    const int64_t b = nextToClaim_++;
    const uint64_t generation = generation_;
    const int64_t epoch = epoch_;
    std::shared_ptr<const std::vector<int64_t>> order = order_;
    slots_[b];  // claimed, not ready
    lock.unlock();

    Batch batch;
    std::exception_ptr error;
    try {
      buildBatch(*order, epoch, b, batch);
    } catch (...) {
      error = std::current_exception();
    }

    lock.lock();
    if (generation != generation_)
      continue;  // the epoch was restarted meanwhile
    Slot &slot = slots_[b];
    slot.batch = std::move(batch);
    slot.error = error;
    slot.ready = true;
    readyCv_.notify_all();
  }
}

bool DataLoader::next(Batch &batch) {
  if (!started_)
    throw std::logic_error("DataLoader::next() called before startEpoch()");
  if (nextToDeliver_ >= endBatch_)
    return false;
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t b = nextToDeliver_++;
  if (numWorkers_ == 0) {
    buildBatch(*order_, epoch_, b, batch);
  } else {
    Slot slot;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      readyCv_.wait(lock, [&] {
        auto it = slots_.find(b);
        return it != slots_.end() && it->second.ready;
      });
      auto it = slots_.find(b);
      slot = std::move(it->second);
      slots_.erase(it);
      deliverCursor_ = b + 1;
    }
    workCv_.notify_all();
    if (slot.error)
      std::rethrow_exception(slot.error);
    batch = std::move(slot.batch);
  }
  batch.readerSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  lastReaderSeconds_ = batch.readerSeconds;
  return true;
}

}  // namespace kiln::data
