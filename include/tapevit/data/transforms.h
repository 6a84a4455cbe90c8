// tapevit/data/transforms.h: timm's image transforms on decoded 8-bit images, pixel for pixel as PIL computes
// them (timm applies them to PIL images), plus the draws that make them random.
//
//   eval  (timm transforms_imagenet_eval):  Resize(floor(img_size / crop_pct), interpolation) on the shorter
//         side, CenterCrop(img_size)
//   train (timm transforms_imagenet_train): RandomResizedCropAndInterpolation(img_size, scale, ratio,
//         train_interpolation), RandomHorizontalFlip(hflip), RandomVerticalFlip(vflip), then RandAugment (aa) or
//         ColorJitter (color_jitter, only without aa), ToTensor + Normalize, RandomErasing (reprob, remode, recount)
//
// Resampling is PIL's Image.resize (src/data/resample.cpp): separable, the filter's support widened by the
// scale when downscaling (antialiasing), coefficients in 22-bit fixed point, the horizontal pass first with
// 8-bit rounding in between. Results equal PIL's byte for byte (tests/test_image.cpp compares with fixtures
// written by python3-pil).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tapevit/data/image.h"
#include "tapevit/rng.h"

namespace tapevit {

// timm's interpolation names. Random (train only): bilinear or bicubic with equal odds, per image.
enum class Interp { Nearest, Bilinear, Bicubic, Box, Hamming, Lanczos, Random };
// Throws naming `key` and the accepted names.
Interp parse_interpolation(const std::string& name, const std::string& key, bool allow_random);
const char* interpolation_name(Interp interp);

// Sequential draws from one counter-based stream: the k-th draw is element k of `key`. A transform takes as
// many draws as it needs (RandomResizedCrop's attempts, RandAugment's ops) and stays a pure function of the key.
struct Draws {
  uint64_t key = 0;
  uint64_t i = 0;
  double uniform() { return Rng::uniform(key, i++); }                      // [0, 1)
  double uniform(double a, double b) { return a + (b - a) * uniform(); }   // Python's random.uniform
  int64_t randint(int64_t a, int64_t b);                                   // [a, b], Python's random.randint
  double normal() { return Rng::normal(key, i++); }                        // N(0, 1)
  bool chance(double p) { return uniform() < p; }
};

struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
};
// PIL's Image.resize((width, height), interp) (Random is not allowed here).
Image resize(const Image& src, int64_t width, int64_t height, Interp interp);
// torchvision's resized_crop: the box of src (inside it) cropped, then resized as above, into out (tmp: the
// horizontal pass's rows). Both keep their buffers between calls.
void resize(const Image& src, const CropBox& box, int64_t width, int64_t height, Interp interp, Image& out, Image& tmp);
// PIL's Image.crop((left, top, left + width, top + height)): pixels outside src are 0. The second form writes into
// out, reusing its buffer.
Image crop(const Image& src, int64_t left, int64_t top, int64_t width, int64_t height);
void crop(const Image& src, int64_t left, int64_t top, int64_t width, int64_t height, Image& out);
// torchvision's CenterCrop: offsets round((H - h) / 2) (half to even, as Python's round); an image smaller than
// the crop is padded with 0 first, as torchvision does.
Image center_crop(const Image& src, int64_t width, int64_t height);
void center_crop(const Image& src, int64_t width, int64_t height, Image& out);
// torchvision's Resize(size) with an int: the shorter side becomes size, the longer int(size * long / short).
Image resize_shorter_side(const Image& src, int64_t size, Interp interp);
// The size resize_shorter_side resizes a w x h image to.
void shorter_side_size(int64_t w, int64_t h, int64_t size, int64_t& new_w, int64_t& new_h);
void flip_horizontal(Image& im);
void flip_vertical(Image& im);

// The timm transform keys that are not already in AugmentConfig (loader.h).
struct ImageTransformConfig {
  double scale[2] = {0.08, 1.0};             // RandomResizedCrop area fraction range (timm's --scale)
  double ratio[2] = {3.0 / 4.0, 4.0 / 3.0};  // aspect ratio range (timm's --ratio)
  Interp train_interpolation = Interp::Random;
  Interp interpolation = Interp::Bicubic;    // eval resize
  double crop_pct = 0.875;                   // eval: resize to floor(img_size / crop_pct), then center crop
  double vflip = 0;
  double color_jitter = 0;                   // brightness = contrast = saturation = this (ignored with aa)
  std::string aa;                            // RandAugment spec, e.g. "rand-m9-mstd0.5-inc1"; "" = off
  double reprob = 0;                         // random erasing probability
  std::string remode = "pixel";              // const | rand | pixel
  int64_t recount = 1;                       // erase up to this many boxes
  void validate() const;                     // throws naming the key
};

// timm's RandomResizedCropAndInterpolation.get_params on an image width x height: 10 attempts at an area in
// scale * area and a log-uniform aspect ratio, then the fallback: a center crop clamped to the ratio range.
CropBox random_resized_crop_box(int64_t width, int64_t height, const double scale[2], const double ratio[2], Draws& d);

// Buffers a transform reuses from one image to the next (one per thread).
struct TransformScratch {
  Image resized, rows;
};
// timm's eval transform to img_size x img_size.
Image eval_transform(const Image& src, int64_t img_size, const ImageTransformConfig& t);
void eval_transform(const Image& src, int64_t img_size, const ImageTransformConfig& t, Image& out, TransformScratch& s);
class RandAugment;
// timm's train transform up to (not including) ToTensor, into out: crop, flips, then RandAugment `aa` when given,
// else colour jitter when t.color_jitter > 0.
void train_transform(const Image& src, int64_t img_size, double hflip, const ImageTransformConfig& t,
                     const RandAugment* aa, Draws& d, Image& out, TransformScratch& s);
// timm's RandomErasing on a normalised (C, H, W) image (after Normalize), one call per image.
void random_erasing(float* x, int64_t C, int64_t H, int64_t W, const ImageTransformConfig& t, Draws& d);

}  // namespace tapevit
