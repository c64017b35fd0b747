//===- Checkpoint.cpp - parameter checkpoints (.kparams) --------------------===//
//
// Layout (little-endian):
//   "KPRM"  u32 version (1)  u32 count
//   count x { u32 name_len, name bytes, u32 rank, i64 dims[rank], f32 data[numel] }
//   u32 CRC-32 (zlib) of every byte before it
// Written to a temporary file in the target's directory, fsync'ed, then
// renamed over the target: a reader or a crash sees the old file or the new
// one, never half of one. Reading validates every length against the bytes
// that remain before trusting it, so a corrupt file is an Error, not a crash.
//===----------------------------------------------------------------------===//
#include "kiln/runtime/Runtime.h"

#include <fmt/format.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <unistd.h>

namespace kiln::rt {
namespace {

constexpr char kMagic[4] = {'K', 'P', 'R', 'M'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kMaxName = 4096, kMaxRank = 8;

template <typename T> void put(std::string &out, const T &v) {
  out.append(reinterpret_cast<const char *>(&v), sizeof v);
}

/// Reads values off a byte range, failing with the file name on overrun.
class Reader {
public:
  Reader(const std::string &path, const uint8_t *data, size_t size)
      : path(path), data(data), size(size) {}
  template <typename T> T get(const char *what) {
    T v;
    need(sizeof v, what);
    std::memcpy(&v, data + pos, sizeof v);
    pos += sizeof v;
    return v;
  }
  const uint8_t *take(size_t n, const char *what) {
    need(n, what);
    const uint8_t *p = data + pos;
    pos += n;
    return p;
  }
  size_t remaining() const { return size - pos; }
  [[noreturn]] void fail(const std::string &what) const {
    throw Error(fmt::format("kiln: {}: {}", path, what));
  }

private:
  void need(size_t n, const char *what) const {
    if (n > size - pos)
      fail(fmt::format("truncated checkpoint (while reading {})", what));
  }
  const std::string &path;
  const uint8_t *data;
  size_t size, pos = 0;
};

} // namespace

void saveParams(const std::string &path, const std::vector<NamedTensor> &params) {
  std::string bytes(kMagic, sizeof kMagic);
  put(bytes, kVersion);
  put(bytes, uint32_t(params.size()));
  for (const NamedTensor &p : params) {
    if (int64_t(p.tensor.data.size()) != p.tensor.numel())
      throw Error(fmt::format("kiln: {}: tensor '{}' has {} values for its shape", path,
                              p.name, p.tensor.data.size()));
    put(bytes, uint32_t(p.name.size()));
    bytes += p.name;
    put(bytes, uint32_t(p.tensor.shape.size()));
    for (int64_t d : p.tensor.shape)
      put(bytes, d);
    bytes.append(reinterpret_cast<const char *>(p.tensor.data.data()),
                 p.tensor.data.size() * sizeof(float));
  }
  put(bytes, uint32_t(crc32_z(0L, reinterpret_cast<const Bytef *>(bytes.data()), bytes.size())));

  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  FILE *f = std::fopen(tmp.c_str(), "wb");
  if (!f)
    throw Error(fmt::format("kiln: cannot write {}: {}", tmp, std::strerror(errno)));
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() &&
            std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  int err = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok)
      err = errno;
    std::remove(tmp.c_str());
    throw Error(fmt::format("kiln: cannot write {}: {}", path, std::strerror(err)));
  }
}

std::vector<NamedTensor> loadParams(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(fmt::format("kiln: cannot open {}: {}", path, std::strerror(errno)));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Reader r(path, bytes.data(), bytes.size());
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    r.fail("not a Kiln parameter checkpoint (bad magic)");
  if (bytes.size() < sizeof kMagic + 2 * sizeof(uint32_t) + sizeof(uint32_t))
    r.fail("truncated checkpoint");
  uint32_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 4, 4);
  if (uint32_t(crc32_z(0L, bytes.data(), bytes.size() - 4)) != stored)
    r.fail("corrupt checkpoint (CRC-32 mismatch)");
  Reader body(path, bytes.data(), bytes.size() - 4);
  body.take(sizeof kMagic, "magic");
  uint32_t version = body.get<uint32_t>("version");
  if (version != kVersion)
    body.fail(fmt::format("checkpoint format version {}, this Kiln reads version {}", version,
                          kVersion));
  uint32_t count = body.get<uint32_t>("tensor count");
  std::vector<NamedTensor> out;
  for (uint32_t i = 0; i < count; ++i) {
    NamedTensor t;
    uint32_t nameLen = body.get<uint32_t>("name length");
    if (nameLen == 0 || nameLen > kMaxName)
      body.fail(fmt::format("tensor {} has a name of {} bytes", i, nameLen));
    const uint8_t *name = body.take(nameLen, "name");
    t.name.assign(reinterpret_cast<const char *>(name), nameLen);
    uint32_t rank = body.get<uint32_t>("rank");
    if (rank > kMaxRank)
      body.fail(fmt::format("tensor '{}' has rank {}", t.name, rank));
    uint64_t numel = 1;
    for (uint32_t d = 0; d < rank; ++d) {
      int64_t dim = body.get<int64_t>("shape");
      if (dim < 0 || (dim > 0 && numel > body.remaining() / 4 / uint64_t(dim)))
        body.fail(fmt::format("tensor '{}' has an impossible shape", t.name));
      t.tensor.shape.push_back(dim);
      numel *= uint64_t(dim);
    }
    const uint8_t *data = body.take(numel * sizeof(float), "tensor data");
    t.tensor.data.resize(numel);
    std::memcpy(t.tensor.data.data(), data, numel * sizeof(float));
    out.push_back(std::move(t));
  }
  if (body.remaining() != 0)
    body.fail("trailing bytes after the last tensor");
  return out;
}

} // namespace kiln::rt
