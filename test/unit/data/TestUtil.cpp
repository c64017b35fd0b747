//===- TestUtil.cpp - helpers for the data library tests -------------------===//
#include "TestUtil.h"

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

namespace fs = std::filesystem;

namespace kiln::data::test {

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "kiln-data-test-XXXXXX").string();
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data()))
    throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeIdx(const std::string &path, uint32_t magic, const std::vector<uint32_t> &dims,
              const std::vector<uint8_t> &payload, bool gzip) {
  std::string bytes;
  auto put = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8)
      bytes.push_back(char((v >> s) & 0xFF));
  };
  put(magic);
  for (uint32_t d : dims)
    put(d);
  bytes.append(payload.begin(), payload.end());
  if (!gzip) {
    writeFile(path, bytes);
    return;
  }
  gzFile f = gzopen(path.c_str(), "wb");
  if (!f)
    throw std::runtime_error("gzopen failed: " + path);
  if (!bytes.empty() && gzwrite(f, bytes.data(), unsigned(bytes.size())) != int(bytes.size()))
    throw std::runtime_error("gzwrite failed: " + path);
  gzclose(f);
}

namespace {
struct PngWriteJob {
  FILE *file;
  const PngSpec *spec;
  const uint8_t *data;
  size_t rowBytes;
  png_color palette[256];
  int paletteSize;
};

bool writePngRaw(PngWriteJob *job) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (!png)
    return false;
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  const PngSpec &s = *job->spec;
  png_init_io(png, job->file);
  png_set_IHDR(png, info, png_uint_32(s.width), png_uint_32(s.height), s.bitDepth, s.colorType,
               s.interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (job->paletteSize > 0)
    png_set_PLTE(png, info, job->palette, job->paletteSize);
  if (!s.trns.empty())
    png_set_tRNS(png, info, s.trns.data(), int(s.trns.size()), nullptr);
  png_write_info(png, info);
  int passes = png_set_interlace_handling(png);
  for (int pass = 0; pass < passes; ++pass)
    for (int y = 0; y < s.height; ++y)
      png_write_row(png, job->data + size_t(y) * job->rowBytes);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}
}  // namespace

void writeTestPng(const std::string &path, const PngSpec &spec, const std::vector<uint8_t> &data) {
  int channels = 1;
  switch (spec.colorType) {
  case PNG_COLOR_TYPE_GRAY_ALPHA:
    channels = 2;
    break;
  case PNG_COLOR_TYPE_RGB:
    channels = 3;
    break;
  case PNG_COLOR_TYPE_RGB_ALPHA:
    channels = 4;
    break;
  default:
    channels = 1;
  }
  const size_t rowBytes = (size_t(spec.width) * size_t(channels) * size_t(spec.bitDepth) + 7) / 8;
  if (data.size() != rowBytes * size_t(spec.height))
    throw std::runtime_error("writeTestPng: data size does not match the spec");
  FILE *file = std::fopen(path.c_str(), "wb");
  if (!file)
    throw std::runtime_error("cannot create " + path);
  PngWriteJob job;
  std::memset(&job, 0, sizeof job);
  job.file = file;
  job.spec = &spec;
  job.data = data.data();
  job.rowBytes = rowBytes;
  job.paletteSize = int(spec.palette.size() / 3);
  for (int i = 0; i < job.paletteSize; ++i)
    job.palette[i] = {spec.palette[size_t(3 * i)], spec.palette[size_t(3 * i + 1)],
                      spec.palette[size_t(3 * i + 2)]};
  bool ok = writePngRaw(&job);
  std::fclose(file);
  if (!ok)
    throw std::runtime_error("libpng failed writing " + path);
}

void writeCmykJpeg(const std::string &path, int width, int height,
                   const std::vector<uint8_t> &cmyk) {
  FILE *file = std::fopen(path.c_str(), "wb");
  if (!file)
    throw std::runtime_error("cannot create " + path);
  // Valid input only: libjpeg's default error handler (exit) is acceptable here.
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, file);
  cinfo.image_width = JDIMENSION(width);
  cinfo.image_height = JDIMENSION(height);
  cinfo.input_components = 4;
  cinfo.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 100, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t *>(cmyk.data()) + size_t(cinfo.next_scanline) * 4 * width;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::fclose(file);
}

std::string errorOf(const std::function<void()> &fn) {
  try {
    fn();
  } catch (const Error &e) {
    return e.what();
  } catch (const std::exception &e) {
    ADD_FAILURE() << "expected kiln::data::Error, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected kiln::data::Error, nothing was thrown";
  return "";
}

bool haveSystemFashionMnist() {
  std::error_code ec;
  return fs::exists(std::string(systemFashionMnist()) + "/train-images-idx3-ubyte.gz", ec);
}

}  // namespace kiln::data::test
