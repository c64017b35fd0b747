//===- KilnRunTest.cpp - the kiln-run tool, end to end --------------------===//
#include "TestArtifact.h"

#include "kiln/runtime/KernelABI.h"
#include "kiln/runtime/Runtime.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>

using namespace kiln::test;
using kiln::rt::Artifact;

namespace {

struct Result {
  int code = -1;
  std::string out, err;
};

std::string slurp(const std::string &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class KilnRun : public ::testing::Test {
protected:
  void SetUp() override {
    model = dir.file("model.kiln");
    writeFile(model, buildArtifact(referenceDesc()));
  }

  Result run(const std::string &args) {
    std::string cmd = std::string(KILN_RUN_EXE) + " " + args + " >" + dir.file("out.txt") +
                      " 2>" + dir.file("err.txt");
    int status = std::system(cmd.c_str());
    Result r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(dir.file("out.txt"));
    r.err = slurp(dir.file("err.txt"));
    return r;
  }

  /// Exit code 1 and exactly one line on stderr: "kiln-run: <message>".
  void expectOneLineError(const Result &r, const std::string &message) {
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "kiln-run: " + message + "\n");
  }

  TempDir dir;
  std::string model;
};

} // namespace

TEST_F(KilnRun, Help) {
  Result r = run("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--random-seed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--list"), std::string::npos);
}

TEST_F(KilnRun, List) {
  Result r = run(model + " --list");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string header = "model 'test-model' (kiln-compile test, schema " +
                             std::to_string(KILN_ARTIFACT_SCHEMA_VERSION) + ")";
  EXPECT_NE(r.out.find(header), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("params: 3 tensors, 20 floats (8 trainable)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("infer: 5 kernels: mul \u00d71, add \u00d71, reduce_sum+add \u00d71, "
                       "matmul \u00d71, mul+add \u00d71\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("  inputs:  x [?,4]\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  outputs: y [?,3], stats [3], y_copy [?,3]"), std::string::npos);
  EXPECT_NE(r.out.find("  arena:   64 + 32\u00d7batch bytes; 40 FLOP per item"),
            std::string::npos)
      << r.out;
  // A hand-built artifact: items_independent is not set (and `stats` has no
  // batch dimension).
  EXPECT_NE(r.out.find("  threads: every launch split\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("update: 1 kernel: add \u00d71"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kt_rowsum"), std::string::npos);
}

TEST_F(KilnRun, RandomInputsWithTiming) {
  Result r = run(model + " --batch 3 --threads 2 --repeat 5 --warmup 2 --random-seed 4");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("output 0 'y' [3,3]:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("output 1 'stats' [3]: 10 21 -8\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("over 5 runs (batch 3, 2 threads)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("images/s, "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("GFLOP/s (40 FLOP per item)"), std::string::npos) << r.out;
  // The same seed gives the same inputs.
  Result again = run(model + " --batch 3 --random-seed 4 --threads 1");
  auto firstLine = [](const std::string &s) { return s.substr(0, s.find('\n')); };
  EXPECT_EQ(firstLine(again.out), firstLine(r.out));
}

TEST_F(KilnRun, ProfilePrintsEveryPatternAndTheSlowestLaunches) {
  const auto kernels = Artifact::loadBuffer(buildArtifact(referenceDesc()), "m")->kernels("infer");
  Result r = run(model + " --batch 3 --threads 2 --repeat 3 --profile 2");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("profile: " + std::to_string(kernels.size()) + " launches, "), std::string::npos)
      << r.out;
  for (const auto &k : kernels) // every fused-op pattern has a row
    EXPECT_NE(r.out.find(" " + k.ops + "\n"), std::string::npos) << k.ops << "\n" << r.out;
  EXPECT_NE(r.out.find("slowest 2 launches:"), std::string::npos) << r.out;
  // --profile alone lists 25 (here: all of them); 0 lists none.
  Result all = run(model + " --batch 3 --profile");
  ASSERT_EQ(all.code, 0) << all.err;
  EXPECT_NE(all.out.find("slowest " + std::to_string(std::min<size_t>(25, kernels.size())) + " launches:"),
            std::string::npos) << all.out;
  Result none = run(model + " --batch 3 --profile 0");
  EXPECT_EQ(none.out.find("slowest"), std::string::npos) << none.out;
  expectOneLineError(run(model + " --profile -1"), "--profile N must be >= 0, got -1");
}

TEST_F(KilnRun, NpyInputsAndOutputs) {
  kiln::rt::Tensor x;
  x.shape = {2, 4};
  x.data = {1, -2, 3, 0, 2, 2, -1, -3};
  kiln::rt::saveNpy(dir.file("x.npy"), x);
  Result r = run(model + " --input " + dir.file("x.npy") + " --output " + dir.file("y.npy") +
                 " " + dir.file("stats.npy") + " --print");
  ASSERT_EQ(r.code, 0) << r.err;
  kiln::rt::Tensor y = kiln::rt::loadNpy(dir.file("y.npy"));
  InferExpected want = expectedInfer(x.data, 2);
  EXPECT_EQ(y.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(y.data, want.y);
  EXPECT_EQ(kiln::rt::loadNpy(dir.file("stats.npy")).data, want.stats);
  // --print writes every value, one row of the last dimension per line.
  EXPECT_NE(r.out.find("output 4 'x_echo' [2,4]:\n  1 -2 3 0\n  2 2 -1 -3\n"), std::string::npos)
      << r.out;
}

TEST_F(KilnRun, Errors) {
  expectOneLineError(run(dir.file("missing.kiln")),
                     dir.file("missing.kiln") + ": cannot open: No such file or directory");
  writeFile(dir.file("junk.kiln"), {'j', 'u', 'n', 'k', 'j', 'u', 'n', 'k', 0, 0});
  expectOneLineError(run(dir.file("junk.kiln")),
                     dir.file("junk.kiln") + ": not a Kiln artifact (bad magic)");
  expectOneLineError(run(model + " --entry train_step"),
                     model + ": no entry 'train_step' (entries: infer, sum2, coverage, update, trace)");
  expectOneLineError(run(model + " --entry sum2 --input " + dir.file("nope.npy")),
                     "entry 'sum2' takes 2 inputs (a [?,2,3], b [?,2,3]), got 1 --input file");
  expectOneLineError(run(model + " --input " + dir.file("nope.npy")),
                     dir.file("nope.npy") + ": cannot open: No such file or directory");
  kiln::rt::Tensor wrong;
  wrong.shape = {2, 5};
  wrong.data.assign(10, 1.0f);
  kiln::rt::saveNpy(dir.file("wrong.npy"), wrong);
  expectOneLineError(run(model + " --input " + dir.file("wrong.npy")),
                     "entry 'infer' input 'x': expected shape [?,4], got [2,5]");
  expectOneLineError(run(model + " --threads -2"),
                     "--threads must be >= 0 (0: all hardware threads), got -2");
  expectOneLineError(run(model + " --batch 0"), "--batch must be >= 1, got 0");
  expectOneLineError(run(model + " --repeat 0"), "--repeat must be >= 1, got 0");
  expectOneLineError(run(model + " --input " + dir.file("wrong.npy") + " --batch 3"),
                     "--batch 3 differs from the batch 2 of the --input files");
  Result unknown = run(model + " --frobnicate");
  EXPECT_EQ(unknown.code, 1);
  EXPECT_EQ(unknown.err.rfind("kiln-run: ", 0), 0u) << unknown.err;
  EXPECT_EQ(unknown.err.find('\n'), unknown.err.size() - 1) << unknown.err;
  Result none = run("");
  EXPECT_EQ(none.code, 1);
  EXPECT_EQ(none.err.rfind("kiln-run: ", 0), 0u) << none.err;
}
