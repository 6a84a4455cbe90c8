#!/usr/bin/python3
"""Draws a run's training curves from its summary.csv: loss (train, eval) and eval top-1 per epoch.

    /usr/bin/python3 experiments/plot_run.py RUN_DIR/summary.csv OUT.png [--title TEXT]

Needs Debian's python3-matplotlib.
"""
import argparse
import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("out")
    ap.add_argument("--title", default="")
    a = ap.parse_args()
    with open(a.csv) as f:
        rows = list(csv.DictReader(f))
    ep = [int(r["epoch"]) for r in rows]
    col = lambda k: [float(r[k]) for r in rows]  # noqa: E731
    minutes = [s / 60 for s in col("seconds")]
    elapsed = [sum(minutes[: i + 1]) for i in range(len(minutes))]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(ep, col("train_loss"), "o-", label="train (smoothed/mixed targets)")
    ax1.plot(ep, col("eval_loss"), "s-", label="eval (test split)")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy")
    ax1.legend()
    ax1.grid(alpha=0.3)
    ax2.plot(ep, col("eval_top1"), "o-", color="C2", label="top-1")
    for i, (e, t) in enumerate(zip(ep, col("eval_top1"))):
        if i == len(ep) - 1 or i % max(1, len(ep) // 6) == 0:
            ax2.annotate(f"{t:.2f}%\n{elapsed[i]:.1f} min", (e, t), textcoords="offset points", xytext=(0, -28),
                         ha="center", fontsize=7)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("test top-1 (%)")
    ax2.grid(alpha=0.3)
    ax2.legend(loc="lower right")
    if a.title:
        fig.suptitle(a.title)
    fig.tight_layout()
    fig.savefig(a.out, dpi=100)


if __name__ == "__main__":
    main()
