//===- ImageListTest.cpp - list-file datasets, openDataset, default path ---===//
#include "TestUtil.h"

#include "kiln/data/Dataset.h"

#include <gmock/gmock.h>

#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;
using ::testing::HasSubstr;

namespace kiln::data::test {
namespace {

std::vector<uint8_t> grayPattern(int seed) {
  std::vector<uint8_t> px(784);
  for (int i = 0; i < 784; ++i)
    px[size_t(i)] = uint8_t((i * 3 + seed * 41) % 256);
  return px;
}

/// A small image-list dataset: 3 classes, 4 train images (one name with a
/// space), 2 val images, blank lines and a CRLF line in train_list.txt.
class ImageListFixture : public ::testing::Test {
protected:
  void SetUp() override {
    fs::create_directories(dir / "train");
    fs::create_directories(dir / "val");
    writeFile(dir / "label_list.txt", "0 cat\n1 dog house\n\n2 bird\n");
    for (int i = 0; i < 4; ++i) {
      std::vector<uint8_t> px = grayPattern(i);
      writePng(dir / trainNames[i], px.data(), 28, 28, 1);
    }
    for (int i = 0; i < 2; ++i) {
      std::vector<uint8_t> px = grayPattern(10 + i);
      writePng(dir / ("val/v" + std::to_string(i) + ".png"), px.data(), 28, 28, 1);
    }
    writeFile(dir / "train_list.txt", "train/a.png 0\n\n  train/b.png   2  \r\n"
                                      "train/with space.png 1\n\t\ntrain/d.png 1");
    writeFile(dir / "val_list.txt", "val/v0.png 2\nval/v1.png 0\n");
  }

  TempDir dir;
  const std::string trainNames[4] = {"train/a.png", "train/b.png", "train/with space.png",
                                     "train/d.png"};
};

TEST_F(ImageListFixture, ReadsListsLabelsAndImages) {
  ImageList train(dir.path(), Split::Train);
  ASSERT_EQ(train.size(), 4);
  EXPECT_EQ(train.numClasses(), 3);
  EXPECT_EQ(train.classNames(), (std::vector<std::string>{"cat", "dog house", "bird"}));
  const int labels[4] = {0, 2, 1, 1};
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(train.label(i), labels[i]);
    EXPECT_EQ(train.path(i), (fs::path(dir.path()) / trainNames[i]).string());
    Sample s = train.get(i);
    EXPECT_EQ(s.label, labels[i]);
    std::vector<uint8_t> px = grayPattern(int(i));
    for (int p = 0; p < 784; ++p)
      ASSERT_EQ(s.image[size_t(p)], normalized(float(px[size_t(p)])));
  }
  EXPECT_EQ(train.sampleName(2), train.path(2));

  auto val = openDataset(dir.path(), "val");
  ASSERT_NE(dynamic_cast<ImageList *>(val.get()), nullptr);
  EXPECT_EQ(val->size(), 2);
  EXPECT_EQ(val->label(0), 2);
  EXPECT_EQ(openDataset(dir.path(), "test")->size(), 2);
  EXPECT_EQ(openDataset(dir.path(), Split::Train)->size(), 4);
}

TEST_F(ImageListFixture, MalformedLineNamesFileAndLine) {
  writeFile(dir / "train_list.txt", "train/a.png 0\n\ntrain/b.png\ntrain/d.png 1\n");
  std::string list = dir / "train_list.txt";
  EXPECT_THAT(errorOf([&] { ImageList(dir.path(), Split::Train); }),
              HasSubstr("kiln: " + list + ":3: malformed line 'train/b.png': expected "
                        "'<relative image path> <label>'"));
  writeFile(dir / "train_list.txt", "train/a.png 0\ntrain/b.png two\n");
  EXPECT_THAT(errorOf([&] { ImageList(dir.path(), Split::Train); }),
              HasSubstr(list + ":2: malformed line 'train/b.png two'"));
}

TEST_F(ImageListFixture, LabelOutsideLabelList) {
  std::string list = dir / "train_list.txt";
  writeFile(list, "train/a.png 0\ntrain/b.png 3\n");
  EXPECT_THAT(errorOf([&] { ImageList(dir.path(), Split::Train); }),
              HasSubstr("kiln: " + list + ":2: label 3 is outside the 3 classes of " +
                        (dir / "label_list.txt") + " (0..2)"));
  writeFile(list, "train/a.png -1\n");
  EXPECT_THAT(errorOf([&] { ImageList(dir.path(), Split::Train); }),
              HasSubstr(list + ":1: label -1 is outside the 3 classes"));
}

TEST_F(ImageListFixture, MissingOrBadLabelList) {
  std::string labelList = dir / "label_list.txt";
  fs::remove(labelList);
  std::string msg = errorOf([&] { ImageList(dir.path(), Split::Train); });
  EXPECT_THAT(msg, HasSubstr("kiln: " + labelList + ": cannot open the label list"));
  EXPECT_THAT(msg, HasSubstr("No such file or directory"));
  writeFile(labelList, "0 cat\n1 dog\n1 bird\n");
  EXPECT_THAT(errorOf([&] { ImageList(dir.path(), Split::Train); }),
              HasSubstr(labelList + ":3: class id 1 listed twice (first on line 2)"));
  writeFile(labelList, "0 cat\n2 bird\n");
  EXPECT_THAT(errorOf([&] { readLabelList(labelList); }),
              HasSubstr(labelList + ": class ids must be 0..1: id 1 is missing"));
  writeFile(labelList, "0 cat\nbird\n");
  EXPECT_THAT(errorOf([&] { readLabelList(labelList); }),
              HasSubstr(labelList + ":2: malformed line 'bird': expected '<id> <name>'"));
  writeFile(labelList, "\n\n");
  EXPECT_THAT(errorOf([&] { readLabelList(labelList); }), HasSubstr("names no classes"));
}

TEST_F(ImageListFixture, MissingImageFile) {
  std::string list = dir / "train_list.txt";
  writeFile(list, "train/a.png 0\ntrain/missing.png 1\n");
  EXPECT_THAT(errorOf([&] { ImageList(dir.path(), Split::Train); }),
              HasSubstr("kiln: " + list + ":2: image 'train/missing.png' not found (" +
                        (dir / "train/missing.png") + ")"));
  // A missing list file for the split.
  fs::remove(dir / "val_list.txt");
  EXPECT_THAT(errorOf([&] { ImageList(dir.path(), Split::Val); }),
              HasSubstr("kiln: " + (dir / "val_list.txt") + ": cannot open the image list"));
  // An empty list.
  writeFile(list, "\n \n");
  EXPECT_THAT(errorOf([&] { ImageList(dir.path(), Split::Train); }),
              HasSubstr(list + ": the image list names no images"));
}

TEST_F(ImageListFixture, CorruptImageNamesTheFileWhenRead) {
  writeFile(dir / "train/b.png", "this is not an image");
  ImageList train(dir.path(), Split::Train);  // existence is all the constructor checks
  float buf[784];
  EXPECT_EQ(train.getInto(0, buf), 0);
  EXPECT_THAT(errorOf([&] { train.getInto(1, buf); }),
              HasSubstr("kiln: " + (dir / "train/b.png") + ": not a PNG or JPEG file"));
}

TEST(OpenDataset, RejectsNonDatasets) {
  TempDir dir;
  writeFile(dir / "readme.txt", "hello");
  EXPECT_THAT(errorOf([&] { openDataset(dir.path(), "train"); }),
              HasSubstr("kiln: " + dir.path() + ": not a dataset directory"));
  EXPECT_THAT(errorOf([&] { openDataset(dir / "nope", "train"); }),
              HasSubstr("kiln: " + (dir / "nope") + ": data path does not exist"));
  EXPECT_THAT(errorOf([&] { openDataset(dir / "readme.txt", "train"); }),
              HasSubstr("data path is not a directory"));
}

TEST(DefaultDataPath, PrefersDataThenLiteDataThenSystem) {
  TempDir dir;
  const fs::path saved = fs::current_path();
  fs::current_path(dir.path());
  EXPECT_EQ(defaultDataPath(), std::string(kSystemFashionMnistDir));
  fs::create_directory("lite_data");
  EXPECT_EQ(defaultDataPath(), "./lite_data");
  fs::create_directory_symlink("lite_data", "data");  // as test_tipc/prepare.sh does
  EXPECT_EQ(defaultDataPath(), "./data");
  fs::current_path(saved);
}

TEST(ListImageFiles, FilesDirectoriesAndErrors) {
  TempDir dir;
  std::vector<uint8_t> px(4 * 4, 128);
  writePng(dir / "b.png", px.data(), 4, 4, 1);
  writeJpeg(dir / "a.JPG", px.data(), 4, 4, 1);
  writeJpeg(dir / "c.jpeg", px.data(), 4, 4, 1);
  writeFile(dir / "notes.txt", "x");
  fs::create_directory(dir / "sub.png");  // a directory, not an image
  EXPECT_EQ(listImageFiles(dir.path()),
            (std::vector<std::string>{dir / "a.JPG", dir / "b.png", dir / "c.jpeg"}));
  EXPECT_EQ(listImageFiles(dir / "b.png"), (std::vector<std::string>{dir / "b.png"}));
  EXPECT_THAT(errorOf([&] { listImageFiles(dir / "none"); }), HasSubstr("no such file"));
  TempDir empty;
  writeFile(empty / "x.txt", "x");
  EXPECT_THAT(errorOf([&] { listImageFiles(empty.path()); }),
              HasSubstr("kiln: " + empty.path() + ": no PNG or JPEG images"));
}

}  // namespace
}  // namespace kiln::data::test
