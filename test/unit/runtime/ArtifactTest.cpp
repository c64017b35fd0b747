//===- ArtifactTest.cpp - loading, verification, corrupt files ------------===//
#include "TestArtifact.h"

#include "kiln/runtime/Runtime.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>

using namespace kiln::test;
using kiln::rt::Artifact;
using kiln::rt::Error;
using kiln::rt::Session;
using kiln::rt::SessionOptions;
using kiln::rt::TensorView;

namespace {

/// Loading must throw an Error whose message contains `needle`.
void expectLoadError(const std::vector<uint8_t> &bytes, const std::string &needle) {
  try {
    Artifact::loadBuffer(bytes, "bad.kiln");
    ADD_FAILURE() << "loaded; expected an error containing: " << needle;
  } catch (const Error &e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind("kiln: bad.kiln: ", 0), 0u) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

void expectDescError(const std::function<void(ArtifactDesc &)> &mutate,
                     const std::string &needle) {
  ArtifactDesc d = referenceDesc();
  mutate(d);
  expectLoadError(buildArtifact(d), needle);
}

EntryDesc &entryNamed(ArtifactDesc &d, const std::string &name) {
  for (EntryDesc &e : d.entries)
    if (e.name == name)
      return e;
  throw std::runtime_error("no entry " + name);
}

/// Either loads (and a session can be created) or throws Error; anything
/// else (a crash, another exception type) fails the test.
bool loadsOrThrowsError(const std::vector<uint8_t> &bytes) {
  try {
    auto a = Artifact::loadBuffer(bytes, "fuzz.kiln");
    Session s(a, SessionOptions{1});
    for (const std::string &e : a->entryNames()) {
      a->inputs(e);
      a->kernels(e);
      a->arenaBytes(e, 1000);
    }
    return true;
  } catch (const Error &) {
    return false;
  }
}

} // namespace

TEST(Artifact, ReferenceLoadsWithItsMetadata) {
  auto a = Artifact::loadBuffer(buildArtifact(referenceDesc()), "ref.kiln");
  EXPECT_EQ(a->modelName(), "test-model");
  EXPECT_EQ(a->compilerVersion(), "test");
  EXPECT_EQ(a->schemaVersion(), KILN_ARTIFACT_SCHEMA_VERSION);
  EXPECT_EQ(a->entryNames(),
            (std::vector<std::string>{"infer", "sum2", "coverage", "update", "trace"}));
  EXPECT_TRUE(a->hasEntry("infer"));
  EXPECT_FALSE(a->hasEntry("train_step"));
  ASSERT_EQ(a->inputs("infer").size(), 1u);
  EXPECT_EQ(a->inputs("infer")[0].name, "x");
  EXPECT_EQ(a->inputs("infer")[0].shape, (std::vector<int64_t>{-1, 4}));
  EXPECT_EQ(a->outputs("infer").size(), 6u);
  EXPECT_EQ(a->outputs("infer")[1].shape, (std::vector<int64_t>{3}));
  auto kernels = a->kernels("infer");
  ASSERT_EQ(kernels.size(), 5u);
  EXPECT_EQ(kernels[0].name, "kt_scale");
  EXPECT_EQ(kernels[2].ops, "reduce_sum+add");
  EXPECT_EQ(kernels[2].kind, "Reduction");
  EXPECT_EQ(kernels[3].kind, "OutFusible");
  EXPECT_EQ(a->flopsPerItem("infer"), 4 + 4 + 8 + 24 + 0);
  EXPECT_EQ(a->arenaBytes("infer", 5), 64u + 32u * 5);
  auto params = a->params();
  ASSERT_EQ(params.size(), 3u);
  EXPECT_EQ(params[2].name, "W");
  EXPECT_EQ(params[2].shape, (std::vector<int64_t>{4, 3}));
  EXPECT_FALSE(params[2].trainable);
  EXPECT_EQ(a->initialParam(1)[3], kBias[3]);
  EXPECT_THROW(a->initialParam(3), Error);
  try {
    a->inputs("train_step");
    ADD_FAILURE();
  } catch (const Error &e) {
    EXPECT_STREQ(e.what(),
                 "kiln: ref.kiln: no entry 'train_step' (entries: infer, sum2, coverage, update, trace)");
  }
}

TEST(Artifact, LoadFileAndMissingFile) {
  TempDir dir;
  writeFile(dir.file("m.kiln"), buildArtifact(referenceDesc()));
  auto a = Artifact::loadFile(dir.file("m.kiln"));
  EXPECT_EQ(a->entryNames().size(), 5u);
  try {
    Artifact::loadFile(dir.file("missing.kiln"));
    ADD_FAILURE();
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()),
              "kiln: " + dir.file("missing.kiln") + ": cannot open: No such file or directory");
  }
  try {
    Artifact::loadFile(dir.path);
    ADD_FAILURE();
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()), "kiln: " + dir.path + ": cannot read: is a directory");
  }
  writeFile(dir.file("empty.kiln"), {});
  try {
    Artifact::loadFile(dir.file("empty.kiln"));
    ADD_FAILURE();
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()),
              "kiln: " + dir.file("empty.kiln") + ": not a Kiln artifact (only 0 bytes)");
  }
}

TEST(Artifact, ManyLoadedAtOnceAndReloaded) {
  // Each artifact maps its own copy of the kernels (via its own memfd); fd
  // numbers are recycled between loads, which must not alias modules.
  auto bytes = buildArtifact(referenceDesc());
  for (int round = 0; round < 3; ++round) {
    std::vector<std::shared_ptr<const Artifact>> alive;
    for (int i = 0; i < 8; ++i)
      alive.push_back(Artifact::loadBuffer(bytes, "ref.kiln"));
    for (auto &a : alive) {
      Session s(a, SessionOptions{1});
      std::vector<float> x = {1, 2, 3, 0};
      auto out = s.run("infer", {TensorView{x.data(), {1, 4}}});
      EXPECT_EQ(out[0].data, expectedInfer(x, 1).y);
    }
  }
}

TEST(Artifact, StaleModuleIsNotReused) {
  // A module that dlclose cannot unload keeps its "/proc/self/fd/N" name in
  // glibc's list; the next artifact's memfd often gets the same N. glibc
  // matches by name, so without care the second artifact would silently run
  // the first one's kernels.
  std::vector<float> x = {1, 2, 3, 0};
  {
    ArtifactDesc d = referenceDesc();
    d.sharedObject = readFile(KILN_TEST_KERNELS_NODELETE_SO);
    Session s(Artifact::loadBuffer(buildArtifact(d), "nodelete.kiln"), SessionOptions{1});
    auto out = s.run("infer", {TensorView{x.data(), {1, 4}}});
    EXPECT_EQ(out[1].data, (std::vector<float>{1010, 1021, 992}));
  }
  for (int i = 0; i < 3; ++i) {
    Session s(Artifact::loadBuffer(buildArtifact(referenceDesc()), "ref.kiln"),
              SessionOptions{1});
    auto out = s.run("infer", {TensorView{x.data(), {1, 4}}});
    EXPECT_EQ(out[1].data, expectedInfer(x, 1).stats);
  }
}

TEST(Artifact, BadMagicAndTooSmall) {
  auto bytes = buildArtifact(referenceDesc());
  auto bad = bytes;
  bad[4] = 'X';
  expectLoadError(bad, "not a Kiln artifact (bad magic)");
  expectLoadError({'K', 'I', 'L'}, "not a Kiln artifact (only 3 bytes)");
  std::vector<uint8_t> elf = testKernelLibrary();
  expectLoadError(elf, "not a Kiln artifact (bad magic)");
}

TEST(Artifact, SchemaVersionMismatch) {
  expectDescError([](ArtifactDesc &d) { d.schemaVersion = 7; },
                  "artifact schema version 7, this runtime reads version " +
                      std::to_string(KILN_ARTIFACT_SCHEMA_VERSION) + "; recompile the "
                  "model with a matching kiln-compile");
}

TEST(Artifact, EveryTruncationFailsCleanly) {
  auto bytes = buildArtifact(referenceDesc());
  for (size_t len = 0; len < bytes.size(); ++len) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + std::ptrdiff_t(len));
    EXPECT_THROW(Artifact::loadBuffer(prefix, "trunc.kiln"), Error) << "prefix " << len;
  }
  // Padding after a valid buffer is not an error (flatbuffers ignore it).
  auto padded = bytes;
  padded.resize(bytes.size() + 100, 0);
  EXPECT_NO_THROW(Artifact::loadBuffer(padded, "padded.kiln"));
}

TEST(Artifact, RandomByteFlipsLoadOrThrow) {
  auto bytes = buildArtifact(referenceDesc());
  const auto &so = testKernelLibrary();
  auto soAt = std::search(bytes.begin(), bytes.end(), so.begin(), so.end());
  ASSERT_NE(soAt, bytes.end());
  size_t soBegin = size_t(soAt - bytes.begin()), soEnd = soBegin + so.size();

  std::mt19937_64 rng(20240601);
  // Phase 0 flips anywhere (mostly inside the ELF, where the CRC must catch
  // it); phase 1 only in the flatbuffer tables, where the verifier and the
  // consistency checks must.
  for (int phase = 0; phase < 2; ++phase) {
    int loaded = 0, rejected = 0;
    for (int trial = 0; trial < 3000; ++trial) {
      auto mutated = bytes;
      int flips = 1 + int(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        size_t pos;
        do
          pos = size_t(rng() % mutated.size());
        while (phase == 1 && pos >= soBegin && pos < soEnd);
        mutated[pos] ^= uint8_t(1 + rng() % 255);
      }
      (loadsOrThrowsError(mutated) ? loaded : rejected)++;
    }
    // Both outcomes must occur, or the trials test nothing.
    EXPECT_GT(loaded, 0) << "phase " << phase;
    EXPECT_GT(rejected, 0) << "phase " << phase;
    RecordProperty("phase" + std::to_string(phase) + "_loaded", loaded);
    RecordProperty("phase" + std::to_string(phase) + "_rejected", rejected);
  }
}

TEST(Artifact, InconsistentLaunches) {
  expectDescError([](ArtifactDesc &d) { entryNamed(d, "infer").launches[1].kernel = 99; },
                  "entry 'infer' launch 1: kernel index 99 out of range (9 kernels)");
  expectDescError([](ArtifactDesc &d) { entryNamed(d, "infer").launches[3].buffers.pop_back(); },
                  "entry 'infer' launch 3: kernel 'kt_matmul' takes 3 buffers (2 inputs + "
                  "output), the launch binds 2");
  expectDescError(
      [](ArtifactDesc &d) { entryNamed(d, "infer").launches[0].buffers.push_back(param(0)); },
      "the launch binds 4");
  expectDescError([](ArtifactDesc &d) { entryNamed(d, "infer").launches[0].buffers[1] = param(3); },
                  "entry 'infer' launch 0 binding 1: parameter index 3 out of range (3 "
                  "parameters)");
  expectDescError([](ArtifactDesc &d) { entryNamed(d, "infer").launches[0].buffers[0] = input(1); },
                  "entry 'infer' launch 0 binding 0: input index 1 out of range (1 inputs)");
  expectDescError(
      [](ArtifactDesc &d) { entryNamed(d, "infer").launches[3].buffers[2] = output(6); },
      "entry 'infer' launch 3 binding 2: output index 6 out of range (6 outputs)");
  expectDescError(
      [](ArtifactDesc &d) {
        entryNamed(d, "infer").launches[0].buffers[0].kind = kiln::artifact::BufferKind(9);
      },
      "entry 'infer' launch 0 binding 0: unknown buffer kind 9");
  expectDescError(
      [](ArtifactDesc &d) { entryNamed(d, "infer").launches[3].buffers[2] = input(0); },
      "entry 'infer' launch 3: kernel output is bound to an entry input");
  // Arena slices must start inside the arena for every batch.
  expectDescError(
      [](ArtifactDesc &d) { entryNamed(d, "infer").launches[1].buffers[2] = arena(64, 48); },
      "entry 'infer' launch 1 binding 2: arena slice (offset 64 + 48*batch) lies outside the "
      "arena (64 + 32*batch bytes)");
  expectDescError(
      [](ArtifactDesc &d) { entryNamed(d, "infer").launches[1].buffers[2] = arena(1000, 0); },
      "lies outside the arena");
  expectDescError(
      [](ArtifactDesc &d) {
        entryNamed(d, "infer").launches[1].buffers[2] = arena(UINT64_MAX - 3, 4);
      },
      "lies outside the arena");
  expectDescError(
      [](ArtifactDesc &d) { entryNamed(d, "infer").launches[1].buffers[2] = arena(66, 0); },
      "arena offset is not float-aligned");
}

TEST(Artifact, InconsistentKernels) {
  expectDescError([](ArtifactDesc &d) { d.kernels[3].name = "kt_missing"; },
                  "CPU module does not export kernel 'kt_missing'");
  expectDescError([](ArtifactDesc &d) { d.kernels[0].workPerTask = 0; },
                  "kernel 'kt_scale' has work_per_task 0 (must be > 0)");
  expectDescError([](ArtifactDesc &d) { d.kernels[0].workPerTask = -3; },
                  "kernel 'kt_scale' has work_per_task -3 (must be > 0)");
  expectDescError([](ArtifactDesc &d) { d.kernels[0].workPerItem = -1; },
                  "kernel 'kt_scale' has negative work");
  expectDescError([](ArtifactDesc &d) { d.kernels[2].scratchBytes = uint64_t(1) << 40; },
                  "kernel 'kt_rowsum' asks for 1099511627776 bytes of scratch per thread");
  expectDescError([](ArtifactDesc &d) { d.kernels[1].name = ""; }, "kernel 1 has no name");
}

TEST(Artifact, InconsistentParams) {
  expectDescError([](ArtifactDesc &d) { d.params[2].offset = 9; },
                  "parameter 'W' (offset 9, 12 floats) lies outside param_data (20 floats)");
  expectDescError([](ArtifactDesc &d) { d.params[0].offset = UINT64_MAX - 1; },
                  "lies outside param_data");
  expectDescError([](ArtifactDesc &d) { d.paramData.resize(19); }, "lies outside param_data");
  expectDescError([](ArtifactDesc &d) { d.params[1].shape = {4, -1}; },
                  "parameter 'bias' has an invalid shape");
  expectDescError([](ArtifactDesc &d) { d.params[1].shape = {1 << 30, 1 << 30}; },
                  "parameter 'bias' has an invalid shape");
  expectDescError([](ArtifactDesc &d) { d.params[1].name = "s"; }, "duplicate parameter name 's'");
}

TEST(Artifact, InconsistentEntries) {
  expectDescError([](ArtifactDesc &d) { d.entries[1].name = "infer"; }, "duplicate entry 'infer'");
  expectDescError([](ArtifactDesc &d) { entryNamed(d, "infer").inputs[0].shape = {4, -1}; },
                  "entry 'infer' input 'x' has an invalid shape");
  expectDescError([](ArtifactDesc &d) { entryNamed(d, "infer").outputs[0].shape = {-1, -2}; },
                  "entry 'infer' output 'y' has an invalid shape");
  expectDescError([](ArtifactDesc &d) { entryNamed(d, "infer").copyTo.pop_back(); },
                  "entry 'infer': 4 copy_from but 3 copy_to");
  expectDescError([](ArtifactDesc &d) { entryNamed(d, "infer").copyTo[0] = 6; },
                  "entry 'infer' copy 0: output index 6 out of range (6 outputs)");
  // Copy sources must be as large as the output for every batch.
  expectDescError([](ArtifactDesc &d) { entryNamed(d, "infer").copyFrom[1] = param(2); },
                  "entry 'infer' copy 1: source and output 'bias_out' differ in size");
  expectDescError([](ArtifactDesc &d) { entryNamed(d, "infer").copyFrom[2] = output(0); },
                  "entry 'infer' copy 2: source and output 'x_echo' differ in size");
  expectDescError([](ArtifactDesc &d) { entryNamed(d, "infer").copyFrom[0] = param(0); },
                  "entry 'infer' copy 0: source and output 'y_copy' differ in size");
  expectDescError([](ArtifactDesc &d) { entryNamed(d, "infer").copyFrom[3] = arena(64, 20); },
                  "entry 'infer' copy 3: arena slice (offset 64 + 20*batch) lies outside");
  expectDescError([](ArtifactDesc &d) { entryNamed(d, "infer").arenaPerItem = 8; },
                  "entry 'infer' launch 1 binding 2: arena slice (offset 64 + 16*batch) lies "
                  "outside the arena (64 + 8*batch bytes)");
  expectDescError(
      [](ArtifactDesc &d) {
        entryNamed(d, "infer").arenaFixed = UINT64_MAX;
        entryNamed(d, "infer").arenaPerItem = 1;
      },
      "entry 'infer' has an invalid arena size");
}

TEST(Artifact, CpuModuleProblems) {
  expectDescError([](ArtifactDesc &d) { d.withCpu = false; },
                  "artifact has kernels but no CPU shared object");
  expectDescError([](ArtifactDesc &d) { d.sharedObject.clear(); },
                  "artifact has kernels but no CPU shared object");
  expectDescError([](ArtifactDesc &d) { d.withCrc = false; },
                  "CPU module has no shared_object_crc32");
  expectDescError([](ArtifactDesc &d) { d.crcOverride = 0x1234u; },
                  "CPU module is corrupt (CRC-32 ");
  // A module that passes the CRC but is not an ELF file: dlopen reports it.
  expectDescError(
      [](ArtifactDesc &d) { d.sharedObject = std::vector<uint8_t>(4096, 0x42); },
      "cannot load the CPU kernels: ");
  // Without kernels, no module is needed (an entry made only of copies).
  ArtifactDesc d;
  EntryDesc e;
  e.name = "identity";
  e.inputs = {{"x", {-1, 2}}};
  e.outputs = {{"y", {-1, 2}}};
  e.copyFrom = {input(0)};
  e.copyTo = {0};
  d.entries = {e};
  d.withCpu = false;
  auto a = Artifact::loadBuffer(buildArtifact(d), "identity.kiln");
  Session s(a, SessionOptions{2});
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  auto out = s.run("identity", {TensorView{x.data(), {3, 2}}});
  EXPECT_EQ(out[0].data, x);
}
