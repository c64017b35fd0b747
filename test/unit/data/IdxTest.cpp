//===- IdxTest.cpp - the Fashion-MNIST IDX reader --------------------------===//
#include "TestUtil.h"

#include "kiln/data/DataLoader.h"
#include "kiln/data/Dataset.h"

#include <gmock/gmock.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>

namespace fs = std::filesystem;
using ::testing::HasSubstr;

namespace kiln::data::test {
namespace {

constexpr uint32_t kImages = 2051, kLabels = 2049;

std::vector<uint8_t> syntheticPixels(uint32_t count) {
  std::vector<uint8_t> px(size_t(count) * 784);
  for (size_t i = 0; i < px.size(); ++i)
    px[i] = uint8_t((i * 7 + i / 784 * 13) % 256);
  return px;
}

/// Writes a valid pair of `count` images/labels (label i = i % 10) under `dir`
/// with the given prefix; returns {images path, labels path}.
std::pair<std::string, std::string> writePair(const std::string &dir, const std::string &prefix,
                                              uint32_t count, bool gzip = true) {
  std::string ext = gzip ? ".gz" : "";
  std::string images = dir + "/" + prefix + "-images-idx3-ubyte" + ext;
  std::string labels = dir + "/" + prefix + "-labels-idx1-ubyte" + ext;
  writeIdx(images, kImages, {count, 28, 28}, syntheticPixels(count), gzip);
  std::vector<uint8_t> lab(count);
  for (uint32_t i = 0; i < count; ++i)
    lab[i] = uint8_t(i % 10);
  writeIdx(labels, kLabels, {count}, lab, gzip);
  return {images, labels};
}

TEST(IdxSynthetic, ValidFilesReadAndPreprocess) {
  TempDir dir;
  const auto files = writePair(dir.path(), "train", 12);
  const std::string images = files.first, labels = files.second;
  FashionMnist ds(images, labels);
  ASSERT_EQ(ds.size(), 12);
  EXPECT_EQ(ds.numClasses(), 10);
  EXPECT_EQ(ds.classNames()[9], "Ankle boot");
  std::vector<uint8_t> px = syntheticPixels(12);
  for (int64_t i = 0; i < 12; ++i) {
    EXPECT_EQ(ds.label(i), i % 10);
    ASSERT_EQ(std::memcmp(ds.rawImage(i), px.data() + i * 784, 784), 0);
    Sample s = ds.get(i);
    EXPECT_EQ(s.label, i % 10);
    ASSERT_EQ(s.image.size(), 784u);
    for (int p = 0; p < 784; ++p)
      ASSERT_EQ(s.image[size_t(p)], normalized(float(px[size_t(i * 784 + p)]))) << i << " " << p;
  }
  EXPECT_EQ(ds.sampleName(3), images + "[3]");
  EXPECT_THAT(errorOf([&] { ds.label(12); }), HasSubstr("sample index 12 is outside [0, 12)"));
}

TEST(IdxSynthetic, UncompressedFilesAreReadToo) {
  TempDir dir;
  writePair(dir.path(), "t10k", 3, /*gzip=*/false);
  auto ds = FashionMnist::open(dir.path(), Split::Val);
  EXPECT_EQ(ds->size(), 3);
  EXPECT_EQ(ds->label(2), 2);
}

TEST(IdxSynthetic, BadMagicNamesFileAndBothNumbers) {
  TempDir dir;
  const auto files = writePair(dir.path(), "train", 4);
  const std::string images = files.first, labels = files.second;
  // The labels file holds an images header.
  writeIdx(labels, kImages, {4, 28, 28}, syntheticPixels(4));
  EXPECT_THAT(errorOf([&] { (void)FashionMnist(images, labels); }),
              HasSubstr("kiln: " + labels + ": expected magic 2049, got 2051"));
  writeIdx(images, 0x1234, {4, 28, 28}, syntheticPixels(4));
  EXPECT_THAT(errorOf([&] { (void)FashionMnist(images, labels); }),
              HasSubstr("kiln: " + images + ": expected magic 2051, got 4660"));
}

TEST(IdxSynthetic, TruncatedFilesAreDetected) {
  TempDir dir;
  const auto files = writePair(dir.path(), "train", 5);
  const std::string images = files.first, labels = files.second;
  // Header says 5 images, data holds 4.5.
  std::vector<uint8_t> px = syntheticPixels(5);
  px.resize(px.size() - 392);
  writeIdx(images, kImages, {5, 28, 28}, px);
  std::string msg = errorOf([&] { (void)FashionMnist(images, labels); });
  EXPECT_THAT(msg, HasSubstr("kiln: " + images + ": truncated file"));
  EXPECT_THAT(msg, HasSubstr("expected 3920 bytes of image data"));

  // A header cut short.
  writeIdx(images, kImages, {5}, {});
  EXPECT_THAT(errorOf([&] { (void)FashionMnist(images, labels); }),
              HasSubstr(images + ": truncated file: expected 4 bytes of header (rows)"));

  // The gzip stream itself cut in half.
  writePair(dir.path(), "train", 5);
  std::string gz = readFile(images);
  writeFile(images, gz.substr(0, gz.size() / 2));
  msg = errorOf([&] { (void)FashionMnist(images, labels); });
  EXPECT_THAT(msg, HasSubstr(images + ": truncated file"));

  // Labels short by one.
  writePair(dir.path(), "train", 5);
  writeIdx(labels, kLabels, {5}, {0, 1, 2, 3});
  EXPECT_THAT(errorOf([&] { (void)FashionMnist(images, labels); }),
              HasSubstr(labels + ": truncated file: expected 5 bytes of labels (5), got 4"));
}

TEST(IdxSynthetic, WrongCountsAndDims) {
  TempDir dir;
  const auto files = writePair(dir.path(), "train", 6);
  const std::string images = files.first, labels = files.second;
  // Image/label count mismatch.
  writeIdx(labels, kLabels, {5}, {0, 1, 2, 3, 4});
  std::string msg = errorOf([&] { (void)FashionMnist(images, labels); });
  EXPECT_THAT(msg, HasSubstr("kiln: " + labels + ": declares 5 labels but " + images +
                             " declares 6 images"));
  // Header count smaller than the data: trailing bytes.
  writePair(dir.path(), "train", 6);
  writeIdx(images, kImages, {5, 28, 28}, syntheticPixels(6));
  EXPECT_THAT(errorOf([&] { (void)FashionMnist(images, labels); }),
              HasSubstr(images + ": unexpected data after the 5 images the header declares"));
  // Not 28x28.
  writeIdx(images, kImages, {6, 32, 32}, std::vector<uint8_t>(6 * 32 * 32));
  EXPECT_THAT(errorOf([&] { (void)FashionMnist(images, labels); }),
              HasSubstr(images + ": expected 28x28 images, got 32x32"));
  // Zero images.
  writeIdx(images, kImages, {0, 28, 28}, {});
  EXPECT_THAT(errorOf([&] { (void)FashionMnist(images, labels); }),
              HasSubstr(images + ": the header declares 0 images"));
}

TEST(IdxSynthetic, LabelOutOfRange) {
  TempDir dir;
  const auto files = writePair(dir.path(), "train", 5);
  const std::string images = files.first, labels = files.second;
  writeIdx(labels, kLabels, {5}, {0, 1, 2, 10, 4});
  EXPECT_THAT(errorOf([&] { (void)FashionMnist(images, labels); }),
              HasSubstr("kiln: " + labels + ": label 10 of image 3 is outside [0, 10)"));
  // The same file is fine with more classes.
  EXPECT_EQ(FashionMnist(images, labels, 11).label(3), 10);
}

TEST(IdxSynthetic, MissingAndCorruptFiles) {
  TempDir dir;
  const auto files = writePair(dir.path(), "train", 3);
  const std::string images = files.first, labels = files.second;
  fs::remove(labels);
  EXPECT_THAT(errorOf([&] { (void)FashionMnist(images, labels); }),
              HasSubstr("kiln: " + labels + ": cannot open"));
  // open() names the missing file of the split.
  EXPECT_THAT(errorOf([&] { FashionMnist::open(dir.path(), Split::Train); }),
              HasSubstr("missing train-labels-idx1-ubyte.gz"));
  EXPECT_THAT(errorOf([&] { FashionMnist::open(dir.path(), Split::Val); }),
              HasSubstr("no Fashion-MNIST val split: missing t10k-images-idx3-ubyte.gz"));
  // A gzip header followed by garbage.
  writeFile(labels, std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage-garbage", 25));
  std::string msg = errorOf([&] { (void)FashionMnist(images, labels); });
  EXPECT_THAT(msg, HasSubstr("kiln: " + labels + ": corrupt gzip data"));
}

TEST(IdxSynthetic, OpenDatasetDetectsIdxDirectories) {
  TempDir dir;
  writePair(dir.path(), "train", 7);
  writePair(dir.path(), "t10k", 4);
  auto train = openDataset(dir.path(), "train");
  auto val = openDataset(dir.path(), "val");
  auto test = openDataset(dir.path(), Split::Val);
  EXPECT_EQ(train->size(), 7);
  EXPECT_EQ(val->size(), 4);
  EXPECT_EQ(test->size(), 4);
  EXPECT_NE(dynamic_cast<FashionMnist *>(train.get()), nullptr);
  EXPECT_THAT(errorOf([&] { openDataset(dir.path(), "validation"); }),
              HasSubstr("unknown dataset split 'validation'"));
}

// ---- the real files from Debian's dataset-fashion-mnist ----

TEST(IdxReal, CountsAndClassHistograms) {
  if (!haveSystemFashionMnist())
    GTEST_SKIP() << systemFashionMnist()
                 << " is absent (apt-get install dataset-fashion-mnist; scripts/install_deps.sh)";
  auto t0 = std::chrono::steady_clock::now();
  auto train = FashionMnist::open(systemFashionMnist(), Split::Train);
  auto test = FashionMnist::open(systemFashionMnist(), Split::Val);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ info ] read 70000 IDX images in %.3f s\n", seconds);
  ASSERT_EQ(train->size(), 60000);
  ASSERT_EQ(test->size(), 10000);
  std::array<int, 10> histTrain{}, histTest{};
  for (int64_t i = 0; i < train->size(); ++i)
    ++histTrain[size_t(train->label(i))];
  for (int64_t i = 0; i < test->size(); ++i)
    ++histTest[size_t(test->label(i))];
  for (int c = 0; c < 10; ++c) {
    EXPECT_EQ(histTrain[size_t(c)], 6000) << "class " << c;
    EXPECT_EQ(histTest[size_t(c)], 1000) << "class " << c;
  }
  // The first labels of both splits (the published files' order).
  const int firstTrain[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
  const int firstTest[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(train->label(i), firstTrain[i]);
    EXPECT_EQ(test->label(i), firstTest[i]);
  }
  // Pixel sum of the first training image.
  int64_t sum = 0;
  for (int p = 0; p < 784; ++p)
    sum += train->rawImage(0)[p];
  EXPECT_EQ(sum, 76247);
}

TEST(IdxReal, OneAugmentedEpochThroughTheLoader) {
  if (!haveSystemFashionMnist())
    GTEST_SKIP() << systemFashionMnist() << " is absent (apt-get install dataset-fashion-mnist)";
  std::shared_ptr<const Dataset> train = openDataset(systemFashionMnist(), "train");
  DataLoader loader(train, 128, /*shuffle=*/true, /*augment=*/true, /*seed=*/1, /*workers=*/2,
                    /*dropLast=*/false);
  EXPECT_EQ(loader.numBatches(), 469);
  std::vector<int> seen(60000, 0);
  std::array<int, 10> hist{};
  double wait = 0.0;
  int64_t batches = 0;
  auto t0 = std::chrono::steady_clock::now();
  loader.startEpoch(0);
  Batch b;
  while (loader.next(b)) {
    ++batches;
    wait += b.readerSeconds;
    for (int64_t k = 0; k < b.size; ++k) {
      ++seen[size_t(b.indices[size_t(k)])];
      ++hist[size_t(b.labels[size_t(k)])];
      ASSERT_EQ(b.labels[size_t(k)], train->label(b.indices[size_t(k)]));
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ info ] one augmented epoch, batch 128, 2 workers: %.3f s (%.0f images/s), "
              "consumer waited %.3f s\n",
              seconds, 60000 / seconds, wait);
  EXPECT_EQ(batches, 469);
  EXPECT_EQ(b.size, 60000 - 468 * 128);
  for (int64_t i = 0; i < 60000; ++i)
    ASSERT_EQ(seen[size_t(i)], 1) << "index " << i;
  for (int c = 0; c < 10; ++c)
    EXPECT_EQ(hist[size_t(c)], 6000);
}

}  // namespace
}  // namespace kiln::data::test
