//===- Error.h - the data library's exception -------------------*- C++ -*-===//
//
// Every failure in kiln_data (missing or corrupt files, malformed list lines,
// labels out of range) throws kiln::data::Error, whose what() is one line of
// the form "kiln: <file>[:<line>]: <what was wrong>", like kiln::rt::Error.
//===----------------------------------------------------------------------===//
#ifndef KILN_DATA_ERROR_H
#define KILN_DATA_ERROR_H

#include <stdexcept>
#include <string>

namespace kiln::data {

class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Throws Error("kiln: " + where + ": " + what).
[[noreturn]] void fail(const std::string &where, const std::string &what);

}  // namespace kiln::data

#endif  // KILN_DATA_ERROR_H
