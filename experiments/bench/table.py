#!/usr/bin/python3
"""The RESULTS.md table of one bench.py run, from its --out JSON (so the rows are never copied by hand).

    /usr/bin/python3 experiments/bench/table.py experiments/bench/2026-11-25_run3.json
"""
import json
import sys

MODES = [('train', '2t', 'train, 2 threads'), ('infer', '2t', 'inference, 2 threads'), ('train', '1t', 'train, 1 thread')]


def main():
    d = json.load(open(sys.argv[1]))
    print('| model | mode | tapevit img/s (median / best) | PyTorch img/s (median / best) | ratio (median / best) | '
          'tapevit GFLOP/s, of peak (of AVX2) | PyTorch GFLOP/s, of peak (of AVX2) | peak RSS tapevit / PyTorch |')
    print('|---|---|---:|---:|---:|---:|---:|---:|')
    for name, m in d['models'].items():
        for mode, th, label in MODES:
            t, p = m['runs'].get(f'tapevit_{mode}_{th}'), m['runs'].get(f'torch_{mode}_{th}')
            if not t or not p:
                continue
            print(f"| {name} (b{m['batch']}) | {label} | {t['img_s_median']:.1f} / {t['img_s_best']:.1f} | "
                  f"{p['img_s_median']:.1f} / {p['img_s_best']:.1f} | "
                  f"**{t['img_s_median'] / p['img_s_median']:.2f}x** / {t['img_s_best'] / p['img_s_best']:.2f}x | "
                  f"{t['gflops_median']:.1f}, {100 * t['peak_fraction']:.0f}% ({100 * t['avx2_peak_fraction']:.0f}%) | "
                  f"{p['gflops_median']:.1f}, {100 * p['peak_fraction']:.0f}% ({100 * p['avx2_peak_fraction']:.0f}%) | "
                  f"{t['peak_rss_mb']:.0f} / {p['peak_rss_mb']:.0f} MB ({t['peak_rss_mb'] / p['peak_rss_mb']:.2f}x) |")
    print()
    print('Peak this run: ' + ', '.join(f'{v:.1f} GFLOP/s on {k} core(s)' for k, v in d['peak_gflops'].items()) +
          ' (AVX2: ' + ', '.join(f'{v:.1f}' for v in d['avx2_peak_gflops'].values()) + ').')
    for name, m in d['models'].items():
        print(f"{name}: first-batch loss tapevit {m['first_loss_tapevit']:.6f}, PyTorch {m['first_loss_torch']:.6f}; "
              f"PyTorch's best settings {m['torch_best']}")


if __name__ == '__main__':
    main()
