#!/usr/bin/python3
"""Write the fixtures of tests/test_pretrained.cpp: a timm-named ViT as .safetensors, and what PyTorch computes
after importing it into other configurations.

Run by hand (not by CI) with Debian's python3-torch, python3-numpy, python3-h5py:
    /usr/bin/python3 tests/make_import_fixtures.py

Writes tests/fixtures/import_src.safetensors (F32) and import_src_f16.safetensors (the same weights in F16; the
fixtures use those rounded values, so both files import to the same model), and tests/fixtures/import.h5 with one
group per case, each holding the model config, an input batch, labels and what PyTorch computes:
  same      same architecture: logits, loss
  grid      img_size 24 (grid 4 -> 6): pos_embed resampled as timm's resample_abs_pos_embed, logits
  gray      in_chans 1: patch_embed.proj.weight as timm's adapt_input_conv, logits
  chans5    in_chans 5: patch_embed.proj.weight (tiled and rescaled)
  step      one AdamW step (lr 1e-3, wd 0.05 on >= 2-D tensors but pos_embed / cls_token) after import: every param
and, for timm's pretrained families (issue 11), tests/fixtures/family_<name>.safetensors with a group family_<name>
each: the logits after import and every parameter after one AdamW step (timm's no-decay set: 1-D tensors, pos_embed,
cls_token, reg_token, dist_token); family_dinov2_reg_grid imports the register weights at another img_size (pos_embed
resampled with no prefix rows, as no_embed_class makes timm do).
The .safetensors writer below follows the format's README (8-byte little-endian header length, JSON, data).
"""
import json
import math
import os
import struct
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_parity_fixtures import VisionTransformer, general_position  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = dict(img_size=16, patch_size=4, in_chans=3, num_classes=7, embed_dim=24, depth=2, num_heads=2,
            mlp_ratio=4.0, qkv_bias=True, init_values=0.0, global_pool='token')


def write_safetensors(path, tensors, dtype):
    header, chunks, at = {'__metadata__': {'format': 'pt'}}, [], 0
    for name, t in tensors.items():
        b = t.detach().to(dtype).contiguous().numpy().tobytes()
        header[name] = {'dtype': {torch.float32: 'F32', torch.float16: 'F16'}[dtype], 'shape': list(t.shape),
                        'data_offsets': [at, at + len(b)]}
        chunks.append(b)
        at += len(b)
    text = json.dumps(header).encode()
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def resample_abs_pos_embed(pos, new_size, num_prefix_tokens=1):
    """timm.layers.resample_abs_pos_embed with its defaults (bicubic, antialias=True)."""
    prefix, grid = pos[:, :num_prefix_tokens], pos[:, num_prefix_tokens:]
    old = int(math.sqrt(grid.shape[1]))
    grid = grid.reshape(1, old, old, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=new_size, mode='bicubic', antialias=True, align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, -1, grid.shape[1])
    return torch.cat([prefix, grid], dim=1)


def adapt_input_conv(in_chans, w):
    """timm.models._manipulate.adapt_input_conv for a 3-channel source."""
    if in_chans == 1:
        return w.sum(dim=1, keepdim=True)
    rep = int(math.ceil(in_chans / 3))
    return w.repeat(1, rep, 1, 1)[:, :in_chans] * (3 / float(in_chans))


def build(cfg, sd):
    m = VisionTransformer(**cfg)
    m.load_state_dict(sd, strict=True)
    return m


def main():
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(4242)
    src = VisionTransformer(**BASE)
    general_position(src, gen)
    sd = {k: v.detach().half().float() for k, v in src.state_dict().items()}  # F16-representable values
    write_safetensors(os.path.join(HERE, 'fixtures', 'import_src.safetensors'), sd, torch.float32)
    write_safetensors(os.path.join(HERE, 'fixtures', 'import_src_f16.safetensors'), sd, torch.float16)

    out = os.path.join(HERE, 'fixtures', 'import.h5')
    with h5py.File(out, 'w') as f:
        f.attrs['generator'] = 'tests/make_import_fixtures.py, torch ' + torch.__version__

        def case(name, cfg, model, B=3):
            g = f.create_group(name)
            g.attrs['config'] = json.dumps(cfg)
            x = torch.randn(B, cfg['in_chans'], cfg['img_size'], cfg['img_size'], generator=gen)
            y = torch.randint(0, cfg['num_classes'], (B,), generator=gen)
            g['input'] = x.numpy()
            g['labels'] = y.numpy().astype(np.int32)
            with torch.no_grad():
                logits = model(x)
            g['logits'] = logits.numpy()
            g['loss'] = np.float32(F.cross_entropy(logits, y).item())
            return g, x, y

        case('same', BASE, build(BASE, sd))

        grid = dict(BASE, img_size=24)
        sd_grid = dict(sd, pos_embed=resample_abs_pos_embed(sd['pos_embed'], (6, 6)))
        g, _, _ = case('grid', grid, build(grid, sd_grid))
        g['pos_embed'] = sd_grid['pos_embed'].numpy()

        gray = dict(BASE, in_chans=1)
        sd_gray = dict(sd, **{'patch_embed.proj.weight': adapt_input_conv(1, sd['patch_embed.proj.weight'])})
        g, _, _ = case('gray', gray, build(gray, sd_gray))
        g['patch_embed.proj.weight'] = sd_gray['patch_embed.proj.weight'].numpy()

        g = f.create_group('chans5')
        g.attrs['config'] = json.dumps(dict(BASE, in_chans=5))
        g['patch_embed.proj.weight'] = adapt_input_conv(5, sd['patch_embed.proj.weight']).numpy()

        m = build(BASE, sd)
        g, x, y = case('step', BASE, m)
        decay = [p for n, p in m.named_parameters() if p.ndim > 1 and n not in ('pos_embed', 'cls_token')]
        rest = [p for n, p in m.named_parameters() if not (p.ndim > 1 and n not in ('pos_embed', 'cls_token'))]
        opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.05}, {'params': rest, 'weight_decay': 0.0}],
                                lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        for n, p in m.named_parameters():
            g['after/' + n] = p.detach().numpy()
        families(f)
    print('wrote', out)


FAMILIES = {
    'deit3': dict(BASE, no_embed_class=True, init_values=0.1),
    'dinov2_reg': dict(BASE, reg_tokens=4, no_embed_class=True, init_values=0.1, num_classes=5),
    'clip_quickgelu': dict(BASE, pre_norm=True, norm_eps=1e-5, act_layer='quick_gelu'),
    'siglip_map': dict(BASE, class_token=False, global_pool='map', act_layer='gelu_tanh'),
    'betwixt_reg_gap': dict(BASE, class_token=False, reg_tokens=4, no_embed_class=True, global_pool='avg',
                            init_values=0.1),
    'deit_distilled': dict(BASE, distilled=True),
}
NO_DECAY = ('pos_embed', 'cls_token', 'reg_token', 'dist_token')


def families(f):
    gen = torch.Generator().manual_seed(1126)
    for name, cfg in FAMILIES.items():
        src = VisionTransformer(**cfg)
        general_position(src, gen)
        sd = {k: v.detach().float() for k, v in src.state_dict().items()}
        write_safetensors(os.path.join(HERE, 'fixtures', 'family_' + name + '.safetensors'), sd, torch.float32)
        cases = [('family_' + name, cfg, sd)]
        if name == 'dinov2_reg':  # another grid: no prefix rows to keep (no_embed_class)
            grid = dict(cfg, img_size=24)
            cases.append(('family_dinov2_reg_grid', grid,
                          dict(sd, pos_embed=resample_abs_pos_embed(sd['pos_embed'], (6, 6), num_prefix_tokens=0))))
        for gname, c, weights in cases:
            m = build(c, weights)
            g = f.create_group(gname)
            g.attrs['config'] = json.dumps(c)
            g.attrs['source'] = 'family_' + name + '.safetensors'
            x = torch.randn(3, c['in_chans'], c['img_size'], c['img_size'], generator=gen)
            y = torch.randint(0, c['num_classes'], (3,), generator=gen)
            g['input'] = x.numpy()
            g['labels'] = y.numpy().astype(np.int32)
            with torch.no_grad():
                g['logits'] = m(x).numpy()
            decays = lambda n, p: p.ndim > 1 and n not in NO_DECAY
            opt = torch.optim.AdamW([{'params': [p for n, p in m.named_parameters() if decays(n, p)], 'weight_decay': 0.05},
                                     {'params': [p for n, p in m.named_parameters() if not decays(n, p)],
                                      'weight_decay': 0.0}], lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
            loss = F.cross_entropy(m(x), y)
            g['loss'] = np.float32(loss.item())
            opt.zero_grad()
            loss.backward()
            opt.step()
            for n, p in m.named_parameters():
                g['after/' + n] = p.detach().numpy()
            print(f'{gname}: loss {loss.item():.6f}')


if __name__ == '__main__':
    main()
