//===- CudaExecutor.cpp - batches on a GPU through an rt::Session ---------===//
//
// The GPU twin of CpuExecutor: an rt::Session with Device::Cuda on the
// configured device runs the model's `infer` entry with the CUDA kernels
// export_model stored in the model (--target=cpu,cuda). The runtime's CUDA
// executor (runtime/src/cuda) does the work: libcuda.so.1 loaded with dlopen,
// the cubin for the device or the PTX JIT-compiled, one device arena, one
// stream, a CUDA graph per batch size after the first run. Inputs are copied
// to the device and the outputs back on every run; the parameters stay on
// the device.
//
// Asking for the GPU must end in a message that says what is missing rather
// than in a crash or a silent CPU run, so createCudaExecutor() checks, in the
// order a user can fix them:
//   1. the NVIDIA driver library libcuda.so.1 and cuInit (rt::probeCuda; the
//      runtime never links the driver: a binary linked against it would not
//      start on machines without a driver, such as CPU-only CI);
//   2. a CUDA device with the configured id;
//   3. CUDA kernels in the model (re-export with export_model --target=cpu,cuda);
//   4. CUDA code for this device's architecture (export_model --cuda-arch),
//      reported by the session itself.
//===----------------------------------------------------------------------===//
#include "Executor.h"

#include "kiln/runtime/Cuda.h"

#include <fmt/format.h>

namespace kiln::inference {

namespace {

const char *const kCpuHint = "run on the CPU instead (Config::disable_gpu, infer --use-gpu=False)";

/// The runtime's messages start with "kiln: "; ours add their own.
std::string withoutPrefix(std::string what) {
  for (const char *prefix : {"kiln: CUDA: ", "kiln: "})
    if (what.rfind(prefix, 0) == 0)
      return what.substr(std::string(prefix).size());
  return what;
}

/// "NVIDIA H100 80GB HBM3" from the session's "NVIDIA H100 80GB HBM3 (sm_90,
/// 132 SMs), cubin sm_90, driver 13.0" (the whole text if it has another form).
std::string deviceName(const std::string &description) {
  size_t end = description.rfind(" (sm_");
  return end == std::string::npos ? description : description.substr(0, end);
}

/// "sm_90" from "... (sm_90, 132 SMs), ..." ("" if absent).
std::string deviceArch(const std::string &description) {
  size_t start = description.find("(sm_");
  if (start == std::string::npos)
    return "";
  size_t end = description.find_first_of(",)", start);
  return description.substr(start + 1, end == std::string::npos ? std::string::npos
                                                                 : end - start - 1);
}

class CudaExecutor final : public Executor {
public:
  CudaExecutor(std::shared_ptr<const Model> model, int deviceId)
      : model_(std::move(model)), deviceId_(deviceId),
        session_(model_->artifact, sessionOptions(deviceId)) {
    // The predictor checked names and shapes already; this only uploads.
    session_.importParams(model_->params, model_->paramsFile, /*requireAll=*/true);
  }

  std::vector<rt::Tensor> run(const std::vector<rt::TensorView> &inputs) override {
    return session_.run(kInferEntry, inputs);
  }

  std::unique_ptr<Executor> clone() const override {
    // Its own session: own device memory, stream and graphs.
    return std::make_unique<CudaExecutor>(model_, deviceId_);
  }

  std::string device() const override {
    return fmt::format("gpu:{} ({})", deviceId_, deviceName(session_.deviceDescription()));
  }
  std::string deviceDescription() const override { return session_.deviceDescription(); }
  int numThreads() const override { return session_.numThreads(); }

private:
  static rt::SessionOptions sessionOptions(int deviceId) {
    rt::SessionOptions o;
    o.device = rt::Device::Cuda;
    o.deviceOrdinal = deviceId;
    return o;
  }

  std::shared_ptr<const Model> model_;
  int deviceId_;
  rt::Session session_;
};

} // namespace

std::unique_ptr<Executor> createCudaExecutor(std::shared_ptr<const Model> model,
                                             const Config &config) {
  const int device = config.gpu_device_id();
  if (device < 0)
    throw Error(fmt::format("kiln: GPU device id {} is invalid (must be >= 0)", device));

  // 1 and 2: the driver and the device, without touching the model.
  rt::CudaDeviceInfo info = rt::probeCuda(device);
  if (!info.available)
    throw Error(fmt::format("kiln: GPU device {} requested but it is not usable: {}; {}", device,
                            withoutPrefix(info.error), kCpuHint));

  // 3: the model must carry CUDA kernels.
  if (model->cudaArchitectures.empty())
    throw Error(fmt::format("kiln: GPU device {} ({}) found, but the model {} has no CUDA "
                            "kernels (exported for the CPU only): re-export it with CUDA kernels "
                            "(export_model --target=cpu,cuda), or {}",
                            device, deviceName(info.description), model->modelFile, kCpuHint));

  // 4 and anything else the session finds (no code for this architecture,
  // out of device memory), with the device and the model named.
  try {
    return std::make_unique<CudaExecutor>(model, device);
  } catch (const rt::Error &e) {
    std::string why = withoutPrefix(e.what());
    if (why.rfind(model->modelFile + ": ", 0) == 0) // named once, below
      why = why.substr(model->modelFile.size() + 2);
    if (why.find("no CUDA code for") != std::string::npos) {
      // The runtime's advice names kiln-compile's flag; a model is re-exported.
      why = why.substr(0, why.find("; recompile with"));
      std::string arch = deviceArch(info.description);
      why = fmt::format("{}: re-export it with export_model --target=cpu,cuda --cuda-arch={}", why,
                        arch.empty() ? "<this GPU's sm_XX>" : arch);
    }
    throw Error(fmt::format("kiln: GPU device {} ({}): cannot run the model {}: {}; or {}", device,
                            deviceName(info.description), model->modelFile, why, kCpuHint));
  }
}

} // namespace kiln::inference
