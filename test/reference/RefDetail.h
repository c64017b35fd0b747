//===- RefDetail.h - helpers shared by the reference implementations ------===//
//
// Private to test/reference (Reference.cpp, Gradients.cpp): errors, strides,
// axis normalisation, elementwise and numpy-broadcast loops, pool extents.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_REFERENCE_REFDETAIL_H
#define KILN_REFERENCE_REFDETAIL_H

#include "kiln/reference/Reference.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln::ref::detail {

using fe::shapeToString;

[[noreturn]] inline void fail(const std::string& msg) { throw std::invalid_argument("ref: " + msg); }

inline int64_t product(const std::vector<int64_t>& s, size_t from = 0) {
  int64_t n = 1;
  for (size_t i = from; i < s.size(); ++i) n *= s[i];
  return n;
}

// Row-major strides.
inline std::vector<int64_t> stridesOf(const std::vector<int64_t>& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
  return st;
}

inline int64_t normAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    fail("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

inline void requireRank(const RefTensor& t, int64_t rank, const char* op) {
  if (t.rank() != rank)
    fail(std::string(op) + ": expected rank " + std::to_string(rank) + ", got " +
         shapeToString(t.shape));
}

template <typename F>
RefTensor elementwise(const RefTensor& x, F f) {
  RefTensor y(x.shape);
  for (size_t i = 0; i < x.data.size(); ++i) y.data[i] = f(x.data[i]);
  return y;
}

template <typename F>
RefTensor broadcastBinary(const RefTensor& a, const RefTensor& b, F f, const char* op) {
  size_t rank = std::max(a.shape.size(), b.shape.size());
  std::vector<int64_t> as(rank, 1), bs(rank, 1), out(rank);
  std::copy(a.shape.begin(), a.shape.end(), as.begin() + static_cast<long>(rank - a.shape.size()));
  std::copy(b.shape.begin(), b.shape.end(), bs.begin() + static_cast<long>(rank - b.shape.size()));
  for (size_t i = 0; i < rank; ++i) {
    if (as[i] != bs[i] && as[i] != 1 && bs[i] != 1)
      fail(std::string(op) + ": cannot broadcast " + shapeToString(a.shape) + " and " +
           shapeToString(b.shape));
    out[i] = std::max(as[i], bs[i]);
  }
  // Strides of each operand in the broadcast index space: 0 along dims it repeats.
  std::vector<int64_t> ast = stridesOf(as), bst = stridesOf(bs);
  for (size_t i = 0; i < rank; ++i) {
    if (as[i] == 1) ast[i] = 0;
    if (bs[i] == 1) bst[i] = 0;
  }
  RefTensor y(out);
  std::vector<int64_t> idx(rank, 0);
  for (int64_t flat = 0; flat < y.numel(); ++flat) {
    int64_t ao = 0, bo = 0;
    for (size_t i = 0; i < rank; ++i) {
      ao += idx[i] * ast[i];
      bo += idx[i] * bst[i];
    }
    y.data[static_cast<size_t>(flat)] =
        f(a.data[static_cast<size_t>(ao)], b.data[static_cast<size_t>(bo)]);
    for (size_t i = rank; i-- > 0;) {
      if (++idx[i] < out[i]) break;
      idx[i] = 0;
    }
  }
  return y;
}

// Pool output extent, PyTorch's rule.
inline int64_t poolExtent(int64_t in, int64_t k, int64_t s, int64_t p, bool ceilMode) {
  double q = static_cast<double>(in + 2 * p - k) / static_cast<double>(s);
  int64_t out = static_cast<int64_t>(ceilMode ? std::ceil(q) : std::floor(q)) + 1;
  if (ceilMode && (out - 1) * s >= in + p) --out;
  return out;
}

}  // namespace kiln::ref::detail

#endif  // KILN_REFERENCE_REFDETAIL_H
