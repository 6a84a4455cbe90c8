#!/usr/bin/python3
"""Writes a synthetic 10-class data set in CIFAR-10's binary format, for runs where real CIFAR-10 is absent.

    /usr/bin/python3 experiments/make_synthetic_cifar.py OUT_DIR [--train 50000] [--test 10000] [--seed 0]

OUT_DIR gets data_batch_1..5.bin and test_batch.bin: records of 1 label byte + 3072 bytes (R, G, B planes of
32x32), exactly CIFAR-10's layout. Class = shape (disc, square, triangle, cross, ring) x colour family (warm,
cool); each image has a random position, size, exact colour and a textured noisy background, plus a random
distractor blob, so the task needs shape and colour and is not solvable from one pixel.
Needs Debian's python3-numpy only.
"""
import argparse
import os

import numpy as np


def shape_mask(kind, cx, cy, r, yy, xx):
    dx, dy = xx - cx, yy - cy
    if kind == 0:  # disc
        return dx * dx + dy * dy <= r * r
    if kind == 1:  # square
        return (np.abs(dx) <= r * 0.8) & (np.abs(dy) <= r * 0.8)
    if kind == 2:  # triangle, apex up
        return (dy <= r * 0.8) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.55)
    if kind == 3:  # cross
        return ((np.abs(dx) <= r * 0.3) & (np.abs(dy) <= r)) | ((np.abs(dy) <= r * 0.3) & (np.abs(dx) <= r))
    d2 = dx * dx + dy * dy  # ring
    return (d2 <= r * r) & (d2 >= (0.55 * r) ** 2)


def make(n, rng):
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    labels = rng.integers(0, 10, n)
    images = np.empty((n, 3, 32, 32), np.uint8)
    for i, c in enumerate(labels):
        kind, warm = c % 5, c // 5 == 0
        base = rng.uniform(0, 90, 3)
        bg = base[:, None, None] + rng.normal(0, 18, (3, 32, 32))
        bg += 15 * np.sin(xx / rng.uniform(2, 6) + rng.uniform(0, 6))[None]  # texture
        # distractor: a small blob of a random colour
        bx, by = rng.uniform(2, 30, 2)
        blob = (xx - bx) ** 2 + (yy - by) ** 2 <= rng.uniform(2, 9)
        bg[:, blob] = rng.uniform(0, 255, 3)[:, None]
        hue = rng.uniform(0, 1)
        colour = (np.array([230, 90 + 120 * hue, 40]) if warm else np.array([40, 90 + 120 * hue, 230])) + rng.normal(0, 15, 3)
        r = rng.uniform(6, 11)
        cx, cy = rng.uniform(r * 0.7, 32 - r * 0.7, 2)
        m = shape_mask(kind, cx, cy, r, yy, xx)
        bg[:, m] = colour[:, None] + rng.normal(0, 12, (3, int(m.sum())))
        images[i] = np.clip(bg, 0, 255).astype(np.uint8)
    return labels.astype(np.uint8), images


def write(path, labels, images):
    rec = np.concatenate([labels[:, None], images.reshape(len(labels), -1)], axis=1)
    rec.tofile(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--train", type=int, default=50000)
    ap.add_argument("--test", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.train % 5:
        ap.error("--train must be a multiple of 5 (five data_batch files)")
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    per = a.train // 5
    for b in range(5):
        write(os.path.join(a.out, f"data_batch_{b + 1}.bin"), *make(per, rng))
    write(os.path.join(a.out, "test_batch.bin"), *make(a.test, rng))


if __name__ == "__main__":
    main()
