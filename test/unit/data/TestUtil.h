//===- TestUtil.h - helpers for the data library tests ----------*- C++ -*-===//
#ifndef KILN_TEST_DATA_TESTUTIL_H
#define KILN_TEST_DATA_TESTUTIL_H

#include "kiln/data/Dataset.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace kiln::data::test {

/// A fresh directory under the temp dir, removed with everything in it.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  const std::string &path() const { return path_; }
  std::string operator/(const std::string &name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

void writeFile(const std::string &path, const std::string &bytes);
std::string readFile(const std::string &path);

/// An IDX file: magic, dims (big-endian u32), payload; gzip'd unless `gzip`
/// is false.
void writeIdx(const std::string &path, uint32_t magic, const std::vector<uint32_t> &dims,
              const std::vector<uint8_t> &payload, bool gzip = true);

/// A PNG written with libpng's full API: any colour type and bit depth.
/// `data` holds the packed rows as PNG stores them (16-bit big-endian).
struct PngSpec {
  int width = 0, height = 0;
  int colorType = 0;  // PNG_COLOR_TYPE_*
  int bitDepth = 8;
  bool interlace = false;
  std::vector<uint8_t> palette;  // r,g,b triples (palette images)
  std::vector<uint8_t> trns;     // palette alpha values
};
void writeTestPng(const std::string &path, const PngSpec &spec, const std::vector<uint8_t> &data);

/// A CMYK JPEG with an Adobe marker (libjpeg writes one for CMYK), samples
/// as given (Adobe files hold inverted inks).
void writeCmykJpeg(const std::string &path, int width, int height,
                   const std::vector<uint8_t> &cmyk);

/// The message of the kiln::data::Error `fn` throws ("" + a test failure if
/// it throws nothing or something else).
std::string errorOf(const std::function<void()> &fn);

/// Where Debian's dataset-fashion-mnist puts the files.
inline const char *systemFashionMnist() { return kSystemFashionMnistDir; }
bool haveSystemFashionMnist();

/// (v / 255 - mean) / std in float, the normalisation every path must give.
inline float normalized(float v) { return (v / 255.0f - kMean) / kStd; }

}  // namespace kiln::data::test

#endif  // KILN_TEST_DATA_TESTUTIL_H
