//===- Preprocess.cpp - any decoded image -> the [1, 28, 28] model input ---===//
//
// See preprocessImage() in Image.h for the definition and the choice of
// resampling filters. The resize is separable: a 1-D weight table per axis
// (output index -> input taps), applied to rows and then to columns, only for
// the output pixels the center crop keeps.
//===----------------------------------------------------------------------===//
#include "kiln/data/Image.h"

#include <algorithm>
#include <cmath>

namespace kiln::data {
namespace {

struct Tap {
  int64_t index;
  double weight;
};

/// Taps of output pixel `o` when an axis of `in` pixels is resampled to `out`.
std::vector<Tap> axisTaps(int64_t in, int64_t out, int64_t o) {
  std::vector<Tap> taps;
  if (in == out) {
    taps.push_back({o, 1.0});
  } else if (in > out) {
    // Area: output pixel o covers input [o*s, (o+1)*s); each input pixel k
    // weighs its overlap with that interval, over s.
    const double s = double(in) / double(out);
    const double start = double(o) * s, end = double(o + 1) * s;
    const int64_t k0 = int64_t(std::floor(start));
    const int64_t k1 = std::min<int64_t>(in, int64_t(std::ceil(end)));
    for (int64_t k = k0; k < k1; ++k) {
      double overlap = std::min(double(k + 1), end) - std::max(double(k), start);
      if (overlap > 1e-12)
        taps.push_back({k, overlap / s});
    }
  } else {
    // Bilinear with half-pixel centres, clamped at the edges.
    double src = (double(o) + 0.5) * double(in) / double(out) - 0.5;
    src = std::clamp(src, 0.0, double(in - 1));
    const int64_t k0 = int64_t(std::floor(src));
    const int64_t k1 = std::min<int64_t>(k0 + 1, in - 1);
    const double f = src - double(k0);
    taps.push_back({k0, 1.0 - f});
    if (k1 != k0 && f > 0.0)
      taps.push_back({k1, f});
  }
  return taps;
}

}  // namespace

float normalizedZero() { return (0.0f / 255.0f - kMean) / kStd; }

void preprocessImage(const DecodedImage &image, float *out) {
  const int64_t w = image.width, h = image.height, c = image.channels;
  const std::string &name = image.source.empty() ? std::string("<image>") : image.source;
  if (w <= 0 || h <= 0 || c < 1 || c > 4)
    fail(name, "invalid image (" + std::to_string(w) + "x" + std::to_string(h) + ", " +
                   std::to_string(c) + " channels)");
  if (int64_t(image.pixels.size()) != w * h * c)
    fail(name, "image buffer holds " + std::to_string(image.pixels.size()) + " samples, expected " +
                   std::to_string(w * h * c));

  // 1. Gray, alpha composited over black.
  std::vector<float> gray(size_t(w * h));
  const float *px = image.pixels.data();
  for (int64_t i = 0; i < w * h; ++i) {
    const float *p = px + i * c;
    switch (c) {
    case 1:
      gray[size_t(i)] = p[0];
      break;
    case 2:
      gray[size_t(i)] = float(double(p[0]) * (double(p[1]) / 255.0));
      break;
    case 3:
      gray[size_t(i)] = float(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]);
      break;
    default:
      gray[size_t(i)] = float((0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]) * (double(p[3]) / 255.0));
      break;
    }
  }

  // 2.-3. Shorter side to 28 (torchvision's Resize(28) sizes), center crop.
  int64_t ow, oh;
  if (w <= h) {
    ow = kImageWidth;
    oh = std::max<int64_t>(kImageHeight, kImageHeight * h / w);
  } else {
    oh = kImageHeight;
    ow = std::max<int64_t>(kImageWidth, kImageWidth * w / h);
  }
  const int64_t left = (ow - kImageWidth) / 2, top = (oh - kImageHeight) / 2;

  // 4. Normalisation, in float32 as torchvision does it.
  auto normalize = [](float v) { return (v / 255.0f - kMean) / kStd; };

  if (w == kImageWidth && h == kImageHeight) {
    for (int64_t i = 0; i < kImageSize; ++i)
      out[i] = normalize(gray[size_t(i)]);
    return;
  }

  // Horizontal pass: every input row, the kept output columns.
  std::vector<double> rows(size_t(h * kImageWidth));
  for (int64_t ox = 0; ox < kImageWidth; ++ox) {
    std::vector<Tap> taps = axisTaps(w, ow, left + ox);
    for (int64_t y = 0; y < h; ++y) {
      double acc = 0.0;
      for (const Tap &t : taps)
        acc += t.weight * double(gray[size_t(y * w + t.index)]);
      rows[size_t(y * kImageWidth + ox)] = acc;
    }
  }
  // Vertical pass: the kept output rows.
  for (int64_t oy = 0; oy < kImageHeight; ++oy) {
    std::vector<Tap> taps = axisTaps(h, oh, top + oy);
    for (int64_t ox = 0; ox < kImageWidth; ++ox) {
      double acc = 0.0;
      for (const Tap &t : taps)
        acc += t.weight * rows[size_t(t.index * kImageWidth + ox)];
      out[oy * kImageWidth + ox] = normalize(float(acc));
    }
  }
}

std::vector<float> preprocessImage(const DecodedImage &image) {
  std::vector<float> out(static_cast<size_t>(kImageSize));
  preprocessImage(image, out.data());
  return out;
}

void readModelInput(const std::string &path, float *out) {
  preprocessImage(decodeImageFile(path), out);
}

std::vector<float> readModelInput(const std::string &path) {
  std::vector<float> out(static_cast<size_t>(kImageSize));
  readModelInput(path, out.data());
  return out;
}

void modelInputToGray8(const float *input, uint8_t *gray) {
  for (int64_t i = 0; i < kImageSize; ++i) {
    // In double: the float error of the normalisation is far below the 0.5
    // rounding margin, so 8-bit sources come back exactly.
    double v = (double(input[i]) * double(kStd) + double(kMean)) * 255.0;
    gray[i] = uint8_t(std::clamp(std::lround(v), 0l, 255l));
  }
}

}  // namespace kiln::data
