//===- CudaEmitter.cpp - every kiln.kernel -> one CUDA C __global__ -------===//
//
// Picks the anchor of each fused group (the same rule as the CPU lowering),
// lets the emitter of its family write the body, wraps it in the kernel
// signature (CudaEmitter.h) and deduplicates: kernels whose text is identical
// up to the name (the same layer shape in several places, or in infer,
// eval_step and train_step) share one __global__ function, named after the
// first of them.
//===----------------------------------------------------------------------===//
#include "CudaCode.h"
#include "kiln/Dialect/OpQueries.h"
#include "kiln/Transforms/FusionKinds.h"

#include "mlir/IR/BuiltinTypes.h"

#include <algorithm>
#include <climits>
#include <unordered_map>

using namespace mlir;

namespace kiln::codegen {
namespace {

using namespace cuda;

constexpr const char *kNamePlaceholder = "KILN_KERNEL_SYMBOL";

/// Largest batch at which every tensor of the kernel has < 2^31 elements.
int64_t maxBatchFor(KernelOp kernel) {
  int64_t best = 0;
  auto consider = [&](Type type) {
    auto shaped = llvm::cast<RankedTensorType>(type);
    if (shaped.getNumDynamicDims() == 0)
      return;
    int64_t perItem = 1;
    for (int64_t d : shaped.getShape())
      if (!ShapedType::isDynamic(d))
        perItem *= d;
    int64_t limit = int64_t(INT_MAX) / std::max<int64_t>(perItem, 1);
    best = best == 0 ? limit : std::min(best, limit);
  };
  for (Value v : kernel.getOperands())
    consider(v.getType());
  consider(kernel.getResult().getType());
  return best;
}

LogicalResult checkLayout(KernelOp kernel) {
  auto ok = [](Type t) { return llvm::cast<RankedTensorType>(t).getNumDynamicDims() <= 1; };
  for (Value v : kernel.getOperands())
    if (!ok(v.getType()))
      return kernel.emitError("kiln CUDA codegen: a tensor may have one dynamic dimension");
  if (!ok(kernel.getResult().getType()))
    return kernel.emitError("kiln CUDA codegen: a tensor may have one dynamic dimension");
  return success();
}

/// The whole function text with the name left as kNamePlaceholder.
LogicalResult generateKernel(KernelOp kernel, std::string &text, CudaLaunch &launch) {
  if (failed(checkLayout(kernel)))
    return failure();
  KernelGen g;
  g.kernel = kernel;
  g.anchor = kernelAnchor(kernel.getBody().front());
  Epilogue epi(kernel, g.anchor);
  LogicalResult result = success();
  Operation *a = g.anchor;
  if (isa_and_nonnull<Conv2dOp>(a))
    result = emitConv(g, epi);
  else if (isa_and_nonnull<Conv2dGradInputOp>(a))
    result = emitConvGradInput(g, epi);
  else if (isa_and_nonnull<Conv2dGradWeightOp>(a))
    result = emitConvGradWeight(g, epi);
  else if (a && isa<LinearOp, MatmulOp>(a))
    result = emitGemm(g, epi);
  else if (auto sm = dyn_cast_or_null<SoftmaxOp>(a))
    result = emitSoftmax(g, epi, sm.getAxis(), /*isLog=*/false);
  else if (auto lsm = dyn_cast_or_null<LogSoftmaxOp>(a))
    result = emitSoftmax(g, epi, lsm.getAxis(), /*isLog=*/true);
  else if (a && isa<ReduceSumOp, ReduceMeanOp>(a))
    result = emitReduce(g, epi);
  else
    result = emitPointwise(g, epi);
  if (failed(result))
    return failure();

  // An in-place parameter update writes a buffer that is also an input: no
  // __restrict__ promises then.
  auto buffer = kernel->getAttrOfType<StringAttr>("kiln.buffer");
  const bool inPlace = buffer && buffer.getValue() == "param";
  const char *restrict = inPlace ? "" : "__restrict__ ";
  std::string sig = fmt::format("extern \"C\" __global__ void __launch_bounds__({}) {}(",
                                g.blockThreads, kNamePlaceholder);
  for (unsigned i = 0; i < kernel.getNumOperands(); ++i)
    sig += fmt::format("const float *{}in{}, ", restrict, i);
  sig += fmt::format("float *{0}out, float *{0}scratch, long long batch)", restrict);
  text = sig + " {\n  const int B = (int)batch;\n  (void)B;\n  (void)scratch;\n" +
         g.code.text() + "}\n";
  launch = g.launch;
  launch.blockThreads = g.blockThreads;
  launch.maxBatch = maxBatchFor(kernel);
  return success();
}

size_t countLines(const std::string &s) { return std::count(s.begin(), s.end(), '\n'); }

} // namespace

LogicalResult generateCudaSource(ModuleOp module, CudaSource &out, bool withPrelude) {
  out = CudaSource{};
  std::string text = withPrelude ? std::string(cudaPrelude()) + "\n" : std::string();
  std::unordered_map<std::string, std::string> symbolOf; // text -> symbol
  bool ok = true;
  module.walk([&](KernelOp kernel) {
    if (!ok)
      return;
    std::string fn;
    CudaLaunch launch;
    if (failed(generateKernel(kernel, fn, launch))) {
      ok = false;
      return;
    }
    std::string name = kernel.getName().str();
    auto [it, inserted] = symbolOf.emplace(fn, name);
    launch.symbol = it->second;
    if (inserted) {
      size_t at = fn.find(kNamePlaceholder);
      fn.replace(at, std::string(kNamePlaceholder).size(), name);
      text += fmt::format("// {}: {} [{}]\n", name, describeKernel(kernel), launch.strategy);
      out.symbolLines[name] = int(countLines(text)) + 1;
      text += fn + "\n";
      ++out.numDistinct;
    }
    out.kernels[name] = launch;
  });
  if (!ok)
    return failure();
  out.text = std::move(text);
  return success();
}

} // namespace kiln::codegen
