#!/usr/bin/env python3
"""experiments/2026-11-30_mpi/model.py: what data parallelism over N machines would cost, from the figures measured
on one machine (scaling.jsonl, allreduce.jsonl, and the single-node training throughput quoted below).

Ring allreduce of S bytes over N machines: each sends and receives 2 (N-1)/N S bytes in 2 (N-1) steps, so
    t_comm = 2 (N-1)/N * S / B + 2 (N-1) * a          (B: link bandwidth, a: per-message latency, 10 us)
against the compute time of one step, t_step (each machine computes its batch_size / N rows). Without overlap the
step takes t_step + t_comm; allreducing finished suffixes of the gradient buffer during backward (about 2/3 of the
step) would hide up to that much. Printed: the communication share t_comm / (t_step + t_comm) per model, N and link.
"""
import json
import pathlib

HERE = pathlib.Path(__file__).parent
# Single-node training throughput, float32, batch 32, 224 px, this 2-vCPU Zen 5 machine: vit_tiny_patch16_224 28.1
# img/s (experiments/2026-11-30_amp, measured). ViT-S and ViT-B are scaled from it by timm's GMACs per image (1.1,
# 4.3, 17.6): an estimate, not a measurement.
TINY_IMG_S = 28.1
GMACS = {"vit_tiny_patch16_224": 1.1, "vit_small_patch16_224": 4.3, "vit_base_patch16_224": 17.6}
PARAMS = {"vit_tiny_patch16_224": 5717416, "vit_small_patch16_224": 22050664, "vit_base_patch16_224": 86567656}
BATCH_PER_MACHINE = 32
LATENCY = 10e-6


def main():
    rows = [json.loads(l) for l in (HERE / "allreduce.jsonl").read_text().splitlines() if l.strip()]
    print("## Measured: allreduce over shared memory, 2 ranks on this machine (bench_allreduce, median of 20)\n")
    print("| gradients of | MB | seconds | bus GB/s |\n|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['bytes'] / 1e6:.1f} | {r['median_s']:.4f} | {r['busbw_GBps']:.2f} |")
    scal = [json.loads(l) for l in (HERE / "scaling.jsonl").read_text().splitlines() if l.strip()]
    if scal:
        print("\n## Measured: 1 process x 2 threads against 2 ranks x 1 thread (train img/s, alternating fresh processes)\n")
        print("| model | 1 x 2 threads (median, range) | 2 ranks x 1 thread (median, range) | ratio | allreduce share (2 ranks) | ms per step |")
        print("|---|---:|---:|---:|---:|---:|")
        for m in dict.fromkeys(s["model"] for s in scal):
            a = [s["train_img_s"] for s in scal if s["model"] == m and s["setting"] == "1x2"]
            b = [s for s in scal if s["model"] == m and s["setting"] == "2x1"]
            ma, mb = sorted(a)[len(a) // 2], sorted(x["train_img_s"] for x in b)[len(b) // 2]
            pct = sorted(x["allreduce_pct"] for x in b)[len(b) // 2]
            ms = sorted(x["allreduce_ms_per_step"] for x in b)[len(b) // 2]
            rb = [x["train_img_s"] for x in b]
            print(f"| {m} | {ma} ({min(a)}-{max(a)}) | {mb} ({min(rb)}-{max(rb)}) | {mb / ma:.2f} | {pct:.1f}% | {ms:.2f} |")
    for k, machine in ((1, "this machine (2 cores)"), (16, "a 32-core machine, assumed 16x this one's speed")):
        print(f"\n## Model: communication share of a step on N machines like {machine} (ring allreduce, no overlap)\n")
        print(f"Each machine computes {BATCH_PER_MACHINE} images per step; the cell is t_comm / (t_step + t_comm) and "
              "t_comm.\n")
        print("| model | step compute (s) | N | 10 Gb/s | 25 Gb/s | 100 Gb/s |\n|---|---:|---:|---:|---:|---:|")
        for m, params in PARAMS.items():
            t_step = BATCH_PER_MACHINE / (k * TINY_IMG_S * GMACS["vit_tiny_patch16_224"] / GMACS[m])
            S = 4.0 * params
            for n in (2, 4, 8, 64):
                cells = []
                for gbit in (10, 25, 100):
                    t = 2 * (n - 1) / n * S / (gbit * 1e9 / 8) + 2 * (n - 1) * LATENCY
                    cells.append(f"{100 * t / (t_step + t):.1f}% ({t:.3f} s)")
                print(f"| {m} | {t_step:.2f} | {n} | " + " | ".join(cells) + " |")

if __name__ == "__main__":
    main()
