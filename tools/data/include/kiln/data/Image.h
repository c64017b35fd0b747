//===- Image.h - image files and the one model-input preprocessing -*- C++ -*-===//
//
// Decoding PNG (libpng) and JPEG (libjpeg) files of any size and colour type,
// writing PNG/JPEG, and preprocessImage(): THE conversion of an image to the
// model input [1, 28, 28] that every tool uses (train on image lists, eval,
// predict, infer) and that the Fashion-MNIST IDX reader goes through as well,
// so a 28x28 image gives bit-identical tensors whichever file it came from.
//
//   kiln::data::DecodedImage img = kiln::data::decodeImageFile("shoe.jpg");
//   std::vector<float> input = kiln::data::preprocessImage(img); // 784 floats
//
// Every failure throws kiln::data::Error whose what() reads
// "kiln: <file>: <what was wrong>".
//===----------------------------------------------------------------------===//
#ifndef KILN_DATA_IMAGE_H
#define KILN_DATA_IMAGE_H

#include "kiln/data/Error.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::data {

// The model input: [1, kImageHeight, kImageWidth] float32.
constexpr int kImageChannels = 1;
constexpr int kImageHeight = 28;
constexpr int kImageWidth = 28;
constexpr int64_t kImageSize = int64_t(kImageChannels) * kImageHeight * kImageWidth;
// Normalisation (Fashion-MNIST training-set statistics): (x/255 - mean) / std.
constexpr float kMean = 0.2860f;
constexpr float kStd = 0.3530f;
/// The value a raw 0 pixel becomes after normalisation: the fill value of the
/// padded random crop.
float normalizedZero();

/// A decoded image: row-major, channels interleaved, every sample (alpha
/// included) on the 0..255 scale as float (16-bit files are divided by 257, so
/// 8-bit values stay exact integers).
///   channels 1 = gray, 2 = gray+alpha, 3 = RGB, 4 = RGBA.
struct DecodedImage {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<float> pixels;  // width * height * channels
  std::string source;         // file (or description) for error messages

  float at(int x, int y, int c) const {
    return pixels[(size_t(y) * size_t(width) + size_t(x)) * size_t(channels) + size_t(c)];
  }
};

/// Largest image accepted (pixels); larger files are rejected rather than
/// allocating gigabytes for a bogus header.
constexpr int64_t kMaxImagePixels = int64_t(1) << 26;

/// Decodes a PNG or JPEG file (format sniffed from the first bytes, not the
/// extension). PNG: gray/gray+alpha/RGB/RGBA/palette (tRNS -> alpha), 1-16
/// bits, interlaced or not. JPEG: gray, YCbCr/RGB, CMYK/YCCK (Adobe inverted
/// CMYK as written by Photoshop is undone). Corrupt, truncated, missing or
/// unsupported files throw Error naming the file.
DecodedImage decodeImageFile(const std::string &path);
/// The same on bytes in memory; `source` names them in errors.
DecodedImage decodeImageMemory(const uint8_t *data, size_t size, const std::string &source);

/// True if the file name ends in .png, .jpg or .jpeg (any case).
bool hasImageExtension(const std::string &path);

/// A file -> {file}; a directory -> its .png/.jpg/.jpeg files (not
/// recursive), sorted by name. Throws if the path does not exist or a
/// directory holds no such file.
std::vector<std::string> listImageFiles(const std::string &fileOrDir);

/// THE preprocessing from any decoded image to the model input, 784 floats
/// ([1, 28, 28], row-major):
///  1. gray: 1 channel as is; RGB by ITU-R 601 luma 0.299 R + 0.587 G +
///     0.114 B (in double, rounded to float once, so R=G=B=v gives exactly v);
///     alpha composited over black (the Fashion-MNIST background):
///     gray * alpha / 255;
///  2. resize so the shorter side is 28, keeping the aspect ratio (longer side
///     floor(28 * long / short), as torchvision's Resize(28)); per axis:
///     identity when the size is already right, AREA AVERAGING when shrinking
///     (each output pixel is the exact coverage-weighted mean of the input
///     pixels under its footprint, like OpenCV's INTER_AREA: every input pixel
///     contributes, so a 300x200 photo does not alias the way bilinear's 2x2
///     taps per output pixel would when skipping 6 of every 7 pixels), and
///     BILINEAR (half-pixel centres, edge clamped, as OpenCV INTER_LINEAR and
///     PyTorch align_corners=False) when enlarging, where area averaging
///     degenerates to nearest neighbour;
///  3. center crop 28x28 (offset floor((size - 28) / 2));
///  4. x / 255 then (x - 0.2860) / 0.3530 in float32, exactly as torchvision's
///     ToTensor + Normalize do it.
/// A 28x28 gray image skips step 2 entirely, so IDX bytes and the same bytes
/// read back from a PNG give bit-identical tensors.
std::vector<float> preprocessImage(const DecodedImage &image);
/// The same, writing kImageSize floats to `out`.
void preprocessImage(const DecodedImage &image, float *out);

/// An image file to the model input: exactly preprocessImage(decodeImageFile(path)).
/// Image-list datasets (train and eval on lite_data), predict and infer all
/// read image files through this one function.
void readModelInput(const std::string &path, float *out);
std::vector<float> readModelInput(const std::string &path);

/// A preprocessed model input (kImageSize floats) back to 8-bit gray for
/// display: round((x * kStd + kMean) * 255) clamped to 0..255. For a 28x28
/// 8-bit gray image this gives back its pixels exactly.
void modelInputToGray8(const float *input, uint8_t *gray);

/// Writes an 8-bit PNG: channels 1 (gray), 2 (gray+alpha), 3 (RGB) or 4
/// (RGBA), rows top to bottom, `width * channels` bytes a row. Deterministic
/// bytes (no time stamp). Throws Error naming the file on failure; a partly
/// written file is removed.
void writePng(const std::string &path, const uint8_t *pixels, int width, int height,
              int channels = 1);
/// Writes a baseline JPEG (channels 1 or 3) with the given quality (1-100).
void writeJpeg(const std::string &path, const uint8_t *pixels, int width, int height,
               int channels, int quality = 95);

}  // namespace kiln::data

#endif  // KILN_DATA_IMAGE_H
