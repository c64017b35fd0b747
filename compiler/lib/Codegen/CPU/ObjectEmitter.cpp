//===- ObjectEmitter.cpp - LLVM dialect kernels -> native shared object ---===//
//
// LLVM dialect -> LLVM IR (translateModuleToLLVMIR) -> O3 for the host CPU
// with its vector units (target-cpu/target-features on every function, so the
// loop vectorizer uses AVX2/FMA here) -> object file -> shared object. The
// link step uses the system compiler driver: the runtime dlopen()s the result
// and never links LLVM itself.
//===----------------------------------------------------------------------===//
#include "kiln/Codegen/CpuObjectEmitter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

#include <mutex>

namespace kiln::codegen {

CpuTarget hostCpuTarget() {
  CpuTarget t;
  t.triple = llvm::sys::getProcessTriple();
  t.cpu = llvm::sys::getHostCPUName().str();
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  std::vector<std::string> list;
  for (auto &f : features)
    list.push_back((f.second ? "+" : "-") + f.first().str());
  std::sort(list.begin(), list.end());
  for (size_t i = 0; i < list.size(); ++i)
    t.features += (i ? "," : "") + list[i];
  return t;
}

static void initNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

namespace {
/// Removes a temporary file when it goes out of scope.
struct TempFile {
  llvm::SmallString<128> path;
  ~TempFile() {
    if (!path.empty())
      llvm::sys::fs::remove(path);
  }
};
} // namespace

bool emitCpuSharedObject(mlir::ModuleOp module, const CpuTarget &target, bool wantIR,
                         CpuObject &out, std::string &error) {
  initNativeTarget();
  mlir::MLIRContext *ctx = module.getContext();
  mlir::DialectRegistry registry;
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  ctx->appendDialectRegistry(registry);

  // Only the kernels (and their declarations) go to LLVM.
  mlir::OwningOpRef<mlir::ModuleOp> kernels = mlir::ModuleOp::create(module.getLoc());
  {
    mlir::OpBuilder builder(ctx);
    builder.setInsertionPointToEnd(kernels->getBody());
    for (mlir::Operation &op : module.getBody()->getOperations())
      if (llvm::isa<mlir::LLVM::LLVMFuncOp>(op))
        builder.clone(op);
  }

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      mlir::translateModuleToLLVMIR(kernels.get(), llvmContext, "kiln_kernels");
  if (!llvmModule) {
    error = "translation of the kernels to LLVM IR failed";
    return false;
  }

  std::string lookupError;
  const llvm::Target *llvmTarget = llvm::TargetRegistry::lookupTarget(target.triple, lookupError);
  if (!llvmTarget) {
    error = "no LLVM target for " + target.triple + ": " + lookupError;
    return false;
  }
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> machine(llvmTarget->createTargetMachine(
      target.triple, target.cpu, target.features, options, llvm::Reloc::PIC_,
      std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(target.triple);
  for (llvm::Function &fn : *llvmModule) {
    if (fn.isDeclaration())
      continue;
    fn.addFnAttr("target-cpu", target.cpu);
    fn.addFnAttr("target-features", target.features);
    fn.addFnAttr(llvm::Attribute::NoUnwind);
  }
  if (llvm::verifyModule(*llvmModule, &llvm::errs())) {
    error = "generated LLVM IR does not verify";
    return false;
  }

  // O3, the same pipeline clang -O3 runs.
  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PipelineTuningOptions tuning;
    tuning.LoopVectorization = true;
    tuning.SLPVectorization = true;
    // The kernel generator already unrolls what pays (taps of a convolution,
    // pooling windows); LLVM's full unroller on top of that blew the many
    // short constant-trip loops of the gradient kernels up into huge blocks:
    // resnet20's train_step took 42 s to compile instead of 14 s, with the
    // same inference speed either way (measured side by side).
    tuning.LoopUnrolling = false;
    llvm::PassBuilder pb(machine.get(), tuning);
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
    mpm.run(*llvmModule, mam);
  }
  if (wantIR) {
    llvm::raw_string_ostream os(out.optimizedIR);
    llvmModule->print(os, nullptr);
  }

  // Object file.
  llvm::SmallVector<char, 0> objectBytes;
  {
    llvm::raw_svector_ostream os(objectBytes);
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
      error = "the target cannot emit object files";
      return false;
    }
    codegen.run(*llvmModule);
  }

  // Link: object -> shared object.
  TempFile objFile, soFile;
  int fd;
  if (llvm::sys::fs::createTemporaryFile("kiln-kernels", "o", fd, objFile.path) ||
      llvm::sys::fs::createTemporaryFile("kiln-kernels", "so", soFile.path)) {
    error = "cannot create temporary files for linking";
    return false;
  }
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os.write(objectBytes.data(), objectBytes.size());
  }
  llvm::ErrorOr<std::string> cc = llvm::sys::findProgramByName("cc");
  if (!cc) {
    error = "no C compiler driver 'cc' on PATH to link the kernels (install g++: "
            "scripts/install_deps.sh)";
    return false;
  }
  std::string objPath = objFile.path.str().str(), soPath = soFile.path.str().str();
  llvm::SmallVector<llvm::StringRef> args = {*cc,    "-shared", "-o",   soPath,
                                             objPath, "-lopenblas", "-lm"};
  std::string linkError;
  TempFile logFile;
  llvm::sys::fs::createTemporaryFile("kiln-link", "log", logFile.path);
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, logFile.path.str(),
                                                logFile.path.str()};
  int rc = llvm::sys::ExecuteAndWait(*cc, args, std::nullopt, redirects, 0, 0, &linkError);
  if (rc != 0) {
    std::string log;
    if (auto buf = llvm::MemoryBuffer::getFile(logFile.path))
      log = (*buf)->getBuffer().str();
    error = "linking the kernels failed (" + (linkError.empty() ? "exit " + std::to_string(rc) : linkError) +
            "): " + log;
    return false;
  }
  auto buf = llvm::MemoryBuffer::getFile(soFile.path);
  if (!buf) {
    error = "cannot read the linked shared object";
    return false;
  }
  out.sharedObject.assign((*buf)->getBufferStart(), (*buf)->getBufferEnd());
  return true;
}

} // namespace kiln::codegen
