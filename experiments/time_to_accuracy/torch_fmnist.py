#!/usr/bin/python3
"""The default Fashion-MNIST recipe (configs/fmnist.ini) in plain PyTorch, for the time-to-accuracy comparison.

    /usr/bin/python3 experiments/time_to_accuracy/torch_fmnist.py --out DIR [--epochs 13] [--max-steps N]
                     [--torch-threads 2] [--blas-threads 2]

Same model (the timm-equivalent ViT in tests/make_parity_fixtures.py, timm's init), same recipe as tapevit's
train loop: AdamW (betas 0.9/0.999, eps 1e-8, weight decay 0.05 on >= 2-D tensors except pos_embed/cls_token),
per-step linear warmup from warmup_lr then cosine to min_lr (timm's CosineLRScheduler, as optim/lr_schedule.cpp),
label smoothing, horizontal flip, normalisation by the train-split mean/std, shuffled epochs that drop the last
incomplete batch, evaluation on the 10,000 test images after every epoch. Writes DIR/summary.csv with the same
columns as tapevit's (seconds = that epoch's wall time, training + evaluation) and prints the wall time at which
test top-1 first reached 90% and 92%. Thread settings: OpenBLAS reads OPENBLAS_NUM_THREADS at import, so
--blas-threads re-executes the script with it set.
"""
import argparse
import gzip
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def read_idx(path):
    import numpy as np
    with gzip.open(path, 'rb') as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--data-dir', default='/usr/share/datasets/fashion-mnist')
    ap.add_argument('--embed-dim', type=int, default=64)
    ap.add_argument('--depth', type=int, default=4)
    ap.add_argument('--num-heads', type=int, default=2)
    ap.add_argument('--epochs', type=int, default=13)
    ap.add_argument('--batch-size', type=int, default=64)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--weight-decay', type=float, default=0.05)
    ap.add_argument('--warmup-epochs', type=float, default=1.0)
    ap.add_argument('--warmup-lr', type=float, default=1e-6)
    ap.add_argument('--min-lr', type=float, default=1e-5)
    ap.add_argument('--smoothing', type=float, default=0.1)
    ap.add_argument('--hflip', type=float, default=0.5)
    ap.add_argument('--seed', type=int, default=42)
    ap.add_argument('--max-steps', type=int, default=0, help='stop after this many steps (throughput probes)')
    ap.add_argument('--torch-threads', type=int, default=2)
    ap.add_argument('--blas-threads', type=int, default=2)
    a = ap.parse_args()
    if os.environ.get('OPENBLAS_NUM_THREADS') != str(a.blas_threads):
        os.environ['OPENBLAS_NUM_THREADS'] = str(a.blas_threads)
        os.execv(sys.executable, [sys.executable] + sys.argv)

    import numpy as np
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(ROOT, 'tests'))
    from make_parity_fixtures import VisionTransformer, adamw_param_groups, timm_init_

    torch.set_num_threads(a.torch_threads)
    torch.manual_seed(a.seed)
    mean, std = 0.2860, 0.3530
    def load(split):
        x = read_idx(os.path.join(a.data_dir, f'{split}-images-idx3-ubyte.gz')).astype(np.float32) / 255.0
        y = read_idx(os.path.join(a.data_dir, f'{split}-labels-idx1-ubyte.gz')).astype(np.int64)
        return torch.from_numpy((x - mean) / std).unsqueeze(1), torch.from_numpy(y)
    xtr, ytr = load('train')
    xte, yte = load('t10k')

    model = VisionTransformer(img_size=28, patch_size=4, in_chans=1, num_classes=10, embed_dim=a.embed_dim,
                              depth=a.depth, num_heads=a.num_heads, mlp_ratio=4.0, qkv_bias=True, init_values=0.0,
                              global_pool='token')
    timm_init_(model)
    opt = torch.optim.AdamW(adamw_param_groups(model, a.weight_decay), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    B = a.batch_size
    steps_per_epoch = xtr.shape[0] // B
    total = a.epochs * steps_per_epoch
    warmup = round(a.warmup_epochs * steps_per_epoch)

    def lr_at(t):
        if t < warmup:
            return a.warmup_lr + t * ((a.lr - a.warmup_lr) / warmup)
        if t >= total:
            return a.min_lr
        return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * t / total))

    os.makedirs(a.out, exist_ok=True)
    rows, reached, step, wall = [], {}, 0, 0.0
    gen = torch.Generator().manual_seed(a.seed)
    print(f'PyTorch {torch.__version__}, torch threads {a.torch_threads}, OpenBLAS threads {a.blas_threads}, '
          f'{steps_per_epoch} steps/epoch of {B}', flush=True)
    for epoch in range(1, a.epochs + 1):
        t_epoch = time.perf_counter()
        model.train()
        perm = torch.randperm(xtr.shape[0], generator=gen)
        loss_sum, t_train = 0.0, time.perf_counter()
        for s in range(steps_per_epoch):
            idx = perm[s * B:(s + 1) * B]
            x, y = xtr[idx], ytr[idx]
            flip = torch.rand(B, generator=gen) < a.hflip
            x[flip] = x[flip].flip(-1)
            for g in opt.param_groups:
                g['lr'] = lr_at(step)
            loss = F.cross_entropy(model(x), y, label_smoothing=a.smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            step += 1
            if a.max_steps and step >= a.max_steps:
                dt = time.perf_counter() - t_train
                print(f'probe: {step} steps in {dt:.2f} s = {step * B / dt:.1f} img/s (first steps included)')
                return
        model.eval()
        correct, eval_loss = 0, 0.0
        with torch.no_grad():
            for i in range(0, xte.shape[0], B):
                z = model(xte[i:i + B])
                eval_loss += F.cross_entropy(z, yte[i:i + B], reduction='sum').item()
                correct += (z.argmax(1) == yte[i:i + B]).sum().item()
        top1 = 100.0 * correct / xte.shape[0]
        secs = time.perf_counter() - t_epoch
        wall += secs
        rows.append((epoch, loss_sum / steps_per_epoch, eval_loss / xte.shape[0], top1, lr_at(step - 1), secs))
        for target in (90, 92):
            if top1 >= target and target not in reached:
                reached[target] = wall
        print(f'epoch {epoch}: train_loss {rows[-1][1]:.4f} eval_loss {rows[-1][2]:.4f} top1 {top1:.2f}% '
              f'{secs:.1f} s (total {wall / 60:.2f} min)', flush=True)
        with open(os.path.join(a.out, 'summary.csv'), 'w') as f:
            f.write('epoch,train_loss,eval_loss,eval_top1,lr,seconds\n')
            for r in rows:
                f.write(f'{r[0]},{r[1]:.6f},{r[2]:.6f},{r[3]:.4f},{r[4]:.6g},{r[5]:.4f}\n')
    for target in (90, 92):
        print(f'time to {target}%: ' + (f'{reached[target] / 60:.2f} min' if target in reached else
                                         f'not reached (best {max(r[3] for r in rows):.2f}%)'))


if __name__ == '__main__':
    main()
