//===- TestArtifact.cpp ---------------------------------------------------===//
#include "TestArtifact.h"

#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace kiln::test {

namespace fb = kiln::artifact;

const float kScale[4] = {1, 2, -1, 3};
const float kBias[4] = {0.5f, -1, 2, 0.25f};
const float kW[12] = {1, 0, -1, 2, 1, 0, 0, -2, 1, 1, 1, 1};

std::vector<uint8_t> buildArtifact(const ArtifactDesc &d) {
  flatbuffers::FlatBufferBuilder b;
  auto binding = [&](const BindingDesc &x) {
    return fb::CreateBinding(b, x.kind, x.index, x.offsetFixed, x.offsetPerItem);
  };
  auto sigs = [&](const std::vector<SigDesc> &v) {
    std::vector<flatbuffers::Offset<fb::TensorSig>> out;
    for (const SigDesc &s : v)
      out.push_back(fb::CreateTensorSigDirect(b, s.name.c_str(), fb::DType::F32, &s.shape));
    return b.CreateVector(out);
  };

  std::vector<flatbuffers::Offset<fb::Entry>> entries;
  for (const EntryDesc &e : d.entries) {
    std::vector<flatbuffers::Offset<fb::Launch>> launches;
    for (const LaunchDesc &l : e.launches) {
      std::vector<flatbuffers::Offset<fb::Binding>> bs;
      for (const BindingDesc &x : l.buffers)
        bs.push_back(binding(x));
      launches.push_back(fb::CreateLaunch(b, l.kernel, b.CreateVector(bs)));
    }
    std::vector<flatbuffers::Offset<fb::Binding>> from;
    for (const BindingDesc &x : e.copyFrom)
      from.push_back(binding(x));
    auto name = b.CreateString(e.name);
    auto ins = sigs(e.inputs), outs = sigs(e.outputs);
    auto ls = b.CreateVector(launches);
    auto cf = b.CreateVector(from);
    auto ct = b.CreateVector(e.copyTo);
    entries.push_back(
        fb::CreateEntry(b, name, ins, outs, ls, cf, ct, e.arenaFixed, e.arenaPerItem,
                        e.itemsIndependent));
  }
  std::vector<flatbuffers::Offset<fb::Kernel>> kernels;
  for (const KernelDesc &k : d.kernels)
    kernels.push_back(fb::CreateKernelDirect(b, k.name.c_str(), k.ops.c_str(), k.kind,
                                             k.workPerItem, k.workFixed, k.workPerTask,
                                             k.scratchBytes, k.flopsPerItem, k.numInputs));
  std::vector<flatbuffers::Offset<fb::Param>> params;
  for (const ParamDesc &p : d.params)
    params.push_back(
        fb::CreateParamDirect(b, p.name.c_str(), &p.shape, p.trainable, p.offset));

  flatbuffers::Offset<fb::CpuModule> cpu = 0;
  if (d.withCpu) {
    flatbuffers::Optional<uint32_t> crc = flatbuffers::nullopt;
    if (d.withCrc)
      crc = d.crcOverride ? *d.crcOverride
                          : uint32_t(crc32_z(0L, d.sharedObject.data(), d.sharedObject.size()));
    cpu = fb::CreateCpuModuleDirect(b, "x86_64-unknown-linux-gnu", "generic",
                                    d.cpuFeatures.c_str(), &d.sharedObject, crc);
  }
  auto root = fb::CreateArtifactDirect(b, d.schemaVersion, d.compilerVersion.c_str(),
                                       d.modelName.c_str(), "", &entries, &kernels, &params,
                                       &d.paramData, cpu, nullptr);
  fb::FinishArtifactBuffer(b, root);
  return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

std::vector<uint8_t> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void writeFile(const std::string &path, const std::vector<uint8_t> &bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "kiln-rt-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data()))
    throw std::runtime_error("mkdtemp failed");
  path = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

const std::vector<uint8_t> &testKernelLibrary() {
  static const std::vector<uint8_t> bytes = readFile(KILN_TEST_KERNELS_SO);
  return bytes;
}

ArtifactDesc referenceDesc() {
  ArtifactDesc d;
  d.sharedObject = testKernelLibrary();
  // Kernel indices: 0 scale, 1 add_bias, 2 rowsum, 3 matmul, 4 stats, 5 add,
  // 6 count, 7 accumulate, 8 trace.
  d.kernels = {
      {"kt_scale", "mul", FusionKind::Broadcast, 4, 0, 3, 0, 4, 2},
      {"kt_add_bias", "add", FusionKind::Broadcast, 4, 0, 3, 0, 4, 2},
      {"kt_rowsum", "reduce_sum+add", FusionKind::Reduction, 1, 0, 1, 256, 8, 1},
      {"kt_matmul", "matmul", FusionKind::OutFusible, 1, 0, 2, 0, 24, 2},
      {"kt_stats", "mul+add", FusionKind::Elementwise, 0, 3, 1, 0, 0, 1},
      {"kt_add", "add", FusionKind::Elementwise, 6, 0, 5, 0, 6, 2},
      {"kt_count", "count", FusionKind::Elementwise, 5, 0, 2, 0, 0, 1},
      {"kt_accumulate", "add", FusionKind::Elementwise, 0, 4, 1, 0, 0, 1},
      {"kt_trace", "trace", FusionKind::Elementwise, 1, 0, 1, 0, 0, 1},
  };
  d.params = {{"s", {4}, true, 0}, {"bias", {4}, true, 4}, {"W", {4, 3}, false, 8}};
  d.paramData.assign(kScale, kScale + 4);
  d.paramData.insert(d.paramData.end(), kBias, kBias + 4);
  d.paramData.insert(d.paramData.end(), kW, kW + 12);

  EntryDesc infer;
  infer.name = "infer";
  infer.inputs = {{"x", {-1, 4}}};
  infer.outputs = {{"y", {-1, 3}},      {"stats", {3}},   {"y_copy", {-1, 3}},
                   {"bias_out", {4}},   {"x_echo", {-1, 4}}, {"a_dump", {-1, 4}}};
  const BindingDesc A = arena(64, 0), B = arena(64, 16);
  infer.launches = {
      {0, {input(0), param(0), A}},
      {1, {A, param(1), B}},
      {2, {B, A}},
      {3, {A, param(2), output(0)}},
      {4, {param(0), output(1)}},
  };
  infer.copyFrom = {output(0), param(1), input(0), A};
  infer.copyTo = {2, 3, 4, 5};
  infer.arenaFixed = 64;
  infer.arenaPerItem = 32;

  EntryDesc sum2;
  sum2.name = "sum2";
  sum2.inputs = {{"a", {-1, 2, 3}}, {"b", {-1, 2, 3}}};
  sum2.outputs = {{"out", {-1, 2, 3}}};
  sum2.launches = {{5, {input(0), input(1), output(0)}}};

  EntryDesc coverage;
  coverage.name = "coverage";
  coverage.inputs = {{"x", {-1, 5}}};
  coverage.outputs = {{"counts", {-1, 5}}};
  coverage.launches = {{6, {input(0), output(0)}}};

  EntryDesc update;
  update.name = "update";
  update.inputs = {{"g", {4}}};
  update.launches = {{7, {input(0), param(0)}}};

  EntryDesc trace;
  trace.name = "trace";
  trace.inputs = {{"x", {-1, 1}}};
  trace.outputs = {{"ticks", {-1, 2}}};
  trace.launches = {{8, {input(0), output(0)}}};

  d.entries = {infer, sum2, coverage, update, trace};
  return d;
}

InferExpected expectedInfer(const std::vector<float> &x, int64_t batch, const float *scale) {
  InferExpected e;
  e.a.resize(size_t(batch) * 4);
  e.y.resize(size_t(batch) * 3);
  for (int64_t b = 0; b < batch; ++b) {
    float row[4], sum = 0;
    for (int j = 0; j < 4; ++j) {
      row[j] = x[size_t(b * 4 + j)] * scale[j] + kBias[j];
      sum += row[j];
    }
    for (int j = 0; j < 4; ++j)
      e.a[size_t(b * 4 + j)] = row[j] + sum;
    for (int n = 0; n < 3; ++n) {
      // Small integers and halves/quarters: exact in float in any order, so
      // the sgemm result must match bit for bit.
      float acc = 0;
      for (int k = 0; k < 4; ++k)
        acc += e.a[size_t(b * 4 + k)] * kW[k * 3 + n];
      e.y[size_t(b * 3 + n)] = acc;
    }
  }
  for (int t = 0; t < 3; ++t)
    e.stats.push_back(10.0f * scale[t] + float(t));
  return e;
}

} // namespace kiln::test
