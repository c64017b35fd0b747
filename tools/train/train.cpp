//===- train.cpp - train a zoo model on Fashion-MNIST / an image list -----===//
//
//   train --model lenet5 --epochs 10 --batch-size 64 --data-path ./lite_data
//         --output-dir ./output/lenet5
//   train --model=resnet20 --optimizer=adamw --lr-scheduler=cosine --warmup-epochs=1
//   train --resume ./output/lenet5          # continue an interrupted run
//
// Every flag takes "--flag=value" or "--flag value"; booleans accept
// True/False/true/false/1/0 ("--nesterov" alone means true; see
// kiln/tools/BoolFlags.h). Every flag has a
// default that works (TIPC drops flags): model lenet5, data
// kiln::data::defaultDataPath(), output ./output/<model>.
//
// The model is compiled once into an artifact with train_step/eval_step/infer;
// the artifact is cached as <cache>/<model>-<hash>.kiln where <cache> is
// $KILN_CACHE_DIR, else the .kiln-cache folder beside the output dir
// (<output-dir>/../.kiln-cache), and <hash> covers the model, the seed, the
// training options, the target and the compiler's build id (a hash of the
// built compiler: a rebuilt compiler never reuses an old artifact). eval and
// predict then reuse this artifact (tools::evalArtifactCached).
//
// Files in the output dir, each written to a temporary file and renamed:
//   latest.kparams      model parameters (incl. batch-norm running stats; never
//                       optimizer state nor the compiler's "constant.<n>")
//   latest.kopt         the whole training state, enough to resume on its own:
//                       every parameter (model + optimizer state) plus the
//                       tensors kiln.train_state (int64 fields, 4 exact 16-bit
//                       floats each: version, next epoch, next batch, global
//                       step, seed, batch size, params hash, epochs planned) and
//                       kiln.train_state_f (best top-1, next lr), in the
//                       .kparams format (CRC-checked).
//   best_model.kparams  model parameters of the best val top-1 so far
//   train.log           everything printed (appended to by --resume)
// Checkpoints are written at the end of every epoch and when SIGINT/SIGTERM
// stops the run (after the current step, at that iteration): --resume then
// continues at the exact batch, and the result is bitwise identical to an
// uninterrupted run with the same flags (batches depend on seed, epoch and
// batch index only).
//
// Results are bitwise identical for the same flags and the same --threads (the
// kernels' reduction split depends on the thread count), or on the same GPU
// model with --device gpu; --num-workers does not matter.
//
// The "acc" of a log line is the top-1 of that iteration's batch, measured by
// running `infer` on it just before its train_step (inference-mode batch norm;
// train_step returns no logits and the infer call is not in avg_batch_cost).
//===----------------------------------------------------------------------===//
#include "kiln/tools/BoolFlags.h"
#include "kiln/tools/Common.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace kiln;
using kiln::tools::ToolError;

namespace {

std::atomic<int> gStopSignal{0};

/// SIGINT/SIGTERM: the state is saved; main exits 130.
class Interrupted : public ToolError {
public:
  using ToolError::ToolError;
};

extern "C" void onStopSignal(int sig) {
  gStopSignal = sig;
  std::signal(sig, SIG_DFL); // a second one ends the process at once (writes stay atomic)
}

struct Options {
  std::string model = "lenet5", dataPath, outputDir, optimizer = "sgd", scheduler = "constant";
  std::string pretrained, resume, device = "cpu";
  std::string nesterov = "false", noDecayBnBias = "false";
  int64_t epochs = 1, batchSize = 64, logInterval = 10, lrStepSize = 10;
  double lr = -1, momentum = 0.9, weightDecay = 0, warmupEpochs = 0, lrGamma = 0.1;
  float labelSmoothing = 0;
  uint64_t seed = 42;
  int numWorkers = 1, threads = 0;
};

struct Schedule {
  std::string kind;
  double base, gamma;
  int64_t stepSize, warmupIters, totalIters;
  // PyTorch semantics: linear warm-up and cosine annealing stepped per
  // iteration, StepLR per epoch.
  double at(int64_t step, int64_t epoch) const {
    if (step < warmupIters)
      return base * double(step + 1) / double(warmupIters);
    if (kind == "step")
      return base * std::pow(gamma, double(epoch / std::max<int64_t>(1, stepSize)));
    if (kind == "cosine") {
      double span = double(std::max<int64_t>(1, totalIters - warmupIters));
      double pos = std::min(double(step - warmupIters), span);
      return base * 0.5 * (1.0 + std::cos(M_PI * pos / span));
    }
    return base;
  }
};

std::string fmtLr(double lr) {
  return lr >= 1e-3 || lr == 0 ? fmt::format("{:.5f}", lr) : fmt::format("{:.4e}", lr);
}

std::string absoluteNormal(const std::string &p) {
  fs::path a = fs::absolute(p).lexically_normal();
  if (a.filename().empty())
    a = a.parent_path();
  return a.string();
}

// Fails before any training if `dir` cannot be created or written.
void checkWritable(const std::string &dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw ToolError(fmt::format("cannot create the output dir '{}': {}", dir,
                                ec ? ec.message() : "not a directory"));
  std::string probe = (fs::path(dir) / fmt::format(".write-test-{}", ::getpid())).string();
  {
    std::ofstream out(probe);
    out << "x";
    out.close();
    if (!out.good()) {
      std::remove(probe.c_str());
      throw ToolError(fmt::format("the output dir '{}' is not writable", dir));
    }
  }
  std::remove(probe.c_str());
}

class Trainer {
public:
  explicit Trainer(const Options &o) : o_(o) {}
  int run();

private:
  void saveCheckpoint(int64_t nextEpoch, int64_t nextBatch);
  void resumeFrom(const std::string &where);

  Options o_;
  tools::Log log_;
  std::unique_ptr<rt::Session> session_;
  tools::TrainState state_;
  std::string outDir_;
  bool adam_ = false;
  double lastLr_ = 0;
};

void Trainer::saveCheckpoint(int64_t nextEpoch, int64_t nextBatch) {
  auto model = session_->exportParams(
      [](const rt::ParamInfo &p) { return tools::isModelParam(p.name); });
  auto all = session_->exportParams(
      [](const rt::ParamInfo &p) { return tools::isCheckpointed(p.name); });
  state_.nextEpoch = nextEpoch;
  state_.nextBatch = nextBatch;
  state_.paramsHash = int64_t(tools::hashTensors(model));
  state_.nextLr = lastLr_;
  for (auto &t : tools::encodeState(state_))
    all.push_back(std::move(t));
  // latest.kopt alone is enough to resume; latest.kparams is the weights export.
  rt::saveParams((fs::path(outDir_) / "latest.kopt").string(), all);
  rt::saveParams((fs::path(outDir_) / "latest.kparams").string(), model);
}

void Trainer::resumeFrom(const std::string &where) {
  std::error_code ec;
  fs::path p(where);
  fs::path kopt = fs::is_directory(p, ec) ? p / "latest.kopt" : fs::path(p).replace_extension(".kopt");
  if (!fs::exists(kopt, ec))
    throw ToolError(fmt::format("--resume {}: no training state '{}' (written by train at each "
                                "epoch end)",
                                where, kopt.string()));
  std::vector<rt::NamedTensor> tensors;
  try {
    tensors = rt::loadParams(kopt.string());
  } catch (const rt::Error &e) {
    throw ToolError(tools::oneLine(e.what()));
  }
  state_ = tools::decodeState(tensors, kopt.string());
  if (state_.batchSize != o_.batchSize)
    throw ToolError(fmt::format("--resume {}: the run used --batch-size {}, not {}", where,
                                state_.batchSize, o_.batchSize));
  if (uint64_t(state_.seed) != o_.seed) {
    log_.line(fmt::format("note: continuing with the run's seed {} (not --seed {})", state_.seed,
                          o_.seed));
    o_.seed = uint64_t(state_.seed);
  }
  try {
    session_->importParams(tensors, kopt.string(), /*requireAll=*/true,
                           [](const rt::ParamInfo &p) { return tools::isCheckpointed(p.name); });
  } catch (const rt::Error &e) {
    throw ToolError(tools::oneLine(e.what()) +
                    " (resume with the same --model and --optimizer as the run)");
  }
  log_.line(fmt::format("resuming from {}: epoch {}, iter {}, step {}", kopt.string(),
                        state_.nextEpoch + 1, state_.nextBatch, state_.globalStep));
}

int Trainer::run() {
  const rt::SessionOptions sessionOptions = tools::sessionOptions(o_.device, o_.threads);
  const bool gpu = sessionOptions.device == rt::Device::Cuda;
  tools::requireDevice(sessionOptions); // before the (slow) compile
  tools::checkModelName(o_.model);
  if (o_.epochs < 1 || o_.batchSize < 1 || o_.logInterval < 1 || o_.numWorkers < 0 ||
      o_.threads < 0 || o_.warmupEpochs < 0)
    throw ToolError("--epochs, --batch-size, --log-interval must be >= 1; --num-workers, "
                    "--threads, --warmup-epochs >= 0");
  // TIPC's "null" (or an empty value) means no such flag.
  for (std::string *v : {&o_.pretrained, &o_.resume, &o_.dataPath, &o_.outputDir})
    if (*v == "null" || *v == "None")
      v->clear();
  adam_ = o_.optimizer != "sgd";
  if (o_.lr < 0)
    o_.lr = adam_ ? 1e-3 : 0.1;
  if (o_.dataPath.empty())
    o_.dataPath = data::defaultDataPath();
  if (o_.outputDir.empty())
    o_.outputDir = "./output/" + o_.model;
  outDir_ = absoluteNormal(o_.outputDir);
  checkWritable(outDir_);
  TrainingOptions training;
  training.optimizer = o_.optimizer;
  training.momentum = o_.momentum;
  training.nesterov = tools::parseBool("--nesterov", o_.nesterov);
  training.weightDecay = o_.weightDecay;
  training.noDecayBnBias = tools::parseBool("--no-decay-bn-bias", o_.noDecayBnBias);
  training.labelSmoothing = o_.labelSmoothing;
  // Checked before the (possibly slow) compile.
  std::vector<rt::NamedTensor> pretrained;
  if (o_.resume.empty() && !o_.pretrained.empty())
    pretrained = tools::readModelWeights(o_.model, o_.pretrained);
  log_.open((fs::path(outDir_) / "train.log").string(), /*append=*/!o_.resume.empty());

  auto trainSet = tools::openSplit(o_.dataPath, data::Split::Train);
  auto valSet = tools::openSplit(o_.dataPath, data::Split::Val);
  if (trainSet->numClasses() != 10)
    throw ToolError(fmt::format("{}: {} classes; the models have 10 outputs", o_.dataPath,
                                trainSet->numClasses()));
  log_.line(fmt::format("train: model {}, {}; val: {}", o_.model, trainSet->describe(),
                        valSet->describe()));

  std::string note;
  auto artifact = tools::compileTrainingCached(
      o_.model, o_.seed, training,
      tools::cacheDir((fs::path(outDir_).parent_path() / ".kiln-cache").string()), note, gpu);
  try {
    session_ = std::make_unique<rt::Session>(artifact, sessionOptions);
  } catch (const rt::Error &e) {
    throw ToolError(tools::oneLine(e.what()) + (gpu ? " (--device cpu runs on the CPU)" : ""));
  }
  log_.line(fmt::format("train: {} ({}), {}", o_.model, note, session_->deviceDescription()));

  state_.seed = int64_t(o_.seed);
  state_.batchSize = o_.batchSize;
  if (!o_.resume.empty()) {
    resumeFrom(o_.resume);
  } else if (!pretrained.empty()) {
    tools::importModelWeights(*session_, pretrained, o_.pretrained);
    log_.line("train: initial weights from " + o_.pretrained);
  }
  state_.epochsPlanned = o_.epochs;

  data::DataLoader loader(trainSet, o_.batchSize, /*shuffle=*/true, /*augment=*/true, o_.seed,
                          o_.numWorkers, /*dropLast=*/false);
  data::DataLoader valLoader(valSet, o_.batchSize, false, false, o_.seed, o_.numWorkers, false);
  const int64_t iters = loader.numBatches();
  Schedule sched{o_.scheduler, o_.lr, o_.lrGamma, o_.lrStepSize,
                 int64_t(std::llround(o_.warmupEpochs * double(iters))), o_.epochs * iters};

  std::signal(SIGINT, onStopSignal);
  std::signal(SIGTERM, onStopSignal);

  std::vector<float> target, scalars(adam_ ? 3 : 1);
  const int numClasses = 10;
  data::Batch batch;
  for (int64_t epoch = state_.nextEpoch; epoch < o_.epochs; ++epoch) {
    loader.startEpoch(epoch, epoch == state_.nextEpoch ? state_.nextBatch : 0);
    double lossSum = 0, readerSum = 0, costSum = 0, samples = 0, acc = 0;
    int64_t n = 0;
    while (loader.next(batch)) {
      const int64_t iter = batch.index + 1;
      tools::oneHot(batch, numClasses, target);
      std::vector<rt::TensorView> in = {{batch.images.data(), {batch.size, 1, 28, 28}},
                                        {target.data(), {batch.size, int64_t(numClasses)}}};
      const bool logNow = iter % o_.logInterval == 0 || iter == iters;
      if (logNow) {
        auto logits = session_->run("infer", {in[0]});
        int64_t correct = 0;
        for (int64_t i = 0; i < batch.size; ++i) {
          const float *row = logits[0].data.data() + i * numClasses;
          correct += int(std::max_element(row, row + numClasses) - row) == batch.labels[i];
        }
        acc = double(correct) / double(batch.size);
      }
      lastLr_ = sched.at(state_.globalStep, epoch);
      scalars[0] = float(lastLr_);
      if (adam_) {
        double t = double(state_.globalStep + 1);
        scalars[1] = float(1.0 - std::pow(training.beta1, t));
        scalars[2] = float(1.0 - std::pow(training.beta2, t));
      }
      for (float &s : scalars)
        in.push_back({&s, {1}});
      auto t0 = std::chrono::steady_clock::now();
      auto out = session_->run("train_step", in);
      double stepSeconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      float loss = out[0].data[0];
      if (!std::isfinite(loss))
        throw ToolError(fmt::format(
            "loss is {} at epoch {}, iter {} (step {}): stopping; {} (lower --lr?)",
            std::isnan(loss) ? "NaN" : "Inf", epoch + 1, iter, state_.globalStep + 1,
            fs::exists(fs::path(outDir_) / "latest.kopt")
                ? "the last good checkpoint in '" + outDir_ + "' is kept"
                : "no checkpoint was written"));
      ++state_.globalStep;
      lossSum += loss;
      readerSum += batch.readerSeconds;
      costSum += batch.readerSeconds + stepSeconds;
      samples += double(batch.size);
      ++n;
      if (logNow) {
        double cost = costSum / n;
        log_.line(fmt::format("[Epoch {}/{}, iter {}/{}] lr: {}, loss: {:.5f}, acc: {:.5f}, "
                              "avg_reader_cost: {:.5f} sec, avg_batch_cost: {:.5f} sec, "
                              "avg_samples: {:.1f}, avg_ips: {:.1f} images/sec",
                              epoch + 1, o_.epochs, iter, iters, fmtLr(lastLr_), lossSum / n, acc,
                              readerSum / n, cost, samples / n, (samples / n) / cost));
        lossSum = readerSum = costSum = samples = 0;
        n = 0;
      }
      if (gStopSignal && iter < iters) {
        saveCheckpoint(epoch, iter);
        throw Interrupted(fmt::format(
            "interrupted (signal {}) at epoch {}, iter {}: state saved to '{}'; continue with "
            "--resume {}",
            int(gStopSignal), epoch + 1, iter, (fs::path(outDir_) / "latest.kopt").string(),
            outDir_));
      }
    }
    tools::EvalResult r = tools::evaluate(*session_, valLoader, numClasses);
    log_.line(fmt::format("[Eval] epoch: {}, top1: {:.4f}, top5: {:.4f}, loss: {:.4f}, "
                          "images/s: {:.1f}",
                          epoch + 1, r.top1, r.top5, r.loss, r.imagesPerSecond));
    if (r.top1 > state_.bestTop1) {
      state_.bestTop1 = r.top1;
      rt::saveParams((fs::path(outDir_) / "best_model.kparams").string(),
                     session_->exportParams([](const rt::ParamInfo &p) {
                       return tools::isModelParam(p.name);
                     }));
    }
    saveCheckpoint(epoch + 1, 0);
    if (gStopSignal && epoch + 1 < o_.epochs)
      throw Interrupted(fmt::format("interrupted (signal {}) after epoch {}: state saved to '{}'; "
                                  "continue with --resume {}",
                                  int(gStopSignal), epoch + 1,
                                  (fs::path(outDir_) / "latest.kopt").string(), outDir_));
  }
  log_.line(fmt::format("train: done, best top1 {:.4f}; checkpoints in {}", state_.bestTop1,
                        outDir_));
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"train: train a Kiln model (compiled train_step) on Fashion-MNIST or an image "
               "list; writes latest.kparams, latest.kopt, best_model.kparams and train.log"};
  Options o;
  std::string lrText;
  // TIPC may repeat a flag (fixed flags in the command, then its own): the last one wins.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--model", o.model, "model name")->capture_default_str();
  app.add_option("--data-path", o.dataPath,
                 "dataset dir (image list or Fashion-MNIST IDX; default: ./data, ./lite_data, "
                 "/usr/share/datasets/fashion-mnist, the first that exists)");
  app.add_option("--epochs", o.epochs, "epochs to train (in all, counting resumed ones)")
      ->capture_default_str();
  app.add_option("--batch-size", o.batchSize)->capture_default_str();
  app.add_option("--lr", o.lr, "base learning rate (default 0.1 for sgd, 1e-3 for adam/adamw)");
  app.add_option("--optimizer", o.optimizer, "sgd | adam | adamw")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}))
      ->capture_default_str();
  app.add_option("--momentum", o.momentum, "SGD momentum")->capture_default_str();
  tools::addBoolFlag(app, "--nesterov", o.nesterov, "Nesterov momentum");
  app.add_option("--weight-decay", o.weightDecay)->capture_default_str();
  tools::addBoolFlag(app, "--no-decay-bn-bias", o.noDecayBnBias,
                     "no weight decay on biases and batch-norm parameters");
  app.add_option("--label-smoothing", o.labelSmoothing)->capture_default_str();
  app.add_option("--lr-scheduler", o.scheduler, "constant | step | cosine")
      ->check(CLI::IsMember({"constant", "step", "cosine"}))
      ->capture_default_str();
  app.add_option("--warmup-epochs", o.warmupEpochs, "linear warm-up (per iteration)")
      ->capture_default_str();
  app.add_option("--lr-step-size", o.lrStepSize, "step scheduler: epochs per decay")
      ->capture_default_str();
  app.add_option("--lr-gamma", o.lrGamma, "step scheduler: decay factor")->capture_default_str();
  app.add_option("--output-dir", o.outputDir, "checkpoints and log (default ./output/<model>)");
  app.add_option("--pretrained", o.pretrained, "initial weights (.kparams of the same model)");
  app.add_option("--resume", o.resume, "continue the run in this output dir (or its latest.kparams)");
  app.add_option("--seed", o.seed, "initial weights, shuffling and augmentation")
      ->capture_default_str();
  app.add_option("--device", o.device, "cpu, gpu or gpu:<N> (CUDA; the artifact then also "
                                       "carries the CUDA kernels)")
      ->capture_default_str();
  app.add_option("--log-interval", o.logInterval, "iterations per log line")
      ->capture_default_str();
  app.add_option("--num-workers", o.numWorkers, "data loading threads")->capture_default_str();
  app.add_option("--threads", o.threads, "compute threads (0: all hardware threads)")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e);
  }
  try {
    return Trainer(o).run();
  } catch (const Interrupted &e) {
    std::fflush(stdout);
    fmt::print(stderr, "train: {}\n", e.what());
    return 130;
  } catch (const std::exception &e) {
    std::fflush(stdout);
    fmt::print(stderr, "train: {}\n", tools::oneLine(e.what()));
    return 1;
  }
}
