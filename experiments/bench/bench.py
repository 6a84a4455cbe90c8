#!/usr/bin/python3
"""Side-by-side training/inference benchmark: tapevit against PyTorch on identical ViTs on this machine.

    /usr/bin/python3 experiments/bench/bench.py [--models vit-fmnist,vit-cifar,vit_tiny_patch16_224]
                                               [--steps 10] [--rounds 2] [--out results.json]

Needs a Release build (scripts/setup.sh: build/experiments/bench/bench_tapevit) and Debian's python3-torch,
python3-numpy, python3-h5py. For each model it
  1. writes one case file: timm-named weights (timm's init), a random batch and labels;
  2. checks that tapevit and PyTorch compute the same thing: the cross-entropy of the first batch from the same
     weights must agree within 1e-4 (relative), or nothing is timed;
  3. finds PyTorch's best setting by trying torch threads {1, 2} x OpenBLAS threads {1, 2} x
     OMP_WAIT_POLICY {default, PASSIVE} (training and inference separately; for the 1-thread comparison, the
     settings with one torch thread);
  4. times tapevit and PyTorch-at-its-best alternately, `rounds` times each, `steps` timed steps after warm-up,
     every run in a fresh process (so its peak RSS is its own);
  5. prints images/s (from the min and the median step), the ratio tapevit/PyTorch, GFLOP/s and the fraction of
     the FMA peak measured in the same run (bench_tapevit peak), and peak RSS.
The training step is forward + cross-entropy + backward + AdamW (weight decay 0.05 on >= 2-D tensors but
pos_embed/cls_token, as timm), float32, the same batch every step.
"""
import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

MODELS = {
    'vit-fmnist': dict(img_size=28, patch_size=4, in_chans=1, num_classes=10, embed_dim=192, depth=6, num_heads=3,
                       batch=128),
    'vit-cifar': dict(img_size=32, patch_size=4, in_chans=3, num_classes=10, embed_dim=192, depth=6, num_heads=3,
                      batch=128),
    'vit_tiny_patch16_224': dict(img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=192, depth=12,
                                 num_heads=3, batch=32),
}


def flops_per_image(m):
    """Multiply-adds x 2 of the forward pass; a training step is 3x (backward = 2x forward)."""
    C, n = m['embed_dim'], (m['img_size'] // m['patch_size']) ** 2
    N, hidden = n + 1, 4 * C
    per_block = N * (3 * C * C + C * C + 2 * C * hidden) + 2 * N * N * C  # qkv, proj, mlp; q k^T and attn v
    macs = n * m['in_chans'] * m['patch_size'] ** 2 * C + m['depth'] * per_block + C * m['num_classes']
    return 2.0 * macs


# ---------------------------------------------------------------------------------------------- PyTorch worker
def torch_worker(mode, case, steps, warmup):
    import h5py
    import resource
    import time
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(ROOT, 'tests'))
    from make_parity_fixtures import VisionTransformer, adamw_param_groups

    torch.set_num_threads(int(os.environ.get('TORCH_THREADS', '2')))
    with h5py.File(case, 'r') as f:
        cfg = json.loads(f.attrs['config'])
        model = VisionTransformer(img_size=cfg['img_size'], patch_size=cfg['patch_size'], in_chans=cfg['in_chans'],
                                  num_classes=cfg['num_classes'], embed_dim=cfg['embed_dim'], depth=cfg['depth'],
                                  num_heads=cfg['num_heads'], mlp_ratio=4.0, qkv_bias=True, init_values=0.0,
                                  global_pool='token')
        model.load_state_dict({k: torch.from_numpy(f['params/' + k][()]) for k in model.state_dict()}, strict=True)
        x = torch.from_numpy(f['input'][()])
        y = torch.from_numpy(f['labels'][()]).long()
    opt = torch.optim.AdamW(adamw_param_groups(model, 0.05), lr=1e-4)
    times, first = [], None
    if mode == 'train':
        model.train()
        for s in range(warmup + steps):
            t0 = time.perf_counter()
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            dt = time.perf_counter() - t0
            if s == 0:
                first = loss.item()
            if s >= warmup:
                times.append(dt)
    else:
        model.eval()
        with torch.no_grad():
            for s in range(warmup + steps):
                t0 = time.perf_counter()
                logits = model(x)
                dt = time.perf_counter() - t0
                if s == 0:
                    first = F.cross_entropy(logits, y).item()
                if s >= warmup:
                    times.append(dt)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(dict(mode=mode, first_loss=first, step_seconds=times, peak_rss_mb=rss)))


# ---------------------------------------------------------------------------------------------- driver
def write_case(path, m, seed=0):
    import h5py
    import torch
    sys.path.insert(0, os.path.join(ROOT, 'tests'))
    from make_parity_fixtures import VisionTransformer, timm_init_
    torch.manual_seed(seed)
    model = VisionTransformer(img_size=m['img_size'], patch_size=m['patch_size'], in_chans=m['in_chans'],
                              num_classes=m['num_classes'], embed_dim=m['embed_dim'], depth=m['depth'],
                              num_heads=m['num_heads'], mlp_ratio=4.0, qkv_bias=True, init_values=0.0,
                              global_pool='token')
    timm_init_(model)
    cfg = {k: m[k] for k in ('img_size', 'patch_size', 'in_chans', 'num_classes', 'embed_dim', 'depth', 'num_heads')}
    cfg.update(mlp_ratio=4.0, qkv_bias=True, global_pool='token')
    with h5py.File(path, 'w') as f:
        f.attrs['config'] = json.dumps(cfg)
        for n, p in model.state_dict().items():
            f['params/' + n] = p.numpy()
        f['input'] = torch.randn(m['batch'], m['in_chans'], m['img_size'], m['img_size']).numpy()
        f['labels'] = torch.randint(0, m['num_classes'], (m['batch'],)).int().numpy()


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_tapevit(binary, mode, case, steps, warmup, threads):
    return run_json([binary, mode, case, '--steps', str(steps), '--warmup', str(warmup), '--threads', str(threads)])


def torch_env(setting):
    tt, bt, passive = setting
    env = dict(os.environ, TORCH_THREADS=str(tt), OPENBLAS_NUM_THREADS=str(bt), OMP_NUM_THREADS=str(tt))
    env.pop('OMP_WAIT_POLICY', None)
    if passive:
        env['OMP_WAIT_POLICY'] = 'PASSIVE'
    return env


def run_torch(mode, case, steps, warmup, setting):
    return run_json([sys.executable, os.path.abspath(__file__), '--worker', mode, case, '--steps', str(steps),
                     '--warmup', str(warmup)], env=torch_env(setting))


def setting_name(s):
    return f"torch {s[0]}t / blas {s[1]}t{' / PASSIVE' if s[2] else ''}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--models', default=','.join(MODELS))
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--search-steps', type=int, default=4)
    ap.add_argument('--binary', default=os.path.join(ROOT, 'build', 'experiments', 'bench', 'bench_tapevit'))
    ap.add_argument('--out', default='')
    ap.add_argument('--worker', nargs=2, metavar=('MODE', 'CASE'), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return torch_worker(a.worker[0], a.worker[1], a.steps, a.warmup)
    if not os.path.exists(a.binary):
        sys.exit(f'{a.binary}: not found; build first (scripts/setup.sh)')

    peaks = {t: run_json([a.binary, 'peak', '--threads', str(t)]) for t in (1, 2)}
    peak = {t: p['peak_gflops'] for t, p in peaks.items()}
    peak256 = {t: p['avx2_gflops'] for t, p in peaks.items()}
    print(f'FMA peak: {peak[1]:.1f} GFLOP/s on 1 core, {peak[2]:.1f} on 2 (256-bit FMAs only: {peak256[1]:.1f} and '
          f'{peak256[2]:.1f})', flush=True)
    results = dict(peak_gflops=peak, avx2_peak_gflops=peak256, models={})
    tmp = tempfile.mkdtemp(prefix='tapevit_bench_')
    settings = list(itertools.product((1, 2), (1, 2), (False, True)))
    for name in a.models.split(','):
        m = MODELS[name]
        case = os.path.join(tmp, name + '.h5')
        write_case(case, m)
        # 2. the same computation first
        tv = run_tapevit(a.binary, 'train', case, 0, 1, 2)['first_loss']
        pt = run_torch('train', case, 0, 1, (2, 1, False))['first_loss']
        rel = abs(tv - pt) / abs(pt)
        print(f'\n{name}: first-batch loss tapevit {tv:.6f}, PyTorch {pt:.6f}, relative difference {rel:.2e}', flush=True)
        if rel > 1e-4:
            sys.exit(f'{name}: tapevit and PyTorch disagree on the first loss ({rel:.2e} > 1e-4); not timing')
        r = dict(first_loss_tapevit=tv, first_loss_torch=pt, flops_per_image=flops_per_image(m), batch=m['batch'])
        # 3. PyTorch's best setting, per mode
        best = {}
        for mode in ('train', 'infer'):
            med = {}
            for s in settings:
                t = run_torch(mode, case, a.search_steps, 2, s)['step_seconds']
                med[s] = statistics.median(t)
                print(f'  search {mode:5s} {setting_name(s):32s} {m["batch"] / med[s]:8.1f} img/s', flush=True)
            best[mode] = min(med, key=med.get)
            best[mode + '_1t'] = min((s for s in settings if s[0] == 1 and s[1] == 1), key=med.get)  # one thread in all
        r['torch_best'] = {k: setting_name(v) for k, v in best.items()}
        # 4. alternate
        runs = {}
        # keys name the machine's thread budget: PyTorch's best 2-thread-budget setting may use one torch thread
        plan = [('tapevit', 'train', 2, 2), ('torch', 'train', 2, best['train']), ('tapevit', 'infer', 2, 2),
                ('torch', 'infer', 2, best['infer']), ('tapevit', 'train', 1, 1), ('torch', 'train', 1, best['train_1t'])]
        for _ in range(a.rounds):
            for who, mode, budget, s in plan:
                key = f'{who}_{mode}_{budget}t'
                out = (run_tapevit(a.binary, mode, case, a.steps, a.warmup, budget) if who == 'tapevit'
                       else run_torch(mode, case, a.steps, a.warmup, s))
                runs.setdefault(key, dict(step_seconds=[], peak_rss_mb=0))
                runs[key]['step_seconds'] += out['step_seconds']
                runs[key]['peak_rss_mb'] = max(runs[key]['peak_rss_mb'], out['peak_rss_mb'])
        for key, v in runs.items():
            t = v['step_seconds']
            mult = 3 if '_train_' in key else 1
            v['img_s_best'] = m['batch'] / min(t)
            v['img_s_median'] = m['batch'] / statistics.median(t)
            v['gflops_median'] = v['img_s_median'] * mult * r['flops_per_image'] / 1e9
            threads = int(key.split('_')[-1][0])  # the thread budget
            v['peak_fraction'] = v['gflops_median'] / peak[threads]
            v['avx2_peak_fraction'] = v['gflops_median'] / peak256[threads]
        r['runs'] = runs
        results['models'][name] = r
        print(f'  {"run":22s} {"img/s best":>10s} {"median":>8s} {"GFLOP/s":>8s} {"of peak":>8s} {"of AVX2":>8s} '
              f'{"RSS MB":>8s}')
        for key, v in runs.items():
            print(f'  {key:22s} {v["img_s_best"]:10.1f} {v["img_s_median"]:8.1f} {v["gflops_median"]:8.1f} '
                  f'{100 * v["peak_fraction"]:7.1f}% {100 * v["avx2_peak_fraction"]:7.1f}% {v["peak_rss_mb"]:8.0f}')
        for mode, t in (('train', 2), ('infer', 2), ('train', 1)):
            tv, pt = runs[f'tapevit_{mode}_{t}t'], runs[f'torch_{mode}_{t}t']
            print(f'  ratio tapevit/PyTorch {mode} {t}t: {tv["img_s_median"] / pt["img_s_median"]:.2f}x (median), '
                  f'{tv["img_s_best"] / pt["img_s_best"]:.2f}x (best); RSS {tv["peak_rss_mb"] / pt["peak_rss_mb"]:.2f}x',
                  flush=True)
        print(f'  PyTorch best settings: {r["torch_best"]}', flush=True)
    if a.out:
        with open(a.out, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
