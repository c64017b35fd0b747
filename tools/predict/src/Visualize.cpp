//===- Visualize.cpp - the prediction picture ------------------------------===//
//
// Text: FreeType renders each glyph to an 8-bit coverage bitmap (light
// hinting, anti-aliased), blended over the canvas in sRGB; pen positions are
// kept in 26.6 fixed point with the font's kerning, so spacing matches what
// FreeType measures.
//===----------------------------------------------------------------------===//
#include "kiln/predict/Visualize.h"

#include "kiln/data/Error.h"
#include "kiln/data/Image.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <ft2build.h>
#include FT_FREETYPE_H

namespace kiln::predict {
namespace {

/// UTF-8 to code points; an invalid or truncated sequence becomes U+FFFD.
std::vector<char32_t> decodeUtf8(const std::string &text) {
  std::vector<char32_t> out;
  const auto *s = reinterpret_cast<const unsigned char *>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    size_t extra = 0;
    char32_t cp = c;
    if (c >= 0x80) {
      if ((c >> 5) == 0x6) {
        extra = 1;
        cp = c & 0x1F;
      } else if ((c >> 4) == 0xE) {
        extra = 2;
        cp = c & 0x0F;
      } else if ((c >> 3) == 0x1E) {
        extra = 3;
        cp = c & 0x07;
      } else {
        cp = 0xFFFD;
      }
    }
    bool ok = cp != 0xFFFD;
    for (size_t k = 1; ok && k <= extra; ++k) {
      if (i + k >= n || (s[i + k] & 0xC0) != 0x80)
        ok = false;
      else
        cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    out.push_back(ok ? cp : char32_t(0xFFFD));
    i += ok ? extra + 1 : 1;
  }
  return out;
}

std::string encodeUtf8(const std::vector<char32_t> &cps) {
  std::string out;
  for (char32_t cp : cps) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

std::string freetypeError(FT_Error err) {
  const char *text = FT_Error_String(err);
  return text ? std::string(text) : "FreeType error " + std::to_string(int(err));
}

// The palette.
constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kInk{26, 26, 26};
constexpr Rgb kMuted{100, 100, 100};
constexpr Rgb kFrame{150, 150, 150};
constexpr Rgb kTrack{235, 235, 235};
constexpr Rgb kTopBar{45, 108, 192};
constexpr Rgb kOtherBar{147, 180, 220};

}  // namespace

// ---------------------------------------------------------------------------
// RgbImage
// ---------------------------------------------------------------------------

RgbImage::RgbImage(int w, int h, Rgb fill) : width(w), height(h) {
  pixels.resize(size_t(w) * size_t(h) * 3);
  for (size_t i = 0; i < pixels.size(); i += 3) {
    pixels[i] = fill.r;
    pixels[i + 1] = fill.g;
    pixels[i + 2] = fill.b;
  }
}

Rgb RgbImage::at(int x, int y) const {
  const uint8_t *p = &pixels[(size_t(y) * size_t(width) + size_t(x)) * 3];
  return {p[0], p[1], p[2]};
}

void RgbImage::set(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= width || y >= height)
    return;
  uint8_t *p = &pixels[(size_t(y) * size_t(width) + size_t(x)) * 3];
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

void RgbImage::fillRect(int x, int y, int w, int h, Rgb c) {
  for (int yy = std::max(y, 0); yy < std::min(y + h, height); ++yy)
    for (int xx = std::max(x, 0); xx < std::min(x + w, width); ++xx)
      set(xx, yy, c);
}

void writePng(const std::string &path, const RgbImage &image) {
  data::writePng(path, image.pixels.data(), image.width, image.height, 3);
}

// ---------------------------------------------------------------------------
// Font
// ---------------------------------------------------------------------------

struct Font::Impl {
  FT_Library library = nullptr;
  FT_Face face = nullptr;
  std::string path;

  ~Impl() {
    if (face)
      FT_Done_Face(face);
    if (library)
      FT_Done_FreeType(library);
  }

  /// Lays out `text`: calls glyph(x26_6 pen, slot) for each glyph after
  /// loading it (rendered when `render`); returns the advance in 26.6.
  template <typename Fn>
  FT_Pos layout(const std::string &text, bool render, Fn &&glyph) const {
    const bool kerning = FT_HAS_KERNING(face);
    FT_UInt previous = 0;
    FT_Pos pen = 0;
    for (char32_t cp : decodeUtf8(text)) {
      FT_UInt index = FT_Get_Char_Index(face, FT_ULong(cp));
      if (kerning && previous && index) {
        FT_Vector delta;
        if (FT_Get_Kerning(face, previous, index, FT_KERNING_DEFAULT, &delta) == 0)
          pen += delta.x;
      }
      FT_Int32 flags = FT_LOAD_TARGET_LIGHT | (render ? FT_LOAD_RENDER : FT_LOAD_DEFAULT);
      if (FT_Load_Glyph(face, index, flags) != 0)
        continue;  // a glyph FreeType cannot load is skipped, not fatal
      glyph(pen, face->glyph);
      pen += face->glyph->advance.x;
      previous = index;
    }
    return pen;
  }
};

Font::Font(const std::string &path, int pixelSize) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  if (FT_Error err = FT_Init_FreeType(&impl_->library))
    data::fail(path, "cannot initialise FreeType: " + freetypeError(err));
  if (FT_Error err = FT_New_Face(impl_->library, path.c_str(), 0, &impl_->face)) {
    impl_->face = nullptr;
    if (err == FT_Err_Cannot_Open_Resource)
      data::fail(path, "cannot open the font file (install the Debian package fonts-dejavu-core)");
    data::fail(path, "not a font FreeType can read: " + freetypeError(err));
  }
  if (FT_Error err = FT_Set_Pixel_Sizes(impl_->face, 0, FT_UInt(pixelSize)))
    data::fail(path, "cannot use the font at " + std::to_string(pixelSize) +
                         " pixels: " + freetypeError(err));
}

Font::~Font() = default;

int Font::ascent() const { return int((impl_->face->size->metrics.ascender + 63) >> 6); }

int Font::descent() const { return int((-impl_->face->size->metrics.descender + 63) >> 6); }

int Font::textWidth(const std::string &text) const {
  return int((impl_->layout(text, false, [](FT_Pos, FT_GlyphSlot) {}) + 32) >> 6);
}

int Font::draw(RgbImage &image, int x, int baseline, const std::string &text, Rgb color) const {
  FT_Pos advance = impl_->layout(text, true, [&](FT_Pos pen, FT_GlyphSlot slot) {
    const FT_Bitmap &bm = slot->bitmap;
    if (bm.pixel_mode != FT_PIXEL_MODE_GRAY)
      return;
    const int left = x + int((pen + 32) >> 6) + slot->bitmap_left;
    const int top = baseline - slot->bitmap_top;
    for (unsigned row = 0; row < bm.rows; ++row) {
      const unsigned char *src = bm.buffer + ptrdiff_t(row) * bm.pitch;
      const int y = top + int(row);
      if (y < 0 || y >= image.height)
        continue;
      for (unsigned col = 0; col < bm.width; ++col) {
        const int px = left + int(col);
        const unsigned coverage = src[col];
        if (px < 0 || px >= image.width || coverage == 0)
          continue;
        Rgb under = image.at(px, y);
        auto mix = [&](uint8_t dst, uint8_t ink) {
          return uint8_t((unsigned(dst) * (255 - coverage) + unsigned(ink) * coverage + 127) / 255);
        };
        image.set(px, y, {mix(under.r, color.r), mix(under.g, color.g), mix(under.b, color.b)});
      }
    }
  });
  return int((advance + 32) >> 6);
}

std::string Font::fit(const std::string &text, int maxWidth) const {
  if (textWidth(text) <= maxWidth)
    return text;
  std::vector<char32_t> cps = decodeUtf8(text);
  while (!cps.empty()) {
    cps.pop_back();
    std::string candidate = encodeUtf8(cps) + "\u2026";
    if (textWidth(candidate) <= maxWidth)
      return candidate;
  }
  return "";
}

std::string defaultFontDir() { return KILN_DEFAULT_FONT_DIR; }

// ---------------------------------------------------------------------------
// The picture
// ---------------------------------------------------------------------------

std::string formatPercent(double prob) {
  char text[32];
  const double percent = prob * 100.0;
  if (percent >= 1.0) {
    std::snprintf(text, sizeof text, "%.1f%%", percent);
    // Never round a probability below 1 up to "100.0%".
    if (prob < 1.0 && std::string(text) == "100.0%") {
      std::snprintf(text, sizeof text, "%.2f%%", percent);
      if (std::string(text) == "100.00%")
        std::snprintf(text, sizeof text, ">99.99%%");
    }
  }
  else if (percent >= 0.01)
    std::snprintf(text, sizeof text, "%.2f%%", percent);
  else
    std::snprintf(text, sizeof text, "<0.01%%");
  return text;
}

PredictionPainter::PredictionPainter(const std::string &fontDir) {
  const std::string regular = fontDir + "/DejaVuSans.ttf";
  const std::string bold = fontDir + "/DejaVuSans-Bold.ttf";
  label_ = std::make_unique<Font>(regular, 15);
  small_ = std::make_unique<Font>(regular, 13);
  title_ = std::make_unique<Font>(bold, 21);
}

PredictionPainter::~PredictionPainter() = default;

RgbImage PredictionPainter::paint(const uint8_t *gray28, const std::vector<ClassProb> &ranked,
                                  const std::string &caption, const std::string &subtitle,
                                  Layout *layoutOut) const {
  constexpr int kSide = kInputSide * kScale;
  constexpr int kMaxName = 200;   // longer class names are shortened with "…"
  constexpr int kGap = 12;        // between name, bar and percentage
  const int k = int(ranked.size());

  // At least as wide as the widest Fashion-MNIST name, so their pictures all
  // have one width whichever classes make the top-k.
  int nameWidth = 96;
  for (const ClassProb &c : ranked)
    nameWidth = std::max(nameWidth, std::min(kMaxName, label_->textWidth(c.name)));
  const int percentWidth = std::max(label_->textWidth("100.0%"), label_->textWidth(">99.99%"));

  Layout layout;
  layout.imageX = kMargin;
  layout.imageY = kMargin;
  const int columnX = kMargin + kSide + 28;
  const int titleBaseline = kMargin + title_->ascent() - 4;
  const int subtitleBaseline = titleBaseline + title_->descent() + 6 + small_->ascent();
  const int rowsTop = subtitleBaseline + small_->descent() + 12;
  layout.barX = columnX + nameWidth + kGap;
  const int width = layout.barX + kBarWidth + kGap + percentWidth + kMargin;
  const int leftBottom = kMargin + kSide + 8 + small_->ascent() + small_->descent() + kMargin - 6;
  const int rightBottom = rowsTop + std::max(k, 1) * kRowPitch - (kRowPitch - kBarHeight) + kMargin;
  RgbImage image(width, std::max(leftBottom, rightBottom), kWhite);

  // The model input, enlarged by nearest neighbour, in a thin frame.
  image.fillRect(layout.imageX - 1, layout.imageY - 1, kSide + 2, kSide + 2, kFrame);
  for (int y = 0; y < kSide; ++y)
    for (int x = 0; x < kSide; ++x) {
      uint8_t v = gray28[(y / kScale) * kInputSide + x / kScale];
      image.set(layout.imageX + x, layout.imageY + y, {v, v, v});
    }
  small_->draw(image, layout.imageX, layout.imageY + kSide + 8 + small_->ascent(),
               small_->fit(caption, kSide), kMuted);

  // Title: the prediction and its probability; then the bars.
  if (k > 0) {
    const std::string percent = "  " + formatPercent(ranked[0].prob);
    const int titleRoom = width - kMargin - columnX - title_->textWidth(percent);
    int x = columnX + title_->draw(image, columnX, titleBaseline,
                                   title_->fit(ranked[0].name, titleRoom), kInk);
    title_->draw(image, x, titleBaseline, percent, kTopBar);
    small_->draw(image, columnX, subtitleBaseline,
                 small_->fit(subtitle, width - kMargin - columnX), kMuted);
  }
  for (int i = 0; i < k; ++i) {
    const int barY = rowsTop + i * kRowPitch;
    const double p = std::isfinite(ranked[size_t(i)].prob) ? ranked[size_t(i)].prob : 0.0;
    const int fill = int(std::lround(std::clamp(p, 0.0, 1.0) * kBarWidth));
    image.fillRect(layout.barX, barY, kBarWidth, kBarHeight, kTrack);
    image.fillRect(layout.barX, barY, fill, kBarHeight, i == 0 ? kTopBar : kOtherBar);
    layout.barY.push_back(barY);
    layout.barFill.push_back(fill);
    // Text vertically centred on the bar.
    const int baseline = barY + (kBarHeight + label_->ascent() - label_->descent()) / 2;
    const std::string name = label_->fit(ranked[size_t(i)].name, kMaxName);
    label_->draw(image, layout.barX - kGap - label_->textWidth(name), baseline, name, kInk);
    label_->draw(image, layout.barX + kBarWidth + kGap, baseline,
                 formatPercent(ranked[size_t(i)].prob), kInk);
  }
  if (layoutOut)
    *layoutOut = std::move(layout);
  return image;
}

}  // namespace kiln::predict
