#!/usr/bin/python3
"""experiments/2026-11-30_image_folders/make_folders.py: the image folders the experiment trains on (PIL, by hand).

  make_folders.py fmnist OUT            Fashion-MNIST (Debian's dataset-fashion-mnist) as PNG files:
                                        OUT/train/<class>/<i>.png (60,000), OUT/val/<class>/<i>.png (10,000)
  make_folders.py fmnist224 OUT N       Fashion-MNIST classes 5-9, N train images per class and all 5,000 test
                                        images, upscaled 28 -> 112 px (bicubic) and written as JPEG (quality 90), RGB
  make_folders.py pretrain224 OUT       Fashion-MNIST classes 0-4 (30,000 train, 5,000 test), 28 px PNG, for the
                                        pretraining at 224 (RandomResizedCrop upsamples them)
  make_folders.py photos OUT N          N synthetic 400x300 RGB JPEGs (quality 90) in 4 classes, for throughput
"""
import gzip
import os
import sys

import numpy as np
from PIL import Image

DATA = '/usr/share/datasets/fashion-mnist'
NAMES = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot']


def load(kind):
    with gzip.open(f'{DATA}/{kind}-images-idx3-ubyte.gz') as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(f'{DATA}/{kind}-labels-idx1-ubyte.gz') as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x, y


def write(out, split, x, y, keep, per_class=None, size=28, fmt='png'):
    count = {}
    for i in range(len(y)):
        c = int(y[i])
        if c not in keep or (per_class and count.get(c, 0) >= per_class):
            continue
        count[c] = count.get(c, 0) + 1
        d = os.path.join(out, split, NAMES[c])
        os.makedirs(d, exist_ok=True)
        im = Image.fromarray(x[i])
        if size != 28:
            im = im.convert('RGB').resize((size, size), Image.BICUBIC)
        im.save(os.path.join(d, f'{i:05d}.{fmt}'), quality=90) if fmt == 'jpg' else im.save(os.path.join(d, f'{i:05d}.png'))


def main():
    what, out = sys.argv[1], sys.argv[2]
    if what == 'fmnist':
        write(out, 'train', *load('train'), keep=range(10))
        write(out, 'val', *load('t10k'), keep=range(10))
    elif what == 'fmnist224':
        n = int(sys.argv[3])
        write(out, 'train', *load('train'), keep=range(5, 10), per_class=n, size=112, fmt='jpg')
        write(out, 'val', *load('t10k'), keep=range(5, 10), size=112, fmt='jpg')
    elif what == 'pretrain224':
        write(out, 'train', *load('train'), keep=range(5))
        write(out, 'val', *load('t10k'), keep=range(5))
    elif what == 'photos':
        rng = np.random.default_rng(0)
        n = int(sys.argv[3])
        yy, xx = np.mgrid[0:300, 0:400]
        for i in range(n):
            c = i % 4
            base = np.stack([(xx * (c + 1) + i) % 256, (yy * (4 - c)) % 256, ((xx + yy) // 2 + 40 * c) % 256], -1)
            img = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
            d = os.path.join(out, 'train', f'class{c}')
            os.makedirs(d, exist_ok=True)
            Image.fromarray(img).save(os.path.join(d, f'{i:05d}.jpg'), quality=90)
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
