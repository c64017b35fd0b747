//===- Predictor.h - Kiln's inference API (Paddle Inference style) -*- C++ -*-===//
//
// Runs a model written by export_model (inference.kmodel + inference.kparams)
// with the flow of Paddle Inference's C++ API (paddle_infer::Config,
// CreatePredictor, GetInputHandle, ...), in snake_case:
//
//   #include "kiln/inference/Predictor.h"
//   namespace ki = kiln::inference;
//
//   ki::Config config("output/resnet20_infer/inference.kmodel",
//                     "output/resnet20_infer/inference.kparams");
//   // or: ki::Config config("output/resnet20_infer");  (the export directory)
//   config.set_cpu_math_library_num_threads(2);
//   std::shared_ptr<ki::Predictor> predictor = ki::create_predictor(config);
//
//   std::vector<float> images(8 * 1 * 28 * 28);          // 8 preprocessed images
//   auto input = predictor->get_input_handle(predictor->get_input_names()[0]);
//   input->reshape({8, 1, 28, 28});                        // any batch >= 1
//   input->copy_from_cpu(images.data());
//   predictor->run();
//
//   auto output = predictor->get_output_handle(predictor->get_output_names()[0]);
//   std::vector<int> shape = output->shape();              // {8, 10}
//   std::vector<float> logits(8 * 10);
//   output->copy_to_cpu(logits.data());
//
// Link with kiln_inference (which links kiln_runtime; neither links MLIR or
// LLVM). docs/inference_api.md has the full guide.
//
// Threads. A predictor runs one batch at a time over its own pool of
// set_cpu_math_library_num_threads() worker threads; it may be reused for any
// number of runs, with any batch size per run (no recompilation). Several
// predictors may run at the same time on different threads: each owns its
// parameters, memory arena and workers. clone() makes another predictor of
// the same model without reading the files again (the loaded kernels are
// shared, read-only). One predictor must not be used by two threads at once.
//
// Errors. Every failure (missing, truncated or corrupt files, a model of
// another Kiln version, parameters that belong to another model, a GPU that
// is not there, a wrong input shape, calls in the wrong order) throws
// kiln::inference::Error (= kiln::rt::Error, a std::runtime_error) whose
// what() is one line naming the file, input or setting and what was expected.
//
// GPU. enable_use_gpu(pool_mb, device_id) runs the model's CUDA kernels on
// CUDA device `device_id` through the NVIDIA driver (libcuda.so.1, loaded at
// run time: nothing else to install beside the driver). The model must have
// been exported with CUDA kernels (export_model --target=cpu,cuda, the
// default where NVRTC is installed) for an architecture the GPU runs
// (--cuda-arch; sm_80 and sm_90 cubins plus PTX by default). Inputs and
// outputs stay host memory (copy_from_cpu / copy_to_cpu); the parameters
// live on the device; each batch size is captured into a CUDA graph after
// its first run. A clone or another predictor has its own device memory and
// stream. When something is missing (the driver, the device, CUDA kernels
// in the model, code for the GPU's architecture) create_predictor() throws
// an Error naming it; it never falls back to the CPU silently.
//===----------------------------------------------------------------------===//
#ifndef KILN_INFERENCE_PREDICTOR_H
#define KILN_INFERENCE_PREDICTOR_H

#include "kiln/runtime/Runtime.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln::inference {

using Error = kiln::rt::Error;

/// The file names export_model writes into its --save-inference-dir.
inline constexpr const char *kModelFileName = "inference.kmodel";
inline constexpr const char *kParamsFileName = "inference.kparams";

enum class PlaceType { kCPU, kGPU };
enum class DataType { FLOAT32 };

/// What to load and where to run it (paddle_infer::Config).
class Config {
public:
  Config() = default;
  /// The model (inference.kmodel) and its parameters (inference.kparams).
  Config(std::string model_file, std::string params_file);
  /// A directory written by export_model: <dir>/inference.kmodel and
  /// <dir>/inference.kparams.
  explicit Config(const std::string &model_dir);

  void set_model(const std::string &model_file, const std::string &params_file);
  const std::string &model_file() const { return modelFile_; }
  const std::string &params_file() const { return paramsFile_; }

  /// Worker threads of the predictor (>= 0; 0 = all hardware threads).
  /// Default 1, as Paddle Inference.
  void set_cpu_math_library_num_threads(int threads);
  int cpu_math_library_num_threads() const { return cpuThreads_; }

  /// Run on CUDA device `device_id` (see "GPU" above). `memory_pool_init_size_mb`
  /// is kept for Paddle compatibility and reported by summary(); device
  /// memory is sized from the model's memory plan at each batch size.
  void enable_use_gpu(uint64_t memory_pool_init_size_mb, int device_id = 0);
  void disable_gpu();
  bool use_gpu() const { return useGpu_; }
  int gpu_device_id() const { return gpuDeviceId_; }
  uint64_t memory_pool_init_size_mb() const { return gpuMemoryMb_; }

  /// One line: files, device, threads.
  std::string summary() const;

private:
  std::string modelFile_, paramsFile_;
  int cpuThreads_ = 1;
  bool useGpu_ = false;
  int gpuDeviceId_ = 0;
  uint64_t gpuMemoryMb_ = 0;
};

class Predictor;

/// A handle to one input or output of a predictor (paddle_infer::Tensor). It
/// stays valid as long as the predictor does.
class Tensor {
public:
  struct Slot;
  explicit Tensor(std::shared_ptr<Slot> slot);
  ~Tensor();

  /// Inputs only: the shape of the next copy_from_cpu. It must match the
  /// model's input signature (Predictor::get_input_shape) with any batch >= 1
  /// in dimension 0; throws Error otherwise. Discards previously copied data.
  void reshape(const std::vector<int> &shape);
  /// Inputs only: copies numel(shape()) floats (row-major) from `data`.
  void copy_from_cpu(const float *data);
  /// Copies numel(shape()) floats to `data`: an output after run(), or an
  /// input's current contents.
  void copy_to_cpu(float *data) const;
  /// The current shape: an input's last reshape, an output's last run.
  std::vector<int> shape() const;
  /// Elements in shape().
  int64_t numel() const;
  const std::string &name() const;
  DataType type() const { return DataType::FLOAT32; }
  PlaceType place() const { return PlaceType::kCPU; }

private:
  std::shared_ptr<Slot> slot_;
};

/// A loaded model ready to run (paddle_infer::Predictor). Create with
/// create_predictor().
class Predictor {
public:
  struct Impl;
  explicit Predictor(std::unique_ptr<Impl> impl);
  ~Predictor();
  Predictor(const Predictor &) = delete;
  Predictor &operator=(const Predictor &) = delete;

  std::vector<std::string> get_input_names() const;
  std::vector<std::string> get_output_names() const;
  /// Throws Error naming the known inputs/outputs for an unknown name.
  std::unique_ptr<Tensor> get_input_handle(const std::string &name);
  std::unique_ptr<Tensor> get_output_handle(const std::string &name);
  /// The model's signature of an input/output; -1 marks the dynamic batch.
  std::vector<int64_t> get_input_shape(const std::string &name) const;
  std::vector<int64_t> get_output_shape(const std::string &name) const;

  /// Runs the model on the inputs' current data (every input must have been
  /// given data since its last reshape). Throws Error on any problem; the
  /// predictor stays usable.
  void run();

  /// Another predictor of the same model and configuration, sharing the
  /// loaded model but with its own parameters, memory and threads.
  std::unique_ptr<Predictor> clone() const;

  const Config &config() const;
  /// The model name recorded at export ("resnet20").
  std::string model_name() const;
  /// "cpu", or "gpu:<id> (<device name>)" ("gpu:0 (NVIDIA H100 80GB HBM3)").
  std::string device() const;
  /// More detail: "CPU, 2 threads", or "NVIDIA H100 80GB HBM3 (sm_90, 132
  /// SMs), cubin sm_90, driver 13.0" (which CUDA code the GPU runs).
  std::string device_description() const;
  /// Worker threads actually used (0 in the config resolved to the hardware's;
  /// 1 on the GPU, where the host thread only issues work).
  int num_threads() const;

private:
  std::unique_ptr<Impl> impl_;
};

/// Loads and checks the model and parameter files of `config` and prepares
/// the executor (paddle_infer::CreatePredictor). Throws Error with a one-line
/// message on any problem.
std::shared_ptr<Predictor> create_predictor(const Config &config);

} // namespace kiln::inference

#endif // KILN_INFERENCE_PREDICTOR_H
