//===- CommaList.h - "a,b,c" flag values, header-only -----------*- C++ -*-===//
//
// --target=cpu,cuda and --cuda-arch=sm_80,sm_90 (kiln-compile, export_model).
// Header-only and standard-library-only, like the other CLI helpers here.
//===----------------------------------------------------------------------===//
#ifndef KILN_TOOLS_COMMALIST_H
#define KILN_TOOLS_COMMALIST_H

#include <string>
#include <vector>

namespace kiln::tools {

/// "a,b,,c" -> {"a", "b", "c"} (empty items dropped).
inline std::vector<std::string> splitCommaList(const std::string &list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos)
      end = list.size();
    if (end > start)
      out.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

} // namespace kiln::tools

#endif // KILN_TOOLS_COMMALIST_H
