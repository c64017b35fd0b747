//===- FashionMnist.cpp - the IDX (gzip) reader ----------------------------===//
//
// IDX: a big-endian header (magic 0x00000803 = 2051 for u8 images with 3
// dims, 0x00000801 = 2049 for u8 labels with 1 dim; then each dim as a u32)
// followed by the raw bytes. gzread reads gzip'd and plain files alike.
//===----------------------------------------------------------------------===//
#include "kiln/data/Dataset.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>

#include <zlib.h>

namespace fs = std::filesystem;

namespace kiln::data {
namespace {

constexpr uint32_t kImagesMagic = 2051, kLabelsMagic = 2049;

class GzReader {
public:
  explicit GzReader(const std::string &path) : path_(path) {
    std::error_code ec;
    if (fs::is_directory(path, ec))
      fail(path, "is a directory, expected an IDX file");
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    if (!file_)
      fail(path, std::string("cannot open: ") + (errno ? std::strerror(errno) : "out of memory"));
    gzbuffer(file_, 1 << 17);
  }
  ~GzReader() {
    if (file_)
      gzclose(file_);
  }
  GzReader(const GzReader &) = delete;
  GzReader &operator=(const GzReader &) = delete;

  /// Reads up to n bytes; returns how many (fewer only at the end of data).
  /// Throws on corrupt compressed data.
  size_t readSome(uint8_t *out, size_t n) {
    size_t done = 0;
    while (done < n) {
      unsigned chunk = unsigned(std::min<size_t>(n - done, size_t(1) << 30));
      int got = gzread(file_, out + done, chunk);
      if (got < 0)
        failRead();
      if (got == 0)
        break;
      done += size_t(got);
    }
    // A short read may still hide an error (a truncated gzip stream).
    if (done < n) {
      int err = Z_OK;
      gzerror(file_, &err);
      if (err != Z_OK && err != Z_BUF_ERROR)
        failRead();
      truncatedStream_ = err == Z_BUF_ERROR;
    }
    return done;
  }

  /// Reads exactly n bytes of `what` or throws "truncated".
  void readExact(uint8_t *out, size_t n, const std::string &what) {
    size_t got = readSome(out, n);
    if (got < n)
      fail(path_, "truncated file: expected " + std::to_string(n) + " bytes of " + what + ", got " +
                      std::to_string(got) +
                      (truncatedStream_ ? " (the gzip stream ends unexpectedly)" : ""));
  }

  uint32_t readU32(const std::string &what) {
    uint8_t b[4];
    readExact(b, 4, what);
    return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
  }

  /// Reads `n` bytes of payload into a vector grown as data arrives, so that
  /// a corrupt header's huge count is reported as truncation, not allocated.
  std::vector<uint8_t> readPayload(uint64_t n, const std::string &what) {
    std::vector<uint8_t> data;
    data.reserve(size_t(std::min<uint64_t>(n, uint64_t(64) << 20)));
    const size_t kChunk = size_t(4) << 20;
    while (data.size() < n) {
      size_t want = size_t(std::min<uint64_t>(n - data.size(), kChunk));
      size_t old = data.size();
      data.resize(old + want);
      size_t got = readSome(data.data() + old, want);
      if (got < want) {
        data.resize(old + got);
        fail(path_, "truncated file: expected " + std::to_string(n) + " bytes of " + what +
                        ", got " + std::to_string(data.size()) +
                        (truncatedStream_ ? " (the gzip stream ends unexpectedly)" : ""));
      }
    }
    return data;
  }

  /// Throws if anything follows the declared data.
  void expectEnd(const std::string &declared) {
    uint8_t extra[256];
    size_t got = readSome(extra, sizeof extra);
    if (got > 0)
      fail(path_, "unexpected data after the " + declared +
                      " the header declares (wrong count in the header?)");
  }

private:
  [[noreturn]] void failRead() {
    int err = Z_OK;
    const char *msg = gzerror(file_, &err);
    if (err == Z_ERRNO)
      fail(path_, std::string("read error: ") + std::strerror(errno));
    fail(path_, std::string("corrupt gzip data: ") + (msg ? msg : "unknown zlib error"));
  }

  std::string path_;
  gzFile file_ = nullptr;
  bool truncatedStream_ = false;
};

std::string magicMessage(uint32_t expected, uint32_t got) {
  std::string msg = "expected magic " + std::to_string(expected) + ", got " + std::to_string(got);
  if (expected == kLabelsMagic && got == kImagesMagic)
    msg += " (this is an IDX images file: images and labels swapped?)";
  else if (expected == kImagesMagic && got == kLabelsMagic)
    msg += " (this is an IDX labels file: images and labels swapped?)";
  else
    msg += " (not an IDX " + std::string(expected == kImagesMagic ? "images" : "labels") + " file)";
  return msg;
}

/// `dir/name.gz` if it exists, else `dir/name` if it exists, else "".
std::string findIdx(const std::string &dir, const std::string &name) {
  std::error_code ec;
  for (const std::string &candidate : {name + ".gz", name}) {
    fs::path p = fs::path(dir) / candidate;
    if (fs::is_regular_file(p, ec))
      return p.string();
  }
  return "";
}

const char *prefixOf(Split split) { return split == Split::Train ? "train" : "t10k"; }

}  // namespace

const std::vector<std::string> &fashionMnistClassNames() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                 "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

FashionMnist::FashionMnist(const std::string &imagesPath, const std::string &labelsPath,
                           int numClasses)
    : imagesPath_(imagesPath), labelsPath_(labelsPath), numClasses_(numClasses) {
  if (numClasses < 1 || numClasses > 256)
    fail(labelsPath, "number of classes must be 1 to 256, got " + std::to_string(numClasses));
  if (numClasses == 10) {
    classNames_ = fashionMnistClassNames();
  } else {
    for (int c = 0; c < numClasses; ++c)
      classNames_.push_back("class " + std::to_string(c));
  }

  uint64_t imageCount = 0;
  {
    GzReader in(imagesPath);
    uint32_t magic = in.readU32("header (magic number)");
    if (magic != kImagesMagic)
      fail(imagesPath, magicMessage(kImagesMagic, magic));
    imageCount = in.readU32("header (image count)");
    uint32_t rows = in.readU32("header (rows)");
    uint32_t cols = in.readU32("header (columns)");
    if (rows != uint32_t(kImageHeight) || cols != uint32_t(kImageWidth))
      fail(imagesPath, "expected 28x28 images, got " + std::to_string(rows) + "x" +
                           std::to_string(cols));
    if (imageCount == 0)
      fail(imagesPath, "the header declares 0 images");
    images_ = in.readPayload(imageCount * uint64_t(kImageSize), "image data (" +
                                                                   std::to_string(imageCount) +
                                                                   " images of 28x28)");
    in.expectEnd(std::to_string(imageCount) + " images");
  }
  {
    GzReader in(labelsPath);
    uint32_t magic = in.readU32("header (magic number)");
    if (magic != kLabelsMagic)
      fail(labelsPath, magicMessage(kLabelsMagic, magic));
    uint64_t labelCount = in.readU32("header (label count)");
    if (labelCount != imageCount)
      fail(labelsPath, "declares " + std::to_string(labelCount) + " labels but " + imagesPath +
                           " declares " + std::to_string(imageCount) + " images");
    labels_ = in.readPayload(labelCount, "labels (" + std::to_string(labelCount) + ")");
    in.expectEnd(std::to_string(labelCount) + " labels");
  }
  for (size_t i = 0; i < labels_.size(); ++i)
    if (int(labels_[i]) >= numClasses_)
      fail(labelsPath, "label " + std::to_string(int(labels_[i])) + " of image " +
                           std::to_string(i) + " is outside [0, " + std::to_string(numClasses_) +
                           ")");
  count_ = int64_t(imageCount);
}

std::unique_ptr<FashionMnist> FashionMnist::open(const std::string &dir, Split split) {
  const std::string prefix = prefixOf(split);
  const std::string imagesName = prefix + "-images-idx3-ubyte";
  const std::string labelsName = prefix + "-labels-idx1-ubyte";
  std::string images = findIdx(dir, imagesName), labels = findIdx(dir, labelsName);
  if (images.empty() || labels.empty())
    fail(dir, std::string("no Fashion-MNIST ") + splitName(split) + " split: missing " +
                  (images.empty() ? imagesName : labelsName) + ".gz (expected " + imagesName +
                  ".gz and " + labelsName + ".gz, gzip'd or not)");
  return std::make_unique<FashionMnist>(images, labels);
}

bool FashionMnist::looksLike(const std::string &dir) {
  for (const char *prefix : {"train", "t10k"})
    for (const char *kind : {"-images-idx3-ubyte", "-labels-idx1-ubyte"})
      if (!findIdx(dir, std::string(prefix) + kind).empty())
        return true;
  return false;
}

const uint8_t *FashionMnist::rawImage(int64_t i) const {
  checkIndex(i);
  return images_.data() + size_t(i) * size_t(kImageSize);
}

DecodedImage FashionMnist::decoded(int64_t i) const {
  const uint8_t *raw = rawImage(i);
  DecodedImage img;
  img.width = kImageWidth;
  img.height = kImageHeight;
  img.channels = 1;
  img.pixels.assign(raw, raw + kImageSize);
  img.source = sampleName(i);
  return img;
}

int32_t FashionMnist::getInto(int64_t i, float *image) const {
  // Through the one preprocessing path, like a PNG of the same image.
  preprocessImage(decoded(i), image);
  return labels_[size_t(i)];
}

int32_t FashionMnist::label(int64_t i) const {
  checkIndex(i);
  return labels_[size_t(i)];
}

std::string FashionMnist::sampleName(int64_t i) const {
  return imagesPath_ + "[" + std::to_string(i) + "]";
}

std::string FashionMnist::describe() const {
  return "Fashion-MNIST IDX " + imagesPath_ + " (" + std::to_string(count_) + " images, " +
         std::to_string(numClasses_) + " classes)";
}

}  // namespace kiln::data
