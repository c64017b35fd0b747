//===- make_images.cpp - predict's test images of other sizes and colours -===//
//
//   make_predict_images <images/demo dir> <out dir>
//
// Writes, from the demo images (so the right class is known):
//   ankle_boot_300x200_rgb.jpg  demo_7 scaled 7x (nearest) on a black 300x200
//                               canvas, tinted brown (RGB with luma ~ the gray);
//   trouser_70x56_gray.jpg      demo_1 scaled 2x, 7 black columns each side;
//   sneaker_40x40_rgba.png      demo_5 scaled to 40x40 (nearest), background
//                               WHITE but fully transparent: composited over
//                               black as preprocessing does, it is the sneaker
//                               on black again (ignoring alpha would give a
//                               white background the model never saw).
//===----------------------------------------------------------------------===//
#include "kiln/data/Image.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

using namespace kiln::data;

namespace {

uint8_t grayAt(const DecodedImage &img, int x, int y) { return uint8_t(img.at(x, y, 0)); }

DecodedImage demo(const std::string &dir, const char *name) {
  DecodedImage img = decodeImageFile(dir + "/" + name);
  if (img.width != 28 || img.height != 28 || img.channels != 1)
    fail(img.source, "expected a 28x28 gray demo image");
  return img;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_predict_images <images/demo dir> <out dir>\n");
    return 2;
  }
  const std::string demoDir = argv[1], out = argv[2];
  try {
    {
      DecodedImage boot = demo(demoDir, "demo_7_ankle_boot.png");
      const int w = 300, h = 200, scale = 7, x0 = (w - 28 * scale) / 2, y0 = (h - 28 * scale) / 2;
      std::vector<uint8_t> rgb(size_t(w * h * 3), 0);
      for (int y = 0; y < 28 * scale; ++y)
        for (int x = 0; x < 28 * scale; ++x) {
          double v = grayAt(boot, x / scale, y / scale);
          uint8_t *p = &rgb[size_t(((y0 + y) * w + x0 + x) * 3)];
          p[0] = uint8_t(std::min(255.0, std::round(v * 1.25)));
          p[1] = uint8_t(std::round(v * 0.95));
          p[2] = uint8_t(std::round(v * 0.6));
        }
      writeJpeg(out + "/ankle_boot_300x200_rgb.jpg", rgb.data(), w, h, 3, 92);
    }
    {
      DecodedImage trouser = demo(demoDir, "demo_1_trouser.png");
      const int w = 70, h = 56;
      std::vector<uint8_t> gray(size_t(w * h), 0);
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < 56; ++x)
          gray[size_t(y * w + 7 + x)] = grayAt(trouser, x / 2, y / 2);
      writeJpeg(out + "/trouser_70x56_gray.jpg", gray.data(), w, h, 1, 92);
    }
    {
      DecodedImage sneaker = demo(demoDir, "demo_5_sneaker.png");
      const int side = 40;
      std::vector<uint8_t> rgba(size_t(side * side * 4));
      for (int y = 0; y < side; ++y)
        for (int x = 0; x < side; ++x) {
          uint8_t v = grayAt(sneaker, x * 28 / side, y * 28 / side);
          uint8_t *p = &rgba[size_t((y * side + x) * 4)];
          p[0] = p[1] = p[2] = v == 0 ? 255 : v;
          p[3] = v == 0 ? 0 : 255;
        }
      writePng(out + "/sneaker_40x40_rgba.png", rgba.data(), side, side, 4);
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "make_predict_images: %s\n", e.what());
    return 1;
  }
  return 0;
}
