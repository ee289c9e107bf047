"""Logits of an mmsegmentation model and of upertool on the same weights and input.

    python benchmarks/check_mmseg_parity.py --mmseg-python /tmp/peers-mm/bin/python \
        --peers-dir ../shared/peers

The given interpreter (a venv with mmsegmentation 1.2.2; never a dependency of upertool)
builds mmsegmentation's own UPerNet R-50 config (ADE20K, 150 classes) through the peers'
builder, with random weights and BN statistics, and saves its state dict, a random input
and its `mode='tensor'` logits.
This interpreter loads that state dict into upertool's model built from the same dict
(strict: every key and shape must match) and prints the largest logit difference for the
low-resolution and the plain `fpn_bottleneck`.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import torch
from common import REPO

MMSEG_SIDE = r'''
import sys, torch
sys.path.insert(0, sys.argv[1])
from peer_builders import build   # ../shared/peers: mmseg with the mmcv-lite ops shim
out, size, classes = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
model = build('mmseg', 'r50', num_classes=classes).module
for m in model.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.uniform_(-0.1, 0.1)
        m.running_var.uniform_(0.8, 1.2)
model.eval()
x = torch.randn(1, 3, size, size)
with torch.no_grad():
    logits = model(x, mode='tensor')
torch.save(dict(state_dict=model.state_dict(), inputs=x, logits=logits), out)
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--mmseg-python', required=True,
                        help='python of a venv with mmsegmentation 1.x installed')
    parser.add_argument('--peers-dir', default=os.path.join(REPO, '..', 'shared', 'peers'),
                        help='folder with peer_builders.py')
    parser.add_argument('--config',
                        default='configs/upernet/upernet_r50_4xb4-80k_ade20k-512x512.py',
                        help="upertool's config of the same model")
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--num-classes', type=int, default=150)
    args = parser.parse_args()

    config = os.path.join(REPO, args.config)
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, 'mmseg_model.pth')
        subprocess.run([args.mmseg_python, '-c', MMSEG_SIDE, args.peers_dir, dump, str(args.size),
                        str(args.num_classes)], check=True)
        saved = torch.load(dump, weights_only=True)

    from mmengine.config import Config

    import upertool  # noqa: F401
    from upertool.registry import MODELS
    model_cfg = Config.fromfile(config).model
    model_cfg.pop('pretrained', None)
    model_cfg.backbone.pop('init_cfg', None)
    model_cfg.decode_head.num_classes = args.num_classes
    if model_cfg.get('auxiliary_head'):
        model_cfg.auxiliary_head.num_classes = args.num_classes
    model = MODELS.build(model_cfg).eval()
    model.load_state_dict(saved['state_dict'], strict=True)
    print(f'{args.config}: {len(saved["state_dict"])} keys loaded strictly; '
          f'mmseg logits {tuple(saved["logits"].shape)}')
    for low_res in (True, False):
        model.decode_head.low_res_fusion = low_res
        with torch.no_grad():
            logits = model(saved['inputs'], mode='tensor')
        diff = (logits - saved['logits']).abs().max().item()
        form = 'low-resolution' if low_res else 'plain'
        print(f'  {form} fpn_bottleneck: max |upertool - mmseg| = {diff:.2e} '
              f'(logits up to {saved["logits"].abs().max().item():.2f})')


if __name__ == '__main__':
    sys.exit(main())
