//===- Visualize.h - the prediction picture (FreeType text, PNG) -*- C++ -*-===//
//
//   kiln::predict::PredictionPainter painter;            // DejaVu Sans fonts
//   kiln::predict::RgbImage picture = painter.paint(gray28, {{"Ankle boot", 0.97}, ...},
//                                                   "shoe.png", "lenet5, top-5 of 10 classes");
//   kiln::predict::writePng("out/shoe.png", picture);
//
// The picture: on the left the 28x28 model input (what the network saw, after
// gray conversion, resize and crop) enlarged 8x by nearest neighbour, with the
// file name under it; on the right the most probable class name and
// percentage as a title, then one horizontal bar per top-k class (name,
// bar proportional to the probability, percentage), the top one in a strong
// colour. Text is rendered by FreeType (anti-aliased) from TrueType fonts,
// by default DejaVu Sans from Debian's fonts-dejavu-core.
//
// Like kiln_data this needs neither the compiler nor the runtime. Errors throw
// kiln::data::Error ("kiln: <file>: <what>").
//===----------------------------------------------------------------------===//
#ifndef KILN_PREDICT_VISUALIZE_H
#define KILN_PREDICT_VISUALIZE_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln::predict {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

/// 8-bit RGB, rows top to bottom, 3 bytes a pixel.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;

  RgbImage() = default;
  RgbImage(int w, int h, Rgb fill);
  Rgb at(int x, int y) const;
  void set(int x, int y, Rgb c);
  /// Fills the rectangle [x, x+w) x [y, y+h), clipped to the image.
  void fillRect(int x, int y, int w, int h, Rgb c);
};

/// Writes `image` as an 8-bit RGB PNG (through kiln::data::writePng).
void writePng(const std::string &path, const RgbImage &image);

/// A TrueType/OpenType font at one pixel size, rendered by FreeType.
class Font {
public:
  /// Throws kiln::data::Error naming the file if it cannot be loaded.
  Font(const std::string &path, int pixelSize);
  ~Font();
  Font(const Font &) = delete;
  Font &operator=(const Font &) = delete;

  /// Pixels above / below the baseline, and the advance width of UTF-8 `text`.
  int ascent() const;
  int descent() const;
  int textWidth(const std::string &text) const;
  /// Draws UTF-8 `text` with its baseline starting at (x, baseline),
  /// anti-aliased over what is there, clipped to the image; returns its width.
  int draw(RgbImage &image, int x, int baseline, const std::string &text, Rgb color) const;
  /// `text`, or its longest prefix followed by "…" that fits in maxWidth pixels.
  std::string fit(const std::string &text, int maxWidth) const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The directory of the default fonts (DejaVuSans.ttf, DejaVuSans-Bold.ttf).
std::string defaultFontDir();

struct ClassProb {
  std::string name;
  double prob = 0.0;
};

/// "97.3%" (>= 1 %; "99.98%" or ">99.99%" rather than rounding up to
/// "100.0%"), "0.42%" (>= 0.01 %), "<0.01%".
std::string formatPercent(double prob);

class PredictionPainter {
public:
  static constexpr int kScale = 8;          // the 28x28 input becomes 224x224
  static constexpr int kInputSide = 28;
  static constexpr int kMargin = 20;
  static constexpr int kBarWidth = 220;     // a probability of 1 fills this
  static constexpr int kBarHeight = 18;
  static constexpr int kRowPitch = 30;

  /// Where paint() put things (for tests).
  struct Layout {
    int imageX = 0, imageY = 0;             // top-left of the enlarged input
    int barX = 0;                           // left end of every bar
    std::vector<int> barY;                  // top of each bar, one per class
    std::vector<int> barFill;               // filled pixels of each bar
  };

  /// Loads DejaVuSans.ttf and DejaVuSans-Bold.ttf from `fontDir`; throws
  /// kiln::data::Error naming the missing file and the Debian package.
  explicit PredictionPainter(const std::string &fontDir = defaultFontDir());
  ~PredictionPainter();

  /// The picture for one image: `gray28` is the model input as 8-bit gray
  /// (28x28, see kiln::data::modelInputToGray8), `ranked` the top-k classes,
  /// most probable first, `caption` the image's file name (under the image),
  /// `subtitle` a line under the title (e.g. the model and k).
  RgbImage paint(const uint8_t *gray28, const std::vector<ClassProb> &ranked,
                 const std::string &caption, const std::string &subtitle,
                 Layout *layout = nullptr) const;

private:
  std::unique_ptr<Font> title_, label_, small_;
};

}  // namespace kiln::predict

#endif  // KILN_PREDICT_VISUALIZE_H
