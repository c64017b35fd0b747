//===- Image.cpp - PNG/JPEG decoding and writing ---------------------------===//
//
// libpng and libjpeg report errors by longjmp. C++ allows a longjmp only where
// a throw/catch in its place would run no non-trivial destructor, so every
// function that calls setjmp here (the *Raw functions) holds only plain C
// data, keeps whatever it changes after setjmp in a state struct reached
// through a pointer, and returns a flag; the C++ wrappers turn a false into
// kiln::data::Error.
//===----------------------------------------------------------------------===//
#include "kiln/data/Image.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

namespace fs = std::filesystem;

namespace kiln::data {
namespace {

constexpr size_t kMessageSize = 256;

// ---------------------------------------------------------------------------
// PNG
// ---------------------------------------------------------------------------

struct PngMessage {
  char text[kMessageSize];
};

void pngErrorFn(png_structp png, png_const_charp msg) {
  auto *m = static_cast<PngMessage *>(png_get_error_ptr(png));
  std::snprintf(m->text, sizeof m->text, "%s", msg);
  png_longjmp(png, 1);
}

void pngWarningFn(png_structp, png_const_charp) {}

struct PngReadState {
  PngMessage message;
  const uint8_t *data;
  size_t size;
  size_t pos;
  // Results.
  uint32_t width, height;
  int channels, bitDepth;
  size_t rowBytes;
  uint8_t *buffer;   // malloc'd, freed by the caller
  png_bytep *rows;   // malloc'd, freed by the caller
};

void pngReadFn(png_structp png, png_bytep out, size_t n) {
  auto *st = static_cast<PngReadState *>(png_get_io_ptr(png));
  if (n > st->size - st->pos)
    png_error(png, "truncated file (unexpected end of data)");
  std::memcpy(out, st->data + st->pos, n);
  st->pos += n;
}

bool pngDecodeRaw(PngReadState *st) {
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &st->message, pngErrorFn, pngWarningFn);
  if (!png) {
    std::snprintf(st->message.text, kMessageSize, "cannot create a PNG reader");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(st->message.text, kMessageSize, "cannot create a PNG reader");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, st, pngReadFn);
  png_read_info(png, info);
  png_uint_32 width = 0, height = 0;
  int bitDepth = 0, colorType = 0;
  png_get_IHDR(png, info, &width, &height, &bitDepth, &colorType, nullptr, nullptr, nullptr);
  if (uint64_t(width) * height > uint64_t(kMaxImagePixels)) {
    char text[kMessageSize];
    std::snprintf(text, sizeof text, "image too large (%ux%u pixels, at most %lld)",
                  unsigned(width), unsigned(height), (long long)kMaxImagePixels);
    png_error(png, text);
  }
  if (colorType == PNG_COLOR_TYPE_PALETTE)
    png_set_palette_to_rgb(png);
  if (colorType == PNG_COLOR_TYPE_GRAY && bitDepth < 8)
    png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS))
    png_set_tRNS_to_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  st->width = width;
  st->height = height;
  st->channels = png_get_channels(png, info);
  st->bitDepth = png_get_bit_depth(png, info);
  st->rowBytes = png_get_rowbytes(png, info);
  st->buffer = static_cast<uint8_t *>(std::malloc(st->rowBytes * height));
  st->rows = static_cast<png_bytep *>(std::malloc(sizeof(png_bytep) * height));
  if (!st->buffer || !st->rows)
    png_error(png, "out of memory");
  for (png_uint_32 y = 0; y < height; ++y)
    st->rows[y] = st->buffer + size_t(y) * st->rowBytes;
  png_read_image(png, st->rows);
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

DecodedImage decodePng(const uint8_t *data, size_t size, const std::string &source) {
  PngReadState st;
  std::memset(&st, 0, sizeof st);
  st.data = data;
  st.size = size;
  bool ok = pngDecodeRaw(&st);
  DecodedImage img;
  if (ok && (st.channels < 1 || st.channels > 4 || (st.bitDepth != 8 && st.bitDepth != 16))) {
    std::snprintf(st.message.text, kMessageSize, "unsupported PNG layout (%d channels, %d bits)",
                  st.channels, st.bitDepth);
    ok = false;
  }
  if (ok) {
    img.width = int(st.width);
    img.height = int(st.height);
    img.channels = st.channels;
    img.source = source;
    const size_t samples = size_t(st.width) * st.height * size_t(st.channels);
    img.pixels.resize(samples);
    const size_t perRow = size_t(st.width) * size_t(st.channels);
    for (uint32_t y = 0; y < st.height; ++y) {
      const uint8_t *row = st.rows[y];
      float *dst = img.pixels.data() + size_t(y) * perRow;
      if (st.bitDepth == 8) {
        for (size_t i = 0; i < perRow; ++i)
          dst[i] = float(row[i]);
      } else {
        // 16-bit samples are big-endian; 65535 -> 255 and 257 * k -> k exactly.
        for (size_t i = 0; i < perRow; ++i)
          dst[i] = float((unsigned(row[2 * i]) << 8) | row[2 * i + 1]) / 257.0f;
      }
    }
  }
  std::free(st.rows);
  std::free(st.buffer);
  if (!ok)
    fail(source, std::string("corrupt or unsupported PNG: ") + st.message.text);
  return img;
}

struct PngWriteState {
  PngMessage message;
  FILE *file;
  const uint8_t *pixels;
  int width, height, channels;
};

bool pngWriteRaw(PngWriteState *st) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &st->message, pngErrorFn, pngWarningFn);
  if (!png) {
    std::snprintf(st->message.text, kMessageSize, "cannot create a PNG writer");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(st->message.text, kMessageSize, "cannot create a PNG writer");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  static const int kColorTypes[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                     PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
  png_init_io(png, st->file);
  png_set_IHDR(png, info, png_uint_32(st->width), png_uint_32(st->height), 8,
               kColorTypes[st->channels], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 9);
  png_write_info(png, info);
  const size_t stride = size_t(st->width) * size_t(st->channels);
  for (int y = 0; y < st->height; ++y)
    png_write_row(png, st->pixels + size_t(y) * stride);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

// ---------------------------------------------------------------------------
// JPEG
// ---------------------------------------------------------------------------

struct JpegError {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  int corrupt;                      // a warning that means lost or bad data
  char corruptMessage[JMSG_LENGTH_MAX];
};

void jpegErrorExit(j_common_ptr cinfo) {
  auto *err = reinterpret_cast<JpegError *>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (level -1) are libjpeg's "corrupt data" reports: premature end of
// file, bad Huffman codes, lost markers... The decoder papers over them with
// gray, which would silently train or predict on garbage, so they count as
// errors, except extraneous bytes between markers (common and harmless).
void jpegEmitMessage(j_common_ptr cinfo, int level) {
  if (level >= 0)
    return;
  auto *err = reinterpret_cast<JpegError *>(cinfo->err);
  cinfo->err->num_warnings++;
  if (cinfo->err->msg_code == JWRN_EXTRANEOUS_DATA || err->corrupt)
    return;
  (*cinfo->err->format_message)(cinfo, err->corruptMessage);
  err->corrupt = 1;
}

// The libjpeg objects live in the state struct (reached through a pointer),
// not as automatic variables of the function that calls setjmp, whose values
// after a longjmp would be indeterminate.
struct JpegReadState {
  jpeg_decompress_struct cinfo;
  JpegError err;
  const uint8_t *data;
  size_t size;
  char message[JMSG_LENGTH_MAX];
  int width, height, components;
  int cmyk, adobe;
  uint8_t *buffer;  // malloc'd, freed by the caller
};

bool jpegDecodeRaw(JpegReadState *st) {
  jpeg_decompress_struct &cinfo = st->cinfo;
  JpegError &err = st->err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpegErrorExit;
  err.pub.emit_message = jpegEmitMessage;
  if (setjmp(err.jump)) {
    std::snprintf(st->message, sizeof st->message, "%s", err.message);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, st->data, static_cast<unsigned long>(st->size));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_GRAYSCALE) {
    cinfo.out_color_space = JCS_GRAYSCALE;
  } else if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    cinfo.out_color_space = JCS_CMYK;
    st->cmyk = 1;
  } else {
    cinfo.out_color_space = JCS_RGB;
  }
  st->adobe = cinfo.saw_Adobe_marker;
  jpeg_start_decompress(&cinfo);
  st->width = int(cinfo.output_width);
  st->height = int(cinfo.output_height);
  st->components = cinfo.output_components;
  if (uint64_t(cinfo.output_width) * cinfo.output_height > uint64_t(kMaxImagePixels)) {
    std::snprintf(st->message, sizeof st->message, "image too large (%ux%u pixels, at most %lld)",
                  unsigned(cinfo.output_width), unsigned(cinfo.output_height),
                  (long long)kMaxImagePixels);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  const size_t stride = size_t(cinfo.output_width) * size_t(cinfo.output_components);
  st->buffer = static_cast<uint8_t *>(std::malloc(stride * cinfo.output_height));
  if (!st->buffer) {
    std::snprintf(st->message, sizeof st->message, "out of memory");
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = st->buffer + size_t(cinfo.output_scanline) * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  if (err.corrupt) {
    std::snprintf(st->message, sizeof st->message, "%s", err.corruptMessage);
    return false;
  }
  return true;
}

DecodedImage decodeJpeg(const uint8_t *data, size_t size, const std::string &source) {
  JpegReadState st;
  std::memset(&st, 0, sizeof st);
  st.data = data;
  st.size = size;
  bool ok = jpegDecodeRaw(&st);
  DecodedImage img;
  if (ok) {
    img.width = st.width;
    img.height = st.height;
    img.source = source;
    const size_t n = size_t(st.width) * size_t(st.height);
    if (st.cmyk) {
      // To RGB: R = (1 - C)(1 - K). Adobe's files (the usual CMYK JPEGs)
      // store the inks inverted, so there R = C' K' / 255.
      img.channels = 3;
      img.pixels.resize(n * 3);
      for (size_t i = 0; i < n; ++i) {
        const uint8_t *p = st.buffer + 4 * i;
        float k = st.adobe ? float(p[3]) : 255.0f - float(p[3]);
        for (int c = 0; c < 3; ++c) {
          float ink = st.adobe ? float(p[c]) : 255.0f - float(p[c]);
          img.pixels[3 * i + size_t(c)] = ink * k / 255.0f;
        }
      }
    } else {
      img.channels = st.components;
      img.pixels.resize(n * size_t(st.components));
      for (size_t i = 0; i < img.pixels.size(); ++i)
        img.pixels[i] = float(st.buffer[i]);
    }
  }
  std::free(st.buffer);
  if (!ok)
    fail(source, std::string("corrupt or unsupported JPEG: ") + st.message);
  return img;
}

struct JpegWriteState {
  jpeg_compress_struct cinfo;
  JpegError err;
  FILE *file;
  const uint8_t *pixels;
  int width, height, channels, quality;
  char message[JMSG_LENGTH_MAX];
};

bool jpegWriteRaw(JpegWriteState *st) {
  jpeg_compress_struct &cinfo = st->cinfo;
  JpegError &err = st->err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpegErrorExit;
  if (setjmp(err.jump)) {
    std::snprintf(st->message, sizeof st->message, "%s", err.message);
    jpeg_destroy_compress(&cinfo);
    return false;
  }
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, st->file);
  cinfo.image_width = JDIMENSION(st->width);
  cinfo.image_height = JDIMENSION(st->height);
  cinfo.input_components = st->channels;
  cinfo.in_color_space = st->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, st->quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const size_t stride = size_t(st->width) * size_t(st->channels);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t *>(st->pixels) + size_t(cinfo.next_scanline) * stride;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return true;
}

std::vector<uint8_t> readWholeFile(const std::string &path) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    fail(path, "is a directory, not an image file");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(path, std::string("cannot open image: ") +
                   (errno ? std::strerror(errno) : "unknown error"));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad())
    fail(path, "read error");
  return bytes;
}

void checkWriteArgs(const std::string &path, const uint8_t *pixels, int width, int height) {
  if (!pixels || width <= 0 || height <= 0)
    fail(path, "cannot write an empty image (" + std::to_string(width) + "x" +
                   std::to_string(height) + ")");
}

FILE *openForWrite(const std::string &path) {
  FILE *file = std::fopen(path.c_str(), "wb");
  if (!file)
    fail(path, std::string("cannot create file: ") + std::strerror(errno));
  return file;
}

/// Closes `file`; on an earlier error or a failing close removes the file and throws.
void finishWrite(FILE *file, const std::string &path, bool ok, const char *message) {
  bool closed = std::fclose(file) == 0;
  if (ok && closed)
    return;
  std::string why = ok ? std::string("write failed: ") + std::strerror(errno) : message;
  std::remove(path.c_str());
  fail(path, why);
}

}  // namespace

DecodedImage decodeImageMemory(const uint8_t *data, size_t size, const std::string &source) {
  static const uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (size == 0)
    fail(source, "empty file, not an image");
  if (size >= 8 && std::memcmp(data, kPngSignature, 8) == 0)
    return decodePng(data, size, source);
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
    return decodeJpeg(data, size, source);
  fail(source, "not a PNG or JPEG file (unrecognised signature)");
}

DecodedImage decodeImageFile(const std::string &path) {
  std::vector<uint8_t> bytes = readWholeFile(path);
  return decodeImageMemory(bytes.data(), bytes.size(), path);
}

bool hasImageExtension(const std::string &path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

std::vector<std::string> listImageFiles(const std::string &fileOrDir) {
  std::error_code ec;
  fs::file_status status = fs::status(fileOrDir, ec);
  if (ec || !fs::exists(status))
    fail(fileOrDir, "no such file or directory");
  if (!fs::is_directory(status))
    return {fileOrDir};
  std::vector<std::string> files;
  for (const fs::directory_entry &entry : fs::directory_iterator(fileOrDir, ec)) {
    std::error_code fileEc;
    if (entry.is_regular_file(fileEc) && hasImageExtension(entry.path().string()))
      files.push_back(entry.path().string());
  }
  if (ec)
    fail(fileOrDir, "cannot list directory: " + ec.message());
  if (files.empty())
    fail(fileOrDir, "no PNG or JPEG images (.png, .jpg, .jpeg) in this directory");
  std::sort(files.begin(), files.end());
  return files;
}

void writePng(const std::string &path, const uint8_t *pixels, int width, int height,
              int channels) {
  checkWriteArgs(path, pixels, width, height);
  if (channels < 1 || channels > 4)
    fail(path, "writePng: channels must be 1 to 4, got " + std::to_string(channels));
  FILE *file = openForWrite(path);
  PngWriteState st;
  std::memset(&st, 0, sizeof st);
  st.file = file;
  st.pixels = pixels;
  st.width = width;
  st.height = height;
  st.channels = channels;
  bool ok = pngWriteRaw(&st);
  finishWrite(file, path, ok, st.message.text);
}

void writeJpeg(const std::string &path, const uint8_t *pixels, int width, int height,
               int channels, int quality) {
  checkWriteArgs(path, pixels, width, height);
  if (channels != 1 && channels != 3)
    fail(path, "writeJpeg: channels must be 1 or 3, got " + std::to_string(channels));
  if (quality < 1 || quality > 100)
    fail(path, "writeJpeg: quality must be 1 to 100, got " + std::to_string(quality));
  FILE *file = openForWrite(path);
  JpegWriteState st;
  std::memset(&st, 0, sizeof st);
  st.file = file;
  st.pixels = pixels;
  st.width = width;
  st.height = height;
  st.channels = channels;
  st.quality = quality;
  bool ok = jpegWriteRaw(&st);
  finishWrite(file, path, ok, st.message);
}

}  // namespace kiln::data
