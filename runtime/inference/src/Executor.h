//===- Executor.h - where a predictor's batches run (private) ---*- C++ -*-===//
//
// A Predictor (Predictor.cpp) owns the API state (configuration, input and
// output slots) and hands each batch to an Executor. Today there is one, the
// CPU executor (an rt::Session). A CUDA executor plugs in by implementing this
// interface in CudaExecutor.cpp, where createCudaExecutor() now only
// diagnoses what is missing.
//===----------------------------------------------------------------------===//
#ifndef KILN_INFERENCE_EXECUTOR_H
#define KILN_INFERENCE_EXECUTOR_H

#include "kiln/inference/Predictor.h"

#include <memory>
#include <string>
#include <vector>

namespace kiln::inference {

/// The loaded, checked files; shared (read-only) by a predictor and its clones.
struct Model {
  std::string modelFile, paramsFile;
  std::shared_ptr<const rt::Artifact> artifact;
  std::vector<rt::NamedTensor> params; // every parameter of the artifact, checked
  std::vector<rt::TensorInfo> inputs, outputs;
  /// The artifact's CUDA modules ("sm_90", ...); empty for a CPU-only model.
  std::vector<std::string> cudaArchitectures;
};

/// The entry every inference model has.
inline constexpr const char *kInferEntry = "infer";

class Executor {
public:
  virtual ~Executor() = default;
  /// One batch: `inputs` match the model's input signature (checked by the
  /// predictor); returns the outputs. Throws Error.
  virtual std::vector<rt::Tensor> run(const std::vector<rt::TensorView> &inputs) = 0;
  /// A fresh executor of the same model (own parameters, memory, threads).
  virtual std::unique_ptr<Executor> clone() const = 0;
  virtual std::string device() const = 0;
  virtual int numThreads() const = 0;
};

std::unique_ptr<Executor> createCpuExecutor(std::shared_ptr<const Model> model, int threads);

/// Throws Error naming the first thing missing for CUDA execution, in the
/// order a user can fix them: the driver library, a device, CUDA kernels in
/// the model, a CUDA executor in this runtime.
std::unique_ptr<Executor> createCudaExecutor(std::shared_ptr<const Model> model,
                                             const Config &config);

} // namespace kiln::inference

#endif
