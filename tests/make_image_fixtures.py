#!/usr/bin/python3
"""Write the image fixtures: small PNG/JPEG files in tests/fixtures/images/ and, in tests/fixtures/pil_images.h5,
what PIL (and torchvision on PIL images) makes of them. C++ tests decode the files with libjpeg-turbo / libpng and
compare with the decodes here, and compare tapevit's resize / crop with PIL's.

Run by hand (not by CI) with Debian's python3-pil, python3-numpy, python3-h5py, python3-torchvision:
    /usr/bin/python3 tests/make_image_fixtures.py
The committed fixtures were made with Pillow 9.4.0 (Debian python3-pil), torchvision 0.14.1, numpy 1.24.2,
h5py 3.7.0. Other versions may encode, decode or resample differently; the versions in use are stored as
attributes of the h5 root and printed. The output is deterministic: fixed seeds, no timestamps (datasets and groups
are created with track_times off), so re-running with the same versions gives byte-identical files (the sha256 of
every file is printed to check that).

Pictures are synthetic (own code below): gradients, a sinusoid, a disk, a rectangle, a thin diagonal line, a
1-pixel checker patch and seeded noise, so that resampling sees both smooth areas and sharp edges.

Files (tests/fixtures/images/):
  rgb_37x23.png          RGB 8-bit (PIL)                 grey_30x41.png       L (PIL)
  grey16_19x17.png       16-bit grey, written from PIL mode I;16 (PIL opens it as mode I)
  rgba_25x25.png         RGBA, alpha 0..255 (PIL)        la_21x13.png         LA (PIL)
  palette_33x20.png      P, 16 colours, tRNS makes index 0 transparent (PIL writes it with bit depth 4)
  bilevel_16x9.png       mode 1, bit depth 1 (PIL)
  rgb48_11x7.png         RGB 16 bits per channel: own PNG writer below (PIL cannot write it); PIL opens it as mode
                         RGB keeping the high byte of every sample
  interlaced_20x20.png   RGB 8-bit, Adam7 interlaced: own PNG writer
  (the own writer cycles the five PNG row filters None, Sub, Up, Average, Paeth over the rows)
  rgb420_64x48.jpg       quality 90, 4:2:0               rgb444_33x27.jpg     quality 90, 4:4:4 (subsampling=0)
  grey_40x30.jpg         L, quality 90                   cmyk_24x18.jpg       CMYK, quality 90 (PIL writes Adobe
                                                                              APP14 with inverted CMYK)
  progressive_50x40.jpg  quality 90, 4:2:0, progressive  odd_101x77.jpg       quality 90, 4:2:0
  photo_160x120.jpg      quality 85, 4:2:0
  truncated.jpg          first 60% of rgb420_64x48.jpg   truncated.png        first 60% of rgb_37x23.png
  corrupt.png            rgb_37x23.png with IDAT data bytes flipped (first deflate block type made invalid, two
                         more bytes inverted; the chunk CRC is left as it was, so it no longer matches)
  not_image.jpg          a text file                     empty.png            0 bytes

Layout of pil_images.h5 (every dataset gzip level 9; X is a file name above, e.g. "rgb_37x23.png"):
  /                                  attrs: generator, pillow, torchvision, numpy
  /decode/X                          attrs: mode (PIL's mode after Image.open), width, height
  /decode/X/rgb                      uint8 [H,W,3]  np.asarray(Image.open(X).convert('RGB'))
  /decode/X/l                        uint8 [H,W]    np.asarray(Image.open(X).convert('L'))
  /decode/X/native                   np.asarray(Image.open(X)) when the mode is not RGB or L: uint8 [H,W,C] for
                                     RGBA, LA, CMYK; uint8 [H,W] palette indices for P; uint8 0/1 for mode 1;
                                     int32 [H,W] for mode I (the 16-bit values)
  /decode/palette_33x20.png/palette  uint8 [n,3]    Image.getpalette(); group attr transparency (the tRNS index)
  /decode/rgb48_11x7.png/source16    uint16 [H,W,3] the 16-bit samples written to the file (not from PIL)
  /broken/X                          attrs: pil_error (exception class name from Image.open(X) then .load(), or
                                     'none'), pil_stage ('open', 'load' or 'none'), pil_message (str(exception))
  /resize/<src>/<w>x<h>_<resample>   uint8 [h,w,3] (or [h,w] for the L source): np.asarray(img.resize((w, h),
                                     resample)), img = Image.open(src).convert('RGB') (convert('L') for grey
                                     sources); resample in bicubic, bilinear, nearest; attrs width, height, resample
  /eval/<src>/<size>_<crop_pct>_<interp>
                                     uint8 [size,size,3]: timm 1.0's eval transform on the RGB image, i.e.
                                     torchvision Resize(floor(size / crop_pct), interp) then CenterCrop(size);
                                     attrs size, crop_pct, interpolation, resize_w, resize_h (size after Resize)
  /resized_crop/<src>/<k>            uint8 [out_h,out_w,3]: torchvision.transforms.functional.resized_crop(img,
                                     top, left, height, width, [out_h, out_w], interp); attrs top, left, height,
                                     width, out_h, out_w, interpolation
  /hflip/rgb_37x23.png               uint8 [H,W,3]  np.asarray(img.transpose(Image.FLIP_LEFT_RIGHT))
  /ops/<S>/<name>                    PIL results of the image operations timm's RandAugment uses (timm's
                                     auto_augment.py calls, with PIL 9.4 semantics), S = 'rgb' (rgb_37x23.png
                                     convert('RGB'), uint8 [23,37,3]) or 'l' (grey_30x41.png convert('L'), uint8
                                     [41,30]); every dataset has the string attr op (the name up to the first
                                     parameter) and the attrs listed; in names '-' is written 'm' and '.' 'p'
                                     (str() of the float, so 1.0 -> 1p0, -11.0 -> m11p0):
      autocontrast, equalize, invert           ImageOps.autocontrast / equalize / invert(img)
      posterize_<bits>                         ImageOps.posterize(img, bits), bits 0 1 3 4 7; attr bits
      solarize_<thr>                           ImageOps.solarize(img, thr), thr 0 77 128 256; attr threshold
      solarize_add_<add>                       img.point(lut * bands), lut[i] = min(255, i + add) if i < 128 else i
                                               (timm's solarize_add), add 0 55 110; attrs add, threshold (128)
      color_<f>, contrast_<f>, brightness_<f>, sharpness_<f>
                                               ImageEnhance.Color / Contrast / Brightness / Sharpness(img).enhance(f),
                                               f 0.1 0.55 1.0 1.37 1.9; attr factor
      shearx_<f>_<r>, sheary_<f>_<r>           img.transform(img.size, Image.AFFINE, (1, f, 0, 0, 1, 0) resp.
                                               (1, 0, 0, f, 1, 0), resample=r, fillcolor=fill), f 0.27 -0.13;
                                               attrs factor, resample, fill
      translatex_<px>_<r>, translatey_<px>_<r> the same with (1, 0, px, 0, 1, 0) resp. (1, 0, 0, 0, 1, px),
                                               px 7.3 -11.0; attrs pixels, resample, fill
      rotate_<deg>_<r>                         img.rotate(deg, resample=r, fillcolor=fill), deg 17.5 -30.0 3.0
                                               389.0; attrs degrees, resample, fill
      chain                                    rotate(-12.5, bicubic), then equalize, then contrast(1.3), then
                                               shearx(0.1, bilinear), fills as above; attrs op ('chain'), steps
                                     r is 'bilinear' or 'bicubic' (both for every geometric case); fill is the int64
                                     array attr [124, 116, 104] for rgb and [124] for l (the fillcolor passed to PIL:
                                     that tuple for rgb, the int 124 for l)
"""
import hashlib
import math
import os
import struct
import zlib

import h5py
import numpy as np
import PIL
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from PIL import Image, ImageEnhance, ImageOps
from torchvision.transforms import InterpolationMode

HERE = os.path.dirname(os.path.abspath(__file__))
IMG_DIR = os.path.join(HERE, 'fixtures', 'images')
H5_PATH = os.path.join(HERE, 'fixtures', 'pil_images.h5')

RESAMPLE = {'bicubic': Image.BICUBIC, 'bilinear': Image.BILINEAR, 'nearest': Image.NEAREST}
INTERP = {'bicubic': InterpolationMode.BICUBIC, 'bilinear': InterpolationMode.BILINEAR}


# ---------------------------------------------------------------------------------------------------------------
# Synthetic pictures

def synth(w, h, seed, noise=0.025):
    """float64 [h, w, 3] in [0, 1]: smooth gradients and a sinusoid, sharp shapes, a checker patch, seeded noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = (x + 0.5) / w, (y + 0.5) / h
    img = np.stack([0.15 + 0.7 * u,
                    0.2 + 0.6 * v,
                    0.5 + 0.35 * np.sin(2 * np.pi * (1.3 * u + 0.7 * v))], axis=-1)
    # a disk with a slightly soft edge
    cx, cy, r = 0.35 * w, 0.55 * h, 0.22 * min(w, h)
    d = np.sqrt((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2)
    a = np.clip(r + 0.5 - d, 0.0, 1.0)[..., None]
    img = img * (1 - a) + a * np.array([0.9, 0.2, 0.15])
    # a hard-edged rectangle
    rect = (x >= int(0.6 * w)) & (x < int(0.85 * w)) & (y >= int(0.15 * h)) & (y < int(0.45 * h))
    img[rect] = [0.1, 0.3, 0.85]
    # a thin bright diagonal line
    line = np.abs((x + 0.5) - 0.1 * w - 0.8 * (y + 0.5) * w / h) < 0.6
    img[line] = [0.95, 0.95, 0.9]
    # a 1-pixel checker patch in the bottom-right corner (highest frequency)
    cw, ch = max(2, w // 6), max(2, h // 6)
    patch = (x >= w - cw) & (y >= h - ch)
    img[patch] = (((x + y) % 2)[patch] * 0.8 + 0.1)[:, None]
    img = img + rng.normal(0.0, noise, size=img.shape)
    return np.clip(img, 0.0, 1.0)


def to_u8(a):
    return np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)


def to_u16(a):
    return np.clip(np.rint(a * 65535.0), 0, 65535).astype(np.uint16)


def luma(a):
    return a @ np.array([0.299, 0.587, 0.114])


def alpha_ramp(w, h):
    """float64 [h, w]: radial alpha from 1 (centre) to 0, with a fully transparent top-left and opaque bottom-left."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    d = np.sqrt(((x + 0.5) / w - 0.5) ** 2 + ((y + 0.5) / h - 0.5) ** 2) / math.sqrt(0.5)
    al = 1.0 - d
    al[: h // 4, : w // 4] = 0.0
    al[-(h // 4):, : w // 4] = 1.0
    return np.clip(al, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------------------------
# A minimal PNG writer (for what PIL cannot write: 16-bit RGB, Adam7 interlacing)

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
#         (x0, y0, dx, dy) of the seven passes


def png_chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows, bpp, first_filter=0):
    """rows: list of bytes (the raw scanlines of one image or pass). Filters row i with type (first_filter + i) % 5."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b''
    for i, row in enumerate(rows):
        ft = (first_filter + i) % 5
        f = bytearray(len(row))
        for j in range(len(row)):
            a = row[j - bpp] if j >= bpp else 0
            b = prev[j]
            c = prev[j - bpp] if j >= bpp else 0
            pred = (0, a, b, (a + b) // 2, paeth(a, b, c))[ft]
            f[j] = (row[j] - pred) & 0xFF
        out.append(ft)
        out += f
        prev = row
    return bytes(out)


def write_png(path, arr, bit_depth, interlace=False):
    """arr: [H, W, 3] uint8 (bit_depth 8) or uint16 (bit_depth 16); colour type 2 (RGB)."""
    h, w, c = arr.shape
    assert c == 3 and bit_depth in (8, 16)
    raw = arr.astype('>u2') if bit_depth == 16 else arr.astype(np.uint8)
    bpp = c * bit_depth // 8
    if not interlace:
        data = filter_rows([raw[y].tobytes() for y in range(h)], bpp)
    else:
        data = b''
        for k, (x0, y0, dx, dy) in enumerate(ADAM7):
            sub = raw[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:  # empty passes carry no bytes at all
                data += filter_rows([sub[y].tobytes() for y in range(sub.shape[0])], bpp, first_filter=k)
    ihdr = struct.pack('>IIBBBBB', w, h, bit_depth, 2, 0, 0, 1 if interlace else 0)
    png = b'\x89PNG\r\n\x1a\n' + png_chunk(b'IHDR', ihdr) + png_chunk(b'IDAT', zlib.compress(data, 9)) + \
        png_chunk(b'IEND', b'')
    with open(path, 'wb') as f:
        f.write(png)


def png_chunks(data):
    """[(kind, offset of the chunk's data, length)] of a PNG byte string."""
    out, pos = [], 8
    while pos < len(data):
        (n,) = struct.unpack('>I', data[pos:pos + 4])
        out.append((data[pos + 4:pos + 8], pos + 8, n))
        pos += 12 + n
    return out


# ---------------------------------------------------------------------------------------------------------------
# The files

def make_files():
    """Writes tests/fixtures/images/*; returns ({name: extra arrays for /decode}, [decodable], [broken])."""
    os.makedirs(IMG_DIR, exist_ok=True)
    p = lambda name: os.path.join(IMG_DIR, name)  # noqa: E731
    extra = {}

    Image.fromarray(to_u8(synth(37, 23, 1)), 'RGB').save(p('rgb_37x23.png'))
    Image.fromarray(to_u8(luma(synth(30, 41, 2))), 'L').save(p('grey_30x41.png'))
    g16 = to_u16(luma(synth(19, 17, 3, noise=0.01)))
    # the top two rows ramp through 0..510: PIL opens the file as mode I and its convert('L') / convert('RGB') clip
    # at 255 (they do not scale 16 -> 8 bits), so only these pixels come out below 255 there
    g16[:2] = np.rint(np.linspace(0, 510, 19))[None, :] + np.array([[0], [1]])
    g16 = Image.fromarray(g16)
    assert g16.mode == 'I;16'
    g16.save(p('grey16_19x17.png'))
    rgba = np.concatenate([to_u8(synth(25, 25, 4)), to_u8(alpha_ramp(25, 25))[..., None]], axis=-1)
    Image.fromarray(rgba, 'RGBA').save(p('rgba_25x25.png'))
    la = np.stack([to_u8(luma(synth(21, 13, 5))), to_u8(alpha_ramp(21, 13)[:, ::-1])], axis=-1)
    Image.fromarray(la, 'LA').save(p('la_21x13.png'))

    # palette: nearest of 16 fixed colours (own code, not PIL's quantizer); index 0 is the transparent one and
    # covers the top-left block
    pal = np.array([[0, 0, 0], [255, 255, 255], [128, 128, 128], [200, 40, 30], [30, 80, 220], [240, 240, 220],
                    [40, 160, 60], [230, 200, 40], [120, 60, 160], [60, 200, 200], [180, 110, 60],
                    [250, 150, 170], [20, 40, 80], [90, 120, 30], [160, 200, 255], [100, 30, 40]], dtype=np.uint8)
    src = synth(33, 20, 6) * 255.0
    dist = ((src[:, :, None, :] - pal[None, None, 1:, :].astype(np.float64)) ** 2).sum(-1)
    idx = (dist.argmin(-1) + 1).astype(np.uint8)
    idx[:5, :7] = 0
    pim = Image.fromarray(idx, 'P')
    pim.putpalette(pal.reshape(-1).tolist())
    pim.save(p('palette_33x20.png'), transparency=0)

    bil = luma(synth(16, 9, 7)) > 0.5
    bim = Image.fromarray(bil)
    assert bim.mode == '1'
    bim.save(p('bilevel_16x9.png'))

    rgb48 = to_u16(synth(11, 7, 8, noise=0.02))
    write_png(p('rgb48_11x7.png'), rgb48, 16)
    extra['rgb48_11x7.png'] = {'source16': rgb48}
    inter = to_u8(synth(20, 20, 9))
    write_png(p('interlaced_20x20.png'), inter, 8, interlace=True)

    def jpg(name, arr, mode, **kw):
        Image.fromarray(arr, mode).save(p(name), 'JPEG', **kw)

    jpg('rgb420_64x48.jpg', to_u8(synth(64, 48, 10)), 'RGB', quality=90, subsampling=2)
    jpg('rgb444_33x27.jpg', to_u8(synth(33, 27, 11)), 'RGB', quality=90, subsampling=0)
    jpg('grey_40x30.jpg', to_u8(luma(synth(40, 30, 12))), 'L', quality=90)
    cm = synth(24, 18, 13)
    k = 1.0 - cm.max(-1)
    cmyk = np.concatenate([(1.0 - cm - k[..., None]) / np.maximum(1.0 - k[..., None], 1e-6), k[..., None]], -1)
    jpg('cmyk_24x18.jpg', to_u8(cmyk), 'CMYK', quality=90)
    jpg('progressive_50x40.jpg', to_u8(synth(50, 40, 14)), 'RGB', quality=90, subsampling=2, progressive=True)
    jpg('odd_101x77.jpg', to_u8(synth(101, 77, 15)), 'RGB', quality=90, subsampling=2)
    jpg('photo_160x120.jpg', to_u8(synth(160, 120, 16, noise=0.02)), 'RGB', quality=85, subsampling=2)

    decodable = ['rgb_37x23.png', 'grey_30x41.png', 'grey16_19x17.png', 'rgba_25x25.png', 'la_21x13.png',
                 'palette_33x20.png', 'bilevel_16x9.png', 'rgb48_11x7.png', 'interlaced_20x20.png',
                 'rgb420_64x48.jpg', 'rgb444_33x27.jpg', 'grey_40x30.jpg', 'cmyk_24x18.jpg',
                 'progressive_50x40.jpg', 'odd_101x77.jpg', 'photo_160x120.jpg']

    # the own writer round-trips through PIL: exact for 8-bit, the high byte for 16-bit RGB
    assert np.array_equal(np.asarray(Image.open(p('interlaced_20x20.png')).convert('RGB')), inter)
    assert np.array_equal(np.asarray(Image.open(p('rgb48_11x7.png')).convert('RGB')), (rgb48 >> 8).astype(np.uint8))

    # broken files
    def cut(src, dst):
        with open(p(src), 'rb') as f:
            data = f.read()
        with open(p(dst), 'wb') as f:
            f.write(data[:int(len(data) * 0.6)])

    cut('rgb420_64x48.jpg', 'truncated.jpg')
    cut('rgb_37x23.png', 'truncated.png')
    with open(p('rgb_37x23.png'), 'rb') as f:
        data = bytearray(f.read())
    idats = [(o, n) for kind, o, n in png_chunks(bytes(data)) if kind == b'IDAT']
    assert len(idats) == 1
    o, n = idats[0]
    # byte 2 of the zlib stream starts the first deflate block: BFINAL bit 0, BTYPE bits 1-2; setting both BTYPE
    # bits gives the reserved type 3 ("invalid block type"); two more bytes further in are inverted
    data[o + 2] |= 0x06
    data[o + n // 2] ^= 0xFF
    data[o + n // 2 + 1] ^= 0xFF
    try:
        zlib.decompress(bytes(data[o:o + n]))
        raise AssertionError('corrupt.png: the zlib stream still inflates')
    except zlib.error:
        pass
    crc = struct.unpack('>I', data[o + n:o + n + 4])[0]
    assert crc != zlib.crc32(b'IDAT' + bytes(data[o:o + n])) & 0xFFFFFFFF
    with open(p('corrupt.png'), 'wb') as f:
        f.write(bytes(data))
    with open(p('not_image.jpg'), 'w') as f:
        f.write('This is not a JPEG file.\nIt is a plain text fixture for tapevit\'s image decoder tests.\n')
    with open(p('empty.png'), 'wb'):
        pass
    broken = ['truncated.jpg', 'truncated.png', 'corrupt.png', 'not_image.jpg', 'empty.png']
    return extra, decodable, broken


# ---------------------------------------------------------------------------------------------------------------
# The h5 file

RESIZE_CASES = {  # src: [(w, h), ...]; every case with bicubic and bilinear
    'rgb_37x23.png': [(19, 31), (80, 50), (37, 23), (1, 1), (20, 12), (37, 12)],
    'grey_30x41.png': [(64, 64), (30, 41), (17, 23), (45, 20)],
    'photo_160x120.jpg': [(71, 53), (40, 30), (1, 1)],
    'odd_101x77.jpg': [(24, 24), (50, 38), (60, 77)],
}
# (37, 12) and (60, 77) keep one axis: PIL then runs only the other pass (no resampling along the kept axis)
NEAREST_CASES = [('rgb_37x23.png', (19, 31)), ('photo_160x120.jpg', (71, 53))]
GREY_SOURCES = {'grey_30x41.png'}

EVAL_CASES = [(src, s, c, i) for src in ('photo_160x120.jpg', 'odd_101x77.jpg')
              for s, c in [(32, 0.875), (24, 0.9), (64, 1.0), (50, 0.95)] for i in ('bicubic', 'bilinear')]
EVAL_CASES += [('rgb_37x23.png', 48, 1.0, 'bicubic'), ('rgb_37x23.png', 48, 1.0, 'bilinear'),
               # crop_pct > 1: Resize(32) leaves the short side below the crop, so CenterCrop pads with zeros
               ('rgb_37x23.png', 48, 1.5, 'bicubic')]

RESIZED_CROP_CASES = {  # src: [(top, left, height, width, out_h, out_w, interp), ...]
    'photo_160x120.jpg': [
        (10, 20, 90, 120, 32, 32, 'bicubic'),
        (0, 0, 120, 160, 40, 48, 'bilinear'),     # the whole image, touching every border
        (37, 100, 83, 60, 24, 24, 'bicubic'),     # touching the bottom and right borders
        (5, 77, 100, 1, 16, 16, 'bicubic'),       # 1 pixel wide
        (50, 60, 7, 9, 32, 32, 'bilinear'),       # small box, upscaled
        (60, 0, 1, 160, 8, 8, 'bilinear'),        # 1 pixel tall, touching left and right
    ],
    'rgb_37x23.png': [
        (0, 0, 23, 37, 16, 16, 'bicubic'),        # the whole image
        (3, 5, 15, 20, 24, 24, 'bilinear'),       # upscaled
        (0, 36, 23, 1, 8, 8, 'bicubic'),          # 1 pixel wide along the right border
        (11, 11, 1, 1, 4, 4, 'bilinear'),         # a single pixel
        (2, 10, 21, 27, 9, 13, 'bicubic'),        # touching the bottom and right borders, non-integer down
        (5, 3, 10, 30, 19, 7, 'bicubic'),         # down in x, up in y
    ],
}


def new_group(parent, name):
    """Create a group without modification times (h5py's create_group has no track_times)."""
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    lcpl = h5py.h5p.create(h5py.h5p.LINK_CREATE)
    lcpl.set_create_intermediate_group(False)
    gid = h5py.h5g.create(parent.id, name.encode(), lcpl=lcpl, gcpl=gcpl)
    return h5py.Group(gid)


def group(f, path):
    """The group at path, made (with its parents) when missing."""
    g = f['/']
    for part in path.strip('/').split('/'):
        g = g[part] if part in g else new_group(g, part)
    return g


def put(f, path, arr, **attrs):
    parent, name = path.rsplit('/', 1)
    arr = np.ascontiguousarray(arr)
    d = group(f, parent).create_dataset(name, data=arr, chunks=arr.shape, compression='gzip', compression_opts=9,
                                        track_times=False)
    for k, v in attrs.items():
        d.attrs[k] = v
    return d


def create_h5(path):
    """h5py.File(path, 'w', libver='latest') whose root group has no modification times either (h5py.File has no
    track_times; the root group takes its object-creation properties from the file-creation property list)."""
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    fapl.set_fclose_degree(h5py.h5f.CLOSE_STRONG)
    return h5py.File(h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl))


def pil_open_load(path):
    """(error class name, stage, message) of Image.open(path).load(); ('none', 'none', '') when it works."""
    stage = 'open'
    try:
        with Image.open(path) as im:
            stage = 'load'
            im.load()
        return 'none', 'none', ''
    except Exception as e:  # noqa: BLE001 -- we record whatever PIL raises
        return type(e).__name__, stage, str(e).replace(path, os.path.basename(path))


def write_h5(extra, decodable, broken):
    p = lambda name: os.path.join(IMG_DIR, name)  # noqa: E731
    modes = {}
    # libver 'latest' (HDF5 1.10 format): compact groups and single-chunk datasets keep the metadata small
    with create_h5(H5_PATH) as f:
        f.attrs['generator'] = 'tests/make_image_fixtures.py'
        f.attrs['pillow'] = PIL.__version__
        f.attrs['torchvision'] = torchvision.__version__
        f.attrs['numpy'] = np.__version__

        for name in decodable:
            with Image.open(p(name)) as im:
                im.load()
                g = group(f, 'decode/' + name)
                g.attrs['mode'] = im.mode
                g.attrs['width'], g.attrs['height'] = im.size
                modes[name] = im.mode
                put(f, f'decode/{name}/rgb', np.asarray(im.convert('RGB')))
                put(f, f'decode/{name}/l', np.asarray(im.convert('L')))
                if im.mode not in ('RGB', 'L'):
                    nat = np.asarray(im)
                    put(f, f'decode/{name}/native', nat.astype(np.uint8) if nat.dtype == bool else nat)
                if im.mode == 'P':
                    put(f, f'decode/{name}/palette', np.asarray(im.getpalette(), np.uint8).reshape(-1, 3))
                    g.attrs['transparency'] = int(im.info['transparency'])
            for k, v in extra.get(name, {}).items():
                put(f, f'decode/{name}/{k}', v)

        errors = {}
        for name in broken:
            err, stage, msg = pil_open_load(p(name))
            g = group(f, 'broken/' + name)
            g.attrs['pil_error'], g.attrs['pil_stage'], g.attrs['pil_message'] = err, stage, msg
            errors[name] = (err, stage, msg)

        def source(name):
            with Image.open(p(name)) as im:
                return im.convert('L' if name in GREY_SOURCES else 'RGB')

        for name, sizes in RESIZE_CASES.items():
            img = source(name)
            cases = [(s, r) for s in sizes for r in ('bicubic', 'bilinear')]
            cases += [(s, 'nearest') for n, s in NEAREST_CASES if n == name]
            for (w, h), r in cases:
                out = img.resize((w, h), RESAMPLE[r])
                put(f, f'resize/{name}/{w}x{h}_{r}', np.asarray(out), width=w, height=h, resample=r)

        for name, size, crop_pct, interp in EVAL_CASES:
            img = source(name)
            resize = T.Resize(math.floor(size / crop_pct), interpolation=INTERP[interp])
            mid = resize(img)
            out = T.CenterCrop(size)(mid)
            assert out.size == (size, size)
            put(f, f'eval/{name}/{size}_{crop_pct}_{interp}', np.asarray(out), size=size, crop_pct=float(crop_pct),
                interpolation=interp, resize_w=mid.size[0], resize_h=mid.size[1])

        for name, boxes in RESIZED_CROP_CASES.items():
            img = source(name)
            for k, (top, left, height, width, out_h, out_w, interp) in enumerate(boxes):
                out = TF.resized_crop(img, top, left, height, width, [out_h, out_w], INTERP[interp])
                assert out.size == (out_w, out_h)
                put(f, f'resized_crop/{name}/{k}', np.asarray(out), top=top, left=left, height=height, width=width,
                    out_h=out_h, out_w=out_w, interpolation=interp)

        img = source('rgb_37x23.png')
        put(f, 'hflip/rgb_37x23.png', np.asarray(img.transpose(Image.FLIP_LEFT_RIGHT)))

        write_ops(f)
    return modes, errors


# ---------------------------------------------------------------------------------------------------------------
# /ops: the PIL operations of timm's RandAugment (timm/data/auto_augment.py), on two small sources

OPS_SOURCES = [('rgb', 'rgb_37x23.png', 'RGB', (124, 116, 104)), ('l', 'grey_30x41.png', 'L', 124)]
POSTERIZE_BITS = [0, 1, 3, 4, 7]
SOLARIZE_THRESHOLDS = [0, 77, 128, 256]
SOLARIZE_ADDS = [0, 55, 110]
ENHANCE = [('color', ImageEnhance.Color), ('contrast', ImageEnhance.Contrast),
           ('brightness', ImageEnhance.Brightness), ('sharpness', ImageEnhance.Sharpness)]
ENHANCE_FACTORS = [0.1, 0.55, 1.0, 1.37, 1.9]
SHEARS = [0.27, -0.13]
TRANSLATES = [7.3, -11.0]
ROTATIONS = [17.5, -30.0, 3.0, 389.0]
OPS_RESAMPLE = ['bilinear', 'bicubic']


def num_name(v):
    """A number as it appears in an /ops dataset name: str(v) with '-' -> 'm', '.' -> 'p'."""
    return str(v).replace('-', 'm').replace('.', 'p')


def solarize_add(img, add, thresh=128):
    """timm's solarize_add."""
    lut = [min(255, i + add) if i < thresh else i for i in range(256)]
    return img.point(lut * len(img.getbands()))


def affine(img, matrix, resample, fill):
    """timm's shear_x / shear_y / translate_x_abs / translate_y_abs."""
    return img.transform(img.size, Image.AFFINE, matrix, resample=RESAMPLE[resample], fillcolor=fill)


def write_ops(f):
    for key, name, mode, fill in OPS_SOURCES:
        with Image.open(os.path.join(IMG_DIR, name)) as im:
            img = im.convert(mode)
        fill_attr = np.array(fill if isinstance(fill, tuple) else (fill,), dtype=np.int64)

        def op(dname, out, opname, **attrs):
            assert out.mode == img.mode and out.size == img.size
            put(f, f'ops/{key}/{dname}', np.asarray(out), op=opname, **attrs)

        op('autocontrast', ImageOps.autocontrast(img), 'autocontrast')
        op('equalize', ImageOps.equalize(img), 'equalize')
        op('invert', ImageOps.invert(img), 'invert')
        for bits in POSTERIZE_BITS:
            op(f'posterize_{bits}', ImageOps.posterize(img, bits), 'posterize', bits=bits)
        for thr in SOLARIZE_THRESHOLDS:
            op(f'solarize_{thr}', ImageOps.solarize(img, thr), 'solarize', threshold=thr)
        for add in SOLARIZE_ADDS:
            op(f'solarize_add_{add}', solarize_add(img, add), 'solarize_add', add=add, threshold=128)
        for opname, cls in ENHANCE:
            for fac in ENHANCE_FACTORS:
                op(f'{opname}_{num_name(fac)}', cls(img).enhance(fac), opname, factor=fac)
        for r in OPS_RESAMPLE:
            for fac in SHEARS:
                op(f'shearx_{num_name(fac)}_{r}', affine(img, (1, fac, 0, 0, 1, 0), r, fill), 'shearx', factor=fac,
                   resample=r, fill=fill_attr)
                op(f'sheary_{num_name(fac)}_{r}', affine(img, (1, 0, 0, fac, 1, 0), r, fill), 'sheary', factor=fac,
                   resample=r, fill=fill_attr)
            for px in TRANSLATES:
                op(f'translatex_{num_name(px)}_{r}', affine(img, (1, 0, px, 0, 1, 0), r, fill), 'translatex',
                   pixels=px, resample=r, fill=fill_attr)
                op(f'translatey_{num_name(px)}_{r}', affine(img, (1, 0, 0, 0, 1, px), r, fill), 'translatey',
                   pixels=px, resample=r, fill=fill_attr)
            for deg in ROTATIONS:
                op(f'rotate_{num_name(deg)}_{r}', img.rotate(deg, resample=RESAMPLE[r], fillcolor=fill), 'rotate',
                   degrees=deg, resample=r, fill=fill_attr)

        out = img.rotate(-12.5, resample=Image.BICUBIC, fillcolor=fill)
        out = ImageOps.equalize(out)
        out = ImageEnhance.Contrast(out).enhance(1.3)
        out = affine(out, (1, 0.1, 0, 0, 1, 0), 'bilinear', fill)
        op('chain', out, 'chain', steps='rotate(-12.5, bicubic); equalize; contrast(1.3); shearx(0.1, bilinear)',
           fill=fill_attr)


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    extra, decodable, broken = make_files()
    modes, errors = write_h5(extra, decodable, broken)

    print(f'Pillow {PIL.__version__}, torchvision {torchvision.__version__}, numpy {np.__version__}, '
          f'h5py {h5py.__version__}')
    total = 0
    print(f'\n{IMG_DIR}:')
    for name in sorted(os.listdir(IMG_DIR)):
        size = os.path.getsize(os.path.join(IMG_DIR, name))
        total += size
        what = f'PIL mode {modes[name]}' if name in modes else 'PIL: %s at %s (%s)' % errors[name]
        print(f'  {name:24s} {size:7d} B  {sha256(os.path.join(IMG_DIR, name))[:16]}  {what}')
    h5size = os.path.getsize(H5_PATH)
    total += h5size

    # re-open and count
    counts = {}
    with h5py.File(H5_PATH, 'r') as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                top = name.split('/')[0]
                counts[top] = counts.get(top, 0) + 1
        f.visititems(visit)
        for name in decodable:
            assert f[f'decode/{name}/rgb'].dtype == np.uint8 and f[f'decode/{name}/rgb'].shape[2] == 3
        assert len(f['broken']) == len(broken)
        for key, _, mode, _ in OPS_SOURCES:
            assert len(f[f'ops/{key}']) == 60
            for d in f[f'ops/{key}'].values():
                assert d.dtype == np.uint8 and d.ndim == (3 if mode == 'RGB' else 2)
    print(f'\n{H5_PATH}: {h5size} B  {sha256(H5_PATH)[:16]}')
    print('  datasets: ' + ', '.join(f'{k} {v}' for k, v in counts.items()) + f'; total {sum(counts.values())}')
    print(f'\ntotal size {total} B ({total / 1024:.1f} KiB)')


if __name__ == '__main__':
    main()
