//===- CpuExecutor.cpp - batches on the CPU through an rt::Session --------===//
#include "Executor.h"

#include <fmt/format.h>

namespace kiln::inference {

namespace {

class CpuExecutor final : public Executor {
public:
  CpuExecutor(std::shared_ptr<const Model> model, int threads)
      : model_(std::move(model)), threads_(threads),
        session_(model_->artifact, rt::SessionOptions{threads}) {
    // The predictor checked names and shapes already; this cannot fail.
    session_.importParams(model_->params, model_->paramsFile, /*requireAll=*/true);
  }

  std::vector<rt::Tensor> run(const std::vector<rt::TensorView> &inputs) override {
    return session_.run(kInferEntry, inputs);
  }

  std::unique_ptr<Executor> clone() const override {
    return std::make_unique<CpuExecutor>(model_, threads_);
  }

  std::string device() const override { return "cpu"; }
  std::string deviceDescription() const override { return session_.deviceDescription(); }
  int numThreads() const override { return session_.numThreads(); }

private:
  std::shared_ptr<const Model> model_;
  int threads_;
  rt::Session session_;
};

} // namespace

std::unique_ptr<Executor> createCpuExecutor(std::shared_ptr<const Model> model, int threads) {
  return std::make_unique<CpuExecutor>(std::move(model), threads);
}

} // namespace kiln::inference
