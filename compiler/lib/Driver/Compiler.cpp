//===- Compiler.cpp - the compile pipeline ---------------------------------===//
//
//   frontend graph --toMlir--> kiln dialect text --parse/verify-->
//   canonicalize --> kiln-fuse --> kiln-plan-memory --> kiln-lower-to-llvm
//   --> LLVM IR at O3 --> native shared object --> flatbuffers artifact
//===----------------------------------------------------------------------===//
#include "kiln/Driver/Compiler.h"

#include "ArtifactWriter.h"
#include "BatchNormFolding.h"
#include "ConvWeightPacking.h"
#include "kiln/Codegen/CpuObjectEmitter.h"
#include "kiln/Codegen/CudaEmitter.h"
#include "kiln/Dialect/KilnOps.h"
#include "kiln/Transforms/Passes.h"
#include "kiln/frontend/Graph.h"
#include "kiln/frontend/Models.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>

#include <chrono>
#include <functional>
#include <map>
#include <stdexcept>

using namespace mlir;

namespace kiln {

std::string compilerVersion() { return std::string("kiln ") + KILN_VERSION; }

namespace {

/// Collects diagnostics so that a failure becomes one CompileError message.
struct DiagnosticCollector {
  explicit DiagnosticCollector(MLIRContext &ctx)
      : handler(&ctx, [this](Diagnostic &diag) {
          if (diag.getSeverity() == DiagnosticSeverity::Error ||
              diag.getSeverity() == DiagnosticSeverity::Warning) {
            if (!messages.empty())
              messages += "; ";
            std::string loc;
            llvm::raw_string_ostream os(loc);
            diag.getLocation().print(os);
            messages += loc + ": " + diag.str();
          }
          return success();
        }) {}
  std::string messages;
  ScopedDiagnosticHandler handler;
};

void registerDialects(MLIRContext &ctx) {
  DialectRegistry registry;
  registry.insert<KilnDialect, func::FuncDialect, arith::ArithDialect, scf::SCFDialect,
                  cf::ControlFlowDialect, math::MathDialect, LLVM::LLVMDialect>();
  ctx.appendDialectRegistry(registry);
  ctx.loadAllAvailableDialects();
}

std::string printModule(ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.print(os);
  return text;
}

/// Runs `passes` on the module; with a dump dir, writes the IR after each.
void runPasses(ModuleOp module, MLIRContext &ctx, DiagnosticCollector &diags,
               const std::vector<std::pair<std::string, std::function<void(OpPassManager &)>>> &passes,
               const CompileOptions &options, int &dumpIndex) {
  for (const auto &[name, add] : passes) {
    PassManager pm(&ctx);
    add(pm);
    if (failed(pm.run(module)))
      throw CompileError("pass " + name + " failed: " + diags.messages);
    if (!options.irDumpDir.empty()) {
      llvm::sys::fs::create_directories(options.irDumpDir);
      llvm::SmallString<256> path(options.irDumpDir);
      llvm::sys::path::append(path, fmt::format("{:02}-{}.mlir", dumpIndex++, name));
      std::error_code ec;
      llvm::raw_fd_ostream os(path, ec);
      if (ec)
        throw CompileError("cannot write IR dump " + path.str().str() + ": " + ec.message());
      module.print(os);
    }
  }
}

/// Runs on the parsed module before the standard pipeline (e.g. building the
/// training entry); may add parameters and entry names to the contents.
using ModulePreparation =
    std::function<void(ModuleOp, MLIRContext &, DiagnosticCollector &, ArtifactContents &)>;

CompileResult compileText(const std::string &mlirText, const ArtifactContents &contentsIn,
                          const CompileOptions &options,
                          const ModulePreparation &prepare = nullptr) {
  auto start = std::chrono::steady_clock::now();
  MLIRContext ctx(MLIRContext::Threading::DISABLED);
  registerDialects(ctx);
  DiagnosticCollector diags(ctx);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(mlirText, &ctx);
  if (!module)
    throw CompileError("the model's kiln IR does not parse/verify: " + diags.messages);
  ArtifactContents contents = contentsIn;
  if (prepare)
    prepare(*module, ctx, diags, contents);

  CompileResult result;
  int dumpIndex = 0;
  runPasses(*module, ctx, diags,
            {{"canonicalize",
              [](OpPassManager &pm) {
                pm.addNestedPass<func::FuncOp>(createCanonicalizerPass());
              }},
             // Autodiff emits a shared gradient sub-expression once per use
             // (e.g. the reduction both of a batch norm's input-gradient terms
             // read); CSE keeps one, so fusion sees one producer, not two
             // kernels computing the same thing.
             {"cse",
              [](OpPassManager &pm) { pm.addNestedPass<func::FuncOp>(createCSEPass()); }}},
            options, dumpIndex);
  if (options.emit == "kiln") {
    result.text = printModule(*module);
    return result;
  }
  bool fusion = options.fusion;
  runPasses(*module, ctx, diags,
            {{"kiln-fuse",
              [fusion](OpPassManager &pm) {
                KilnFusionOptions fuseOptions;
                fuseOptions.noFusion = !fusion;
                pm.addNestedPass<func::FuncOp>(createKilnFusion(fuseOptions));
              }},
             {"kiln-plan-memory",
              [](OpPassManager &pm) { pm.addNestedPass<func::FuncOp>(createKilnPlanMemory()); }}},
            options, dumpIndex);
  if (options.emit == "fused") {
    result.text = printModule(*module);
    return result;
  }
  // The CUDA C is generated from the fused, planned kernels (before the CPU
  // lowering, which leaves them in place anyway).
  codegen::CudaSource cudaSource;
  if (options.cuda || options.emit == "cuda") {
    if (failed(codegen::generateCudaSource(*module, cudaSource)))
      throw CompileError("CUDA code generation failed: " + diags.messages);
    if (options.emit == "cuda") {
      result.text = cudaSource.text;
      return result;
    }
  }
  runPasses(*module, ctx, diags,
            {{"kiln-lower-to-llvm",
              [&](OpPassManager &pm) {
                KilnLowerToLLVMOptions lowering;
                lowering.convAlgorithm = options.convAlgorithm;
                pm.addPass(createKilnLowerToLLVM(lowering));
              }}},
            options, dumpIndex);

  contents.target = codegen::hostCpuTarget();
  codegen::CpuObject cpu;
  std::string error;
  if (!codegen::emitCpuSharedObject(*module, contents.target, options.emit == "llvm", cpu, error))
    throw CompileError("CPU code generation failed: " + error + " " + diags.messages);
  if (options.emit == "llvm") {
    result.text = cpu.optimizedIR;
    return result;
  }
  contents.cpu = &cpu;
  contents.compileFlags =
      fmt::format("fusion={} conv={} target={} cpu={}", fusion ? "on" : "off",
                  options.convAlgorithm, contents.target.triple, contents.target.cpu);
  std::vector<codegen::CudaBinary> cudaBinaries;
  if (options.cuda) {
    codegen::CudaCompileOptions cudaOptions;
    cudaOptions.archs = options.cudaArchs;
    cudaOptions.cacheDir = options.cudaCacheDir.empty() ? codegen::defaultCudaCacheDir()
                           : options.cudaCacheDir == "none" ? std::string()
                                                            : options.cudaCacheDir;
    codegen::CudaCompileReport report;
    std::string error;
    if (!codegen::compileCudaSource(cudaSource, cudaOptions, cudaBinaries, report, error))
      throw CompileError("CUDA target: " + error);
    contents.cudaSource = &cudaSource;
    contents.cudaBinaries = &cudaBinaries;
    contents.nvrtcVersion = report.nvrtcVersion;
    std::string archs;
    for (const std::string &a : options.cudaArchs)
      archs += (archs.empty() ? "" : ",") + a;
    contents.compileFlags += fmt::format(" cuda={} nvrtc={}", archs, report.nvrtcVersion);
    result.cudaSource = cudaSource.text;
    result.cudaDistinctKernels = cudaSource.numDistinct;
    result.cudaReport = fmt::format(
        "{} distinct CUDA kernels, NVRTC {}: {} architecture{} compiled, {} from cache, {:.2f} s",
        cudaSource.numDistinct, report.nvrtcVersion, report.compiled,
        report.compiled == 1 ? "" : "s", report.cacheHits, report.seconds);
  }
  result.artifact = writeArtifact(*module, contents, result.entries);
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

/// The input names of a frontend graph.
std::vector<std::string> inputNames(const fe::Graph &graph) {
  std::vector<std::string> names;
  for (int id : graph.inputs())
    names.push_back(graph.node(id).as<fe::InputAttrs>().name);
  return names;
}

/// What every artifact of a graph starts from: the model name, the entry
/// "infer" (the graph's inputs and outputs) and the graph's parameters.
ArtifactContents graphContents(const fe::Graph &graph, const CompileOptions &options) {
  ArtifactContents contents;
  contents.modelName = options.modelName;
  contents.names["infer"] = {inputNames(graph), graph.outputNames()};
  for (const fe::Parameter &p : graph.parameters())
    contents.params.push_back({p.name, p.shape, p.value, p.trainable});
  return contents;
}

/// A registered model with seeded weights, and the options that name it in
/// the artifact.
struct NamedModel {
  fe::Model model;
  CompileOptions options;
};

/// Builds registered model `modelName`; an unknown name is a CompileError.
NamedModel buildNamedModel(const std::string &modelName, uint64_t seed,
                           const CompileOptions &options) {
  NamedModel named;
  try {
    named.model = fe::buildModel(modelName, seed);
  } catch (const std::invalid_argument &e) {
    throw CompileError(e.what());
  }
  named.options = options;
  named.options.modelName = modelName;
  return named;
}

} // namespace

CompileResult compileGraph(const fe::Graph &graph, const CompileOptions &options) {
  return compileText(graph.toMlir("infer"), graphContents(graph, options), options);
}

CompileResult compileMlir(const std::string &mlirText, const std::vector<ParamValue> &params,
                          const CompileOptions &options) {
  ArtifactContents contents;
  contents.modelName = options.modelName;
  for (const ParamValue &p : params)
    contents.params.push_back({p.name, p.shape, p.data, p.trainable});
  return compileText(mlirText, contents, options);
}

CompileResult compileTraining(const fe::Graph &graph, const TrainingOptions &training,
                              const CompileOptions &options) {
  ArtifactContents contents = graphContents(graph, options);
  const std::vector<std::string> inputs = inputNames(graph);
  const std::string logits = graph.outputNames().at(0);
  contents.names["infer"] = {inputs, {logits}};
  std::vector<std::string> stepInputs = inputs;
  stepInputs.push_back("target");
  contents.names["eval_step"] = {stepInputs, {"loss", logits}};

  fe::TrainingEmitOptions emit;
  emit.labelSmoothing = training.labelSmoothing;
  auto prepare = [&](ModuleOp module, MLIRContext &ctx, DiagnosticCollector &diags,
                     ArtifactContents &out) {
    PassManager pm(&ctx);
    pm.addPass(createKilnAutodiff());
    KilnOptimizerOptions opt;
    opt.optimizerName = training.optimizer;
    opt.momentum = training.momentum;
    opt.nesterov = training.nesterov;
    opt.weightDecay = training.weightDecay;
    opt.noDecayBnBias = training.noDecayBnBias;
    opt.beta1 = training.beta1;
    opt.beta2 = training.beta2;
    opt.epsilon = training.epsilon;
    pm.addPass(createKilnOptimizer(opt));
    if (failed(pm.run(module)))
      throw CompileError("building the training step failed: " + diags.messages);
    // The training-mode forward itself is not an entry: train_step contains it.
    if (auto forward = module.lookupSymbol<func::FuncOp>("forward"))
      forward.erase();
    auto step = module.lookupSymbol<func::FuncOp>("train_step");
    if (!step)
      throw CompileError("internal: kiln-autodiff produced no train_step");
    // Optimizer state starts at zero, shaped like its parameter
    // (<param>.<state>).
    std::map<std::string, std::vector<int64_t>> shapes;
    for (const ParamRecord &p : out.params)
      shapes[p.name] = p.shape;
    if (auto state = step->getAttrOfType<ArrayAttr>("kiln.optimizer_state")) {
      for (Attribute a : state) {
        std::string name = llvm::cast<StringAttr>(a).str();
        std::string owner = name.substr(0, name.rfind('.'));
        auto it = shapes.find(owner);
        if (it == shapes.end())
          throw CompileError("internal: optimizer state '" + name + "' has no parameter");
        int64_t numel = 1;
        for (int64_t d : it->second)
          numel *= d;
        out.params.push_back({name, it->second, std::vector<float>(numel, 0.0f), false});
      }
    }
    EntryNames names;
    names.inputs = stepInputs;
    if (auto extra = step->getAttrOfType<ArrayAttr>("kiln.optimizer_inputs"))
      for (Attribute a : extra)
        names.inputs.push_back(llvm::cast<StringAttr>(a).str());
    names.outputs.push_back("loss");
    if (auto grads = step->getAttrOfType<ArrayAttr>("kiln.gradients"))
      for (Attribute a : grads)
        names.outputs.push_back("grad:" + llvm::cast<StringAttr>(a).str());
    out.names["train_step"] = names;
  };
  return compileText(graph.toTrainingMlir(emit), contents, options, prepare);
}

CompileResult compileTrainingModel(const std::string &modelName, uint64_t seed,
                                   const TrainingOptions &training,
                                   const CompileOptions &options) {
  NamedModel named = buildNamedModel(modelName, seed, options);
  return compileTraining(named.model.graph, training, named.options);
}

CompileResult compileInference(const fe::Graph &graph, const InferenceOptions &inference,
                               const CompileOptions &options, std::vector<BatchNormFold> *folds,
                               std::vector<ConvWeightPack> *packs) {
  ArtifactContents contents = graphContents(graph, options);
  auto prepare = [&](ModuleOp module, MLIRContext &ctx, DiagnosticCollector &diags,
                     ArtifactContents &out) {
    std::vector<BatchNormFold> made;
    if (inference.foldBatchNorm) {
      PassManager pm(&ctx);
      pm.addNestedPass<func::FuncOp>(createKilnFoldBatchNorm());
      if (failed(pm.run(module)))
        throw CompileError("kiln-fold-batch-norm failed: " + diags.messages);
      made = materializeBatchNormFolds(module, out.params);
    }
    // After folding, so that folded weights are packed too. HWIO weights are
    // read only by the direct convolution: where the lowering uses im2col +
    // sgemm instead (conv=im2col, or no AVX-512) it could not read them and
    // the layout would buy nothing, so nothing is packed.
    std::vector<ConvWeightPack> packed;
    if (inference.packConvWeights && codegen::lowersToDirectConv(options.convAlgorithm)) {
      PassManager pm(&ctx);
      pm.addNestedPass<func::FuncOp>(createKilnPackConvWeights());
      if (failed(pm.run(module)))
        throw CompileError("kiln-pack-conv-weights failed: " + diags.messages);
      packed = materializeConvWeightPacks(module, out.params);
    }
    // An inference artifact carries only what its entry reads (no folded-away
    // batch-norm statistics, no OIHW copies of packed weights, no training
    // state).
    keepReferencedParams(module, out.params);
    if (folds)
      *folds = std::move(made);
    if (packs)
      *packs = std::move(packed);
  };
  return compileText(graph.toMlir("infer"), contents, options, prepare);
}

CompileResult compileModel(const std::string &modelName, uint64_t seed,
                           const CompileOptions &options) {
  NamedModel named = buildNamedModel(modelName, seed, options);
  return compileGraph(named.model.graph, named.options);
}

} // namespace kiln
