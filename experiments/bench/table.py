#!/usr/bin/python3
"""The RESULTS.md table of one bench.py run, from its --out JSON or its printed log (so the rows are never copied
by hand; the log serves a run stopped before its end, which writes no JSON).

    /usr/bin/python3 experiments/bench/table.py experiments/bench/2026-11-25_run3.json
    /usr/bin/python3 experiments/bench/table.py experiments/bench/2026-11-30_run5.log
"""
import json
import sys

MODES = [('train', '2t', 'train, 2 threads'), ('infer', '2t', 'inference, 2 threads'), ('train', '1t', 'train, 1 thread'),
         ('train_amp', '2t', 'train, bf16 amp vs autocast, 2 threads'),
         ('infer_amp', '2t', 'inference, bf16 amp vs autocast, 2 threads')]


def from_log(path):
    """The JSON's fields that the table uses, read back from bench.py's printed tables."""
    sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__)))
    from bench import MODELS
    d = dict(models={}, peak_gflops={}, avx2_peak_gflops={})
    name = None
    for line in open(path):
        w = line.split()
        if line.startswith('FMA peak:'):  # "FMA peak: X GFLOP/s on 1 core, Y on 2 (256-bit FMAs only: A and B)"
            d['peak_gflops'] = {'1': float(w[2]), '2': float(w[7])}
            d['avx2_peak_gflops'] = {'1': float(w[13]), '2': float(w[15].rstrip(')'))}
        elif ': first-batch loss tapevit' in line:
            name = line.split(':')[0]
            d['models'][name] = dict(batch=MODELS[name]['batch'], runs={}, first_loss_tapevit=float(w[4].rstrip(',')),
                                     first_loss_torch=float(w[6].rstrip(',')))
        elif name and line.strip().startswith("PyTorch best settings:"):
            d['models'][name]['torch_best'] = line.split(':', 1)[1].strip()
        elif name and len(w) == 7 and (w[0].startswith('tapevit_') or w[0].startswith('torch_')):
            d['models'][name]['runs'][w[0]] = dict(
                img_s_best=float(w[1]), img_s_median=float(w[2]), gflops_median=float(w[3]),
                peak_fraction=float(w[4].rstrip('%')) / 100, avx2_peak_fraction=float(w[5].rstrip('%')) / 100,
                peak_rss_mb=float(w[6]))
    d['models'] = {k: v for k, v in d['models'].items() if v['runs']}
    return d


def main():
    d = from_log(sys.argv[1]) if sys.argv[1].endswith('.log') else json.load(open(sys.argv[1]))
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
    print('tapevit amp / tapevit float32 (median img/s): ' + ', '.join(
        f"{name} train {m['runs']['tapevit_train_amp_2t']['img_s_median'] / m['runs']['tapevit_train_2t']['img_s_median']:.2f}x, "
        f"inference {m['runs']['tapevit_infer_amp_2t']['img_s_median'] / m['runs']['tapevit_infer_2t']['img_s_median']:.2f}x"
        for name, m in d['models'].items() if 'tapevit_train_amp_2t' in m['runs']) + '.')
    print()
    print('Peak this run: ' + ', '.join(f'{v:.1f} GFLOP/s on {k} core(s)' for k, v in d['peak_gflops'].items()) +
          ' (AVX2: ' + ', '.join(f'{v:.1f}' for v in d['avx2_peak_gflops'].values()) + ').')
    for name, m in d['models'].items():
        print(f"{name}: first-batch loss tapevit {m['first_loss_tapevit']:.6f}, PyTorch {m['first_loss_torch']:.6f}; "
              f"PyTorch's best settings {m['torch_best']}")


if __name__ == '__main__':
    main()
