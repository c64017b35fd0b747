//===- ImageTest.cpp - PNG/JPEG decoding, writing, preprocessing -----------===//
#include "TestUtil.h"

#include "kiln/data/Dataset.h"
#include "kiln/data/Image.h"

#include <gmock/gmock.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <png.h>

namespace fs = std::filesystem;
using ::testing::HasSubstr;

namespace kiln::data::test {
namespace {

std::vector<uint8_t> pattern(int w, int h, int c, int seed = 0) {
  std::vector<uint8_t> px(size_t(w) * size_t(h) * size_t(c));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        px[(size_t(y) * size_t(w) + size_t(x)) * size_t(c) + size_t(k)] =
            uint8_t((x * 7 + y * 13 + k * 50 + (x * y) % 17 + seed) % 256);
  return px;
}

void expectPixels(const DecodedImage &img, int w, int h, int c, const std::vector<uint8_t> &px) {
  ASSERT_EQ(img.width, w);
  ASSERT_EQ(img.height, h);
  ASSERT_EQ(img.channels, c);
  ASSERT_EQ(img.pixels.size(), px.size());
  for (size_t i = 0; i < px.size(); ++i)
    ASSERT_EQ(img.pixels[i], float(px[i])) << "sample " << i;
}

// ---- PNG ----

TEST(Png, EightBitRoundTripAllChannelCounts) {
  TempDir dir;
  for (int c = 1; c <= 4; ++c) {
    std::vector<uint8_t> px = pattern(13, 9, c, c);
    std::string path = dir / ("img" + std::to_string(c) + ".png");
    writePng(path, px.data(), 13, 9, c);
    DecodedImage img = decodeImageFile(path);
    expectPixels(img, 13, 9, c, px);
    EXPECT_EQ(img.source, path);
  }
}

TEST(Png, WritingIsDeterministic) {
  TempDir dir;
  std::vector<uint8_t> px = pattern(28, 28, 1);
  writePng(dir / "a.png", px.data(), 28, 28);
  writePng(dir / "b.png", px.data(), 28, 28);
  EXPECT_EQ(readFile(dir / "a.png"), readFile(dir / "b.png"));
}

TEST(Png, SixteenBitGrayAndRgba) {
  TempDir dir;
  const uint16_t gray[6] = {0, 257, 1000, 65535, 32896, 12345};
  std::vector<uint8_t> data;
  for (uint16_t v : gray) {
    data.push_back(uint8_t(v >> 8));
    data.push_back(uint8_t(v & 0xFF));
  }
  PngSpec spec;
  spec.width = 3;
  spec.height = 2;
  spec.colorType = PNG_COLOR_TYPE_GRAY;
  spec.bitDepth = 16;
  writeTestPng(dir / "g16.png", spec, data);
  DecodedImage img = decodeImageFile(dir / "g16.png");
  ASSERT_EQ(img.channels, 1);
  ASSERT_EQ(img.pixels.size(), 6u);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(img.pixels[size_t(i)], float(gray[i]) / 257.0f);
  EXPECT_EQ(img.pixels[1], 1.0f);
  EXPECT_EQ(img.pixels[3], 255.0f);

  // 16-bit RGBA, 2x1: samples 257*k decode to exactly k.
  const uint16_t rgba[8] = {257 * 10, 257 * 20, 257 * 30, 65535, 0, 257 * 255, 257 * 1, 257 * 128};
  data.clear();
  for (uint16_t v : rgba) {
    data.push_back(uint8_t(v >> 8));
    data.push_back(uint8_t(v & 0xFF));
  }
  spec.width = 2;
  spec.height = 1;
  spec.colorType = PNG_COLOR_TYPE_RGB_ALPHA;
  writeTestPng(dir / "rgba16.png", spec, data);
  expectPixels(decodeImageFile(dir / "rgba16.png"), 2, 1, 4, {10, 20, 30, 255, 0, 255, 1, 128});
}

TEST(Png, PaletteWithAndWithoutTransparency) {
  TempDir dir;
  PngSpec spec;
  spec.width = 2;
  spec.height = 2;
  spec.colorType = PNG_COLOR_TYPE_PALETTE;
  spec.bitDepth = 8;
  spec.palette = {255, 0, 0, 0, 255, 0, 0, 0, 255};
  writeTestPng(dir / "p.png", spec, {0, 1, 2, 1});
  expectPixels(decodeImageFile(dir / "p.png"), 2, 2, 3,
               {255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 255, 0});
  spec.trns = {255, 128};  // index 2 has no entry: opaque
  writeTestPng(dir / "pt.png", spec, {0, 1, 2, 1});
  expectPixels(decodeImageFile(dir / "pt.png"), 2, 2, 4,
               {255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 255, 0, 255, 0, 128});
}

TEST(Png, OneBitGrayAndInterlaced) {
  TempDir dir;
  PngSpec spec;
  spec.width = 8;
  spec.height = 1;
  spec.colorType = PNG_COLOR_TYPE_GRAY;
  spec.bitDepth = 1;
  writeTestPng(dir / "bits.png", spec, {0xB2});  // 1011 0010
  expectPixels(decodeImageFile(dir / "bits.png"), 8, 1, 1, {255, 0, 255, 255, 0, 0, 255, 0});

  PngSpec rgb;
  rgb.width = 11;
  rgb.height = 9;
  rgb.colorType = PNG_COLOR_TYPE_RGB;
  rgb.interlace = true;
  std::vector<uint8_t> px = pattern(11, 9, 3);
  writeTestPng(dir / "adam7.png", rgb, px);
  expectPixels(decodeImageFile(dir / "adam7.png"), 11, 9, 3, px);
}

TEST(Png, CorruptTruncatedAndMissingFiles) {
  TempDir dir;
  std::vector<uint8_t> px = pattern(64, 64, 3);
  std::string path = dir / "x.png";
  writePng(path, px.data(), 64, 64, 3);
  std::string bytes = readFile(path);

  writeFile(path, bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(errorOf([&] { decodeImageFile(path); }),
              HasSubstr("kiln: " + path + ": corrupt or unsupported PNG"));

  std::string flipped = bytes;
  flipped[bytes.size() / 2] = char(flipped[bytes.size() / 2] ^ 0x5A);  // inside IDAT: CRC mismatch
  writeFile(path, flipped);
  EXPECT_THAT(errorOf([&] { decodeImageFile(path); }),
              HasSubstr("kiln: " + path + ": corrupt or unsupported PNG"));

  writeFile(path, "GIF89a....");
  EXPECT_THAT(errorOf([&] { decodeImageFile(path); }),
              HasSubstr("kiln: " + path + ": not a PNG or JPEG file"));
  writeFile(path, "");
  EXPECT_THAT(errorOf([&] { decodeImageFile(path); }), HasSubstr(path + ": empty file"));
  EXPECT_THAT(errorOf([&] { decodeImageFile(dir / "missing.png"); }),
              HasSubstr("kiln: " + (dir / "missing.png") + ": cannot open image"));
  EXPECT_THAT(errorOf([&] { decodeImageFile(dir.path()); }), HasSubstr("is a directory"));
}

TEST(Png, WriteErrorsNameTheFile) {
  TempDir dir;
  std::vector<uint8_t> px(16, 0);
  std::string bad = dir / "no/such/dir/x.png";
  EXPECT_THAT(errorOf([&] { writePng(bad, px.data(), 4, 4, 1); }),
              HasSubstr("kiln: " + bad + ": cannot create file"));
  EXPECT_THAT(errorOf([&] { writePng(dir / "x.png", px.data(), 4, 4, 5); }),
              HasSubstr("channels must be 1 to 4"));
  EXPECT_THAT(errorOf([&] { writePng(dir / "x.png", px.data(), 0, 4, 1); }),
              HasSubstr("empty image"));
}

// ---- JPEG ----

TEST(Jpeg, GrayAndRgbDecodeCloseToTheSource) {
  TempDir dir;
  const int w = 24, h = 16;
  std::vector<uint8_t> gray(size_t(w * h)), rgb(size_t(w * h * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      gray[size_t(y * w + x)] = uint8_t(x * 8 + y * 2);
      rgb[size_t(3 * (y * w + x))] = uint8_t(x * 8);
      rgb[size_t(3 * (y * w + x) + 1)] = uint8_t(y * 12);
      rgb[size_t(3 * (y * w + x) + 2)] = 128;
    }
  writeJpeg(dir / "g.jpg", gray.data(), w, h, 1, 100);
  writeJpeg(dir / "c.jpg", rgb.data(), w, h, 3, 100);
  DecodedImage g = decodeImageFile(dir / "g.jpg");
  ASSERT_EQ(g.channels, 1);
  ASSERT_EQ(g.width, w);
  ASSERT_EQ(g.height, h);
  for (size_t i = 0; i < gray.size(); ++i)
    ASSERT_NEAR(g.pixels[i], float(gray[i]), 2.0f) << i;
  DecodedImage c = decodeImageFile(dir / "c.jpg");
  ASSERT_EQ(c.channels, 3);
  ASSERT_EQ(c.width, w);
  for (size_t i = 0; i < rgb.size(); ++i)
    ASSERT_NEAR(c.pixels[i], float(rgb[i]), 6.0f) << i;
}

TEST(Jpeg, AdobeCmykBecomesRgb) {
  TempDir dir;
  // Inverted inks (Adobe): red = C'255 M'0 Y'0 K'255; mid gray via K' = 128.
  std::vector<uint8_t> cmyk;
  for (int i = 0; i < 64; ++i) {
    bool red = (i % 8) < 4;
    uint8_t px[4] = {255, uint8_t(red ? 0 : 255), uint8_t(red ? 0 : 255), uint8_t(red ? 255 : 128)};
    cmyk.insert(cmyk.end(), px, px + 4);
  }
  writeCmykJpeg(dir / "cmyk.jpg", 8, 8, cmyk);
  DecodedImage img = decodeImageFile(dir / "cmyk.jpg");
  ASSERT_EQ(img.channels, 3);
  // Column 1 is red, column 6 is gray 128.
  EXPECT_NEAR(img.at(1, 3, 0), 255.0f, 6.0f);
  EXPECT_NEAR(img.at(1, 3, 1), 0.0f, 6.0f);
  EXPECT_NEAR(img.at(1, 3, 2), 0.0f, 6.0f);
  for (int k = 0; k < 3; ++k)
    EXPECT_NEAR(img.at(6, 3, k), 128.0f, 6.0f);
}

TEST(Jpeg, TruncatedAndCorruptFiles) {
  TempDir dir;
  std::vector<uint8_t> px = pattern(64, 64, 3);
  std::string path = dir / "x.jpg";
  writeJpeg(path, px.data(), 64, 64, 3, 90);
  std::string bytes = readFile(path);
  writeFile(path, bytes.substr(0, bytes.size() * 6 / 10));
  std::string msg = errorOf([&] { decodeImageFile(path); });
  EXPECT_THAT(msg, HasSubstr("kiln: " + path + ": corrupt or unsupported JPEG"));
  EXPECT_THAT(msg, HasSubstr("Premature end of JPEG file"));
  writeFile(path, std::string("\xFF\xD8\xFF\xE0garbage", 11));
  EXPECT_THAT(errorOf([&] { decodeImageFile(path); }),
              HasSubstr("kiln: " + path + ": corrupt or unsupported JPEG"));
  EXPECT_THAT(errorOf([&] { writeJpeg(dir / "y.jpg", px.data(), 64, 64, 4); }),
              HasSubstr("channels must be 1 or 3"));
}

// ---- preprocessing ----

DecodedImage makeImage(int w, int h, int c, const std::vector<float> &px) {
  DecodedImage img;
  img.width = w;
  img.height = h;
  img.channels = c;
  img.pixels = px;
  img.source = "test";
  return img;
}

TEST(Preprocess, Gray28IsOnlyNormalised) {
  std::vector<uint8_t> raw = pattern(28, 28, 1);
  std::vector<float> px(raw.begin(), raw.end());
  std::vector<float> out = preprocessImage(makeImage(28, 28, 1, px));
  ASSERT_EQ(out.size(), size_t(kImageSize));
  for (int i = 0; i < 784; ++i)
    ASSERT_EQ(out[size_t(i)], normalized(px[size_t(i)]));
  EXPECT_EQ(normalizedZero(), normalized(0.0f));
  EXPECT_FLOAT_EQ(normalizedZero(), -0.2860f / 0.3530f);
}

TEST(Preprocess, LumaAndAlpha) {
  // Equal RGB channels give exactly the gray result.
  std::vector<uint8_t> raw = pattern(28, 28, 1);
  std::vector<float> gray(raw.begin(), raw.end()), rgb, rgba;
  for (float v : gray) {
    rgb.insert(rgb.end(), {v, v, v});
    rgba.insert(rgba.end(), {v, v, v, 255.0f});
  }
  std::vector<float> ref = preprocessImage(makeImage(28, 28, 1, gray));
  EXPECT_EQ(preprocessImage(makeImage(28, 28, 3, rgb)), ref);
  EXPECT_EQ(preprocessImage(makeImage(28, 28, 4, rgba)), ref);

  // ITU-R 601 luma.
  std::vector<float> one(28 * 28 * 3);
  for (size_t i = 0; i < one.size(); i += 3) {
    one[i] = 10;
    one[i + 1] = 200;
    one[i + 2] = 30;
  }
  float luma = float(0.299 * 10 + 0.587 * 200 + 0.114 * 30);
  EXPECT_EQ(preprocessImage(makeImage(28, 28, 3, one))[100], normalized(luma));

  // Alpha composites over black.
  std::vector<float> ga(28 * 28 * 2);
  for (size_t i = 0; i < ga.size(); i += 2) {
    ga[i] = 200;
    ga[i + 1] = (i / 2) % 3 == 0 ? 0.0f : (i / 2) % 3 == 1 ? 255.0f : 51.0f;
  }
  std::vector<float> out = preprocessImage(makeImage(28, 28, 2, ga));
  EXPECT_EQ(out[0], normalizedZero());
  EXPECT_EQ(out[1], normalized(200));
  EXPECT_FLOAT_EQ(out[2], normalized(40));
}

TEST(Preprocess, Rgb300x200AreaResizeAndCenterCrop) {
  // Shorter side 200 -> 28 (factor 7.142857), longer 300 -> 42, crop x 7..34.
  const int w = 300, h = 200;
  std::vector<uint8_t> raw = pattern(w, h, 3);
  std::vector<float> px(raw.begin(), raw.end());
  std::vector<float> out = preprocessImage(makeImage(w, h, 3, px));

  // Independent reference: each output pixel is the area-weighted mean of the
  // input under its footprint, computed directly in 2-D.
  auto gray = [&](int x, int y) {
    const float *p = &px[size_t(3 * (y * w + x))];
    return double(float(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]));
  };
  const double sx = 300.0 / 42.0, sy = 200.0 / 28.0;
  double maxDiff = 0;
  for (int oy = 0; oy < 28; ++oy)
    for (int ox = 0; ox < 28; ++ox) {
      double x0 = (ox + 7) * sx, x1 = (ox + 8) * sx, y0 = oy * sy, y1 = (oy + 1) * sy;
      double sum = 0;
      for (int y = 0; y < h; ++y) {
        double oyl = std::min<double>(y + 1, y1) - std::max<double>(y, y0);
        if (oyl <= 0)
          continue;
        for (int x = 0; x < w; ++x) {
          double oxl = std::min<double>(x + 1, x1) - std::max<double>(x, x0);
          if (oxl > 0)
            sum += oxl * oyl * gray(x, y);
        }
      }
      float expected = normalized(float(sum / (sx * sy)));
      maxDiff = std::max(maxDiff, double(std::fabs(out[size_t(oy * 28 + ox)] - expected)));
    }
  EXPECT_LT(maxDiff, 1e-5);
}

TEST(Preprocess, UpscaleIsBilinear) {
  // 14x10: shorter side 10 -> 28, longer 14 -> 39, crop x 5..32.
  const int w = 14, h = 10;
  std::vector<uint8_t> raw = pattern(w, h, 1);
  std::vector<float> px(raw.begin(), raw.end());
  std::vector<float> out = preprocessImage(makeImage(w, h, 1, px));
  auto g = [&](int x, int y) { return double(px[size_t(y * w + x)]); };
  double maxDiff = 0;
  for (int oy = 0; oy < 28; ++oy)
    for (int ox = 0; ox < 28; ++ox) {
      double fx = std::clamp((ox + 5 + 0.5) * 14.0 / 39.0 - 0.5, 0.0, 13.0);
      double fy = std::clamp((oy + 0.5) * 10.0 / 28.0 - 0.5, 0.0, 9.0);
      int x0 = int(fx), y0 = int(fy), x1 = std::min(x0 + 1, 13), y1 = std::min(y0 + 1, 9);
      double ax = fx - x0, ay = fy - y0;
      double v = (1 - ay) * ((1 - ax) * g(x0, y0) + ax * g(x1, y0)) +
                 ay * ((1 - ax) * g(x0, y1) + ax * g(x1, y1));
      maxDiff = std::max(maxDiff, double(std::fabs(out[size_t(oy * 28 + ox)] - normalized(float(v)))));
    }
  EXPECT_LT(maxDiff, 1e-5);
}

TEST(Preprocess, HalvingAveragesBlocksAndTallImagesAreOnlyCropped) {
  std::vector<uint8_t> raw = pattern(56, 56, 1);
  std::vector<float> px(raw.begin(), raw.end());
  std::vector<float> out = preprocessImage(makeImage(56, 56, 1, px));
  for (int y = 0; y < 28; ++y)
    for (int x = 0; x < 28; ++x) {
      double mean = (px[size_t(2 * y * 56 + 2 * x)] + px[size_t(2 * y * 56 + 2 * x + 1)] +
                     px[size_t((2 * y + 1) * 56 + 2 * x)] + px[size_t((2 * y + 1) * 56 + 2 * x + 1)]) /
                    4.0;
      ASSERT_FLOAT_EQ(out[size_t(y * 28 + x)], normalized(float(mean)));
    }
  // 28 wide, 40 tall: no resampling, rows 6..33 kept, bit for bit.
  raw = pattern(28, 40, 1);
  px.assign(raw.begin(), raw.end());
  out = preprocessImage(makeImage(28, 40, 1, px));
  for (int i = 0; i < 784; ++i)
    ASSERT_EQ(out[size_t(i)], normalized(px[size_t(6 * 28 + i)]));
}

TEST(Preprocess, RejectsInconsistentImages) {
  EXPECT_THAT(errorOf([&] { preprocessImage(makeImage(4, 4, 1, std::vector<float>(15))); }),
              HasSubstr("kiln: test: image buffer holds 15 samples, expected 16"));
  EXPECT_THAT(errorOf([&] { preprocessImage(makeImage(0, 4, 1, {})); }),
              HasSubstr("invalid image"));
}

TEST(Preprocess, JpegPhotoOfAnotherSizeWorksEndToEnd) {
  TempDir dir;
  std::vector<uint8_t> rgb(300 * 200 * 3);
  for (int y = 0; y < 200; ++y)
    for (int x = 0; x < 300; ++x) {
      bool inside = std::abs(x - 150) < 60 && std::abs(y - 100) < 70;
      for (int k = 0; k < 3; ++k)
        rgb[size_t(3 * (y * 300 + x) + k)] = inside ? uint8_t(180 + 20 * k) : 10;
    }
  writeJpeg(dir / "photo.jpg", rgb.data(), 300, 200, 3, 95);
  std::vector<float> fromJpeg = preprocessImage(decodeImageFile(dir / "photo.jpg"));
  std::vector<float> exact(rgb.begin(), rgb.end());
  std::vector<float> fromPixels = preprocessImage(makeImage(300, 200, 3, exact));
  double maxDiff = 0;
  for (int i = 0; i < 784; ++i)
    maxDiff = std::max(maxDiff, double(std::fabs(fromJpeg[size_t(i)] - fromPixels[size_t(i)])));
  EXPECT_LT(maxDiff, 0.1);  // JPEG loss, averaged over ~51 pixels per output
  EXPECT_LT(fromPixels[0], -0.6f);          // dark corner
  EXPECT_GT(fromPixels[14 * 28 + 14], 1.0f);  // bright centre
}

// ---- the IDX path and the PNG path agree bit for bit ----

void expectIdxPngBitIdentical(const FashionMnist &ds, int64_t count, const TempDir &dir) {
  std::vector<float> fromIdx(784);
  for (int64_t i = 0; i < count; ++i) {
    std::string path = dir / ("img" + std::to_string(i) + ".png");
    writePng(path, ds.rawImage(i), 28, 28, 1);
    std::vector<float> fromPng = preprocessImage(decodeImageFile(path));
    ds.getInto(i, fromIdx.data());
    ASSERT_EQ(std::memcmp(fromPng.data(), fromIdx.data(), 784 * sizeof(float)), 0) << "image " << i;
  }
}

TEST(IdxPngIdentity, SyntheticImages) {
  TempDir dir;
  std::vector<uint8_t> px(20 * 784);
  for (size_t i = 0; i < px.size(); ++i)
    px[i] = uint8_t((i * 2654435761u) >> 24);
  writeIdx(dir / "train-images-idx3-ubyte.gz", 2051, {20, 28, 28}, px);
  writeIdx(dir / "train-labels-idx1-ubyte.gz", 2049, {20}, std::vector<uint8_t>(20, 3));
  auto ds = FashionMnist::open(dir.path(), Split::Train);
  expectIdxPngBitIdentical(*ds, 20, dir);
}

TEST(IdxPngIdentity, RealFashionMnistImages) {
  if (!haveSystemFashionMnist())
    GTEST_SKIP() << systemFashionMnist() << " is absent (apt-get install dataset-fashion-mnist)";
  TempDir dir;
  auto test = FashionMnist::open(systemFashionMnist(), Split::Val);
  expectIdxPngBitIdentical(*test, 300, dir);
}

}  // namespace
}  // namespace kiln::data::test
