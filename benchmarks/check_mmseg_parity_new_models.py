"""State-dict keys and logits of mmsegmentation 1.2.2 and upertool for PSPNet, DeepLabV3,
DeepLabV3+, SegFormer (MiT-B0) and SegNeXt (MSCAN-T + LightHamHead) on the same weights.

    python benchmarks/check_mmseg_parity_new_models.py --mmseg-python /tmp/peers-mm/bin/python

For each model, the given interpreter (a venv with mmsegmentation 1.x; never a dependency of
upertool) builds mmsegmentation's own config of that name (SyncBN as BN, no pretrained
weights), initialises it, perturbs every parameter and norm statistic so that nothing is at a
round default, and saves its state dict, a random input and its `mode='tensor'` logits (the
random NMF bases of LightHamHead come from `torch.manual_seed(1)` set just before the forward,
on both sides). This interpreter builds upertool's config of the same name, compares the key
lists, loads the state dict strictly and prints the largest logit difference.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {
    'pspnet': 'pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py',
    'deeplabv3': 'deeplabv3/deeplabv3_r50-d8_4xb2-40k_cityscapes-512x1024.py',
    'deeplabv3plus': 'deeplabv3plus/deeplabv3plus_r50-d8_4xb2-40k_cityscapes-512x1024.py',
    'segformer': 'segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py',
    'segnext': 'segnext/segnext_mscan-t_1xb16-adamw-160k_ade20k-512x512.py',
}

MMSEG_SIDE = r'''
import os, sys, torch
sys.path.insert(0, sys.argv[1])
from peer_builders import apply_mmcv_ops_shim, _syncbn_to_bn   # ../shared/peers
apply_mmcv_ops_shim()
import mmseg
from mmengine.config import Config
from mmseg.utils import register_all_modules
register_all_modules(init_default_scope=True)
from mmseg.registry import MODELS
out, rel, size = sys.argv[2], sys.argv[3], int(sys.argv[4])
cfg = Config.fromfile(os.path.join(os.path.dirname(mmseg.__file__), '.mim', 'configs', rel))
m = cfg.model
_syncbn_to_bn(m)
m.pretrained = None
m.backbone.init_cfg = None
m.data_preprocessor = None
torch.manual_seed(0)
model = MODELS.build(m)
model.init_weights()
with torch.no_grad():
    for name, p in model.named_parameters():
        p.add_(0.02 * torch.randn_like(p))
    for mod in model.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.8, 1.2)
model.eval()
x = torch.randn(1, 3, size, size)
torch.manual_seed(1)
with torch.no_grad():
    logits = model(x, mode='tensor')
torch.save(dict(state_dict=model.state_dict(), keys=list(model.state_dict()), inputs=x,
                logits=logits), out)
'''


def upertool_model(rel: str) -> torch.nn.Module:
    """upertool's config of the same name, SyncBN as BN, no pretrained weights."""
    from mmengine.config import Config

    import upertool  # noqa: F401
    from upertool.registry import MODELS
    cfg = Config.fromfile(os.path.join(REPO, 'configs', rel)).model
    cfg.pop('pretrained', None)
    cfg.backbone.pop('init_cfg', None)
    cfg.pop('data_preprocessor', None)
    text = repr(cfg)
    if 'SyncBN' in text:
        cfg = Config(dict(m=cfg)).m  # a copy whose norm_cfg entries we may change

        def to_bn(node: object) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == 'norm_cfg' and isinstance(value, dict) \
                            and value.get('type') == 'SyncBN':
                        value['type'] = 'BN'
                    else:
                        to_bn(value)
            elif isinstance(node, (list, tuple)):
                for value in node:
                    to_bn(value)

        to_bn(cfg)
    return MODELS.build(cfg).eval()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--mmseg-python', required=True,
                        help='python of a venv with mmsegmentation 1.x installed')
    parser.add_argument('--peers-dir', default=os.path.join(REPO, '..', 'shared', 'peers'),
                        help='folder with peer_builders.py')
    parser.add_argument('--models', default=','.join(MODELS), help='comma-separated subset')
    parser.add_argument('--size', type=int, default=128, help='square input size')
    args = parser.parse_args()

    worst = 0.0
    for name in args.models.split(','):
        rel = MODELS[name]
        with tempfile.TemporaryDirectory() as tmp:
            dump = os.path.join(tmp, 'mmseg.pth')
            subprocess.run([args.mmseg_python, '-c', MMSEG_SIDE, args.peers_dir, dump, rel,
                            str(args.size)], check=True, stdout=subprocess.DEVNULL)
            saved = torch.load(dump, weights_only=True)
        model = upertool_model(rel)
        ours = list(model.state_dict())
        same_keys = ours == saved['keys']
        model.load_state_dict(saved['state_dict'], strict=True)
        torch.manual_seed(1)
        with torch.no_grad():
            logits = model(saved['inputs'], mode='tensor')
        if logits.shape != saved['logits'].shape:
            print(f'{name}: logits shape {tuple(logits.shape)} != mmseg '
                  f'{tuple(saved["logits"].shape)}')
            return 1
        diff = (logits - saved['logits']).abs().max().item()
        worst = max(worst, diff)
        print(f'{name:14s} {rel}: {len(ours)} keys, same names in the same order as mmseg: '
              f'{same_keys}; loaded strictly; logits {tuple(logits.shape)} up to '
              f'{saved["logits"].abs().max().item():.2f}, max |upertool - mmseg| = {diff:.2e}')
    print(f'largest difference over all models: {worst:.2e}')
    return 0 if worst <= 1e-4 else 1


if __name__ == '__main__':
    sys.exit(main())
