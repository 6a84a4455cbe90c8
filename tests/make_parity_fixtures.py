#!/usr/bin/python3
"""Write tests/fixtures/parity_vit.h5: PyTorch reference values for tests/test_parity.cpp.

Run by hand (not by CI) with Debian's python3-torch, python3-numpy, python3-h5py:
    /usr/bin/python3 tests/make_parity_fixtures.py

The model below is plain PyTorch written to timm's VisionTransformer semantics and state_dict names
(timm itself is not needed): fused qkv Linear split (B, N, 3, H, D), scale head_dim**-0.5, pre-norm blocks with
optional LayerScale, and the options timm's pretrained families use: the prefix [cls_token, reg_token rows] with
pos_embed added after it is concatenated or, with no_embed_class, to the patches before; pre_norm (norm_pre, no
patch_embed bias); LayerNorm eps; act_layer gelu (erf) / gelu_tanh / quick_gelu; fc_norm auto|true|false and
final_norm; 'token' pool (x[:, 0]) or 'avg' over the patch tokens (the prefix excluded); a floor patch grid when
the patch does not divide the image; num_heads = 1 (single-head attention); num_kv_heads (grouped- and multi-query
attention, k and v repeat_interleave'd as scaled_dot_product_attention(enable_gqa=True) does). Parameters are drawn in general
position (not timm's init) so every gradient is exercised. Each case stores the weights, the input, the
targets, and for float32 and float64 the logits, the loss, d(loss)/d(input) and every parameter gradient.
"""
import json
import os

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    """timm.layers.Attention; with num_kv_heads < num_heads, grouped-query attention as PyTorch's
    F.scaled_dot_product_attention(enable_gqa=True) computes it: the fused qkv rows are q (num_heads heads), k and v
    (num_kv_heads heads each), and k, v are repeat_interleave'd num_heads / num_kv_heads times, so query head h reads
    kv head h // (num_heads / num_kv_heads). num_kv_heads = num_heads is timm's (B, N, 3, H, D) split exactly."""

    def __init__(self, dim, num_heads, qkv_bias, num_kv_heads=None):
        super().__init__()
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads or num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, (num_heads + 2 * self.num_kv_heads) * self.head_dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        H, Hkv, D = self.num_heads, self.num_kv_heads, self.head_dim
        if Hkv == H:
            q, k, v = self.qkv(x).reshape(B, N, 3, H, D).permute(2, 0, 3, 1, 4).unbind(0)
        else:
            q, k, v = self.qkv(x).split([H * D, Hkv * D, Hkv * D], dim=-1)
            q = q.reshape(B, N, H, D).transpose(1, 2)
            k = k.reshape(B, N, Hkv, D).transpose(1, 2).repeat_interleave(H // Hkv, dim=1)
            v = v.reshape(B, N, Hkv, D).transpose(1, 2).repeat_interleave(H // Hkv, dim=1)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class LayerScale(nn.Module):
    def __init__(self, dim, init_values):
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


def make_act(name):
    return {'gelu': lambda: nn.GELU(), 'gelu_tanh': lambda: nn.GELU(approximate='tanh'), 'quick_gelu': QuickGELU}[name]()


class Mlp(nn.Module):
    def __init__(self, dim, hidden, act_layer='gelu'):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = make_act(act_layer)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio, qkv_bias, init_values, eps=1e-6, act_layer='gelu', num_kv_heads=None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, qkv_bias, num_kv_heads)
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer)
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()

    def forward(self, x):
        x = x + self.ls1(self.attn(self.norm1(x)))
        x = x + self.ls2(self.mlp(self.norm2(x)))
        return x


class PatchEmbed(nn.Module):
    def __init__(self, patch_size, in_chans, dim, bias=True):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size, bias=bias)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class AttentionPoolLatent(nn.Module):
    """timm.layers.AttentionPoolLatent as VisionTransformer builds it for global_pool='map': one latent query,
    q/kv/proj Linears with biases, no q/k norm, a pre-norm residual MLP, pool_type 'token'."""

    def __init__(self, dim, num_heads, mlp_ratio, eps, act_layer):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.latent = nn.Parameter(torch.zeros(1, 1, dim))
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, dim * 2)
        self.proj = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer)

    def forward(self, x):
        B, N, C = x.shape
        q = self.q(self.latent.expand(B, -1, -1)).reshape(B, 1, self.num_heads, self.head_dim).transpose(1, 2)
        k, v = self.kv(x).reshape(B, N, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        attn = ((q * self.head_dim ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        x = self.proj((attn @ v).transpose(1, 2).reshape(B, 1, C))
        x = x + self.mlp(self.norm(x))
        return x[:, 0]


class VisionTransformer(nn.Module):
    def __init__(self, img_size, patch_size, in_chans, num_classes, embed_dim, depth, num_heads, mlp_ratio,
                 qkv_bias, init_values, global_pool, class_token=True, reg_tokens=0, no_embed_class=False,
                 pre_norm=False, norm_eps=1e-6, act_layer='gelu', fc_norm='auto', final_norm=True, distilled=False,
                 num_kv_heads=None):
        super().__init__()
        self.global_pool = global_pool
        self.no_embed_class = no_embed_class
        self.distilled = distilled  # timm's VisionTransformerDistilled (deit.py): [cls, dist] prefix, two heads
        self.num_prefix = (1 if class_token else 0) + (1 if distilled else 0) + reg_tokens
        n_patches = (img_size // patch_size) ** 2  # floor: a stride-P conv drops what does not fill a patch
        if class_token:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        if reg_tokens:
            self.reg_token = nn.Parameter(torch.zeros(1, reg_tokens, embed_dim))
        self.pos_embed = nn.Parameter(
            torch.zeros(1, n_patches + (0 if no_embed_class else self.num_prefix), embed_dim))
        if distilled:
            self.dist_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim, bias=not pre_norm)
        if pre_norm:
            self.norm_pre = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.blocks = nn.ModuleList(
            [Block(embed_dim, num_heads, mlp_ratio, qkv_bias, init_values, norm_eps, act_layer, num_kv_heads)
             for _ in range(depth)])
        use_fc_norm = global_pool == 'avg' if fc_norm == 'auto' else fc_norm == 'true'
        if final_norm and not use_fc_norm:
            self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        if global_pool == 'map':
            self.attn_pool = AttentionPoolLatent(embed_dim, num_heads, mlp_ratio, norm_eps, act_layer)
        if final_norm and use_fc_norm:
            self.fc_norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.head = nn.Linear(embed_dim, num_classes)
        if distilled:
            self.head_dist = nn.Linear(embed_dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x)
        B = x.shape[0]
        prefix = ([self.cls_token.expand(B, -1, -1)] if hasattr(self, 'cls_token') else []) + \
                 ([self.dist_token.expand(B, -1, -1)] if self.distilled else []) + \
                 ([self.reg_token.expand(B, -1, -1)] if hasattr(self, 'reg_token') else [])
        if self.no_embed_class:
            x = torch.cat(prefix + [x + self.pos_embed], dim=1)
        else:
            x = torch.cat(prefix + [x], dim=1) + self.pos_embed
        if hasattr(self, 'norm_pre'):
            x = self.norm_pre(x)
        for blk in self.blocks:
            x = blk(x)
        if hasattr(self, 'norm'):
            x = self.norm(x)
        if self.distilled:  # no fc_norm, no head dropout; the mean of both heads, in training too (no teacher)
            return (self.head(x[:, 0]) + self.head_dist(x[:, 1])) / 2
        if self.global_pool == 'map':
            x = self.attn_pool(x[:, self.num_prefix:])
        else:
            x = x[:, self.num_prefix:].mean(dim=1) if self.global_pool == 'avg' else x[:, 0]
        if hasattr(self, 'fc_norm'):
            x = self.fc_norm(x)
        return self.head(x)


def timm_init_(model):
    """timm's default ViT init, in place: cls_token normal(1e-6), pos_embed and every 2-D weight trunc-normal(.02),
    biases zero except patch_embed's (its Conv2d default stays), LayerNorm 1/0 as constructed."""
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n == 'cls_token':
                torch.nn.init.normal_(p, std=1e-6)
            elif n == 'pos_embed' or p.ndim == 2:
                torch.nn.init.trunc_normal_(p, std=0.02)
            elif n.endswith('bias') and 'patch_embed' not in n:
                p.zero_()
    return model


def adamw_param_groups(model, weight_decay):
    """timm's weight-decay groups: decay on >= 2-D tensors except pos_embed and cls_token."""
    decays = lambda n, p: p.ndim > 1 and n not in ('pos_embed', 'cls_token')
    return [{'params': [p for n, p in model.named_parameters() if decays(n, p)], 'weight_decay': weight_decay},
            {'params': [p for n, p in model.named_parameters() if not decays(n, p)], 'weight_decay': 0.0}]


def label_smoothing_ce(logits, labels, smoothing):
    """timm.loss.LabelSmoothingCrossEntropy."""
    logprobs = F.log_softmax(logits, dim=-1)
    nll = -logprobs.gather(dim=-1, index=labels.unsqueeze(1)).squeeze(1)
    smooth = -logprobs.mean(dim=-1)
    return ((1.0 - smoothing) * nll + smoothing * smooth).mean()


def soft_target_ce(logits, targets):
    """timm.loss.SoftTargetCrossEntropy."""
    return torch.sum(-targets * F.log_softmax(logits, dim=-1), dim=-1).mean()


def general_position(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            if p.ndim == 1:
                p.copy_((1.0 if name.endswith('norm1.weight') or name.endswith('norm2.weight')
                         or name in ('norm.weight', 'fc_norm.weight', 'norm_pre.weight', 'attn_pool.norm.weight')
                         else 0.0) + 0.2 * r)
            elif name in ('cls_token', 'pos_embed', 'reg_token', 'attn_pool.latent', 'dist_token'):
                p.copy_(0.5 * r)
            else:
                p.copy_(r / (p[0].numel() ** 0.5))


CASES = {
    'token': dict(cfg=dict(img_size=16, patch_size=4, in_chans=3, num_classes=10, embed_dim=32, depth=2,
                           num_heads=4, mlp_ratio=4.0, qkv_bias=True, init_values=0.0, global_pool='token'),
                  batch=4, smoothing=0.1, soft=False),
    'avg_ls': dict(cfg=dict(img_size=12, patch_size=3, in_chans=1, num_classes=7, embed_dim=24, depth=2,
                            num_heads=2, mlp_ratio=2.5, qkv_bias=False, init_values=0.1, global_pool='avg'),
                   batch=3, smoothing=0.0, soft=True),
    # timm's pretrained families at toy sizes (issue 11)
    'deit3': dict(cfg=dict(img_size=16, patch_size=4, in_chans=3, num_classes=6, embed_dim=24, depth=2, num_heads=3,
                           mlp_ratio=4.0, qkv_bias=True, init_values=0.1, global_pool='token', no_embed_class=True),
                  batch=3, smoothing=0.1, soft=False),
    'dinov2_reg': dict(cfg=dict(img_size=12, patch_size=4, in_chans=3, num_classes=5, embed_dim=16, depth=2, num_heads=2,
                                mlp_ratio=4.0, qkv_bias=True, init_values=0.2, global_pool='token', reg_tokens=4,
                                no_embed_class=True),
                       batch=3, smoothing=0.0, soft=True),
    'clip_quickgelu': dict(cfg=dict(img_size=16, patch_size=8, in_chans=3, num_classes=4, embed_dim=16, depth=2,
                                    num_heads=4, mlp_ratio=4.0, qkv_bias=True, init_values=0.0, global_pool='token',
                                    pre_norm=True, norm_eps=1e-5, act_layer='quick_gelu'),
                           batch=4, smoothing=0.1, soft=False),
    'siglip_gap': dict(cfg=dict(img_size=12, patch_size=4, in_chans=3, num_classes=5, embed_dim=16, depth=2, num_heads=2,
                                mlp_ratio=3.0, qkv_bias=True, init_values=0.0, global_pool='avg', class_token=False,
                                act_layer='gelu_tanh', fc_norm='false'),
                       batch=3, smoothing=0.0, soft=False),
    'betwixt_reg_gap': dict(cfg=dict(img_size=12, patch_size=4, in_chans=3, num_classes=5, embed_dim=20, depth=2,
                                     num_heads=2, mlp_ratio=4.0, qkv_bias=True, init_values=0.1, global_pool='avg',
                                     class_token=False, reg_tokens=4, no_embed_class=True),
                            batch=3, smoothing=0.1, soft=False),
    'siglip_map': dict(cfg=dict(img_size=12, patch_size=4, in_chans=3, num_classes=5, embed_dim=16, depth=2, num_heads=2,
                                mlp_ratio=3.0, qkv_bias=True, init_values=0.0, global_pool='map', class_token=False),
                       batch=3, smoothing=0.1, soft=False),
    'map_cls_reg': dict(cfg=dict(img_size=8, patch_size=4, in_chans=3, num_classes=4, embed_dim=16, depth=1, num_heads=4,
                                 mlp_ratio=2.0, qkv_bias=True, init_values=0.0, global_pool='map', reg_tokens=2,
                                 act_layer='gelu_tanh'),
                        batch=2, smoothing=0.0, soft=True),
    'deit_distilled': dict(cfg=dict(img_size=12, patch_size=4, in_chans=3, num_classes=5, embed_dim=16, depth=2,
                                    num_heads=2, mlp_ratio=4.0, qkv_bias=True, init_values=0.0, global_pool='token',
                                    distilled=True),
                           batch=3, smoothing=0.1, soft=False),
    'floor_grid': dict(cfg=dict(img_size=14, patch_size=4, in_chans=2, num_classes=3, embed_dim=16, depth=1, num_heads=2,
                                mlp_ratio=2.0, qkv_bias=True, init_values=0.0, global_pool='token'),
                       batch=2, smoothing=0.0, soft=False),
    # single-head attention (issue 29): num_heads = 1, D = C, scale C^-0.5; the case Keras' Attention layer covers
    'single_head': dict(cfg=dict(img_size=12, patch_size=4, in_chans=3, num_classes=5, embed_dim=12, depth=2,
                                 num_heads=1, mlp_ratio=2.0, qkv_bias=True, init_values=0.0, global_pool='token'),
                        batch=3, smoothing=0.1, soft=False),
    # grouped-query attention (issue 29): 4 query heads on 2 kv heads, 9 tokens (avg pool, no class token), LayerScale
    'gqa': dict(cfg=dict(img_size=12, patch_size=4, in_chans=3, num_classes=5, embed_dim=24, depth=2, num_heads=4,
                         num_kv_heads=2, mlp_ratio=2.0, qkv_bias=True, init_values=0.1, global_pool='avg',
                         class_token=False),
                batch=3, smoothing=0.0, soft=True),
    # multi-query attention: one kv head for 4 query heads, with registers and the attention pool (which keeps
    # num_heads kv heads: timm's AttentionPoolLatent); 12 tokens, no qkv bias
    'mqa_reg_map': dict(cfg=dict(img_size=12, patch_size=4, in_chans=3, num_classes=4, embed_dim=16, depth=2,
                                 num_heads=4, num_kv_heads=1, mlp_ratio=2.0, qkv_bias=False, init_values=0.0,
                                 global_pool='map', reg_tokens=2),
                        batch=2, smoothing=0.1, soft=False),
}


def run(case, model, x, labels, targets, smoothing, dtype):
    m = model.to(dtype)
    m.zero_grad()
    xi = x.to(dtype).clone().requires_grad_(True)
    logits = m(xi)
    loss = soft_target_ce(logits, targets.to(dtype)) if case['soft'] else label_smoothing_ce(logits, labels, smoothing)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in m.named_parameters()}
    return logits.detach(), loss.detach(), xi.grad.detach(), grads


def main():
    torch.set_num_threads(1)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'parity_vit.h5')
    gen = torch.Generator().manual_seed(20261125)
    with h5py.File(out, 'w') as f:
        f.attrs['generator'] = 'tests/make_parity_fixtures.py, torch ' + torch.__version__
        for name, case in CASES.items():
            cfg = case['cfg']
            model = VisionTransformer(**cfg).double()
            general_position(model, gen)
            B, K = case['batch'], cfg['num_classes']
            x = torch.randn(B, cfg['in_chans'], cfg['img_size'], cfg['img_size'], generator=gen, dtype=torch.float64)
            labels = torch.randint(0, K, (B,), generator=gen)
            lam = 0.7  # a mixup-like soft target: lam on one class, 1 - lam on another
            targets = lam * F.one_hot(labels, K).double() + (1 - lam) * F.one_hot((labels + 2) % K, K).double()
            # the float32 weights and input are the stored ones; float64 runs on exactly the same values
            x = x.float().double()
            targets = targets.float().double()
            with torch.no_grad():
                for p in model.parameters():
                    p.copy_(p.float().double())
            g = f.create_group(name)
            g.attrs['config'] = json.dumps(cfg)
            g.attrs['smoothing'] = case['smoothing']
            g.attrs['soft_targets'] = int(case['soft'])
            g['input'] = x.float().numpy()
            g['labels'] = labels.numpy().astype(np.int32)
            g['targets'] = targets.float().numpy()
            for n, p in model.named_parameters():
                g['params/' + n] = p.detach().float().numpy()
            for dtype, tag in ((torch.float32, 'f32'), (torch.float64, 'f64')):
                logits, loss, dx, grads = run(case, model, x, labels, targets, case['smoothing'], dtype)
                np_dtype = np.float32 if dtype == torch.float32 else np.float64
                g[tag + '/logits'] = logits.numpy().astype(np_dtype)
                g[tag + '/loss'] = np.asarray(loss.item(), dtype=np_dtype)
                g[tag + '/input_grad'] = dx.numpy().astype(np_dtype)
                for n, gr in grads.items():
                    g[tag + '/grads/' + n] = gr.numpy().astype(np_dtype)
            print(f'{name}: loss f32 {f[name]["f32/loss"][()]:.6f}  f64 {f[name]["f64/loss"][()]:.6f}')
    print('wrote', out, os.path.getsize(out), 'bytes')


if __name__ == '__main__':
    main()
