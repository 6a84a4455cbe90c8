// src/data/image.cpp: JPEG (libjpeg-turbo) and PNG (libpng) decoding with PIL's conversions; see
// tapevit/data/image.h for the rules.
//
// Both libraries report errors by longjmp. The functions that call them (decode_jpeg, decode_png) hold no C++
// object of their own between setjmp and the library calls: what they fill (the image, the error text) belongs to
// the caller, so a longjmp skips no destructor.
#include "tapevit/data/image.h"

#include <csetjmp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "tapevit/error.h"

namespace tapevit {

Image Image::blank(int64_t width, int64_t height, int64_t channels) {
  Image im;
  im.width = width, im.height = height, im.channels = channels;
  im.pixels.assign(size_t(width * height * channels), 0);
  return im;
}

namespace {

void check_size(int64_t w, int64_t h, const char* format, std::string& err, bool& ok) {
  ok = w > 0 && h > 0 && w * h <= kMaxImagePixels;
  if (w <= 0 || h <= 0) err = std::string(format) + " header gives an empty image";
  else if (!ok)
    err = std::string(format) + " of " + std::to_string(w) + " x " + std::to_string(h) + " = " +
          std::to_string(w * h) + " pixels, more than PIL's limit of " + std::to_string(kMaxImagePixels) +
          " (a decompression bomb?)";
}

// ---- JPEG -------------------------------------------------------------------------------------------------------

struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_fail(j_common_ptr c) {
  auto* e = reinterpret_cast<JpegError*>(c->err);
  (*c->err->format_message)(c, e->message);
  std::longjmp(e->jump, 1);
}

// Warnings are ignored as PIL ignores them, except the end of the data before the image's end: PIL refuses a
// truncated file ("image file is truncated"), where libjpeg would pad it with grey.
void jpeg_message(j_common_ptr c, int level) {
  if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) {
    auto* e = reinterpret_cast<JpegError*>(c->err);
    std::snprintf(e->message, sizeof e->message, "the data ends before the image does (truncated file)");
    std::longjmp(e->jump, 1);
  }
}

// PIL's cmyk2rgb with its MULDIV255: R = nk - c * nk / 255 (rounded), nk = 255 - k.
inline uint8_t cmyk_channel(int c, int nk) {
  const int t = c * nk + 128;
  const int v = nk - (((t >> 8) + t) >> 8);
  return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}

// header_only: the header's width and height into out (no pixels), as far as decoding would check it.
bool decode_jpeg(const uint8_t* data, size_t size, int channels, Image& out, std::string& err, bool header_only) {
  jpeg_decompress_struct cinfo;
  JpegError jerr;
  cinfo.err = jpeg_std_error(&jerr.mgr);
  jerr.mgr.error_exit = jpeg_fail;
  jerr.mgr.emit_message = jpeg_message;
  if (setjmp(jerr.jump)) {
    err = std::string("JPEG: ") + jerr.message;
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  const bool grey = cinfo.num_components == 1;
  cinfo.out_color_space = cmyk ? JCS_CMYK : grey ? JCS_GRAYSCALE : JCS_RGB;
  bool ok = false;
  check_size(cinfo.image_width, cinfo.image_height, "JPEG", err, ok);
  if (!ok || header_only) {
    if (header_only) out.width = cinfo.image_width, out.height = cinfo.image_height, out.pixels.clear();
    jpeg_destroy_decompress(&cinfo);
    return ok;
  }
  jpeg_start_decompress(&cinfo);
  const int64_t W = cinfo.output_width, H = cinfo.output_height, n = cinfo.output_components;
  out.reshape(W, H, channels);
  JSAMPARRAY row = (*cinfo.mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(&cinfo), JPOOL_IMAGE,
                                              JDIMENSION(W * n), 1);
  while (cinfo.output_scanline < cinfo.output_height) {
    const int64_t y = cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, row, 1);
    const uint8_t* s = row[0];
    uint8_t* d = out.pixels.data() + y * W * channels;
    for (int64_t x = 0; x < W; ++x, s += n) {
      uint8_t r, g, b;
      if (cmyk) {  // Adobe's convention stores 255 - value: s[] = 255 - c etc., so nk = s[3]
        r = cmyk_channel(255 - s[0], s[3]), g = cmyk_channel(255 - s[1], s[3]), b = cmyk_channel(255 - s[2], s[3]);
      } else if (grey) {
        r = g = b = s[0];
      } else {
        r = s[0], g = s[1], b = s[2];
      }
      if (channels == 3) d[3 * x] = r, d[3 * x + 1] = g, d[3 * x + 2] = b;
      else d[x] = grey ? s[0] : luma(r, g, b);
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

// ---- PNG --------------------------------------------------------------------------------------------------------

struct PngSource {
  const uint8_t* data;
  size_t size, pos;
  char message[256];
};

[[noreturn]] void png_fail(png_structp png, png_const_charp msg) {
  auto* src = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(src->message, sizeof src->message, "%s", msg);
  png_longjmp(png, 1);
}

void png_warn(png_structp, png_const_charp) {}  // PIL does not report libpng's warnings either

void png_read_memory(png_structp png, png_bytep dst, png_size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (n > src->size - src->pos) png_error(png, "the data ends before the image does (truncated file)");
  std::memcpy(dst, src->data + src->pos, n);
  src->pos += n;
}

// raw: the rows as libpng gives them (bit depths below 8 unpacked to a byte per sample), converted here.
bool decode_png(const uint8_t* data, size_t size, int channels, Image& out, std::vector<uint8_t>& raw,
                std::vector<png_bytep>& rows, std::string& err, bool header_only) {
  PngSource src{data, size, 0, {0}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_fail, png_warn);
  if (!png) {
    err = "PNG: out of memory";
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    err = std::string("PNG: ") + (info ? src.message : "out of memory");
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, &src, png_read_memory);
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_read_info(png, info);
  const int64_t W = png_get_image_width(png, info), H = png_get_image_height(png, info);
  const int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
  bool ok = false;
  check_size(W, H, "PNG", err, ok);
  if (!ok || header_only) {
    if (header_only) out.width = W, out.height = H, out.pixels.clear();
    png_destroy_read_struct(&png, &info, nullptr);
    return ok;
  }
  if (depth < 8) png_set_packing(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const size_t stride = png_get_rowbytes(png, info);
  raw.resize(stride * size_t(H));
  rows.resize(size_t(H));
  for (int64_t y = 0; y < H; ++y) rows[size_t(y)] = raw.data() + size_t(y) * stride;
  png_read_image(png, rows.data());

  png_colorp palette = nullptr;
  int palette_size = 0;
  if (type == PNG_COLOR_TYPE_PALETTE) png_get_PLTE(png, info, &palette, &palette_size);
  const int samples = type == PNG_COLOR_TYPE_GRAY ? 1 : type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                      : type == PNG_COLOR_TYPE_RGB ? 3 : type == PNG_COLOR_TYPE_RGB_ALPHA ? 4 : 1;
  const int bytes = depth == 16 ? 2 : 1;
  const int grey_scale = depth == 1 ? 255 : depth == 2 ? 85 : depth == 4 ? 17 : 1;
  out.reshape(W, H, channels);
  for (int64_t y = 0; y < H; ++y) {
    const uint8_t* s = rows[size_t(y)];
    uint8_t* d = out.pixels.data() + y * W * channels;
    for (int64_t x = 0; x < W; ++x, s += samples * bytes) {
      uint8_t r, g, b;
      bool grey = true;
      if (type == PNG_COLOR_TYPE_PALETTE) {
        grey = false;
        if (s[0] < palette_size) r = palette[s[0]].red, g = palette[s[0]].green, b = palette[s[0]].blue;
        else r = g = b = 0;
      } else if (samples >= 3) {  // 16-bit: the high byte (PIL's "RGB;16B")
        grey = false;
        r = s[0], g = s[bytes], b = s[2 * bytes];
      } else if (depth == 16 && samples == 1) {  // PIL's mode "I": converting clips, it does not rescale
        const int v = (s[0] << 8) | s[1];
        r = g = b = uint8_t(v > 255 ? 255 : v);
      } else {  // grey (+ alpha): 1/2/4-bit scaled to 0..255; 16-bit grey+alpha keeps the high byte
        r = g = b = uint8_t(s[0] * grey_scale);
      }
      if (channels == 3) d[3 * x] = r, d[3 * x + 1] = g, d[3 * x + 2] = b;
      else d[x] = grey ? r : luma(r, g, b);
    }
  }
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
bool is_jpeg(const uint8_t* data, size_t size) { return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF; }
bool is_png(const uint8_t* data, size_t size) { return size >= 8 && std::memcmp(data, kPng, 8) == 0; }

// Decoding (or, header_only, its header: width and height into im) by the format the first bytes name.
void decode(const uint8_t* data, size_t size, int channels, const std::string& name, Image& im, bool header_only) {
  if (channels != 1 && channels != 3)
    fail("image '", name, "': can convert to 1 (L) or 3 (RGB) channels, not ", channels);
  std::string err;
  bool ok = false;
  if (is_jpeg(data, size)) {
    ok = decode_jpeg(data, size, channels, im, err, header_only);
  } else if (is_png(data, size)) {
    std::vector<uint8_t> raw;
    std::vector<png_bytep> rows;
    ok = decode_png(data, size, channels, im, raw, rows, err, header_only);
  } else {
    char head[64] = "an empty file";
    if (size > 0) {
      int k = std::snprintf(head, sizeof head, "bytes");
      for (size_t i = 0; i < std::min<size_t>(size, 8); ++i) k += std::snprintf(head + k, sizeof head - size_t(k), " %02x", data[i]);
    }
    fail("image '", name, "': not a JPEG or PNG file (", head, ")");
  }
  if (!ok) fail("image '", name, "': ", err);
}

// Up to n bytes of the open file f from offset; an Error names path.
size_t read_at(std::FILE* f, const std::string& path, long offset, uint8_t* dst, size_t n) {
  if (std::fseek(f, offset, SEEK_SET) != 0) fail("image '", path, "': read error (", std::strerror(errno), ")");
  const size_t got = std::fread(dst, 1, n, f);
  if (std::ferror(f)) fail("image '", path, "': read error (", std::strerror(errno), ")");
  return got;
}

}  // namespace

Image decode_image(const uint8_t* data, size_t size, int channels, const std::string& name) {
  Image im;
  decode_image(data, size, channels, name, im);
  return im;
}

void decode_image(const uint8_t* data, size_t size, int channels, const std::string& name, Image& im) {
  decode(data, size, channels, name, im, /*header_only=*/false);
}

ImageHeader read_image_header(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail("image '", path, "': cannot open it (", std::strerror(errno), ")");
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  if (std::fseek(f, 0, SEEK_END) != 0) fail("image '", path, "': read error (", std::strerror(errno), ")");
  const long size = std::ftell(f);
  if (size < 0) fail("image '", path, "': read error (", std::strerror(errno), ")");
  // The header lies in the first 64 KiB unless large metadata (EXIF, ICC) comes first: then the whole file.
  std::vector<uint8_t> bytes(size_t(std::min<long>(size, 65536)));
  bytes.resize(read_at(f, path, 0, bytes.data(), bytes.size()));
  Image im;
  ImageHeader h;
  try {
    decode(bytes.data(), bytes.size(), 3, path, im, /*header_only=*/true);
  } catch (const Error&) {
    if (long(bytes.size()) >= size) throw;
    bytes.resize(size_t(size));
    bytes.resize(read_at(f, path, 0, bytes.data(), bytes.size()));
    decode(bytes.data(), bytes.size(), 3, path, im, /*header_only=*/true);
  }
  h.format = is_jpeg(bytes.data(), bytes.size()) ? "JPEG" : "PNG";
  h.width = im.width, h.height = im.height;
  // How the format ends: JPEG's EOI marker, PNG's IEND chunk (length 0, type, CRC)
  static const uint8_t kEoi[2] = {0xFF, 0xD9};
  static const uint8_t kIend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
  const uint8_t* end = h.format == "JPEG" ? kEoi : kIend;
  const size_t n = h.format == "JPEG" ? sizeof kEoi : sizeof kIend;
  uint8_t tail[12] = {0};
  h.ends_whole = size >= long(n) && read_at(f, path, size - long(n), tail, n) == n && std::memcmp(tail, end, n) == 0;
  return h;
}

Image read_image(const std::string& path, int channels) {
  Image im;
  std::vector<uint8_t> bytes;
  read_image(path, channels, im, bytes);
  return im;
}

void read_image(const std::string& path, int channels, Image& out, std::vector<uint8_t>& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail("image '", path, "': cannot open it (", std::strerror(errno), ")");
  bytes.clear();
  uint8_t chunk[65536];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0) bytes.insert(bytes.end(), chunk, chunk + got);
  const bool bad = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (bad) fail("image '", path, "': read error (", std::strerror(err), ")");
  decode_image(bytes.data(), bytes.size(), channels, path, out);
}

}  // namespace tapevit
