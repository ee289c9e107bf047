"""A tiny UPerNet with non-trivial weights, saved as a model folder, for the apis/tools tests.

Loaded by the tests with importlib (pytest runs in importlib mode)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from mmengine.config import Config

NUM_CLASSES = 5
CLASSES = tuple(f'class{i}' for i in range(NUM_CLASSES))
# saturated colours, none grey, so legend swatches can be told from anti-aliased text
PALETTE = [[230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180]]
BN = dict(type='BN', requires_grad=True)


def tiny_config() -> Config:
    return Config(dict(
        default_scope='upertool',
        model=dict(
            type='EncoderDecoder',
            data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                                   std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                                   size_divisor=32),
            backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=4,
                          norm_cfg=BN),
            # pool scales 3 and 6 do not divide the 2x2 .. 3x3 last level: the ONNX case
            decode_head=dict(type='UPerHead', channels=8, pool_scales=(1, 2, 3, 6),
                             num_classes=NUM_CLASSES, norm_cfg=BN, align_corners=False),
            test_cfg=dict(mode='whole')),
        test_pipeline=[dict(type='LoadImageFromFile'), dict(type='PackSegInputs')],
        dataset_meta=dict(classes=list(CLASSES), palette=PALETTE)))


def tiny_model():
    """The model with random weights and BatchNorm statistics, and a head biased so that
    every class wins somewhere on random images."""
    from upertool.apis import init_model
    torch.manual_seed(0)
    model = init_model(tiny_config())
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
        model.decode_head.conv_seg.weight.mul_(20)
    return model


def save_tiny(folder: Path) -> Path:
    from upertool.apis import save_model
    save_model(tiny_model(), folder)
    return folder


def load_module(path: Path, name: str):
    """Import a script (tools/*.py) as a module."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REPO = Path(__file__).resolve().parents[2]
