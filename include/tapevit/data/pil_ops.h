// tapevit/data/pil_ops.h: the PIL image operations timm's RandAugment and torchvision's ColorJitter call, on 8-bit
// L or RGB images, with PIL's integer and float rounding (tests/test_image.cpp compares each with python3-pil).
//
//   PIL                                   here
//   ImageOps.autocontrast(im)             autocontrast
//   ImageOps.equalize(im)                 equalize
//   ImageOps.invert / posterize / solarize  invert, posterize, solarize
//   timm's solarize_add (a point table)   solarize_add
//   ImageEnhance.Color/Contrast/Brightness/Sharpness(im).enhance(f)   enhance_*
//   Image.blend(a, b, alpha)              blend
//   im.transform(size, AFFINE, m, resample, fillcolor)  affine
//   im.rotate(deg, resample, fillcolor)   rotate
#pragma once
#include <array>
#include <cstdint>

#include "tapevit/data/image.h"
#include "tapevit/data/transforms.h"

namespace tapevit {

void autocontrast(Image& im);
void equalize(Image& im);
void invert(Image& im);
void posterize(Image& im, int bits);          // keep the top `bits` bits (0..8)
void solarize(Image& im, int threshold);      // v >= threshold -> 255 - v
void solarize_add(Image& im, int add, int threshold = 128);  // v < threshold -> min(255, v + add)

// a * (1 - alpha) + b * alpha, as PIL's ImagingBlend (truncated; clipped when alpha is outside [0, 1])
void blend(Image& a, const Image& b, double alpha);  // result in a
void enhance_color(Image& im, double factor);
void enhance_contrast(Image& im, double factor);
void enhance_brightness(Image& im, double factor);
void enhance_sharpness(Image& im, double factor);

// PIL's affine transform: output pixel (x, y) samples the input at (a0 (x+.5) + a1 (y+.5) + a2,
// a3 (x+.5) + a4 (y+.5) + a5); pixels that fall outside are `fill` (one value per channel).
using Fill = std::array<uint8_t, 3>;
Image affine(const Image& im, const double m[6], Interp interp, const Fill& fill);
Image rotate(const Image& im, double degrees, Interp interp, const Fill& fill);

}  // namespace tapevit
