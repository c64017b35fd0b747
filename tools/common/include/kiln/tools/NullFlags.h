//===- NullFlags.h - TIPC's "null"/"None" flag values, header-only -*- C++ -*-===//
//
// TIPC (test_tipc/) passes "--key=null" or "--key None" for a flag it has no
// value for. The deployment tools treat that as "flag not given", so numeric
// flags fall back to their defaults instead of failing to parse "null".
//
// Header-only and standard-library-only on purpose: `infer` links only the
// runtime (no kiln_tools_common, which pulls in the compiler and MLIR/LLVM);
// link the INTERFACE target kiln_tools_cli for the include path.
//===----------------------------------------------------------------------===//
#ifndef KILN_TOOLS_NULLFLAGS_H
#define KILN_TOOLS_NULLFLAGS_H

#include <string>
#include <vector>

namespace kiln::tools {

/// TIPC's spelling of "no value".
inline bool isNullValue(const std::string &value) { return value == "null" || value == "None"; }

/// argv without the flags whose value is null/None: drops "--key=null" and
/// "--key null" (the flag and its value). argv[0] and everything else is kept
/// in order; the returned pointers are argv's own.
inline std::vector<char *> withoutNullFlags(int argc, char **argv) {
  std::vector<char *> kept;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool isFlag = i > 0 && arg.rfind("--", 0) == 0;
    const size_t eq = arg.find('=');
    if (isFlag && eq != std::string::npos && isNullValue(arg.substr(eq + 1)))
      continue;
    if (isFlag && eq == std::string::npos && i + 1 < argc && isNullValue(argv[i + 1])) {
      ++i; // the value too
      continue;
    }
    kept.push_back(argv[i]);
  }
  return kept;
}

} // namespace kiln::tools

#endif // KILN_TOOLS_NULLFLAGS_H
