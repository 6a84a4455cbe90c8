#!/usr/bin/python3
"""Write tests/fixtures/optim.h5: torch.optim reference trajectories for tests/test_optim.cpp and
timm-formula learning rates for tests/test_lr_schedule.cpp.

Run by hand (not by CI) with Debian's python3-torch, python3-numpy, python3-h5py:
    /usr/bin/python3 tests/make_optim_fixtures.py

Six small parameters with timm names and shapes get a deterministic sequence of STEPS gradient sets. Each
optimizer case runs torch.optim on them with two param groups, as timm's param_groups_weight_decay with
VisionTransformer.no_weight_decay() builds them: weight decay only for tensors with ndim >= 2 that are not
pos_embed / cls_token / *.bias; the learning rate changes every step. Initial values and gradients are
float32-representable, so a float32 run starts from exactly the values the float64 reference used.

Layout (S = STEPS; row k of a stacked dataset belongs to optimizer step k + 1):
    /                               attrs: generator, steps
    /init/<name>                    float64 [*shape]      parameter values before the first step
    /grads/<name>                   float64 [S, *shape]   gradient fed to step k + 1
    /<case>                         case in adamw, sgd, momentum; attrs: opt (tapevit's name), weight_decay,
                                    momentum, beta1, beta2, eps, nesterov (0/1)
    /<case>/lr                      float64 [S]           learning rate of step k + 1
    /<case>/params/<name>           float64 [S, *shape]   parameters after step k + 1 (torch, float64)
    /<case>/params_f32/<name>       float32 [S, *shape]   the same run in float32 (torch, float32)
    /<case>/<state>/<name>          float64 [S, *shape]   optimizer state after step k + 1: exp_avg and
                                                          exp_avg_sq (adamw), momentum_buffer (sgd, momentum)
    /clip                           attrs: max_norm
    /clip/total_norm                float64 []            torch.nn.utils.clip_grad_norm_ return value on the
                                                          gradients of step 1 (/grads/<name>[0]), float64
    /clip/grads/<name>              float64 [*shape]      those gradients after clipping
    /lr_schedule/<case>             attrs: sched, lr, min_lr, warmup_lr, warmup_steps, total_steps
    /lr_schedule/<case>/steps       int64 [n]             optimizer steps t
    /lr_schedule/<case>/lr          float64 [n]           the learning rate at t

The learning rates come from lr_at() below: an independent Python implementation of the formula of timm's
CosineLRScheduler (timm/scheduler/cosine_lr.py: cycle_limit 1, cycle_mul 1, k_decay 1, no noise,
warmup_prefix False, stepped per update), plus tapevit's 'constant' schedule (warmup, then lr).
"""
import math
import os

import h5py
import numpy as np
import torch

STEPS = 5

PARAMS = [  # timm names and shapes of a tiny ViT (C = 4, 2 patches + cls, 3 classes)
    ('cls_token', (1, 1, 4)),
    ('pos_embed', (1, 3, 4)),
    ('blocks.0.norm1.weight', (4,)),
    ('blocks.0.attn.qkv.weight', (6, 4)),
    ('blocks.0.attn.qkv.bias', (6,)),
    ('head.weight', (3, 4)),
]

CASES = {
    'adamw': dict(opt='adamw', weight_decay=0.05, betas=(0.9, 0.95), eps=1e-8, momentum=0.0, nesterov=False,
                  sched=dict(sched='cosine', lr=0.05, min_lr=1e-3, warmup_lr=0.01, warmup_steps=2, total_steps=6)),
    'sgd': dict(opt='sgd', weight_decay=1e-4, momentum=0.9, nesterov=True, betas=(0.9, 0.999), eps=1e-8,
                sched=dict(sched='cosine', lr=0.2, min_lr=0.01, warmup_lr=0.05, warmup_steps=1, total_steps=5)),
    'momentum': dict(opt='momentum', weight_decay=1e-4, momentum=0.9, nesterov=False, betas=(0.9, 0.999), eps=1e-8,
                     sched=dict(sched='cosine', lr=0.1, min_lr=0.0, warmup_lr=0.0, warmup_steps=0, total_steps=4)),
}

LR_CASES = {  # steps 0 .. n-1 of each
    'cosine_warmup': (dict(sched='cosine', lr=1e-3, min_lr=1e-5, warmup_lr=1e-6, warmup_steps=5, total_steps=20), 26),
    'cosine_no_warmup': (dict(sched='cosine', lr=0.5, min_lr=0.0, warmup_lr=0.0, warmup_steps=0, total_steps=7), 10),
    'cosine_one_step': (dict(sched='cosine', lr=0.1, min_lr=1e-4, warmup_lr=1e-6, warmup_steps=0, total_steps=1), 3),
    'warmup_past_total': (dict(sched='cosine', lr=0.3, min_lr=0.02, warmup_lr=0.1, warmup_steps=4, total_steps=3), 7),
    'constant_warmup': (dict(sched='constant', lr=0.1, min_lr=1e-5, warmup_lr=0.0, warmup_steps=3, total_steps=10), 12),
}


def takes_weight_decay(name, shape):
    return len(shape) >= 2 and not name.endswith('.bias') and name not in ('pos_embed', 'cls_token')


def lr_at(t, sched, lr, min_lr, warmup_lr, warmup_steps, total_steps):
    """The lr at optimizer step t: timm's CosineLRScheduler._get_lr formula with one cycle, t counted from 0."""
    if t < warmup_steps:  # linear warmup from warmup_lr towards lr (reaches lr at t = warmup_steps)
        return warmup_lr + t * ((lr - warmup_lr) / warmup_steps)
    if sched == 'constant':
        return lr
    if t >= total_steps:  # past the single cycle: timm returns lr_min
        return min_lr
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * t / total_steps))


def f32_exact(x):
    return x.float().double()


def make_optimizer(case, decay, no_decay):
    groups = [dict(params=decay, weight_decay=case['weight_decay']), dict(params=no_decay, weight_decay=0.0)]
    if case['opt'] == 'adamw':
        return torch.optim.AdamW(groups, lr=1.0, betas=case['betas'], eps=case['eps'], amsgrad=False)
    return torch.optim.SGD(groups, lr=1.0, momentum=case['momentum'], dampening=0.0, nesterov=case['nesterov'])


def run(case, init, grads, lrs, dtype):
    """Returns per step: {name: param}, {state: {name: buffer}}."""
    params = {n: torch.nn.Parameter(init[n].to(dtype).clone()) for n, _ in PARAMS}
    decay = [params[n] for n, s in PARAMS if takes_weight_decay(n, s)]
    no_decay = [params[n] for n, s in PARAMS if not takes_weight_decay(n, s)]
    opt = make_optimizer(case, decay, no_decay)
    out = []
    for k in range(STEPS):
        for n, _ in PARAMS:
            params[n].grad = grads[n][k].to(dtype).clone()
        for g in opt.param_groups:
            g['lr'] = lrs[k]
        opt.step()
        names = ('exp_avg', 'exp_avg_sq') if case['opt'] == 'adamw' else ('momentum_buffer',)
        state = {s: {n: opt.state[params[n]][s].detach().clone() for n, _ in PARAMS} for s in names}
        out.append(({n: params[n].detach().clone() for n, _ in PARAMS}, state))
    return out


def stack(seq):
    return torch.stack(seq).numpy()


def main():
    torch.set_num_threads(1)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'optim.h5')
    gen = torch.Generator().manual_seed(20261125)
    init = {n: f32_exact(torch.randn(s, generator=gen, dtype=torch.float64)) for n, s in PARAMS}
    grads = {n: [f32_exact(torch.randn(s, generator=gen, dtype=torch.float64)) for _ in range(STEPS)]
             for n, s in PARAMS}
    with h5py.File(out, 'w', libver='latest') as f:
        f.attrs['generator'] = 'tests/make_optim_fixtures.py, torch ' + torch.__version__
        f.attrs['steps'] = STEPS
        for n, _ in PARAMS:
            f['init/' + n] = init[n].numpy()
            f['grads/' + n] = stack(grads[n])
        for cname, case in CASES.items():
            g = f.create_group(cname)
            g.attrs['opt'] = case['opt']
            g.attrs['weight_decay'] = case['weight_decay']
            g.attrs['momentum'] = case['momentum']
            g.attrs['beta1'], g.attrs['beta2'] = case['betas']
            g.attrs['eps'] = case['eps']
            g.attrs['nesterov'] = int(case['nesterov'])
            lrs = [lr_at(k, **case['sched']) for k in range(STEPS)]
            g['lr'] = np.asarray(lrs, dtype=np.float64)
            r64 = run(case, init, grads, lrs, torch.float64)
            r32 = run(case, init, grads, lrs, torch.float32)
            for n, _ in PARAMS:
                g['params/' + n] = stack([p[n] for p, _ in r64])
                g['params_f32/' + n] = stack([p[n] for p, _ in r32]).astype(np.float32)
                for s in r64[0][1]:
                    g[s + '/' + n] = stack([st[s][n] for _, st in r64])
        # clip_grad_norm_ on the first gradient set; max_norm well below the total norm, so it clips
        g = f.create_group('clip')
        max_norm = 1.5
        g.attrs['max_norm'] = max_norm
        ps = {n: torch.nn.Parameter(init[n].clone()) for n, _ in PARAMS}
        for n, _ in PARAMS:
            ps[n].grad = grads[n][0].clone()
        total = torch.nn.utils.clip_grad_norm_([ps[n] for n, _ in PARAMS], max_norm)
        assert total.item() > max_norm
        g['total_norm'] = np.asarray(total.item(), dtype=np.float64)
        for n, _ in PARAMS:
            g['grads/' + n] = ps[n].grad.numpy()
        for cname, (cfg, n) in LR_CASES.items():
            g = f.create_group('lr_schedule/' + cname)
            for key, value in cfg.items():
                g.attrs[key] = value
            g['steps'] = np.arange(n, dtype=np.int64)
            g['lr'] = np.asarray([lr_at(t, **cfg) for t in range(n)], dtype=np.float64)
    print('wrote', out, os.path.getsize(out), 'bytes')


if __name__ == '__main__':
    main()
