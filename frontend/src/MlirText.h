//===- MlirText.h - spelling kiln MLIR text (frontend-private) --*- C++ -*-===//
//
// Shared by MlirEmitter.cpp (inference function) and TrainingEmitter.cpp
// (forward / eval_step / infer): how types, strings, floats, integer arrays and
// dense constants are written in MLIR's generic syntax.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_FRONTEND_MLIRTEXT_H
#define KILN_FRONTEND_MLIRTEXT_H

#include "kiln/frontend/Graph.h"

#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace kiln::fe::mlirtext {

inline std::string tensorType(const Shape& shape) {
  std::string s = "tensor<";
  for (int64_t d : shape) s += (d < 0 ? std::string("?") : std::to_string(d)) + "x";
  return s + "f32>";
}

// An MLIR string literal: quote, backslash and non-printable bytes escaped as
// \XX, which is what MLIR's lexer understands.
inline std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (std::isprint(c)) {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "\\%02X", c);
      out += buf;
    }
  }
  return out + "\"";
}

// The shortest of %.6e .. %.8e that reads back as the same float (9 significant
// digits always do), so weights and epsilons survive the text round trip.
// Non-finite values use MLIR's hexadecimal bit-pattern form.
inline std::string floatLiteral(float v) {
  if (!std::isfinite(v)) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08X", bits);
    return buf;
  }
  char buf[32];
  for (int prec = 6; prec <= 8; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec, static_cast<double>(v));
    if (std::strtof(buf, nullptr) == v) break;
  }
  return buf;
}

inline std::string i64Array(const int64_t* data, size_t n) {
  std::string s = "array<i64";
  for (size_t i = 0; i < n; ++i) s += (i ? ", " : ": ") + std::to_string(data[i]);
  return s + ">";
}
inline std::string i64Array(const std::vector<int64_t>& v) { return i64Array(v.data(), v.size()); }
inline std::string i64Array(const std::array<int64_t, 2>& a) { return i64Array(a.data(), 2); }

inline std::string i64(int64_t v) { return std::to_string(v) + " : i64"; }
inline std::string boolean(bool b) { return b ? "true" : "false"; }

// Nested dense literal matching the shape (MLIR rejects a flat list for a
// multi-dimensional type); a single value when every element is equal.
inline void denseElements(std::ostringstream& os, const std::vector<float>& v, const Shape& shape,
                   size_t dim, size_t& pos) {
  if (dim == shape.size()) {
    os << floatLiteral(v[pos++]);
    return;
  }
  os << "[";
  for (int64_t i = 0; i < shape[dim]; ++i) {
    if (i) os << ", ";
    denseElements(os, v, shape, dim + 1, pos);
  }
  os << "]";
}

inline std::string denseAttr(const std::vector<float>& v, const Shape& shape) {
  std::ostringstream os;
  os << "dense<";
  bool splat = true;
  for (float x : v)
    if (std::memcmp(&x, &v[0], sizeof x) != 0) splat = false;
  if (splat) {
    os << floatLiteral(v[0]);
  } else {
    size_t pos = 0;
    denseElements(os, v, shape, 0, pos);
  }
  os << "> : " << tensorType(shape);
  return os.str();
}

using Attrs = std::vector<std::pair<std::string, std::string>>;

inline std::string attrText(const Attrs& a) {
  if (a.empty()) return "";
  std::string s = " {";
  for (size_t i = 0; i < a.size(); ++i) s += (i ? ", " : "") + a[i].first + " = " + a[i].second;
  return s + "}";
}

// The attributes of a graph node in the order they are written; `trainable`
// overrides a parameter's flag (the training emitter freezes running stats).
inline Attrs nodeAttrs(const Graph& g, const Node& n, bool trainable) {
  Attrs a;
  switch (n.kind) {
    case OpKind::Parameter: {
      const Parameter& p = g.parameters()[static_cast<size_t>(n.as<ParameterAttrs>().index)];
      a = {{"name", quoted(p.name)}, {"trainable", boolean(trainable)}};
      break;
    }
    case OpKind::Constant:
      a = {{"value", denseAttr(n.as<ConstantAttrs>().value, n.shape)}};
      break;
    case OpKind::Conv2d: {
      const auto& c = n.as<Conv2dAttrs>();
      a = {{"dilation", i64Array(c.dilation)},
           {"groups", i64(c.groups)},
           {"padding", i64Array(c.padding)},
           {"strides", i64Array(c.strides)}};
      break;
    }
    case OpKind::MaxPool2d:
    case OpKind::AvgPool2d: {
      const auto& p = n.as<Pool2dAttrs>();
      a = {{"ceil_mode", boolean(p.ceilMode)}};
      if (n.kind == OpKind::AvgPool2d)
        a.push_back({"count_include_pad", boolean(p.countIncludePad)});
      a.push_back({"kernel_size", i64Array(p.kernelSize)});
      a.push_back({"padding", i64Array(p.padding)});
      a.push_back({"strides", i64Array(p.strides)});
      break;
    }
    case OpKind::BatchNorm:
      a = {{"epsilon", floatLiteral(n.as<BatchNormAttrs>().epsilon) + " : f32"}};
      break;
    case OpKind::Reshape:
      a = {{"shape", i64Array(n.as<ReshapeAttrs>().shape)}};
      break;
    case OpKind::Flatten:
      a = {{"start_dim", i64(n.as<FlattenAttrs>().startDim)}};
      break;
    case OpKind::Transpose:
      a = {{"perm", i64Array(n.as<TransposeAttrs>().perm)}};
      break;
    case OpKind::Softmax:
    case OpKind::LogSoftmax:
      a = {{"axis", i64(n.as<AxisAttrs>().axis)}};
      break;
    case OpKind::ReduceSum:
    case OpKind::ReduceMean: {
      const auto& r = n.as<ReduceAttrs>();
      a = {{"axes", i64Array(r.axes)}, {"keepdim", boolean(r.keepdim)}};
      break;
    }
    default:
      break;
  }
  return a;
}

/// The attributes of a node as the graph defines them.
inline Attrs nodeAttrs(const Graph& g, const Node& n) {
  bool trainable = n.kind != OpKind::Parameter ||
                   g.parameters()[static_cast<size_t>(n.as<ParameterAttrs>().index)].trainable;
  return nodeAttrs(g, n, trainable);
}

} // namespace kiln::fe::mlirtext

#endif
