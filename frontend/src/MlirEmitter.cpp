//===- MlirEmitter.cpp - Graph -> kiln dialect text -----------------------===//
//
// The frontend links no MLIR, so it writes the generic op form, which every
// MLIR parser accepts without the dialect's custom syntax being stable. Inherent
// attributes go in the attr-dict `{...}` (MLIR 19 moves them into properties
// when it parses), and every attribute is written out even when it equals the
// dialect default so the text reads the same whatever the defaults become.
//
//===----------------------------------------------------------------------===//
#include "kiln/frontend/Graph.h"
#include "MlirText.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace kiln::fe {

namespace {

using namespace mlirtext;


bool isSymbolName(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (unsigned char c : s)
    if (!(std::isalnum(c) || c == '_' || c == '.' || c == '$')) return false;
  return true;
}

}  // namespace

std::string Graph::toMlir(const std::string& funcName) const {
  if (!isSymbolName(funcName))
    throw std::invalid_argument("toMlir: function name '" + funcName +
                                "' must match [A-Za-z_][A-Za-z0-9_.$]*");
  if (outputs_.empty())
    throw std::invalid_argument("toMlir: the graph has no outputs; mark them with output()");

  // SSA names: inputs keep their (identifier) names, ops are numbered, so the two
  // can never collide.
  std::vector<std::string> ssa(nodes_.size());
  int counter = 0;
  for (const Node& n : nodes_)
    ssa[static_cast<size_t>(n.id)] =
        n.kind == OpKind::Input ? "%" + n.as<InputAttrs>().name : "%" + std::to_string(counter++);

  std::ostringstream os;
  os << "module {\n  func.func @" << funcName << "(";
  for (size_t i = 0; i < inputs_.size(); ++i) {
    const Node& n = nodes_[static_cast<size_t>(inputs_[i])];
    os << (i ? ", " : "") << ssa[static_cast<size_t>(n.id)] << ": " << tensorType(n.shape)
       << " loc(" << quoted(n.name) << ")";
  }
  os << ") -> ";
  if (outputs_.size() > 1) os << "(";
  for (size_t i = 0; i < outputs_.size(); ++i)
    os << (i ? ", " : "") << tensorType(nodes_[static_cast<size_t>(outputs_[i])].shape);
  if (outputs_.size() > 1) os << ")";
  os << " {\n";

  for (const Node& n : nodes_) {
    if (n.kind == OpKind::Input) continue;
    os << "    " << ssa[static_cast<size_t>(n.id)] << " = \"" << opName(n.kind) << "\"(";
    for (size_t i = 0; i < n.operands.size(); ++i)
      os << (i ? ", " : "") << ssa[static_cast<size_t>(n.operands[i])];
    os << ")" << attrText(nodeAttrs(*this, n)) << " : (";
    for (size_t i = 0; i < n.operands.size(); ++i)
      os << (i ? ", " : "") << tensorType(nodes_[static_cast<size_t>(n.operands[i])].shape);
    os << ") -> " << tensorType(n.shape) << " loc(" << quoted(n.name) << ")\n";
  }

  os << "    func.return ";
  for (size_t i = 0; i < outputs_.size(); ++i)
    os << (i ? ", " : "") << ssa[static_cast<size_t>(outputs_[i])];
  os << " : ";
  for (size_t i = 0; i < outputs_.size(); ++i)
    os << (i ? ", " : "") << tensorType(nodes_[static_cast<size_t>(outputs_[i])].shape);
  os << "\n  }\n}\n";
  return os.str();
}

}  // namespace kiln::fe
