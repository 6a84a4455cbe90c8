#!/usr/bin/python3
"""By hand (needs Debian's python3-torch, python3-numpy): an exported model loads into PyTorch with timm's names,
strictly, and gives tapevit's logits.

    build/tapevit export --checkpoint RUN/best.h5 --out /tmp/x/model.safetensors --hub_config
    /usr/bin/python3 tests/check_export_in_torch.py /tmp/x/model.safetensors RUN/best.h5

Builds the model from config.json's model_args (the plain-PyTorch timm-semantics ViT of make_parity_fixtures.py,
since timm itself is not packaged by Debian 12), load_state_dict(strict=True), runs random images through it and
through `tapevit predict --checkpoint`, and prints the relative L2 difference of the logits (expected <= 1e-5).
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_parity_fixtures import VisionTransformer  # noqa: E402


def load_safetensors(path):
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    header, data = json.loads(raw[8:8 + n]), raw[8 + n:]
    out = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        assert v['dtype'] == 'F32', (k, v['dtype'])
        a, b = v['data_offsets']
        out[k] = torch.from_numpy(np.frombuffer(data[a:b], np.float32).reshape(v['shape']).copy())
    return out


def main():
    weights, ckpt = sys.argv[1], sys.argv[2]
    args = json.load(open(os.path.join(os.path.dirname(weights), 'config.json')))['model_args']
    m = VisionTransformer(img_size=args['img_size'], patch_size=args['patch_size'], in_chans=args['in_chans'],
                          num_classes=args['num_classes'], embed_dim=args['embed_dim'], depth=args['depth'],
                          num_heads=args['num_heads'], mlp_ratio=args['mlp_ratio'], qkv_bias=args['qkv_bias'],
                          init_values=args.get('init_values', 0.0), global_pool=args['global_pool'])
    m.load_state_dict(load_safetensors(weights), strict=True)
    m.eval()
    x = np.random.default_rng(0).standard_normal((8, args['in_chans'], args['img_size'], args['img_size'])).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, 'x.npy'), x)
        tv = os.path.join(os.path.dirname(HERE), 'build', 'tapevit')
        subprocess.run([tv, 'predict', '--input', os.path.join(d, 'x.npy'), '--out', os.path.join(d, 'y.npy'),
                        '--checkpoint', ckpt], check=True, capture_output=True)
        got = np.load(os.path.join(d, 'y.npy'))
    with torch.no_grad():
        ref = m(torch.from_numpy(x)).numpy()
    rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
    print(f'{weights}: strict load_state_dict ok; logits relative L2 difference tapevit vs PyTorch {rel:.3e}')
    sys.exit(0 if rel <= 1e-5 else 1)


if __name__ == '__main__':
    main()
