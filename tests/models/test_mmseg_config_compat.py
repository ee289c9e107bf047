"""An mmsegmentation 1.x UPerNet R-50 config builds unchanged and has mmsegmentation's keys.

The key list in tests/data/ was dumped from mmsegmentation 1.2.2 itself (see the file's header).
"""
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from upertool.registry import MODELS

DATA = Path(__file__).resolve().parents[1] / 'data'

# mmsegmentation's configs/_base_/models/upernet_r50.py layout, types and arguments,
# with only default_scope (normally in its default_runtime.py) naming upertool.
MMSEG_STYLE_CONFIG = """
default_scope = 'upertool'
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True, pad_val=0, seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained='open-mmlab://resnet50_v1c',
    backbone=dict(
        type='ResNetV1c', depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 1, 1), strides=(1, 2, 2, 2), norm_cfg=norm_cfg, norm_eval=False,
        style='pytorch', contract_dilation=True),
    decode_head=dict(
        type='UPerHead', in_channels=[256, 512, 1024, 2048], in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6), channels=512, dropout_ratio=0.1, num_classes=19,
        norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead', in_channels=1024, in_index=2, channels=256, num_convs=1,
        concat_input=False, dropout_ratio=0.1, num_classes=19, norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
"""


def _reference_shapes() -> dict[str, tuple[int, ...]]:
    shapes = {}
    for line in (DATA / 'mmseg122_upernet_r50_state_dict.txt').read_text().splitlines():
        if line and not line.startswith('#'):
            key, shape = line.split(' ', 1)
            shapes[key] = tuple(int(s) for s in shape.split('x')) if shape != '-' else ()
    return shapes


def test_mmseg_upernet_r50_config_builds_with_mmseg_state_dict(tmp_path):
    path = tmp_path / 'upernet_r50.py'
    path.write_text(MMSEG_STYLE_CONFIG)
    cfg = Config.fromfile(str(path))
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    reference = _reference_shapes()
    assert len(reference) > 300
    assert sorted(ours) == sorted(reference)
    assert ours == reference
    # mmsegmentation's defaults came along: mean-over-all-pixels CE, SyncBN norms.
    losses = model.decode_head.loss_decode
    losses = losses if isinstance(losses, torch.nn.ModuleList) else [losses]
    assert [loss.avg_non_ignore for loss in losses] == [False]
    assert isinstance(model.backbone.stem[1], torch.nn.SyncBatchNorm)
