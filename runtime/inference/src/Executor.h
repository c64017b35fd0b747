//===- Executor.h - where a predictor's batches run (private) ---*- C++ -*-===//
//
// A Predictor (Predictor.cpp) owns the API state (configuration, input and
// output slots) and hands each batch to an Executor: the CPU executor
// (CpuExecutor.cpp, an rt::Session on the CPU) or the CUDA executor
// (CudaExecutor.cpp, an rt::Session with Device::Cuda running the model's
// CUDA kernels). Both keep host tensors at this interface; the CUDA one
// copies inputs to the device and outputs back on every run.
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
  /// "cpu", "gpu:0 (NVIDIA H100 80GB HBM3)".
  virtual std::string device() const = 0;
  /// The session's own description ("CPU, 2 threads", "NVIDIA H100 80GB HBM3
  /// (sm_90, 132 SMs), cubin sm_90, driver 13.0").
  virtual std::string deviceDescription() const = 0;
  virtual int numThreads() const = 0;
};

std::unique_ptr<Executor> createCpuExecutor(std::shared_ptr<const Model> model, int threads);

/// The GPU executor on config.gpu_device_id(). Throws Error naming the first
/// thing missing, in the order a user can fix them: the driver library, the
/// device, CUDA kernels in the model, CUDA code for the device's architecture.
std::unique_ptr<Executor> createCudaExecutor(std::shared_ptr<const Model> model,
                                             const Config &config);

} // namespace kiln::inference

#endif
