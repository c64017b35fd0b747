//===- kiln-compile.cpp - compile a registered model into an artifact ------===//
//
//   kiln-compile --model resnet20 -o resnet20.kiln
//   kiln-compile --model lenet5 --emit=fused          # IR after fusion + planning
//   kiln-compile --model lenet5 --dump-ir-dir ir/     # IR after every pass
//   kiln-compile --model resnet20 --train -o r.kiln   # + train_step and eval_step
//   kiln-compile --model resnet20 --train --target=cpu,cuda   # + NVRTC cubins/PTX
//   kiln-compile --model lenet5 --emit=cuda           # the CUDA C of the kernels
//===----------------------------------------------------------------------===//
#include "kiln/Driver/Compiler.h"
#include "kiln/frontend/Models.h"
#include "kiln/tools/CommaList.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <map>

namespace {

std::string joinNames(const std::vector<std::string> &names) {
  std::string s;
  for (const auto &n : names)
    s += (s.empty() ? "" : ", ") + n;
  return s;
}

void printKernelSummary(const kiln::CompiledEntry &entry) {
  std::map<std::string, int> counts;
  std::vector<std::string> order;
  int64_t flops = 0;
  for (const auto &k : entry.kernels) {
    if (counts[k.ops]++ == 0)
      order.push_back(k.ops);
    flops += k.flopsPerItem;
  }
  fmt::print("entry '{}': {} kernels, {:.2f} MFLOP/item, arena {} B/item + {} B fixed "
             "(peak live {} B/item)\n",
             entry.name, entry.kernels.size(), flops / 1e6, entry.arenaBytesPerItem,
             entry.arenaBytesFixed, entry.peakBytesPerItem);
  for (const auto &ops : order)
    fmt::print("  {:>3} x {}\n", counts[ops], ops);
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"kiln-compile: compile a Kiln model into one artifact (.kiln)"};
  std::string model, output, emit, dumpDir;
  uint64_t seed = 42;
  bool noFusion = false, listKernels = false, quiet = false, train = false;
  kiln::TrainingOptions training;
  app.add_option("--model,-m", model, "model name (" + joinNames(kiln::fe::modelNames()) + ")")
      ->required();
  app.add_option("--output,-o", output, "artifact path (default: <model>.kiln)");
  app.add_option("--emit", emit,
                 "print IR instead of writing an artifact: kiln | fused | llvm | cuda")
      ->check(CLI::IsMember({"kiln", "fused", "llvm", "cuda"}));
  std::string targets = "cpu", cudaArchs = "sm_80,sm_90", cudaCacheDir;
  app.add_option("--target", targets,
                 "cpu, or cpu,cuda: also compile every kernel with NVRTC into the artifact")
      ->capture_default_str();
  app.add_option("--cuda-arch", cudaArchs,
                 "with --target=cpu,cuda: cubin architectures, comma-separated (the first one's "
                 "PTX is the JIT fallback)")
      ->capture_default_str();
  app.add_option("--cuda-cache-dir", cudaCacheDir,
                 "NVRTC cache (default $KILN_CUDA_CACHE_DIR, else ~/.cache/kiln/cuda; none: off)");
  app.add_option("--dump-ir-dir", dumpDir, "write the IR after every pass into this directory");
  app.add_option("--seed", seed, "seed of the initial weights");
  std::string convAlgorithm = "auto";
  app.add_option("--conv-algorithm", convAlgorithm,
                 "CPU convolutions: auto (direct on AVX-512 hosts), direct or im2col")
      ->check(CLI::IsMember({"auto", "direct", "im2col"}))
      ->capture_default_str();
  app.add_flag("--no-fusion", noFusion, "one kernel per op (the unfused reference)");
  app.add_flag("--list-kernels", listKernels, "print every kernel in launch order");
  app.add_flag("--quiet,-q", quiet, "print nothing on success");
  app.add_flag("--train", train,
               "also compile train_step (forward, backward, optimizer update) and eval_step");
  app.add_option("--optimizer", training.optimizer, "with --train: sgd | adam | adamw")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}));
  app.add_option("--momentum", training.momentum, "with --train: SGD momentum");
  app.add_flag("--nesterov", training.nesterov, "with --train: Nesterov momentum");
  app.add_option("--weight-decay", training.weightDecay, "with --train: weight decay");
  app.add_flag("--no-decay-bn-bias", training.noDecayBnBias,
               "with --train: no weight decay on biases and batch-norm parameters");
  app.add_option("--label-smoothing", training.labelSmoothing,
                 "with --train: label smoothing of the cross-entropy loss");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e);
  }

  try {
    kiln::CompileOptions options;
    bool cpu = false;
    for (const std::string &t : kiln::tools::splitCommaList(targets)) {
      if (t == "cuda")
        options.cuda = true;
      else if (t == "cpu")
        cpu = true;
      else
        throw std::runtime_error("--target: unknown target '" + t + "' (expected cpu or cpu,cuda)");
    }
    if (!cpu)
      throw std::runtime_error("--target=" + targets +
                               ": the artifact always carries the CPU kernels; use --target=cpu,cuda");
    options.cudaArchs = kiln::tools::splitCommaList(cudaArchs);
    options.cudaCacheDir = cudaCacheDir;
    options.fusion = !noFusion;
    options.convAlgorithm = convAlgorithm;
    options.emit = emit;
    options.irDumpDir = dumpDir;
    kiln::CompileResult result = train
                                     ? kiln::compileTrainingModel(model, seed, training, options)
                                     : kiln::compileModel(model, seed, options);
    if (!emit.empty()) {
      fmt::print("{}", result.text);
      return 0;
    }
    if (output.empty())
      output = model + ".kiln";
    // Write then rename: a reader never sees half an artifact.
    std::string tmp = output + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out)
        throw std::runtime_error("cannot open '" + tmp + "' for writing");
      out.write(reinterpret_cast<const char *>(result.artifact.data()),
                static_cast<std::streamsize>(result.artifact.size()));
      if (!out.good())
        throw std::runtime_error("failed writing '" + tmp + "'");
    }
    if (std::rename(tmp.c_str(), output.c_str()) != 0)
      throw std::runtime_error("cannot rename '" + tmp + "' to '" + output + "'");
    if (!quiet) {
      fmt::print("wrote {} ({} bytes) in {:.2f} s\n", output, result.artifact.size(),
                 result.seconds);
      if (!result.cudaReport.empty())
        fmt::print("cuda: {}\n", result.cudaReport);
      for (const auto &entry : result.entries) {
        printKernelSummary(entry);
        if (listKernels)
          for (const auto &k : entry.kernels)
            fmt::print("    {} [{}] {}\n", k.name, k.kind, k.ops);
      }
    }
    return 0;
  } catch (const std::exception &e) {
    fmt::print(stderr, "kiln-compile: {}\n", e.what());
    return 1;
  }
}
