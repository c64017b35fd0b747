//===- Npy.cpp - .npy files (little-endian float32, C order) --------------===//
//
// Format: "\x93NUMPY", major, minor, header length (uint16 for v1.0, uint32
// for v2.0/v3.0), then a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and a newline, then the raw data.
//===----------------------------------------------------------------------===//
#include "kiln/runtime/Runtime.h"

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace kiln::rt {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr uint64_t kMaxElements = uint64_t(1) << 40;

struct FileCloser {
  void operator()(FILE *f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

/// The subset of Python literals a .npy header uses.
struct HeaderParser {
  const std::string &text;
  size_t pos = 0;

  void skipSpace() {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos])))
      ++pos;
  }
  bool eat(char c) {
    skipSpace();
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  bool parseString(std::string &out) {
    skipSpace();
    if (pos >= text.size() || (text[pos] != '\'' && text[pos] != '"'))
      return false;
    char quote = text[pos++];
    size_t end = text.find(quote, pos);
    if (end == std::string::npos)
      return false;
    out = text.substr(pos, end - pos);
    pos = end + 1;
    return true;
  }
  bool parseWord(std::string &out) {
    skipSpace();
    size_t start = pos;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos])))
      ++pos;
    out = text.substr(start, pos - start);
    return !out.empty();
  }
  bool parseInt(int64_t &out) {
    skipSpace();
    size_t start = pos;
    uint64_t v = 0;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      v = v * 10 + uint64_t(text[pos] - '0');
      if (v > kMaxElements)
        return false;
      ++pos;
    }
    // Python 2 era writers append 'L' to longs.
    if (pos > start && pos < text.size() && text[pos] == 'L')
      ++pos;
    out = int64_t(v);
    return pos > start;
  }
  bool parseTuple(std::vector<int64_t> &out) {
    if (!eat('('))
      return false;
    if (eat(')'))
      return true;
    for (;;) {
      int64_t v;
      if (!parseInt(v))
        return false;
      out.push_back(v);
      if (eat(')'))
        return true;
      if (!eat(','))
        return false;
      if (eat(')'))
        return true;
    }
  }
};

struct Header {
  std::string descr;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
};

/// Parses the dict; returns an error text or "".
std::string parseHeader(const std::string &text, Header &h) {
  HeaderParser p{text};
  bool haveDescr = false, haveOrder = false, haveShape = false;
  if (!p.eat('{'))
    return "header is not a dict";
  while (!p.eat('}')) {
    std::string key;
    if (!p.parseString(key) || !p.eat(':'))
      return "malformed header";
    if (key == "descr") {
      if (!p.parseString(h.descr))
        return "malformed 'descr'";
      haveDescr = true;
    } else if (key == "fortran_order") {
      std::string word;
      if (!p.parseWord(word) || (word != "True" && word != "False"))
        return "malformed 'fortran_order'";
      h.fortranOrder = word == "True";
      haveOrder = true;
    } else if (key == "shape") {
      if (!p.parseTuple(h.shape))
        return "malformed 'shape'";
      haveShape = true;
    } else {
      return fmt::format("unexpected header key '{}'", key);
    }
    if (!p.eat(',')) {
      if (!p.eat('}'))
        return "malformed header";
      break;
    }
  }
  if (!haveDescr || !haveOrder || !haveShape)
    return "header lacks 'descr', 'fortran_order' or 'shape'";
  return "";
}

std::string shapeTuple(const std::vector<int64_t> &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1)
    s += ",";
  return s + ")";
}

bool hostIsLittleEndian() {
  const uint16_t one = 1;
  uint8_t first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

} // namespace

Tensor loadNpy(const std::string &path) {
  auto fail = [&](const std::string &what) {
    return Error(fmt::format("kiln: {}: {}", path, what));
  };
  File f(std::fopen(path.c_str(), "rb"));
  if (!f)
    throw fail(fmt::format("cannot open: {}", std::strerror(errno)));

  unsigned char pre[kMagicLen + 2];
  if (std::fread(pre, 1, sizeof pre, f.get()) != sizeof pre ||
      std::memcmp(pre, kMagic, kMagicLen) != 0)
    throw fail("not a .npy file (bad magic)");
  unsigned major = pre[kMagicLen];
  uint64_t headerLen = 0;
  if (major == 1) {
    unsigned char len[2];
    if (std::fread(len, 1, 2, f.get()) != 2)
      throw fail("truncated .npy header");
    headerLen = uint64_t(len[0]) | uint64_t(len[1]) << 8;
  } else if (major == 2 || major == 3) {
    unsigned char len[4];
    if (std::fread(len, 1, 4, f.get()) != 4)
      throw fail("truncated .npy header");
    headerLen = uint64_t(len[0]) | uint64_t(len[1]) << 8 | uint64_t(len[2]) << 16 |
                uint64_t(len[3]) << 24;
    if (headerLen > (1u << 20))
      throw fail("implausibly large .npy header");
  } else {
    throw fail(fmt::format("unsupported .npy format version {}.{}", major,
                           unsigned(pre[kMagicLen + 1])));
  }
  std::string text(headerLen, '\0');
  if (std::fread(text.data(), 1, headerLen, f.get()) != headerLen)
    throw fail("truncated .npy header");

  Header h;
  if (std::string err = parseHeader(text, h); !err.empty())
    throw fail(fmt::format("bad .npy header: {}", err));
  if (h.descr != "<f4" && !(h.descr == "=f4" && hostIsLittleEndian()))
    throw fail(fmt::format("dtype '{}' is not supported (only little-endian float32 '<f4')",
                           h.descr));
  if (h.fortranOrder)
    throw fail("Fortran-order arrays are not supported (save a C-order array)");
  uint64_t numel = 1;
  for (int64_t d : h.shape)
    if (__builtin_mul_overflow(numel, uint64_t(d), &numel) || numel > kMaxElements)
      throw fail(fmt::format("shape {} is too large", shapeTuple(h.shape)));

  Tensor t;
  t.shape = h.shape;
  t.data.resize(size_t(numel));
  size_t got = numel ? std::fread(t.data.data(), sizeof(float), size_t(numel), f.get()) : 0;
  if (got != numel)
    throw fail(fmt::format("truncated: shape {} needs {} bytes of data, found {}",
                           shapeTuple(h.shape), numel * sizeof(float), got * sizeof(float)));
  if (std::fgetc(f.get()) != EOF)
    throw fail(fmt::format("unexpected bytes after the data of shape {}", shapeTuple(h.shape)));
  if (!hostIsLittleEndian())
    for (float &v : t.data) {
      uint32_t u;
      std::memcpy(&u, &v, 4);
      u = __builtin_bswap32(u);
      std::memcpy(&v, &u, 4);
    }
  return t;
}

void saveNpy(const std::string &path, const Tensor &tensor) {
  auto fail = [&](const std::string &what) {
    return Error(fmt::format("kiln: {}: {}", path, what));
  };
  uint64_t numel = 1;
  for (int64_t d : tensor.shape)
    if (d < 0 || __builtin_mul_overflow(numel, uint64_t(d), &numel))
      throw fail(fmt::format("cannot save a tensor of shape {}", shapeTuple(tensor.shape)));
  if (numel != tensor.data.size())
    throw fail(fmt::format("tensor of shape {} holds {} values, expected {}",
                           shapeTuple(tensor.shape), tensor.data.size(), numel));

  std::string dict = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': {}, }}",
                                 shapeTuple(tensor.shape));
  // numpy pads magic + version + length + dict + '\n' to a multiple of 64 so
  // that the data is aligned; version 2.0 only when the length needs 32 bits.
  bool v2 = dict.size() + 1 + kMagicLen + 2 + 2 > 65535;
  size_t prefix = kMagicLen + 2 + (v2 ? 4 : 2);
  size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  std::string header = dict + std::string(total - prefix - dict.size() - 1, ' ') + "\n";

  std::string out(kMagic, kMagicLen);
  out += char(v2 ? 2 : 1);
  out += char(0);
  uint64_t len = header.size();
  out += char(len & 0xff);
  out += char((len >> 8) & 0xff);
  if (v2) {
    out += char((len >> 16) & 0xff);
    out += char((len >> 24) & 0xff);
  }
  out += header;

  File f(std::fopen(path.c_str(), "wb"));
  if (!f)
    throw fail(fmt::format("cannot create: {}", std::strerror(errno)));
  bool ok = std::fwrite(out.data(), 1, out.size(), f.get()) == out.size();
  if (ok && hostIsLittleEndian()) {
    ok = numel == 0 ||
         std::fwrite(tensor.data.data(), sizeof(float), size_t(numel), f.get()) == numel;
  } else if (ok) {
    for (float v : tensor.data) {
      uint32_t u;
      std::memcpy(&u, &v, 4);
      u = __builtin_bswap32(u);
      ok = ok && std::fwrite(&u, 4, 1, f.get()) == 1;
    }
  }
  if (!ok || std::fclose(f.release()) != 0)
    throw fail(fmt::format("cannot write: {}", std::strerror(errno)));
}

} // namespace kiln::rt
