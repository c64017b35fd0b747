//===- PredictorTestHelpers.h - shared by the inference API tests -*- C++ -*-===//
//
// Shared by the CPU and GPU inference API tests: an API error must be a
// kiln::inference::Error whose message is one line and names what is wrong;
// predictors running at once on several threads must each give what they
// give alone.
//===----------------------------------------------------------------------===//
#ifndef KILN_TEST_INFERENCE_PREDICTORTESTHELPERS_H
#define KILN_TEST_INFERENCE_PREDICTORTESTHELPERS_H

#include "kiln/data/Image.h"
#include "kiln/inference/Predictor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace kiln::inference::test {

/// The demo images of the source tree (images/demo, 8 of them), preprocessed
/// as infer does, back to back. Tests define KILN_SOURCE_DIR.
inline const std::vector<float> &demoImages() {
  static const std::vector<float> images = [] {
    std::vector<float> out;
    for (const std::string &f :
         kiln::data::listImageFiles(std::string(KILN_SOURCE_DIR) + "/images/demo")) {
      std::vector<float> x = kiln::data::readModelInput(f);
      out.insert(out.end(), x.begin(), x.end());
    }
    return out;
  }();
  return images;
}

/// Runs images [first, first + n) of `images` (preprocessed, back to back) as
/// one batch through the "image" input; returns the "logits" output.
inline std::vector<float> runBatch(kiln::inference::Predictor &p,
                                   const std::vector<float> &images, int64_t first, int n) {
  auto in = p.get_input_handle("image");
  in->reshape({n, 1, 28, 28});
  in->copy_from_cpu(images.data() + first * kiln::data::kImageSize);
  p.run();
  auto out = p.get_output_handle("logits");
  EXPECT_EQ(out->shape(), (std::vector<int>{n, 10}));
  std::vector<float> logits(size_t(out->numel()));
  out->copy_to_cpu(logits.data());
  return logits;
}

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

/// Runs job(*ps[t], t, i) for i < iterations on one thread per predictor,
/// all threads at once, and returns how many results differ from the same
/// job run alone first on reference(t) (a predictor of the same model).
template <typename Job, typename Reference>
int concurrentMismatches(const std::vector<std::shared_ptr<kiln::inference::Predictor>> &ps,
                         int iterations, Job job, Reference reference) {
  std::vector<std::vector<std::vector<float>>> expected(ps.size());
  for (size_t t = 0; t < ps.size(); ++t)
    for (int i = 0; i < iterations; ++i)
      expected[t].push_back(job(reference(t), int(t), i));
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < ps.size(); ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < iterations; ++i)
        if (job(*ps[t], int(t), i) != expected[t][size_t(i)])
          ++mismatches;
    });
  for (std::thread &th : threads)
    th.join();
  return mismatches.load();
}

} // namespace kiln::inference::test

#define EXPECT_CONTAINS(text, part)                                                            \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "'" << (text) << "' lacks '"   \
                                                             << (part) << "'"

#endif
