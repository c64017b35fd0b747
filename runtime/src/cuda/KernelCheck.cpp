//===- KernelCheck.cpp - every GPU kernel against its CPU twin ------------===//
#include "CudaExecutor.h"
#include "kiln/runtime/Cuda.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>

namespace kiln::rt {

namespace fb = kiln::artifact;

CudaDeviceInfo probeCuda(int ordinal) {
  CudaDeviceInfo info;
  try {
    const cu::Driver &d = cu::driver();
    int count = 0;
    cu::check(d.cuDeviceGetCount(&count), "cuDeviceGetCount");
    if (ordinal < 0 || ordinal >= count) {
      info.error = fmt::format("kiln: CUDA: no device {} (the driver sees {})", ordinal, count);
      return info;
    }
    cu::CUdevice dev = 0;
    cu::check(d.cuDeviceGet(&dev, ordinal), "cuDeviceGet");
    char name[256] = {0};
    d.cuDeviceGetName(name, int(sizeof name) - 1, dev);
    int major = 0, minor = 0, sms = 0;
    d.cuDeviceGetAttribute(&major, cu::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
    d.cuDeviceGetAttribute(&minor, cu::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
    d.cuDeviceGetAttribute(&sms, cu::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
    info.available = true;
    info.description = fmt::format("{} (sm_{}{}, {} SMs), driver {}.{}", name, major, minor, sms,
                                   d.version / 1000, (d.version % 1000) / 10);
  } catch (const Error &e) {
    info.error = e.what();
  }
  return info;
}

std::vector<KernelCheck> checkCudaKernels(const std::shared_ptr<const Artifact> &artifact,
                                          const std::string &entryName,
                                          const std::vector<TensorView> &inputs, int ordinal) {
  if (!artifact)
    throw Error("kiln: checkCudaKernels needs an artifact (got null)");
  const ArtifactImpl &a = artifact->impl();
  const EntryPlan &e = a.entry(entryName);
  if (inputs.size() != e.inputs.size())
    throw Error(fmt::format("kiln: entry '{}' expects {} inputs, got {}", e.name, e.inputs.size(),
                            inputs.size()));
  int64_t batch = 1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorInfo &sig = e.inputs[i];
    if (inputs[i].shape.size() != sig.shape.size())
      throw Error(fmt::format("kiln: entry '{}' input '{}': expected shape {}, got {}", e.name,
                              sig.name, formatShape(sig.shape), formatShape(inputs[i].shape)));
    if (!sig.shape.empty() && sig.shape[0] < 0)
      batch = inputs[i].shape[0];
  }

  // Host state, as Session::run would have it with one thread.
  std::vector<float> params(a.paramData, a.paramData + a.paramDataSize);
  AlignedBuffer arena = allocateAligned(artifact->arenaBytes(e.name, batch), "arena");
  AlignedBuffer scratch = allocateAligned(a.maxScratchBytes, "kernel scratch");
  std::vector<std::vector<float>> outputs(e.outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i)
    outputs[i].resize(size_t(e.outputElems[i]) * (e.outputDynamic[i] ? size_t(batch) : 1));
  auto resolve = [&](const BindingPlan &b) -> float * {
    switch (b.kind) {
    case fb::BufferKind::Arena:
      return reinterpret_cast<float *>(arena.get() + b.offsetFixed +
                                       b.offsetPerItem * uint64_t(batch));
    case fb::BufferKind::Param:
      return params.data() + a.params[b.index].offset;
    case fb::BufferKind::Input:
      return const_cast<float *>(inputs[b.index].data);
    case fb::BufferKind::Output:
      return outputs[b.index].data();
    }
    return nullptr;
  };
  auto same = [](const BindingPlan &x, const BindingPlan &y) {
    return x.kind == y.kind && x.index == y.index && x.offsetFixed == y.offsetFixed &&
           x.offsetPerItem == y.offsetPerItem;
  };

  cuda::Executor gpu(a, ordinal, /*useGraphs=*/false, params.data());
  std::vector<KernelCheck> results;
  std::vector<float *> ptrs;
  for (size_t li = 0; li < e.launches.size(); ++li) {
    const LaunchPlan &l = e.launches[li];
    const cuda::KernelLaunch &k = gpu.launchOf(l.kernel);
    if (k.args.size() != l.numBindings)
      throw Error(fmt::format("kiln: {}: kernel '{}' has no argument shapes; recompile it",
                              a.origin, a.kernels[l.kernel].name));
    const uint32_t numInputs = l.numBindings - 1;
    const BindingPlan &outBinding = e.bindings[l.firstBinding + numInputs];
    std::vector<std::vector<float>> snapshot(numInputs);
    int alias = -1;
    for (uint32_t j = 0; j < numInputs; ++j) {
      const BindingPlan &b = e.bindings[l.firstBinding + j];
      const float *p = resolve(b);
      snapshot[j].assign(p, p + cuda::numelAt(k.args[j], batch));
      if (same(b, outBinding))
        alias = int(j);
    }
    std::vector<float> gpuOut = gpu.runKernel(l.kernel, batch, snapshot, alias);

    ptrs.clear();
    for (uint32_t j = 0; j < l.numBindings; ++j)
      ptrs.push_back(resolve(e.bindings[l.firstBinding + j]));
    const int64_t tasks = l.numTasks(batch);
    if (tasks > 0)
      l.fn(ptrs.data(), batch, 0, tasks, reinterpret_cast<float *>(scratch.get()));

    KernelCheck r;
    r.launch = li;
    r.kernel = a.kernels[l.kernel].name;
    r.ops = a.kernels[l.kernel].ops;
    r.symbol = k.symbol;
    r.elements = gpuOut.size();
    const float *cpu = ptrs.back();
    for (size_t i = 0; i < gpuOut.size(); ++i) {
      float c = cpu[i], g = gpuOut[i];
      if (std::isfinite(c) && std::isfinite(g)) {
        r.maxAbsError = std::max(r.maxAbsError, std::fabs(double(c) - double(g)));
        r.maxAbsCpu = std::max(r.maxAbsCpu, std::fabs(double(c)));
      } else if (!(std::isnan(c) && std::isnan(g)) && !(c == g)) {
        ++r.nonFiniteMismatches;
      }
    }
    r.relError = r.maxAbsError / std::max(r.maxAbsCpu, 1e-30);
    results.push_back(std::move(r));
  }
  return results;
}

} // namespace kiln::rt
