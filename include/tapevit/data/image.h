// tapevit/data/image.h: decoded 8-bit images and their decoding from JPEG / PNG files (libjpeg-turbo, libpng).
//
// Every image is converted as PIL's Image.open(f).convert('RGB') (channels 3) or .convert('L') (channels 1):
//   - grey (1/2/4/8-bit) is scaled to 0..255 and replicated; 16-bit grey is PIL's mode "I", whose conversion clips
//     to 0..255 (PIL does not rescale it);
//   - 16-bit RGB / RGBA / grey+alpha keep the high byte (PIL's "RGB;16B" raw modes);
//   - alpha is dropped, not composited (PIL's convert('RGB') of RGBA / LA);
//   - palette images look their index up in the palette (transparency ignored);
//   - CMYK JPEG is read with Adobe's inverted convention (as PIL assumes) and turned into RGB as PIL's cmyk2rgb:
//     R = 255 - K' where K' = ... see image.cpp;
//   - 'L' from RGB is ITU-R 601-2 luma in PIL's fixed point: (19595 R + 38470 G + 7471 B + 0x8000) >> 16.
// JPEG is decoded with libjpeg's defaults (islow DCT, fancy upsampling), as PIL does, so pixels are identical.
// The format is recognised from the file's first bytes, not its name.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tapevit {

struct Image {
  int64_t width = 0, height = 0, channels = 0;  // channels 1 or 3
  std::vector<uint8_t> pixels;                   // (height, width, channels), interleaved as PIL's
  uint8_t* row(int64_t y) { return pixels.data() + y * width * channels; }
  const uint8_t* row(int64_t y) const { return pixels.data() + y * width * channels; }
  static Image blank(int64_t width, int64_t height, int64_t channels);  // zero pixels
  // Set the size, keeping the buffer's capacity (pixels are left as they were: the caller writes every one).
  // Reusing an Image this way saves the allocation, zeroing and page faults of a fresh one per image.
  void reshape(int64_t w, int64_t h, int64_t c) {
    width = w, height = h, channels = c;
    pixels.resize(size_t(w * h * c));
  }
};

// PIL's DecompressionBombError threshold: larger images are refused before any pixel is allocated.
inline constexpr int64_t kMaxImagePixels = 2 * 89478485;

// Decode `size` bytes of a JPEG or PNG file to `channels` (1 or 3). `name` is used in errors. Throws an Error
// naming it for anything that is not a complete, valid JPEG or PNG image (truncated data included: PIL refuses
// those too unless told to load truncated images).
Image decode_image(const uint8_t* data, size_t size, int channels, const std::string& name);
// Read and decode a file; errors name the path.
Image read_image(const std::string& path, int channels);
// The same into out, reading through `bytes` (both reuse their capacity: per-thread scratch in the batch loader).
void read_image(const std::string& path, int channels, Image& out, std::vector<uint8_t>& bytes);
void decode_image(const uint8_t* data, size_t size, int channels, const std::string& name, Image& out);

// What a file's first bytes and header say, read without decoding its pixels (libjpeg's jpeg_read_header, libpng's
// png_read_info), with the checks decoding makes there (the format, a complete and valid header, a non-empty size
// within PIL's limit): an Error as read_image's, naming the path. ends_whole: the file ends as a complete image of
// its format does (JPEG's EOI marker, PNG's IEND chunk); a truncated file does not, nor does one with bytes after
// that end (which decodes: only decoding tells the two apart).
struct ImageHeader {
  std::string format;  // "JPEG" or "PNG"
  int64_t width = 0, height = 0;
  bool ends_whole = false;
};
ImageHeader read_image_header(const std::string& path);

// PIL's RGB -> L conversion of one pixel.
inline uint8_t luma(uint8_t r, uint8_t g, uint8_t b) {
  return uint8_t((uint32_t(r) * 19595u + uint32_t(g) * 38470u + uint32_t(b) * 7471u + 0x8000u) >> 16);
}

}  // namespace tapevit
