//===- infer.cpp - classify images with an exported inference model -------===//
//
//   infer --model-dir ./output/resnet20_infer --img-path ./images/demo
//         --batch-size 8 --cpu-threads 2 --use-gpu False --benchmark True
//
// Reads only what export_model wrote (<model-dir>/inference.kmodel and
// inference.kparams) through the inference API (kiln/inference/Predictor.h);
// links the runtime, kiln_inference and kiln_data, never the compiler
// (MLIR/LLVM; a ctest checks with ldd). Images (a file, or every
// .png/.jpg/.jpeg of a directory, sorted by name) go through
// kiln::data::readModelInput, the preprocessing of train, eval and predict;
// the logits through kiln::predict::softmax, as predict does. Per image:
//   image_name: <path>, class_id: <id>, prob: <p>
// Any --batch-size works, the last batch holding what is left.
//
// --use-gpu=True runs the model's CUDA kernels on GPU --gpu-id (the model
// must have been exported with them: export_model --target=cpu,cuda, the
// default where NVRTC is installed). Only the NVIDIA driver (libcuda.so.1,
// loaded at run time) is needed; without it, or without CUDA kernels in the
// model, infer says what is missing and exits 1 (it never falls back to the
// CPU silently).
//
// --benchmark=True adds the AutoLog-style report of the inference standard
// (device, threads, precision, batch size, input shape, image count, mean
// preprocess/inference/postprocess time per batch after --warmup untimed
// warm-up runs, peak resident memory).
//
// Defaults that work with no flag (run from the repository root after
// `export_model`, whose own default output is ./output/lenet5_infer):
// --model-dir ./output/lenet5_infer, --img-path ./images/demo, --batch-size 1,
// all hardware threads. Flags take "--key value" or "--key=value"; booleans
// True/False; a value "null"/"None" counts as not given.
//
// Exit status: 0 every image classified; 1 an error (one line "infer: ..."
// on stderr: bad flag, model or params file, GPU not available, no readable
// image); 2 some images of a directory could not be read (each reported on
// stderr and skipped).
//===----------------------------------------------------------------------===//
#include "kiln/data/Image.h"
#include "kiln/inference/Predictor.h"
#include "kiln/predict/Classify.h"
#include "kiln/tools/BoolFlags.h"
#include "kiln/tools/NullFlags.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>
#include <fstream>
#include <thread>

namespace fs = std::filesystem;
using namespace kiln;
using Clock = std::chrono::steady_clock;

namespace {

/// A one-line failure: "infer: <what>", exit 1.
class InferError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

std::string oneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

bool parseBool(const std::string &flag, const std::string &value) {
  if (std::optional<bool> b = tools::boolFlagValue(value))
    return *b;
  throw InferError(fmt::format("{}: expected True or False, got '{}'", flag, value));
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

/// A "key: value" line of /proc (VmHWM, model name, ...), or "".
std::string procField(const char *file, const std::string &key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, key.size(), key) == 0) {
      size_t colon = line.find(':');
      if (colon == std::string::npos)
        return "";
      std::string v = line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "";
}

/// Peak resident memory of this process in MB (VmHWM), or -1.
double peakRssMb() {
  std::string v = procField("/proc/self/status", "VmHWM");
  return v.empty() ? -1.0 : std::atof(v.c_str()) / 1024.0;
}

std::string osName() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      std::string v = line.substr(12);
      v.erase(std::remove(v.begin(), v.end(), '"'), v.end());
      return v;
    }
  return "unknown";
}

struct Options {
  std::string modelDir, imgPath, useGpu = "False", benchmark = "False", precision = "fp32";
  int64_t batchSize = 1;
  int cpuThreads = 0;
  int warmup = 2;
  int gpuId = 0;
  int gpuMemMb = 500;
};

struct Times {
  double pre = 0, infer = 0, post = 0;
  int64_t batches = 0;
};

int run(Options o) {
  for (std::string *v : {&o.modelDir, &o.imgPath, &o.precision})
    if (tools::isNullValue(*v))
      v->clear();
  // A null boolean is its default; an empty one is the flag given alone (true).
  for (std::string *v : {&o.useGpu, &o.benchmark})
    if (tools::isNullValue(*v))
      *v = "False";
  if (o.modelDir.empty())
    o.modelDir = "./output/lenet5_infer";
  if (o.imgPath.empty())
    o.imgPath = "./images/demo";
  const bool useGpu = parseBool("--use-gpu", o.useGpu);
  const bool benchmark = parseBool("--benchmark", o.benchmark);
  if (o.batchSize < 1 || o.batchSize > (int64_t(1) << 20))
    throw InferError(fmt::format("--batch-size {}: must be between 1 and {}", o.batchSize,
                                 int64_t(1) << 20));
  if (o.cpuThreads < 0)
    throw InferError(fmt::format("--cpu-threads {}: must be >= 0 (0: all hardware threads)",
                                 o.cpuThreads));
  if (o.warmup < 0)
    throw InferError(fmt::format("--warmup {}: must be >= 0", o.warmup));
  if (o.gpuId < 0)
    throw InferError(fmt::format("--gpu-id {}: must be >= 0 (a CUDA device number)", o.gpuId));
  std::string precision = o.precision.empty() ? "fp32" : o.precision;
  std::transform(precision.begin(), precision.end(), precision.begin(), ::tolower);
  if (precision != "fp32")
    throw InferError(fmt::format("--precision {}: Kiln models run in fp32 only", o.precision));
  std::error_code ec;
  if (!fs::is_directory(o.modelDir, ec))
    throw InferError(fmt::format("--model-dir {}: {} (export a model first: export_model "
                                 "--save-inference-dir {})",
                                 o.modelDir,
                                 fs::exists(o.modelDir, ec) ? "not a directory" : "no such directory",
                                 o.modelDir));

  inference::Config config(o.modelDir);
  config.set_cpu_math_library_num_threads(o.cpuThreads);
  if (useGpu)
    config.enable_use_gpu(uint64_t(std::max(o.gpuMemMb, 0)), o.gpuId);
  std::shared_ptr<inference::Predictor> predictor = inference::create_predictor(config);

  const std::vector<std::string> inputNames = predictor->get_input_names();
  const std::vector<std::string> outputNames = predictor->get_output_names();
  if (inputNames.size() != 1 || outputNames.empty())
    throw InferError(fmt::format("{}: infer runs models with one image input and a logits output "
                                 "(this one has {} inputs, {} outputs)",
                                 config.model_file(), inputNames.size(), outputNames.size()));
  const std::vector<int64_t> inputShape = predictor->get_input_shape(inputNames[0]);
  const std::vector<int64_t> want = {-1, data::kImageChannels, data::kImageHeight,
                                     data::kImageWidth};
  if (inputShape != want)
    throw InferError(fmt::format("{}: input '{}' is [{}], infer's preprocessing produces "
                                 "[-1, {}, {}, {}]",
                                 config.model_file(), inputNames[0], fmt::join(inputShape, ", "),
                                 data::kImageChannels, data::kImageHeight, data::kImageWidth));
  const std::vector<int64_t> outputShape = predictor->get_output_shape(outputNames[0]);
  if (outputShape.size() != 2 || outputShape[0] != -1 || outputShape[1] < 1)
    throw InferError(fmt::format("{}: output '{}' is [{}], expected [-1, classes] logits",
                                 config.model_file(), outputNames[0],
                                 fmt::join(outputShape, ", ")));
  const int numClasses = int(outputShape[1]);

  std::vector<std::string> files;
  try {
    files = data::listImageFiles(o.imgPath);
  } catch (const std::exception &e) {
    throw InferError(oneLine(e.what()));
  }
  const bool fromDirectory = fs::is_directory(o.imgPath, ec);

  auto input = predictor->get_input_handle(inputNames[0]);
  auto output = predictor->get_output_handle(outputNames[0]);
  const int h = data::kImageHeight, w = data::kImageWidth, c = data::kImageChannels;

  // Warm-up (benchmark only): the first timed batch should not pay for the
  // arena allocation, page faults and cold caches. The data does not matter.
  if (benchmark && o.warmup > 0) {
    int n = int(std::min<int64_t>(o.batchSize, int64_t(files.size())));
    std::vector<float> zeros(size_t(n) * size_t(data::kImageSize), 0.0f);
    for (int i = 0; i < o.warmup; ++i) {
      input->reshape({n, c, h, w});
      input->copy_from_cpu(zeros.data());
      predictor->run();
    }
  }

  Times times;
  int64_t classified = 0, skipped = 0;
  size_t next = 0;
  std::vector<float> batch;
  std::vector<std::string> names;
  std::vector<float> logits;
  std::vector<predict::RankedClass> best;
  const auto start = Clock::now();
  while (next < files.size()) {
    // ---- preprocess: fill the batch with readable images ----
    auto t0 = Clock::now();
    batch.clear();
    names.clear();
    while (next < files.size() && int64_t(names.size()) < o.batchSize) {
      const std::string &file = files[next++];
      size_t offset = batch.size();
      batch.resize(offset + size_t(data::kImageSize));
      try {
        data::readModelInput(file, batch.data() + offset);
      } catch (const std::exception &e) {
        batch.resize(offset);
        if (!fromDirectory)
          throw InferError(oneLine(e.what()));
        fmt::print(stderr, "infer: {} (skipped)\n", oneLine(e.what()));
        ++skipped;
        continue;
      }
      names.push_back(file);
    }
    if (names.empty())
      break;
    const int n = int(names.size());
    // ---- inference: the API calls a user makes ----
    auto t1 = Clock::now();
    input->reshape({n, c, h, w});
    input->copy_from_cpu(batch.data());
    predictor->run();
    logits.resize(size_t(output->numel()));
    output->copy_to_cpu(logits.data());
    // ---- postprocess: softmax and the top class of each row ----
    auto t2 = Clock::now();
    best.clear();
    for (int i = 0; i < n; ++i) {
      std::vector<double> probs = predict::softmax(logits.data() + size_t(i) * numClasses,
                                                   numClasses);
      best.push_back(predict::topK(probs, 1).at(0));
    }
    auto t3 = Clock::now();
    times.pre += ms(t1 - t0);
    times.infer += ms(t2 - t1);
    times.post += ms(t3 - t2);
    ++times.batches;

    for (int i = 0; i < n; ++i) {
      if (!std::isfinite(best[size_t(i)].prob))
        throw InferError(fmt::format("{}: the model's logits are not finite (are the parameters "
                                     "{} damaged?)",
                                     names[size_t(i)], config.params_file()));
      fmt::print("image_name: {}, class_id: {}, prob: {:.8f}\n", names[size_t(i)],
                 best[size_t(i)].classId, best[size_t(i)].prob);
    }
    classified += n;
    std::fflush(stdout);
  }
  const double totalSeconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (classified == 0)
    throw InferError(fmt::format("none of the {} images in {} could be read", files.size(),
                                 o.imgPath));

  if (benchmark) {
    char stamp[32];
    std::time_t now = std::time(nullptr);
    std::strftime(stamp, sizeof stamp, "%Y/%m/%d %H:%M:%S", std::localtime(&now));
    auto info = [&](const std::string &text) { fmt::print("[{}] kiln INFO: {}\n", stamp, text); };
    const double batches = double(std::max<int64_t>(times.batches, 1));
    const double rss = peakRssMb();
    std::string cpu = procField("/proc/cpuinfo", "model name");
    info("---------------------- Env info ----------------------");
    info(fmt::format(" OS_version: {}", osName()));
    info(fmt::format(" CPU: {} ({} hardware threads)", cpu.empty() ? "unknown" : cpu,
                     std::thread::hardware_concurrency()));
    // On the GPU: "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs), cubin sm_90, driver 13.0".
    const std::string gpu = useGpu ? predictor->device_description() : "";
    const size_t driverAt = gpu.rfind("driver ");
    info(fmt::format(" GPU: {}", useGpu ? gpu : "None"));
    info(fmt::format(" CUDA_version: {}",
                     driverAt == std::string::npos ? "None" : gpu.substr(driverAt + 7)));
    info("---------------------- Kiln info ----------------------");
    info(fmt::format(" kiln_version: {}", KILN_VERSION));
    info(" log_api_version: 1.0");
    info("----------------------- Conf info -----------------------");
    info(fmt::format(" runtime_device: {}", predictor->device()));
    info(" ir_optim: True");
    info(" enable_memory_optim: True");
    info(" enable_tensorrt: False");
    info(" enable_mkldnn: False");
    info(fmt::format(" cpu_math_library_num_threads: {}", predictor->num_threads()));
    info(fmt::format(" warmup_runs: {}", o.warmup));
    info("----------------------- Model info ----------------------");
    info(fmt::format(" model_name: {}", predictor->model_name()));
    info(fmt::format(" model_dir: {}", o.modelDir));
    info(" precision: fp32");
    info("----------------------- Data info -----------------------");
    info(fmt::format(" batch_size: {}", o.batchSize));
    info(fmt::format(" input_shape: [-1, {}, {}, {}]", c, h, w));
    info(fmt::format(" data_num: {}", classified));
    info("----------------------- Perf info -----------------------");
    info(fmt::format(" cpu_rss(MB): {:.4f}, gpu_rss(MB): None, gpu_util: None%", rss));
    info(fmt::format(" total time spent(s): {:.4f}", totalSeconds));
    info(fmt::format(" preprocess_time(ms): {:.4f}, inference_time(ms): {:.4f}, "
                     "postprocess_time(ms): {:.4f}",
                     times.pre / batches, times.infer / batches, times.post / batches));
    info(fmt::format(" inference throughput: {:.1f} images/s over {} batch{}",
                     times.infer > 0 ? double(classified) / (times.infer / 1000.0) : 0.0,
                     times.batches, times.batches == 1 ? "" : "es"));
  }
  return skipped ? 2 : 0;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"infer: classify images with a model exported by export_model, using only the "
               "Kiln runtime"};
  Options o;
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--model-dir", o.modelDir,
                 "export_model's output (inference.kmodel + inference.kparams; default "
                 "./output/lenet5_infer)");
  app.add_option("--img-path", o.imgPath,
                 "an image file, or a directory of .png/.jpg/.jpeg images (default ./images/demo)");
  app.add_option("--batch-size", o.batchSize, "images per run (any >= 1)")->capture_default_str();
  tools::addBoolFlag(app, "--use-gpu", o.useGpu, "run on the GPU");
  app.add_option("--gpu-id", o.gpuId, "CUDA device with --use-gpu=True")->capture_default_str();
  app.add_option("--gpu-mem", o.gpuMemMb, "initial GPU memory pool (MB) with --use-gpu=True")
      ->capture_default_str();
  app.add_option("--cpu-threads", o.cpuThreads, "worker threads (0: all hardware threads)")
      ->capture_default_str();
  app.add_option("--precision", o.precision, "fp32 (the only one)")->capture_default_str();
  tools::addBoolFlag(app, "--benchmark", o.benchmark, "print the benchmark report");
  app.add_option("--warmup", o.warmup, "untimed runs before the timed ones (with --benchmark)")
      ->capture_default_str();
  try {
    std::vector<char *> args = tools::withoutNullFlags(argc, argv);
    app.parse(int(args.size()), args.data());
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    fmt::print(stderr, "infer: {} (see --help)\n", oneLine(e.what()));
    return 1;
  }
  try {
    return run(o);
  } catch (const std::exception &e) {
    std::fflush(stdout);
    fmt::print(stderr, "infer: {}\n", oneLine(e.what()));
    return 1;
  }
}
