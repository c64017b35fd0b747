// Parameter checkpoints (.kparams): round trip through a session, atomic
// replacement, and every kind of damage reported as an Error naming the file.
#include "TestArtifact.h"

#include "kiln/runtime/Runtime.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

using namespace kiln::test;
using namespace kiln::rt;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<const Artifact> reference() {
  static std::shared_ptr<const Artifact> a =
      Artifact::loadBuffer(buildArtifact(referenceDesc()), "reference.kiln");
  return a;
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("kiln-ckpt-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

void writeBytes(const fs::path &p, const std::vector<char> &bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

std::vector<char> readBytes(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(Checkpoint, RoundTripThroughSessions) {
  TempDir dir;
  Session first(reference(), SessionOptions{1});
  float *s = first.paramData("s");
  for (int i = 0; i < 4; ++i)
    s[i] = 0.125f * float(i) - 7.0f;
  std::string path = (dir.path / "latest.kparams").string();
  saveParams(path, first.exportParams());
  auto loaded = loadParams(path);
  ASSERT_EQ(loaded.size(), 3u);
  EXPECT_EQ(loaded[0].name, "s");
  EXPECT_EQ(loaded[0].tensor.shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(loaded[2].tensor.shape, (std::vector<int64_t>{4, 3}));

  Session second(reference(), SessionOptions{2});
  second.importParams(loaded, path);
  EXPECT_EQ(std::vector<float>(second.paramData("s"), second.paramData("s") + 4),
            std::vector<float>(s, s + 4));
  // A filtered export (e.g. trainable parameters only) keeps the order.
  auto trainable = first.exportParams([](const ParamInfo &p) { return p.trainable; });
  ASSERT_EQ(trainable.size(), 2u);
  EXPECT_EQ(trainable[1].name, "bias");
}

TEST(Checkpoint, ReplacesAtomicallyAndLeavesNoTemporaryFile) {
  TempDir dir;
  Session session(reference(), SessionOptions{1});
  std::string path = (dir.path / "latest.kparams").string();
  saveParams(path, session.exportParams());
  session.paramData("bias")[0] = 42.0f;
  saveParams(path, session.exportParams());
  EXPECT_EQ(loadParams(path)[1].tensor.data[0], 42.0f);
  int files = 0;
  for (const auto &entry : fs::directory_iterator(dir.path)) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1);
  // An unwritable destination is an error naming it, and the old file stays.
  std::string bad = (dir.path / "no-such-dir" / "x.kparams").string();
  EXPECT_NE(errorOf([&] { saveParams(bad, session.exportParams()); }).find(bad),
            std::string::npos);
}

TEST(Checkpoint, DamageIsAnErrorNamingTheFile) {
  TempDir dir;
  Session session(reference(), SessionOptions{1});
  fs::path good = dir.path / "good.kparams";
  saveParams(good.string(), session.exportParams());
  std::vector<char> bytes = readBytes(good);
  fs::path damaged = dir.path / "damaged.kparams";
  // Every truncation.
  for (size_t n = 0; n < bytes.size(); ++n) {
    writeBytes(damaged, std::vector<char>(bytes.begin(), bytes.begin() + long(n)));
    std::string message = errorOf([&] { loadParams(damaged.string()); });
    ASSERT_NE(message.find(damaged.string()), std::string::npos) << "prefix " << n;
  }
  // Every single-bit flip.
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::vector<char> flipped = bytes;
    flipped[i] = char(flipped[i] ^ (1 << (i % 8)));
    writeBytes(damaged, flipped);
    ASSERT_FALSE(errorOf([&] { loadParams(damaged.string()); }).empty()) << "byte " << i;
  }
  writeBytes(damaged, {'n', 'o', 'p', 'e', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(errorOf([&] { loadParams(damaged.string()); }),
            "kiln: " + damaged.string() + ": not a Kiln parameter checkpoint (bad magic)");
  EXPECT_NE(errorOf([&] { loadParams((dir.path / "missing.kparams").string()); })
                .find("cannot open"),
            std::string::npos);
}

TEST(Checkpoint, ImportRejectsAnotherModelAndChangesNothing) {
  Session session(reference(), SessionOptions{1});
  std::vector<float> before(session.paramData("s"), session.paramData("s") + 4);
  std::vector<NamedTensor> wrong = {{"s", Tensor{{4}, {1, 2, 3, 4}}},
                                    {"bias", Tensor{{5}, {1, 2, 3, 4, 5}}},
                                    {"conv1.weight", Tensor{{1}, {0}}}};
  std::string message = errorOf([&] { session.importParams(wrong, "other.kparams"); });
  EXPECT_NE(message.find("kiln: other.kparams: parameters do not match model"), std::string::npos)
      << message;
  EXPECT_NE(message.find("'bias' has shape [5], the model needs [4]"), std::string::npos) << message;
  EXPECT_NE(message.find("unexpected 'conv1.weight'"), std::string::npos) << message;
  EXPECT_NE(message.find("missing 'W'"), std::string::npos) << message;
  EXPECT_EQ(std::vector<float>(session.paramData("s"), session.paramData("s") + 4), before);
  // Partial imports are allowed when asked for.
  session.importParams({{"s", Tensor{{4}, {1, 2, 3, 4}}}}, "partial", /*requireAll=*/false);
  EXPECT_EQ(session.paramData("s")[3], 4.0f);
}

} // namespace
