//===- NpyTest.cpp --------------------------------------------------------===//
#include "TestArtifact.h"

#include "kiln/runtime/Runtime.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

using namespace kiln::test;
using kiln::rt::Error;
using kiln::rt::loadNpy;
using kiln::rt::saveNpy;
using kiln::rt::Tensor;

namespace {

/// A .npy file as numpy writes it (header padded to 64 bytes).
std::vector<uint8_t> npyBytes(const std::string &dict, const std::vector<float> &data,
                              int major = 1) {
  size_t prefix = 6 + 2 + (major == 1 ? 2 : 4);
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64)
    header += ' ';
  header += '\n';
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', uint8_t(major), 0};
  size_t len = header.size();
  out.push_back(uint8_t(len));
  out.push_back(uint8_t(len >> 8));
  if (major != 1) {
    out.push_back(uint8_t(len >> 16));
    out.push_back(uint8_t(len >> 24));
  }
  out.insert(out.end(), header.begin(), header.end());
  const auto *p = reinterpret_cast<const uint8_t *>(data.data());
  out.insert(out.end(), p, p + data.size() * sizeof(float));
  return out;
}

void expectNpyError(const TempDir &dir, const std::vector<uint8_t> &bytes,
                    const std::string &what) {
  std::string path = dir.file("bad.npy");
  writeFile(path, bytes);
  try {
    loadNpy(path);
    ADD_FAILURE() << "loaded; expected: " << what;
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()), "kiln: " + path + ": " + what);
  }
}

} // namespace

TEST(Npy, RoundTrip) {
  TempDir dir;
  for (std::vector<int64_t> shape : std::vector<std::vector<int64_t>>{
           {}, {5}, {2, 3, 4}, {0, 3}, {1, 1, 28, 28}}) {
    Tensor t;
    t.shape = shape;
    t.data.resize(size_t(t.numel()));
    for (size_t i = 0; i < t.data.size(); ++i)
      t.data[i] = std::sin(float(i)) * 1e3f;
    std::string path = dir.file("t.npy");
    saveNpy(path, t);
    auto bytes = readFile(path);
    // The data starts 64-byte aligned, as numpy does it.
    EXPECT_EQ((bytes.size() - t.data.size() * 4) % 64, 0u);
    Tensor back = loadNpy(path);
    EXPECT_EQ(back.shape, t.shape);
    EXPECT_EQ(back.data, t.data);
  }
}

TEST(Npy, ReadsNumpyHeaders) {
  TempDir dir;
  std::vector<float> data = {1, 2, 3, 4, 5, 6};
  std::string path = dir.file("a.npy");
  writeFile(path, npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data));
  Tensor t = loadNpy(path);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.data, data);
  // Version 2.0 (32-bit header length), keys in another order, no trailing comma.
  writeFile(path, npyBytes("{'shape': (6,), 'fortran_order': False, 'descr': '<f4'}", data, 2));
  t = loadNpy(path);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{6}));
  EXPECT_EQ(t.data, data);
}

TEST(Npy, Errors) {
  TempDir dir;
  std::vector<float> data = {1, 2, 3, 4, 5, 6};
  expectNpyError(dir, npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", data),
                 "dtype '<f8' is not supported (only little-endian float32 '<f4')");
  expectNpyError(dir, npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }", data),
                 "dtype '>f4' is not supported (only little-endian float32 '<f4')");
  expectNpyError(dir, npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", data),
                 "Fortran-order arrays are not supported (save a C-order array)");
  expectNpyError(dir, npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", data),
                 "truncated: shape (2, 4) needs 32 bytes of data, found 24");
  expectNpyError(dir, npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", data),
                 "unexpected bytes after the data of shape (5,)");
  expectNpyError(dir, npyBytes("{'descr': '<f4', 'shape': (6,), }", data),
                 "bad .npy header: header lacks 'descr', 'fortran_order' or 'shape'");
  expectNpyError(dir, npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", data),
                 "bad .npy header: malformed 'shape'");
  expectNpyError(dir, {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0}, "not a .npy file (bad magic)");
  auto full = npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", data);
  expectNpyError(dir, std::vector<uint8_t>(full.begin(), full.begin() + 9), "truncated .npy header");
  expectNpyError(dir, std::vector<uint8_t>(full.begin(), full.begin() + 40), "truncated .npy header");
  auto v4 = full;
  v4[6] = 4;
  expectNpyError(dir, v4, "unsupported .npy format version 4.0");

  try {
    loadNpy(dir.file("missing.npy"));
    ADD_FAILURE();
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()),
              "kiln: " + dir.file("missing.npy") + ": cannot open: No such file or directory");
  }
  Tensor bad;
  bad.shape = {2, 2};
  bad.data = {1, 2, 3};
  try {
    saveNpy(dir.file("bad_out.npy"), bad);
    ADD_FAILURE();
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()),
              "kiln: " + dir.file("bad_out.npy") + ": tensor of shape (2, 2) holds 3 values, "
              "expected 4");
  }
}
