//===- ErrorMatchers.h - checks of the one-line errors, for tests -*- C++ -*-===//
//
// Shared by the inference API tests (CPU and GPU): an API error must be a
// kiln::inference::Error whose message is one line and names what is wrong.
//===----------------------------------------------------------------------===//
#ifndef KILN_TEST_INFERENCE_ERRORMATCHERS_H
#define KILN_TEST_INFERENCE_ERRORMATCHERS_H

#include "kiln/inference/Predictor.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln::inference::test {

/// what() of the Error `f` throws ("" and a test failure if none); the
/// message must be one line.
template <typename F> std::string errorOf(F &&f) {
  try {
    f();
  } catch (const kiln::inference::Error &e) {
    std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << "not one line: " << what;
    return what;
  }
  ADD_FAILURE() << "no Error thrown";
  return "";
}

} // namespace kiln::inference::test

#define EXPECT_CONTAINS(text, part)                                                            \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "'" << (text) << "' lacks '"   \
                                                             << (part) << "'"

#endif
