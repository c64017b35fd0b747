//===- PredictTest.cpp - predict's input path, ranking and picture --------===//
//
// - The predict path (kiln::data::readModelInput on a file) gives the tensor
//   the training paths give, bit for bit: the Fashion-MNIST IDX reader and the
//   image-list dataset on the same bytes, and torchvision's ToTensor +
//   Normalize written out in float32; the demo images equal their t10k images.
// - softmax/top-k against double-precision references.
// - The picture: the input enlarged 8x by nearest neighbour, pixel for pixel;
//   bars of lround(p * 220) pixels; text glyphs actually drawn.
//===----------------------------------------------------------------------===//
#include "kiln/data/Dataset.h"
#include "kiln/data/Image.h"
#include "kiln/predict/Classify.h"
#include "kiln/predict/Visualize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>

namespace fs = std::filesystem;
using namespace kiln;
using predict::PredictionPainter;
using predict::Rgb;

namespace {

class TempDir {
public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "kiln-predict-test-XXXXXX").string();
    if (!mkdtemp(pattern.data()))
      throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string &name) const { return path_ + "/" + name; }
  const std::string &path() const { return path_; }

private:
  std::string path_;
};

void writeText(const std::string &path, const std::string &text) {
  std::ofstream(path, std::ios::binary) << text;
}

void putBe32(std::vector<uint8_t> &out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(uint8_t(v >> shift));
}

/// 784 bytes holding every value 0..255 at least three times (167 is odd, so
/// i * 167 mod 256 runs through all residues every 256 steps).
std::vector<uint8_t> allBytes28() {
  std::vector<uint8_t> px(784);
  for (size_t i = 0; i < px.size(); ++i)
    px[i] = uint8_t((i * 167 + 13) % 256);
  return px;
}

std::string slug(const std::string &name) {
  std::string out;
  for (char c : name)
    out += std::isalnum(static_cast<unsigned char>(c)) ? char(std::tolower(c)) : '_';
  out = std::regex_replace(out, std::regex("_+"), "_");
  while (!out.empty() && out.back() == '_')
    out.pop_back();
  return out;
}

bool sameRgb(Rgb a, Rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }
bool isInk(Rgb c) { return c.r < 128 && c.g < 128 && c.b < 128; }

}  // namespace

// ---------------------------------------------------------------------------
// The model input
// ---------------------------------------------------------------------------

TEST(PredictInput, Gray28PngEqualsTheTrainingTensorsBitForBit) {
  TempDir dir;
  const std::vector<uint8_t> px = allBytes28();
  data::writePng(dir / "img.png", px.data(), 28, 28, 1);

  // Training on Fashion-MNIST: the same bytes in (uncompressed) IDX files.
  std::vector<uint8_t> images, labels;
  putBe32(images, 0x803);
  for (uint32_t d : {1u, 28u, 28u})
    putBe32(images, d);
  images.insert(images.end(), px.begin(), px.end());
  putBe32(labels, 0x801);
  putBe32(labels, 1);
  labels.push_back(3);
  writeText(dir / "images-idx3-ubyte", std::string(images.begin(), images.end()));
  writeText(dir / "labels-idx1-ubyte", std::string(labels.begin(), labels.end()));
  data::FashionMnist idx(dir / "images-idx3-ubyte", dir / "labels-idx1-ubyte");
  std::vector<float> fromIdx(size_t(data::kImageSize));
  ASSERT_EQ(idx.getInto(0, fromIdx.data()), 3);

  // Training on an image list (lite_data's layout).
  std::string names;
  for (int c = 0; c < 10; ++c)
    names += std::to_string(c) + " " + data::fashionMnistClassNames()[size_t(c)] + "\n";
  writeText(dir / "label_list.txt", names);
  writeText(dir / "train_list.txt", "img.png 3\n");
  data::ImageList list(dir.path(), data::Split::Train);
  std::vector<float> fromList(size_t(data::kImageSize));
  ASSERT_EQ(list.getInto(0, fromList.data()), 3);

  // torchvision's ToTensor + Normalize(0.2860, 0.3530), in float32.
  std::vector<float> torchvision(px.size());
  for (size_t i = 0; i < px.size(); ++i)
    torchvision[i] = (float(px[i]) / 255.0f - 0.2860f) / 0.3530f;

  const std::vector<float> predicted = data::readModelInput(dir / "img.png");
  EXPECT_EQ(predicted, fromIdx);
  EXPECT_EQ(predicted, fromList);
  EXPECT_EQ(predicted, torchvision);

  // And the picture shows exactly the original bytes.
  std::vector<uint8_t> back(px.size());
  data::modelInputToGray8(predicted.data(), back.data());
  EXPECT_EQ(back, px);
}

TEST(PredictInput, DemoImagesAreTheirT10kImages) {
  // make_lite_data.py takes demo_<k>_<class>.png = the last t10k image of the class.
  if (!fs::exists(std::string(data::kSystemFashionMnistDir) + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  auto t10k = data::FashionMnist::open(data::kSystemFashionMnistDir, data::Split::Val);
  const auto &classes = data::fashionMnistClassNames();
  int checked = 0;
  for (const auto &entry : fs::directory_iterator(std::string(KILN_SOURCE_DIR) + "/images/demo")) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, m, std::regex(R"(demo_\d+_(.+)\.png)")))
      continue;
    int cls = -1;
    for (size_t c = 0; c < classes.size(); ++c)
      if (slug(classes[c]) == m[1].str())
        cls = int(c);
    ASSERT_GE(cls, 0) << name << ": no class named like this";
    int64_t last = -1;
    for (int64_t i = 0; i < t10k->size(); ++i)
      if (t10k->label(i) == cls)
        last = i;
    std::vector<float> expected(size_t(data::kImageSize));
    t10k->getInto(last, expected.data());
    EXPECT_EQ(data::readModelInput(entry.path().string()), expected) << name;
    ++checked;
  }
  EXPECT_GE(checked, 5);
}

// ---------------------------------------------------------------------------
// Ranking
// ---------------------------------------------------------------------------

TEST(Softmax, MatchesTheDoubleReference) {
  const float logits[5] = {-1.5f, 0.0f, 2.25f, 3.0f, -7.0f};
  double sum = 0.0;
  for (float l : logits)
    sum += std::exp(double(l));
  std::vector<double> p = predict::softmax(logits, 5);
  ASSERT_EQ(p.size(), 5u);
  double total = 0.0;
  for (int c = 0; c < 5; ++c) {
    EXPECT_NEAR(p[size_t(c)], std::exp(double(logits[c])) / sum, 1e-15);
    total += p[size_t(c)];
  }
  EXPECT_NEAR(total, 1.0, 1e-15);
}

TEST(Softmax, LargeLogitsDoNotOverflowAndNonFiniteOnesShow) {
  const float big[3] = {1000.0f, 1000.0f, -1000.0f};
  std::vector<double> p = predict::softmax(big, 3);
  EXPECT_DOUBLE_EQ(p[0], 0.5);
  EXPECT_DOUBLE_EQ(p[1], 0.5);
  EXPECT_EQ(p[2], 0.0);
  const float bad[2] = {std::numeric_limits<float>::quiet_NaN(), 1.0f};
  p = predict::softmax(bad, 2);
  EXPECT_FALSE(std::isfinite(p[0]) && std::isfinite(p[1]));
}

TEST(TopK, MostProbableFirstTiesByClassIdAndClamped) {
  const std::vector<double> probs = {0.1, 0.3, 0.3, 0.2, 0.1};
  auto ids = [](const std::vector<predict::RankedClass> &r) {
    std::vector<int> out;
    for (const auto &c : r)
      out.push_back(c.classId);
    return out;
  };
  EXPECT_EQ(ids(predict::topK(probs, 3)), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(ids(predict::topK(probs, 10)), (std::vector<int>{1, 2, 3, 0, 4}));
  EXPECT_TRUE(predict::topK(probs, 0).empty());
  EXPECT_EQ(predict::formatTopK(predict::topK(probs, 2), {"a", "b", "c", "d", "e"}),
            "[(1, b, 0.30000), (2, c, 0.30000)]");
}

TEST(VisualisationNames, StemPlusPngAndCollisionsResolved) {
  EXPECT_EQ(predict::visualisationNames({"imgs/shoe.jpg"}), std::vector<std::string>{"shoe.png"});
  EXPECT_EQ(predict::visualisationNames({"x/a.png", "x/a.jpg", "x/b.jpeg", "y/c.jpeg", "z/c.jpeg"}),
            (std::vector<std::string>{"a_png.png", "a_jpg.png", "b.png", "c_jpeg.png",
                                      "c_jpeg_2.png"}));
}

TEST(FormatPercent, NeverRoundsUpToCertainty) {
  EXPECT_EQ(predict::formatPercent(0.973), "97.3%");
  EXPECT_EQ(predict::formatPercent(0.05), "5.0%");
  EXPECT_EQ(predict::formatPercent(0.99984), "99.98%");
  EXPECT_EQ(predict::formatPercent(0.9999999), ">99.99%");
  EXPECT_EQ(predict::formatPercent(1.0), "100.0%");
  EXPECT_EQ(predict::formatPercent(0.0042), "0.42%");
  EXPECT_EQ(predict::formatPercent(0.00001), "<0.01%");
}

// ---------------------------------------------------------------------------
// The picture
// ---------------------------------------------------------------------------

class Painter : public ::testing::Test {
protected:
  PredictionPainter painter;
  std::vector<uint8_t> gray = allBytes28();
  std::vector<predict::ClassProb> ranked = {{"Ankle boot", 0.7}, {"Sneaker", 0.2}, {"Bag", 0.1}};
};

TEST_F(Painter, InputIsEnlargedEightTimesByNearestNeighbour) {
  PredictionPainter::Layout layout;
  predict::RgbImage img = painter.paint(gray.data(), ranked, "shoe.png", "lenet5", &layout);
  constexpr int kSide = 28 * PredictionPainter::kScale;
  ASSERT_GE(img.width, layout.imageX + kSide);
  ASSERT_GE(img.height, layout.imageY + kSide);
  for (int y = 0; y < kSide; ++y)
    for (int x = 0; x < kSide; ++x) {
      const uint8_t v = gray[size_t((y / 8) * 28 + x / 8)];
      ASSERT_TRUE(sameRgb(img.at(layout.imageX + x, layout.imageY + y), {v, v, v}))
          << "at " << x << "," << y;
    }
}

TEST_F(Painter, BarsAreProportionalToTheProbabilities) {
  PredictionPainter::Layout layout;
  predict::RgbImage img = painter.paint(gray.data(), ranked, "shoe.png", "lenet5", &layout);
  ASSERT_EQ(layout.barFill, (std::vector<int>{154, 44, 22}));  // lround(p * 220)
  ASSERT_EQ(layout.barY.size(), 3u);
  const Rgb track{235, 235, 235};
  for (size_t i = 0; i < 3; ++i) {
    if (i > 0) {
      EXPECT_EQ(layout.barY[i] - layout.barY[i - 1], PredictionPainter::kRowPitch);
    }
    const Rgb fill = i == 0 ? Rgb{45, 108, 192} : Rgb{147, 180, 220};
    for (int dy = 0; dy < PredictionPainter::kBarHeight; ++dy)
      for (int x = 0; x < PredictionPainter::kBarWidth; ++x) {
        Rgb want = x < layout.barFill[i] ? fill : track;
        ASSERT_TRUE(sameRgb(img.at(layout.barX + x, layout.barY[i] + dy), want))
            << "bar " << i << " x " << x << " dy " << dy;
      }
  }
}

TEST_F(Painter, NamesPercentagesTitleAndCaptionAreDrawn) {
  PredictionPainter::Layout layout;
  predict::RgbImage img = painter.paint(gray.data(), ranked, "shoe.png", "lenet5", &layout);
  // Ink (dark pixels) in a rectangle, and the leftmost column holding some.
  auto ink = [&](int x0, int y0, int x1, int y1, int *leftmost = nullptr) {
    int count = 0, left = x1;
    for (int y = std::max(y0, 0); y < std::min(y1, img.height); ++y)
      for (int x = std::max(x0, 0); x < std::min(x1, img.width); ++x)
        if (isInk(img.at(x, y))) {
          ++count;
          left = std::min(left, x);
        }
    if (leftmost)
      *leftmost = left;
    return count;
  };
  const int textLeft = layout.imageX + 28 * 8;
  std::vector<int> nameLeft(3);
  for (size_t i = 0; i < 3; ++i) {
    const int y0 = layout.barY[i] - 4, y1 = layout.barY[i] + PredictionPainter::kBarHeight + 4;
    EXPECT_GT(ink(textLeft, y0, layout.barX, y1, &nameLeft[i]), 20) << "name of bar " << i;
    EXPECT_GT(ink(layout.barX + PredictionPainter::kBarWidth, y0, img.width, y1), 20)
        << "percentage of bar " << i;
  }
  // Names are right-aligned to the bars: the longest starts furthest left.
  EXPECT_LT(nameLeft[0], nameLeft[1]);  // "Ankle boot" vs "Sneaker"
  EXPECT_LT(nameLeft[1], nameLeft[2]);  // "Sneaker" vs "Bag"
  EXPECT_GT(ink(textLeft, 0, img.width, layout.barY[0] - 4), 100) << "title";
  int captionInk = 0;
  for (int y = layout.imageY + 28 * 8 + 2; y < img.height; ++y)
    for (int x = 0; x < layout.imageX + 28 * 8; ++x)
      captionInk += !sameRgb(img.at(x, y), {255, 255, 255});
  EXPECT_GT(captionInk, 50) << "caption";
  // Nothing in the right margin.
  for (int y = 0; y < img.height; ++y)
    for (int x = img.width - 8; x < img.width; ++x)
      ASSERT_TRUE(sameRgb(img.at(x, y), {255, 255, 255}));
}

TEST_F(Painter, TenClassesMakeItTaller) {
  PredictionPainter::Layout three, ten;
  predict::RgbImage small = painter.paint(gray.data(), ranked, "a.png", "", &three);
  std::vector<predict::ClassProb> all;
  for (int c = 0; c < 10; ++c)
    all.push_back({data::fashionMnistClassNames()[size_t(c)], 0.1});
  predict::RgbImage tall = painter.paint(gray.data(), all, "a.png", "", &ten);
  ASSERT_EQ(ten.barY.size(), 10u);
  EXPECT_GT(tall.height, small.height);
  EXPECT_LE(ten.barY.back() + PredictionPainter::kBarHeight, tall.height);
}

TEST(Font, MissingOrBadFontFilesAreNamed) {
  try {
    PredictionPainter painter("/nonexistent-font-dir");
    FAIL() << "no error";
  } catch (const data::Error &e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-font-dir/DejaVuSans.ttf"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("fonts-dejavu-core"), std::string::npos) << e.what();
  }
  TempDir dir;
  writeText(dir / "junk.ttf", "this is not a font");
  try {
    predict::Font font(dir / "junk.ttf", 15);
    FAIL() << "no error";
  } catch (const data::Error &e) {
    EXPECT_NE(std::string(e.what()).find("junk.ttf: not a font"), std::string::npos) << e.what();
  }
}

TEST(Font, WidthsFitAndUtf8) {
  predict::Font font(predict::defaultFontDir() + "/DejaVuSans.ttf", 15);
  EXPECT_EQ(font.textWidth(""), 0);
  EXPECT_GT(font.textWidth("WWW"), font.textWidth("iii"));
  EXPECT_GT(font.ascent(), 10);
  EXPECT_GT(font.descent(), 0);
  EXPECT_EQ(font.fit("Bag", 60), "Bag");
  std::string shortened = font.fit("A very long class name indeed", 80);
  EXPECT_LE(font.textWidth(shortened), 80);
  EXPECT_EQ(shortened.substr(shortened.size() - 3), "\u2026");
  // Non-ASCII names and broken UTF-8 (a replacement glyph) measure and draw.
  EXPECT_GT(font.textWidth("R\u00f6cke"), font.textWidth("R"));
  EXPECT_GT(font.textWidth("\xff\xfe"), 0);
  predict::RgbImage img(100, 30, {255, 255, 255});
  EXPECT_EQ(font.draw(img, 2, 20, "R\u00f6cke \xc3", {0, 0, 0}), font.textWidth("R\u00f6cke \xc3"));
}
