//===- Compiler.cpp - the compile pipeline ---------------------------------===//
//
//   frontend graph --toMlir--> kiln dialect text --parse/verify-->
//   canonicalize --> kiln-fuse --> kiln-plan-memory --> kiln-lower-to-llvm
//   --> LLVM IR at O3 --> native shared object --> flatbuffers artifact
//===----------------------------------------------------------------------===//
#include "kiln/Driver/Compiler.h"

#include "ArtifactWriter.h"
#include "kiln/Codegen/CpuObjectEmitter.h"
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

CompileResult compileText(const std::string &mlirText, const ArtifactContents &contentsIn,
                          const CompileOptions &options) {
  auto start = std::chrono::steady_clock::now();
  MLIRContext ctx(MLIRContext::Threading::DISABLED);
  registerDialects(ctx);
  DiagnosticCollector diags(ctx);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(mlirText, &ctx);
  if (!module)
    throw CompileError("the model's kiln IR does not parse/verify: " + diags.messages);

  CompileResult result;
  int dumpIndex = 0;
  runPasses(*module, ctx, diags,
            {{"canonicalize", [](OpPassManager &pm) {
                pm.addNestedPass<func::FuncOp>(createCanonicalizerPass());
              }}},
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
  runPasses(*module, ctx, diags,
            {{"kiln-lower-to-llvm", [](OpPassManager &pm) { pm.addPass(createKilnLowerToLLVM()); }}},
            options, dumpIndex);

  ArtifactContents contents = contentsIn;
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
  contents.compileFlags = fmt::format("fusion={} target={} cpu={}", fusion ? "on" : "off",
                                      contents.target.triple, contents.target.cpu);
  result.artifact = writeArtifact(*module, contents, result.entries);
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

} // namespace

CompileResult compileGraph(const fe::Graph &graph, const CompileOptions &options) {
  ArtifactContents contents;
  contents.modelName = options.modelName;
  EntryNames names;
  for (int id : graph.inputs())
    names.inputs.push_back(graph.node(id).as<fe::InputAttrs>().name);
  names.outputs = graph.outputNames();
  contents.names["infer"] = names;
  for (const fe::Parameter &p : graph.parameters())
    contents.params.push_back({p.name, p.shape, p.value, p.trainable});
  return compileText(graph.toMlir("infer"), contents, options);
}

CompileResult compileMlir(const std::string &mlirText, const std::vector<ParamValue> &params,
                          const CompileOptions &options) {
  ArtifactContents contents;
  contents.modelName = options.modelName;
  for (const ParamValue &p : params)
    contents.params.push_back({p.name, p.shape, p.data, p.trainable});
  return compileText(mlirText, contents, options);
}

CompileResult compileModel(const std::string &modelName, uint64_t seed,
                           const CompileOptions &options) {
  fe::Model model;
  try {
    model = fe::buildModel(modelName, seed);
  } catch (const std::invalid_argument &e) {
    throw CompileError(e.what());
  }
  CompileOptions named = options;
  named.modelName = modelName;
  return compileGraph(model.graph, named);
}

} // namespace kiln
