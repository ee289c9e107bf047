"""Logits of an mmsegmentation model and of upertool on the same weights and input.

    python benchmarks/check_mmseg_parity.py --mmseg-python /tmp/peers-mm/bin/python \
        --peers-dir ../shared/peers

The given interpreter (a venv with mmsegmentation 1.2.2; never a dependency of upertool)
builds mmsegmentation's own UPerNet config (`--model` r50, convnext_t or swin_t; ADE20K,
150 classes) through the peers' builder, with random weights, BN statistics, LayerNorm
affines, ConvNeXt layer scales and Swin position biases (their initial values would hide
whole blocks: a 1e-6 layer scale makes a ConvNeXt block the identity), and saves its state
dict, a random input and its `mode='tensor'` logits.
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
out, size, classes, name = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
torch.manual_seed(0)
model = build('mmseg', name, num_classes=classes).module
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.8, 1.2)
        if isinstance(m, torch.nn.LayerNorm):
            m.weight.uniform_(0.8, 1.2)
            m.bias.uniform_(-0.1, 0.1)
    for key, param in model.named_parameters():
        if key.endswith('gamma'):  # ConvNeXt's layer scale
            param.uniform_(0.5, 1.0)
        if key.endswith('relative_position_bias_table'):
            param.normal_(0, 0.5)
model.eval()
x = torch.randn(1, 3, size, size)
with torch.no_grad():
    logits = model(x, mode='tensor')
torch.save(dict(state_dict=model.state_dict(), inputs=x, logits=logits), out)
'''

# the peers' model name -> this repository's config of the same mmsegmentation model
CONFIGS = {
    'r50': 'configs/upernet/upernet_r50_4xb4-80k_ade20k-512x512.py',
    'convnext_t': 'configs/convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py',
    'swin_t': 'configs/swin/'
              'swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py',
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--mmseg-python', required=True,
                        help='python of a venv with mmsegmentation 1.x installed')
    parser.add_argument('--peers-dir', default=os.path.join(REPO, '..', 'shared', 'peers'),
                        help='folder with peer_builders.py')
    parser.add_argument('--model', choices=sorted(CONFIGS), default='r50',
                        help="the peers' model name")
    parser.add_argument('--config', help="upertool's config of the same model (default: "
                                         "this repository's config of --model)")
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--num-classes', type=int, default=150)
    args = parser.parse_args()

    args.config = args.config or CONFIGS[args.model]
    config = os.path.join(REPO, args.config)
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, 'mmseg_model.pth')
        subprocess.run([args.mmseg_python, '-c', MMSEG_SIDE, args.peers_dir, dump, str(args.size),
                        str(args.num_classes), args.model], check=True)
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
