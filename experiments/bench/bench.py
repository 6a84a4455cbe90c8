#!/usr/bin/python3
"""Side-by-side training/inference benchmark: tapevit against PyTorch on identical ViTs on this machine.

    experiments/bench/setup.sh      # once: the build, python3-torch/numpy/h5py and OpenBLAS for PyTorch
    /usr/bin/python3 experiments/bench/bench.py [--models vit-fmnist,...,vit_base_patch16_224]
                                               [--steps 10] [--rounds 2] [--no-amp] [--out results.json]

Needs a Release build (build/experiments/bench/bench_tapevit) and Debian's python3-torch, python3-numpy,
python3-h5py and libopenblas0-pthread (experiments/bench/setup.sh installs them). PyTorch at its very best:
  - it refuses to time PyTorch on the reference BLAS: Debian's python3-torch alone brings netlib's libblas.so.3,
    2-5x slower than OpenBLAS; it prints which BLAS (from /proc/self/maps) and which OpenBLAS kernel
    (openblas_get_corename) PyTorch's process uses;
  - its setting search includes OpenBLAS's own kernel choice: the environment may pin OPENBLAS_CORETYPE (this one:
    Haswell, AVX2); 'auto' unsets it and OPENBLAS_L2_SIZE for the PyTorch process alone (whether that runs, and
    how fast, is recorded);
  - with amp (default on where tapevit has bfloat16), tapevit's --amp against PyTorch's bfloat16 autocast
    (torch.autocast('cpu', dtype=torch.bfloat16): oneDNN), each at its best thread setting.
For each model it
  1. writes one case file: timm-named weights (timm's init), a random batch and labels;
  2. checks that tapevit and PyTorch compute the same thing: the cross-entropy of the first batch from the same
     weights must agree within 1e-4 (relative), or nothing is timed;
  3. finds PyTorch's best setting by trying torch threads {1, 2} x OpenBLAS threads {1, 2} x
     OMP_WAIT_POLICY {default, PASSIVE} x OpenBLAS kernels {the environment's, auto} (training and inference
     separately; for the 1-thread comparison, the settings with one thread in all; amp: torch threads x
     OMP_WAIT_POLICY);
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
    # what people fine-tune: fewer timed steps (a ViT-B training step takes seconds here)
    'vit_small_patch16_224': dict(img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=384, depth=12,
                                  num_heads=6, batch=32, steps=5, search_steps=2),
    'vit_base_patch16_224': dict(img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=768, depth=12,
                                 num_heads=12, batch=32, steps=3, warmup=1, search_steps=1),
}
# Multi-query attention (num_kv_heads 1, issue 29) beside the multi-head rows above (num_kv_heads = num_heads):
# PyTorch runs tests/make_parity_fixtures.py's Attention (k, v repeat_interleave'd), tapevit its grouped core.
MODELS['vit-fmnist-mqa'] = dict(MODELS['vit-fmnist'], num_kv_heads=1)
MODELS['vit_small_patch16_224-mqa'] = dict(MODELS['vit_small_patch16_224'], num_kv_heads=1)


def blas_of_this_process():
    """Which BLAS this process has loaded (from /proc/self/maps) and, for OpenBLAS, the kernel it chose."""
    paths = sorted({l.split()[-1] for l in open('/proc/self/maps') if 'blas' in l.rsplit('/', 1)[-1]})
    info = dict(blas_paths=paths, blas='none loaded', openblas_core='')
    for p in paths:
        if 'openblas' in p:
            import ctypes
            lib = ctypes.CDLL(p)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            info.update(blas='OpenBLAS', openblas_core=lib.openblas_get_corename().decode(),
                        openblas_config=lib.openblas_get_config().decode())
            return info
        if '/blas/libblas' in p or p.endswith('libblas.so.3'):
            info['blas'] = 'reference (netlib)'
    return info


def flops_per_image(m):
    """Multiply-adds x 2 of the forward pass; a training step is 3x (backward = 2x forward)."""
    C, n = m['embed_dim'], (m['img_size'] // m['patch_size']) ** 2
    N, hidden = n + 1, 4 * C
    qkv_rows = C + 2 * C * m.get('num_kv_heads', m['num_heads']) // m['num_heads']  # q, k and v of num_kv_heads heads
    per_block = N * (qkv_rows * C + C * C + 2 * C * hidden) + 2 * N * N * C  # qkv, proj, mlp; q k^T and attn v
    macs = n * m['in_chans'] * m['patch_size'] ** 2 * C + m['depth'] * per_block + C * m['num_classes']
    return 2.0 * macs


# ---------------------------------------------------------------------------------------------- PyTorch worker
def torch_worker(mode, case, steps, warmup, amp=False):
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
                                  global_pool='token', num_kv_heads=cfg.get('num_kv_heads'))
        model.load_state_dict({k: torch.from_numpy(f['params/' + k][()]) for k in model.state_dict()}, strict=True)
        x = torch.from_numpy(f['input'][()])
        y = torch.from_numpy(f['labels'][()]).long()
    opt = torch.optim.AdamW(adamw_param_groups(model, 0.05), lr=1e-4)
    times, first = [], None
    import contextlib
    autocast = (lambda: torch.autocast('cpu', dtype=torch.bfloat16)) if amp else contextlib.nullcontext
    if mode == 'train':
        model.train()
        for s in range(warmup + steps):
            t0 = time.perf_counter()
            with autocast():
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
                with autocast():
                    logits = model(x)
                dt = time.perf_counter() - t0
                if s == 0:
                    first = F.cross_entropy(logits.float(), y).item()
                if s >= warmup:
                    times.append(dt)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(dict(mode=mode, first_loss=first, step_seconds=times, peak_rss_mb=rss, **blas_of_this_process())))


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
                              global_pool='token', num_kv_heads=m.get('num_kv_heads'))
    timm_init_(model)
    cfg = {k: m[k] for k in ('img_size', 'patch_size', 'in_chans', 'num_classes', 'embed_dim', 'depth', 'num_heads',
                             'num_kv_heads') if k in m}
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


def run_tapevit(binary, mode, case, steps, warmup, threads, amp=False):
    return run_json([binary, mode, case, '--steps', str(steps), '--warmup', str(warmup), '--threads', str(threads)]
                    + (['--amp'] if amp else []))


def torch_env(setting):
    """setting: (torch threads, OpenBLAS threads, OMP_WAIT_POLICY=PASSIVE, OpenBLAS kernels 'env' or 'auto')."""
    tt, bt, passive, core = setting
    env = dict(os.environ, TORCH_THREADS=str(tt), OPENBLAS_NUM_THREADS=str(bt), OMP_NUM_THREADS=str(tt))
    env.pop('OMP_WAIT_POLICY', None)
    if passive:
        env['OMP_WAIT_POLICY'] = 'PASSIVE'
    if core == 'auto':  # OpenBLAS picks its kernels for this CPU itself (for this process only)
        env.pop('OPENBLAS_CORETYPE', None)
        env.pop('OPENBLAS_L2_SIZE', None)
    return env


def run_torch(mode, case, steps, warmup, setting, amp=False):
    return run_json([sys.executable, os.path.abspath(__file__), '--worker', mode, case, '--steps', str(steps),
                     '--warmup', str(warmup)] + (['--amp'] if amp else []), env=torch_env(setting))


def setting_name(s):
    core = os.environ.get('OPENBLAS_CORETYPE', 'auto') if s[3] == 'env' else 'auto'
    return f"torch {s[0]}t / blas {s[1]}t{' / PASSIVE' if s[2] else ''} / OpenBLAS kernels {core}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--models', default=','.join(MODELS))
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--search-steps', type=int, default=4)
    ap.add_argument('--binary', default=os.path.join(ROOT, 'build', 'experiments', 'bench', 'bench_tapevit'))
    ap.add_argument('--out', default='')
    ap.add_argument('--no-amp', action='store_true', help='leave out the bfloat16 (amp) comparison')
    ap.add_argument('--torch-settings', default='', help="skip PyTorch's setting search and use these (JSON: mode -> "
                    "[torch threads, BLAS threads, PASSIVE, 'env' or 'auto']), e.g. the best a smaller model found")
    ap.add_argument('--worker', nargs=2, metavar=('MODE', 'CASE'), help=argparse.SUPPRESS)
    ap.add_argument('--amp', action='store_true', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return torch_worker(a.worker[0], a.worker[1], a.steps, a.warmup, a.amp)
    if not os.path.exists(a.binary):
        sys.exit(f'{a.binary}: not found; build first (experiments/bench/setup.sh)')

    peaks = {t: run_json([a.binary, 'peak', '--threads', str(t)]) for t in (1, 2)}
    peak = {t: p['peak_gflops'] for t, p in peaks.items()}
    peak256 = {t: p['avx2_gflops'] for t, p in peaks.items()}
    print(f'FMA peak: {peak[1]:.1f} GFLOP/s on 1 core, {peak[2]:.1f} on 2 (256-bit FMAs only: {peak256[1]:.1f} and '
          f'{peak256[2]:.1f})', flush=True)
    results = dict(peak_gflops=peak, avx2_peak_gflops=peak256, models={})
    tmp = tempfile.mkdtemp(prefix='tapevit_bench_')
    # PyTorch's BLAS, as its worker processes load it, with the environment's OpenBLAS kernels and with OpenBLAS's own
    probe_case = os.path.join(tmp, 'probe.h5')
    write_case(probe_case, MODELS['vit-fmnist'])
    blas = {}
    for core in ('env', 'auto'):
        try:
            blas[core] = run_torch('infer', probe_case, 1, 0, (1, 1, False, core))
        except subprocess.CalledProcessError as e:
            blas[core] = dict(blas='failed', error=(e.stderr or '')[-300:])
        print(f"PyTorch's BLAS ({'OPENBLAS_CORETYPE=' + os.environ['OPENBLAS_CORETYPE'] if core == 'env' and 'OPENBLAS_CORETYPE' in os.environ else 'OpenBLAS kernels auto'}): "
              f"{blas[core].get('blas')} {blas[core].get('openblas_core', '')} {blas[core].get('blas_paths', '')}", flush=True)
    results['torch_blas'] = blas
    if blas['env'].get('blas') != 'OpenBLAS':
        sys.exit("PyTorch runs on the reference BLAS (netlib), 2-5x slower than OpenBLAS: timing it would handicap "
                 "it. Install libopenblas0-pthread (experiments/bench/setup.sh) and run again.")
    cores = ('env', 'auto') if blas['auto'].get('blas') == 'OpenBLAS' else ('env',)
    settings = list(itertools.product((1, 2), (1, 2), (False, True), cores))
    amp = not a.no_amp and 'avx512_bf16' in open('/proc/cpuinfo').read()  # tapevit's amp needs AVX512_BF16
    amp_settings = list(itertools.product((1, 2), (1,), (False, True), ('env',)))  # oneDNN: BLAS threads unused
    for name in a.models.split(','):
        m = MODELS[name]
        steps, warmup = m.get('steps', a.steps), m.get('warmup', a.warmup)
        search_steps = min(a.search_steps, m.get('search_steps', a.search_steps))
        case = os.path.join(tmp, name + '.h5')
        write_case(case, m)
        # 2. the same computation first
        tv = run_tapevit(a.binary, 'train', case, 0, 1, 2)['first_loss']
        pt = run_torch('train', case, 0, 1, (2, 1, False, 'env'))['first_loss']
        rel = abs(tv - pt) / abs(pt)
        print(f'\n{name}: first-batch loss tapevit {tv:.6f}, PyTorch {pt:.6f}, relative difference {rel:.2e}', flush=True)
        if rel > 1e-4:
            sys.exit(f'{name}: tapevit and PyTorch disagree on the first loss ({rel:.2e} > 1e-4); not timing')
        r = dict(first_loss_tapevit=tv, first_loss_torch=pt, flops_per_image=flops_per_image(m), batch=m['batch'])
        if amp:  # bfloat16 products on both sides: close, not equal (printed, not checked)
            r['first_loss_tapevit_amp'] = run_tapevit(a.binary, 'train', case, 0, 1, 2, True)['first_loss']
            r['first_loss_torch_amp'] = run_torch('train', case, 0, 1, (2, 1, False, 'env'), True)['first_loss']
            print(f"{name}: first-batch loss with bfloat16 products: tapevit {r['first_loss_tapevit_amp']:.6f}, "
                  f"PyTorch autocast {r['first_loss_torch_amp']:.6f}", flush=True)
        # 3. PyTorch's best setting, per mode
        best = {k: tuple(v) for k, v in json.loads(a.torch_settings).items()} if a.torch_settings else {}
        for mode in () if best else ('train', 'infer') + (('train_amp', 'infer_amp') if amp else ()):
            med = {}
            for s in (amp_settings if mode.endswith('_amp') else settings):
                try:
                    t = run_torch(mode.split('_')[0], case, search_steps, 1, s, amp=mode.endswith('_amp'))['step_seconds']
                except subprocess.CalledProcessError as e:
                    print(f'  search {mode:9s} {setting_name(s):58s} failed: {(e.stderr or "")[-200:]!r}', flush=True)
                    continue
                med[s] = statistics.median(t)
                print(f'  search {mode:9s} {setting_name(s):58s} {m["batch"] / med[s]:8.1f} img/s', flush=True)
            best[mode] = min(med, key=med.get)
            if mode == 'train':  # one thread in all
                best['train_1t'] = min((s for s in med if s[0] == 1 and s[1] == 1), key=med.get)
        r['torch_best'] = {k: setting_name(v) for k, v in best.items()}
        # 4. alternate
        runs = {}
        # keys name the machine's thread budget: PyTorch's best 2-thread-budget setting may use one torch thread
        plan = [('tapevit', 'train', 2, 2), ('torch', 'train', 2, best['train']), ('tapevit', 'infer', 2, 2),
                ('torch', 'infer', 2, best['infer']), ('tapevit', 'train', 1, 1), ('torch', 'train', 1, best['train_1t'])]
        if amp:
            plan += [('tapevit', 'train_amp', 2, 2), ('torch', 'train_amp', 2, best['train_amp']),
                     ('tapevit', 'infer_amp', 2, 2), ('torch', 'infer_amp', 2, best['infer_amp'])]
        for _ in range(a.rounds):
            for who, mode, budget, s in plan:
                key = f'{who}_{mode}_{budget}t'
                base, bf16 = mode.split('_')[0], mode.endswith('_amp')
                out = (run_tapevit(a.binary, base, case, steps, warmup, budget, bf16) if who == 'tapevit'
                       else run_torch(base, case, steps, warmup, s, bf16))
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
        # attention's share of tapevit's training step: the core alone (bench_tapevit attention), at 2 threads
        for mode in ('train',) + (('train_amp',) if amp else ()):
            core = run_tapevit(a.binary, 'attention', case, steps, warmup, 2, mode.endswith('_amp'))['step_seconds']
            step = runs[f'tapevit_{mode}_2t']['step_seconds']
            r[f'attention_share_{mode}_2t'] = statistics.median(core) / statistics.median(step)
            print(f'  tapevit {mode} 2t: attention core (forward + backward, {m["depth"]} blocks) '
                  f'{1e3 * statistics.median(core):.1f} ms of the {1e3 * statistics.median(step):.1f} ms step '
                  f'({100 * r[f"attention_share_{mode}_2t"]:.1f}%)', flush=True)
        r['runs'] = runs
        results['models'][name] = r
        print(f'  {"run":22s} {"img/s best":>10s} {"median":>8s} {"GFLOP/s":>8s} {"of peak":>8s} {"of AVX2":>8s} '
              f'{"RSS MB":>8s}')
        for key, v in runs.items():
            print(f'  {key:22s} {v["img_s_best"]:10.1f} {v["img_s_median"]:8.1f} {v["gflops_median"]:8.1f} '
                  f'{100 * v["peak_fraction"]:7.1f}% {100 * v["avx2_peak_fraction"]:7.1f}% {v["peak_rss_mb"]:8.0f}')
        for mode, t in (('train', 2), ('infer', 2), ('train', 1)) + ((('train_amp', 2), ('infer_amp', 2)) if amp else ()):
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
