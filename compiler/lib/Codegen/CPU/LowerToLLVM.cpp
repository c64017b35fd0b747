//===- LowerToLLVM.cpp - kiln.kernel -> llvm.func (kiln-lower-to-llvm) ----===//
//
// Each fused group becomes one function with the KernelABI signature
//   void @name(ptr %buffers, i64 %batch, i64 %begin, i64 %end, ptr %scratch)
// that computes work units [begin, end). The runtime splits a kernel's units
// evenly over its threads; a kernel chunks its range further where that keeps
// data in cache (convolution processes R output rows at a time: im2col of those
// rows into scratch, one cblas_sgemm, then the epilogue while the GEMM tile is
// still in L2).
//
// Anchors and their work units:
//   conv2d           one output row (n, oh); im2col + sgemm + epilogue
//   linear / matmul  one row of the left operand; sgemm + epilogue
//   softmax family   one row along the softmax axis
//   everything else  (row, chunk) pairs of the output iterated as
//                    [collapsed outer dims..., innermost dims]
//
// The body is written with scf/arith/math ops on raw pointers and converted to
// the LLVM dialect at the end of the pass, so the output of this pass is pure
// LLVM dialect kernels next to the (unchanged) kiln scheduling functions.
//===----------------------------------------------------------------------===//
#include "Kernels.h"
#include "kiln/Codegen/CpuObjectEmitter.h"
#include "kiln/Dialect/OpQueries.h"
#include "kiln/Transforms/Passes.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/LLVMCommon/ConversionTarget.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;

namespace kiln {
#define GEN_PASS_DEF_KILNLOWERTOLLVM
#include "kiln/Transforms/Passes.h.inc"
} // namespace kiln

namespace kiln::codegen {
namespace {

LogicalResult checkBatchLayout(KernelOp kernel) {
  // At most one dynamic dim per tensor (the batch); convolution, GEMM and
  // softmax anchors additionally expect it in dim 0 (checked by them).
  auto check = [&](Value v) {
    return llvm::cast<RankedTensorType>(v.getType()).getNumDynamicDims() <= 1;
  };
  for (Value v : kernel.getOperands())
    if (!check(v))
      return kernel.emitError("kiln-lower-to-llvm: a tensor may have one dynamic dimension");
  if (!check(kernel.getResult()))
    return kernel.emitError("kiln-lower-to-llvm: a tensor may have one dynamic dimension");
  return success();
}

LLVM::LLVMFuncOp getOrDeclareSgemm(ModuleOp module, OpBuilder &builder) {
  if (auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>("cblas_sgemm"))
    return fn;
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(module.getBody());
  Type i32 = builder.getI32Type(), f32 = builder.getF32Type();
  Type ptr = LLVM::LLVMPointerType::get(builder.getContext());
  auto type = LLVM::LLVMFunctionType::get(
      LLVM::LLVMVoidType::get(builder.getContext()),
      {i32, i32, i32, i32, i32, i32, f32, ptr, i32, ptr, i32, f32, ptr, i32});
  return builder.create<LLVM::LLVMFuncOp>(module.getLoc(), "cblas_sgemm", type);
}

// ---------------------------------------------------------------------------
// The pass
// ---------------------------------------------------------------------------

Operation *findAnchor(KernelOp kernel) { return kernelAnchor(kernel.getBody().front()); }

bool usesSgemm(Operation *anchor) {
  return anchor && isa<Conv2dOp, LinearOp, MatmulOp, Conv2dGradInputOp, Conv2dGradWeightOp>(anchor);
}

LogicalResult lowerKernel(KernelOp kernel, ModuleOp module, OpBuilder &builder,
                          LLVM::LLVMFuncOp sgemm, bool directConv) {
  if (failed(checkBatchLayout(kernel)))
    return failure();
  Location loc = kernel.getLoc();
  MLIRContext *ctx = builder.getContext();
  Type ptr = LLVM::LLVMPointerType::get(ctx), i64 = builder.getI64Type();
  auto fnType = LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx),
                                            {ptr, i64, i64, i64, ptr});
  builder.setInsertionPointToEnd(module.getBody());
  auto fn = builder.create<LLVM::LLVMFuncOp>(loc, kernel.getName(), fnType);
  Block *entry = fn.addEntryBlock(builder);
  builder.setInsertionPointToStart(entry);
  KernelIR ir(builder, loc);
  KernelContext cx{kernel, ir, entry->getArgument(1), entry->getArgument(2),
                   entry->getArgument(3), entry->getArgument(4), {}, sgemm, directConv};
  for (unsigned i = 0; i <= kernel.getNumOperands(); ++i)
    cx.buffers.push_back(ir.loadPtr(entry->getArgument(0), i));

  Operation *anchor = findAnchor(kernel);
  Epilogue epi(kernel, anchor);
  KernelPlan plan;
  LogicalResult result = success();
  if (auto conv = dyn_cast_or_null<Conv2dOp>(anchor))
    result = emitConv(cx, conv, epi, plan);
  else if (isa_and_nonnull<Conv2dGradInputOp>(anchor))
    result = emitConvGradInput(cx, anchor, epi, plan);
  else if (isa_and_nonnull<Conv2dGradWeightOp>(anchor))
    result = emitConvGradWeight(cx, anchor, epi, plan);
  else if (anchor && isa<LinearOp, MatmulOp>(anchor))
    result = emitGemm(cx, anchor, epi, plan);
  else if (auto sm = dyn_cast_or_null<SoftmaxOp>(anchor))
    result = emitSoftmax(cx, anchor, sm.getAxis(), /*isLog=*/false, epi, plan);
  else if (auto lsm = dyn_cast_or_null<LogSoftmaxOp>(anchor))
    result = emitSoftmax(cx, anchor, lsm.getAxis(), /*isLog=*/true, epi, plan);
  else
    result = emitPointwise(cx, anchor, epi, plan);
  builder.create<LLVM::ReturnOp>(loc, ValueRange{});
  if (failed(result))
    return failure();

  kernel->setAttr("kiln.work_per_item", builder.getI64IntegerAttr(plan.workPerItem));
  kernel->setAttr("kiln.work_fixed", builder.getI64IntegerAttr(plan.workFixed));
  kernel->setAttr("kiln.work_per_task", builder.getI64IntegerAttr(plan.workPerTask));
  kernel->setAttr("kiln.scratch_bytes", builder.getI64IntegerAttr(plan.scratchBytes));
  kernel->setAttr("kiln.flops_per_item", builder.getI64IntegerAttr(plan.flopsPerItem));
  return success();
}

/// scf/arith/math/cf inside the generated llvm.funcs -> LLVM dialect.
LogicalResult convertKernelBodiesToLLVM(ModuleOp module, ArrayRef<LLVM::LLVMFuncOp> fns) {
  MLIRContext *ctx = module.getContext();
  LLVMTypeConverter converter(ctx);
  RewritePatternSet patterns(ctx);
  populateSCFToControlFlowConversionPatterns(patterns);
  arith::populateArithToLLVMConversionPatterns(converter, patterns);
  populateMathToLLVMConversionPatterns(converter, patterns);
  cf::populateControlFlowToLLVMConversionPatterns(converter, patterns);
  LLVMConversionTarget target(*ctx);
  target.addLegalOp<LLVM::LLVMFuncOp>();
  FrozenRewritePatternSet frozen(std::move(patterns));
  for (LLVM::LLVMFuncOp fn : fns)
    if (failed(applyFullConversion(fn.getOperation(), target, frozen)))
      return failure();
  return success();
}

struct KilnLowerToLLVMPass : kiln::impl::KilnLowerToLLVMBase<KilnLowerToLLVMPass> {
  using KilnLowerToLLVMBase::KilnLowerToLLVMBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpBuilder builder(module.getContext());
    LLVM::LLVMFuncOp sgemm;
    if (convAlgorithm != "auto" && convAlgorithm != "direct" && convAlgorithm != "im2col") {
      module.emitError("kiln-lower-to-llvm: conv-algorithm must be auto, im2col or direct, not '")
          << convAlgorithm << "'";
      return signalPassFailure();
    }
    const bool directConv = lowersToDirectConv(convAlgorithm);
    SmallVector<KernelOp> kernels;
    module.walk([&](KernelOp k) { kernels.push_back(k); });
    bool needsSgemm =
        llvm::any_of(kernels, [](KernelOp k) { return usesSgemm(findAnchor(k)); });
    if (needsSgemm)
      sgemm = getOrDeclareSgemm(module, builder);
    SmallVector<LLVM::LLVMFuncOp> generated;
    for (KernelOp kernel : kernels) {
      if (module.lookupSymbol(kernel.getName())) {
        kernel.emitError("kiln-lower-to-llvm: kernel name '")
            << kernel.getName() << "' is already defined";
        return signalPassFailure();
      }
      if (failed(lowerKernel(kernel, module, builder, sgemm, directConv)))
        return signalPassFailure();
      generated.push_back(module.lookupSymbol<LLVM::LLVMFuncOp>(kernel.getName()));
    }
    if (failed(convertKernelBodiesToLLVM(module, generated)))
      return signalPassFailure();
  }
};

} // namespace

bool lowersToDirectConv(const std::string &convAlgorithm) {
  return convAlgorithm == "direct" || (convAlgorithm == "auto" && targetHasAvx512());
}

} // namespace kiln::codegen
