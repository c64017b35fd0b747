//===- ArtifactWriter.cpp - lowered module -> flatbuffers artifact --------===//
//
// The artifact is the whole contract with the runtime (IREE's rule): the
// scheduling functions left in the kiln dialect after kiln-lower-to-llvm are
// read here, op by op, into entries of launches with resolved buffer bindings.
//===----------------------------------------------------------------------===//
#include "ArtifactWriter.h"
#include "ItemIndependence.h"

#include "kiln/Dialect/KilnOps.h"
#include "kiln/Transforms/FusionKinds.h"
#include "kiln/runtime/KernelABI.h"
#include "kiln/runtime/schema/kiln_artifact_generated.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <fmt/format.h>
#include <zlib.h>

using namespace mlir;
namespace fb = kiln::artifact;

namespace kiln {
namespace {

struct Binding {
  fb::BufferKind kind = fb::BufferKind::Arena;
  uint32_t index = 0;
  uint64_t offsetFixed = 0, offsetPerItem = 0;
};

std::string location(Operation *op) {
  std::string s;
  llvm::raw_string_ostream os(s);
  op->getLoc().print(os);
  return s;
}

int64_t intAttr(Operation *op, llvm::StringRef name) {
  auto attr = op->getAttrOfType<IntegerAttr>(name);
  if (!attr)
    throw CompileError(fmt::format("internal: {} at {} has no '{}' attribute",
                                   op->getName().getStringRef().str(), location(op),
                                   name.str()));
  return attr.getInt();
}

std::vector<int64_t> shapeVector(Type type) {
  std::vector<int64_t> shape;
  for (int64_t d : llvm::cast<RankedTensorType>(type).getShape())
    shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
  return shape;
}

// The schema numbers the fusion kinds like kiln::FusionKind (FusionKinds.h).
fb::FusionKind fusionKind(KernelOp kernel) {
  std::optional<FusionKind> kind = symbolizeFusionKind(kernel.getKind());
  if (!kind || *kind > FusionKind::OutFusible)
    throw CompileError("internal: kernel " + kernel.getName().str() + " has fusion kind '" +
                       kernel.getKind().str() + "'");
  return static_cast<fb::FusionKind>(static_cast<int8_t>(*kind));
}

// The runtime checks this before dlopen(): the dynamic loader is not hardened
// against corrupt ELF files.
uint32_t sharedObjectCrc32(const std::vector<uint8_t> &bytes) {
  return static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), bytes.data(), static_cast<uInt>(bytes.size())));
}

class Writer {
public:
  Writer(const ArtifactContents &contents) : contents(contents), params(contents.params) {
    for (size_t i = 0; i < params.size(); ++i)
      paramIndex[params[i].name] = i;
  }

  std::vector<uint8_t> write(ModuleOp module, std::vector<CompiledEntry> &summaries) {
    std::vector<flatbuffers::Offset<fb::Entry>> entries;
    for (auto func : module.getOps<func::FuncOp>())
      entries.push_back(writeEntry(func, summaries));

    std::vector<float> paramData;
    std::vector<flatbuffers::Offset<fb::Param>> paramTable;
    for (const ParamRecord &p : params) {
      paramTable.push_back(fb::CreateParam(fbb, fbb.CreateString(p.name),
                                           fbb.CreateVector(p.shape), p.trainable,
                                           paramData.size()));
      paramData.insert(paramData.end(), p.data.begin(), p.data.end());
    }
    auto cpu = fb::CreateCpuModule(fbb, fbb.CreateString(contents.target.triple),
                                   fbb.CreateString(contents.target.cpu),
                                   fbb.CreateString(contents.target.features),
                                   fbb.CreateVector(contents.cpu->sharedObject),
                                   sharedObjectCrc32(contents.cpu->sharedObject));
    std::vector<flatbuffers::Offset<fb::CudaModule>> cudaModules;
    if (contents.cudaBinaries)
      for (const codegen::CudaBinary &bin : *contents.cudaBinaries)
        cudaModules.push_back(fb::CreateCudaModule(
            fbb, fbb.CreateString(bin.arch),
            bin.ptx.empty() ? flatbuffers::Offset<flatbuffers::String>() : fbb.CreateString(bin.ptx),
            bin.cubin.empty() ? flatbuffers::Offset<flatbuffers::Vector<uint8_t>>()
                              : fbb.CreateVector(bin.cubin),
            fbb.CreateString(contents.nvrtcVersion)));
    auto artifact = fb::CreateArtifact(
        fbb, KILN_ARTIFACT_SCHEMA_VERSION, fbb.CreateString(compilerVersion()),
        fbb.CreateString(contents.modelName), fbb.CreateString(contents.compileFlags),
        fbb.CreateVector(entries), fbb.CreateVector(kernels), fbb.CreateVector(paramTable),
        fbb.CreateVector(paramData), cpu, fbb.CreateVector(cudaModules));
    fbb.Finish(artifact, fb::ArtifactIdentifier());
    return std::vector<uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
  }

private:
  Binding resolve(Value v) {
    if (auto arg = llvm::dyn_cast<BlockArgument>(v)) {
      if (!llvm::isa<func::FuncOp>(arg.getOwner()->getParentOp()))
        throw CompileError("internal: a kernel operand is a nested block argument");
      return {fb::BufferKind::Input, arg.getArgNumber(), 0, 0};
    }
    Operation *op = v.getDefiningOp();
    if (auto param = llvm::dyn_cast<ParameterOp>(op)) {
      auto it = paramIndex.find(param.getName().str());
      if (it == paramIndex.end())
        throw CompileError(fmt::format("parameter '{}' at {} has no value",
                                       param.getName().str(), location(op)));
      return {fb::BufferKind::Param, (uint32_t)it->second, 0, 0};
    }
    if (auto constant = llvm::dyn_cast<ConstantOp>(op)) {
      auto found = constantIndex.find(op);
      if (found != constantIndex.end())
        return {fb::BufferKind::Param, (uint32_t)found->second, 0, 0};
      auto dense = llvm::dyn_cast<DenseElementsAttr>(constant.getValue());
      if (!dense)
        throw CompileError("constant at " + location(op) + " is not a dense f32 constant");
      ParamRecord record;
      record.name = fmt::format("constant.{}", constantIndex.size());
      record.shape = shapeVector(constant.getType());
      for (APFloat f : dense.getValues<APFloat>())
        record.data.push_back(f.convertToFloat());
      record.trainable = false;
      params.push_back(std::move(record));
      constantIndex[op] = params.size() - 1;
      return {fb::BufferKind::Param, (uint32_t)(params.size() - 1), 0, 0};
    }
    if (llvm::isa<ReshapeOp, FlattenOp>(op)) // views alias their input
      return resolve(op->getOperand(0));
    if (llvm::isa<KernelOp>(op)) {
      auto buffer = op->getAttrOfType<StringAttr>("kiln.buffer");
      if (!buffer)
        throw CompileError("internal: kernel at " + location(op) + " has no memory plan");
      if (buffer.getValue() == "output")
        return {fb::BufferKind::Output, (uint32_t)intAttr(op, "kiln.output_index"), 0, 0};
      if (buffer.getValue() == "param") { // an in-place parameter update
        auto name = op->getAttrOfType<StringAttr>("kiln.param_name");
        auto it = name ? paramIndex.find(name.str()) : paramIndex.end();
        if (it == paramIndex.end())
          throw CompileError("internal: kernel at " + location(op) +
                             " updates an unknown parameter");
        return {fb::BufferKind::Param, (uint32_t)it->second, 0, 0};
      }
      return {fb::BufferKind::Arena, 0, (uint64_t)intAttr(op, "kiln.offset_fixed"),
              (uint64_t)intAttr(op, "kiln.offset_per_item")};
    }
    throw CompileError(fmt::format("internal: '{}' at {} was not fused into a kernel",
                                   op->getName().getStringRef().str(), location(op)));
  }

  flatbuffers::Offset<fb::Binding> binding(const Binding &b) {
    return fb::CreateBinding(fbb, b.kind, b.index, b.offsetFixed, b.offsetPerItem);
  }

  flatbuffers::Offset<fb::TensorSig> signature(const std::string &name, Type type) {
    return fb::CreateTensorSig(fbb, fbb.CreateString(name), fb::DType::F32,
                               fbb.CreateVector(shapeVector(type)));
  }

  flatbuffers::Offset<fb::Entry> writeEntry(func::FuncOp func,
                                            std::vector<CompiledEntry> &summaries) {
    std::string entryName = func.getSymName().str();
    EntryNames names;
    if (auto it = contents.names.find(entryName); it != contents.names.end())
      names = it->second;
    CompiledEntry summary;
    summary.name = entryName;

    std::vector<flatbuffers::Offset<fb::TensorSig>> inputs, outputs;
    auto type = func.getFunctionType();
    for (unsigned i = 0; i < type.getNumInputs(); ++i)
      inputs.push_back(signature(i < names.inputs.size() ? names.inputs[i]
                                                         : fmt::format("input{}", i),
                                 type.getInput(i)));
    for (unsigned i = 0; i < type.getNumResults(); ++i)
      outputs.push_back(signature(i < names.outputs.size() ? names.outputs[i]
                                                           : fmt::format("output{}", i),
                                  type.getResult(i)));

    std::vector<flatbuffers::Offset<fb::Launch>> launches;
    for (KernelOp kernel : func.getOps<KernelOp>()) {
      std::string ops = describeKernel(kernel);
      std::vector<flatbuffers::Offset<fb::TensorSig>> args;
      for (Value operand : kernel.getOperands())
        args.push_back(signature("", operand.getType()));
      args.push_back(signature("", kernel.getResult().getType()));
      codegen::CudaLaunch cuda;
      if (contents.cudaSource) {
        auto it = contents.cudaSource->kernels.find(kernel.getName().str());
        if (it == contents.cudaSource->kernels.end())
          throw CompileError("internal: no CUDA kernel for " + kernel.getName().str());
        cuda = it->second;
      }
      auto kernelOffset = fb::CreateKernel(
          fbb, fbb.CreateString(kernel.getName().str()), fbb.CreateString(ops),
          fusionKind(kernel), intAttr(kernel, "kiln.work_per_item"),
          intAttr(kernel, "kiln.work_fixed"), intAttr(kernel, "kiln.work_per_task"),
          intAttr(kernel, "kiln.scratch_bytes"), intAttr(kernel, "kiln.flops_per_item"),
          kernel.getNumOperands(), fbb.CreateVector(args),
          contents.cudaSource ? fbb.CreateString(cuda.symbol)
                              : flatbuffers::Offset<flatbuffers::String>(),
          uint32_t(cuda.blockThreads),
          cuda.gridXFixed, cuda.gridXPerItem, cuda.gridXDivisor, uint32_t(cuda.gridY),
          uint64_t(cuda.scratchBytes), cuda.maxBatch);
      kernels.push_back(kernelOffset);
      summary.kernels.push_back({kernel.getName().str(), ops, kernel.getKind().str(),
                                 intAttr(kernel, "kiln.flops_per_item")});
      std::vector<flatbuffers::Offset<fb::Binding>> buffers;
      for (Value operand : kernel.getOperands())
        buffers.push_back(binding(resolve(operand)));
      buffers.push_back(binding(resolve(kernel.getResult())));
      launches.push_back(
          fb::CreateLaunch(fbb, (uint32_t)(kernels.size() - 1), fbb.CreateVector(buffers)));
    }

    // Results not written in place by a kernel are copied after the launches.
    std::vector<flatbuffers::Offset<fb::Binding>> copyFrom;
    std::vector<uint32_t> copyTo;
    auto ret = llvm::cast<func::ReturnOp>(func.getBody().front().getTerminator());
    for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
      Binding b = resolve(value);
      if (b.kind == fb::BufferKind::Output && b.index == i)
        continue;
      copyFrom.push_back(binding(b));
      copyTo.push_back(i);
    }

    auto fixedAttr = func->getAttrOfType<IntegerAttr>("kiln.arena_fixed_bytes");
    auto perItemAttr = func->getAttrOfType<IntegerAttr>("kiln.arena_per_item_bytes");
    auto peakAttr = func->getAttrOfType<IntegerAttr>("kiln.peak_bytes_per_item");
    if (!fixedAttr || !perItemAttr)
      throw CompileError("internal: function '" + entryName + "' has no memory plan");
    summary.arenaBytesFixed = fixedAttr.getInt();
    summary.arenaBytesPerItem = perItemAttr.getInt();
    summary.peakBytesPerItem = peakAttr ? peakAttr.getInt() : 0;
    summaries.push_back(summary);
    // The runtime splits the batch between threads only where no copy is
    // left to make after the launches (it would read a whole-batch arena).
    const bool itemsIndependent = copyTo.empty() && entryItemsIndependent(func);
    return fb::CreateEntry(fbb, fbb.CreateString(entryName), fbb.CreateVector(inputs),
                           fbb.CreateVector(outputs), fbb.CreateVector(launches),
                           fbb.CreateVector(copyFrom), fbb.CreateVector(copyTo),
                           fixedAttr.getInt(), perItemAttr.getInt(), itemsIndependent);
  }

  const ArtifactContents &contents;
  flatbuffers::FlatBufferBuilder fbb{1 << 20};
  std::vector<ParamRecord> params;
  std::map<std::string, size_t> paramIndex;
  llvm::DenseMap<Operation *, size_t> constantIndex;
  std::vector<flatbuffers::Offset<fb::Kernel>> kernels;
};

} // namespace

std::vector<uint8_t> writeArtifact(ModuleOp module, const ArtifactContents &contents,
                                   std::vector<CompiledEntry> &entries) {
  Writer writer(contents);
  return writer.write(module, entries);
}

} // namespace kiln
