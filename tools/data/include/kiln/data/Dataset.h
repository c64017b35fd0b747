//===- Dataset.h - Fashion-MNIST IDX files and image-list datasets -*- C++ -*-===//
//
//   auto ds = kiln::data::openDataset(kiln::data::defaultDataPath(), kiln::data::Split::Train);
//   kiln::data::Sample s = ds->get(0);   // s.image: 784 preprocessed floats, s.label
//
// openDataset() recognises
//  - an image-list directory (lite_data): train_list.txt / val_list.txt with
//    "<relative image path> <label>" lines and label_list.txt with
//    "<id> <name>" lines;
//  - a Fashion-MNIST directory: {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
//    (or the same names without .gz); train -> train-*, val/test -> t10k-*.
// Samples always go through preprocessImage() (Image.h). Every error throws
// kiln::data::Error naming the file (and line) and what was wrong.
//===----------------------------------------------------------------------===//
#ifndef KILN_DATA_DATASET_H
#define KILN_DATA_DATASET_H

#include "kiln/data/Error.h"
#include "kiln/data/Image.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln::data {

/// Train or evaluation split. "test" is an alias of Val.
enum class Split { Train, Val };
/// "train" -> Train; "val", "test" -> Val; anything else throws Error.
Split parseSplit(const std::string &name);
const char *splitName(Split split);

struct Sample {
  std::vector<float> image;  // kImageSize floats, preprocessed
  int32_t label = 0;
};

/// A finite, random-access set of labelled images. Implementations are
/// immutable after construction: getInto/label may be called concurrently from
/// any number of threads (the DataLoader's workers do).
class Dataset {
public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int numClasses() const = 0;
  virtual const std::vector<std::string> &classNames() const = 0;
  /// Writes sample i's preprocessed image (kImageSize floats) to `image` and
  /// returns its label. Throws Error for i out of range or an unreadable image.
  virtual int32_t getInto(int64_t i, float *image) const = 0;
  /// Sample i's label without decoding the image.
  virtual int32_t label(int64_t i) const = 0;
  /// Where sample i comes from, for messages (an image path, or
  /// "<images file>[<index>]").
  virtual std::string sampleName(int64_t i) const = 0;
  /// Human-readable description ("Fashion-MNIST train (60000 images) at ...").
  virtual std::string describe() const = 0;

  Sample get(int64_t i) const;

protected:
  void checkIndex(int64_t i) const;
};

/// The ten Fashion-MNIST class names, index = label.
const std::vector<std::string> &fashionMnistClassNames();

/// Fashion-MNIST (or any MNIST-layout) IDX files, gzip'd or not, read whole
/// into memory (47 MB for the training set) and validated: magic numbers 2051
/// (images) / 2049 (labels), 28x28 images, equal counts, labels in
/// [0, numClasses), no truncation, no trailing data.
class FashionMnist final : public Dataset {
public:
  FashionMnist(const std::string &imagesPath, const std::string &labelsPath,
               int numClasses = 10);
  /// The files of `split` in `dir` (prefers the .gz names).
  static std::unique_ptr<FashionMnist> open(const std::string &dir, Split split);
  /// True if `dir` holds any of the four IDX files (gzip'd or not); open()
  /// then says precisely which file a split lacks.
  static bool looksLike(const std::string &dir);

  int64_t size() const override { return count_; }
  int numClasses() const override { return numClasses_; }
  const std::vector<std::string> &classNames() const override { return classNames_; }
  int32_t getInto(int64_t i, float *image) const override;
  int32_t label(int64_t i) const override;
  std::string sampleName(int64_t i) const override;
  std::string describe() const override;

  /// The raw 28x28 bytes of image i.
  const uint8_t *rawImage(int64_t i) const;
  /// Image i as a DecodedImage (1 channel, values 0..255), the input
  /// preprocessImage() gets.
  DecodedImage decoded(int64_t i) const;
  const std::string &imagesPath() const { return imagesPath_; }
  const std::string &labelsPath() const { return labelsPath_; }

private:
  std::string imagesPath_, labelsPath_;
  int numClasses_;
  int64_t count_ = 0;
  std::vector<uint8_t> images_;  // count * 784
  std::vector<uint8_t> labels_;  // count
  std::vector<std::string> classNames_;
};

/// label_list.txt: "<id> <name>" a line (name may contain spaces), ids exactly
/// 0..n-1 in any order, blank lines ignored. Returns names indexed by id.
std::vector<std::string> readLabelList(const std::string &path);

/// An image-list split: `root/<split>_list.txt` lines "<relative path> <label>"
/// (the label is the last whitespace-separated field, so paths may contain
/// spaces; blank lines and CR line ends ignored), classes from
/// `root/label_list.txt`. The constructor checks every line (format, label in
/// range of the label list, image file exists); images are decoded when a
/// sample is read.
class ImageList final : public Dataset {
public:
  ImageList(const std::string &root, Split split);
  /// Any list file with an explicit label list.
  ImageList(const std::string &root, const std::string &listPath, const std::string &labelListPath);
  /// True if `dir` has train_list.txt or val_list.txt.
  static bool looksLike(const std::string &dir);

  int64_t size() const override { return int64_t(entries_.size()); }
  int numClasses() const override { return int(classNames_.size()); }
  const std::vector<std::string> &classNames() const override { return classNames_; }
  int32_t getInto(int64_t i, float *image) const override;
  int32_t label(int64_t i) const override;
  std::string sampleName(int64_t i) const override;
  std::string describe() const override;

  /// Full path of image i.
  const std::string &path(int64_t i) const;
  const std::string &listPath() const { return listPath_; }

private:
  struct Entry {
    std::string path;
    int32_t label;
  };
  void load(const std::string &root, const std::string &listPath, const std::string &labelListPath);
  std::string listPath_;
  std::vector<Entry> entries_;
  std::vector<std::string> classNames_;
};

/// Opens `path` as an image list or as Fashion-MNIST IDX files (see above).
std::unique_ptr<Dataset> openDataset(const std::string &path, Split split);
std::unique_ptr<Dataset> openDataset(const std::string &path, const std::string &split);

/// The data path tools use when given none (TIPC drops the flag): "./data" if
/// it exists (test_tipc/prepare.sh links it), else "./lite_data" if it exists,
/// else "/usr/share/datasets/fashion-mnist" (Debian's dataset-fashion-mnist).
std::string defaultDataPath();
constexpr const char *kSystemFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace kiln::data

#endif  // KILN_DATA_DATASET_H
