#!/usr/bin/python3
"""Wall time to reach given test top-1 accuracies, from summary.csv files (tapevit's or torch_fmnist.py's).

    /usr/bin/python3 experiments/time_to_accuracy/report.py NAME=DIR/summary.csv ... [--targets 90,92]

Time to X% = the summed `seconds` column (each epoch's training + evaluation wall time) up to the end of the
first epoch whose eval_top1 is >= X. Prints a Markdown table.
"""
import csv
import sys


def main():
    targets = [90.0, 92.0]
    runs = []
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == '--targets':
            targets = [float(t) for t in args.pop(0).split(',')]
        else:
            name, path = a.split('=', 1)
            runs.append((name, path))
    print('| run | epochs | final top-1 | best top-1 | total wall time | ' +
          ' | '.join(f'time to {t:g}%' for t in targets) + ' |')
    print('|---|---:|---:|---:|---:|' + '---:|' * len(targets))
    for name, path in runs:
        with open(path) as f:
            rows = list(csv.DictReader(f))
        wall, reached = 0.0, {}
        for r in rows:
            wall += float(r['seconds'])
            for t in targets:
                if t not in reached and float(r['eval_top1']) >= t:
                    reached[t] = (wall, int(r['epoch']))
        best = max(float(r['eval_top1']) for r in rows)
        cells = [f'{reached[t][0] / 60:.2f} min (epoch {reached[t][1]})' if t in reached else 'not reached'
                 for t in targets]
        print(f'| {name} | {len(rows)} | {float(rows[-1]["eval_top1"]):.2f}% | {best:.2f}% | {wall / 60:.2f} min | ' +
              ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main()
