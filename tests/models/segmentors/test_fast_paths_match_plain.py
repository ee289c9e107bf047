"""Every sped-up UPerNet (channels-last, low-resolution fpn_bottleneck, in-place ReLU, BatchNorm
folded into eval-time convolutions) gives the
logits of the plain path (NCHW, upsample-concat-conv) on the same weights: within 1e-4, and
the same label wherever the plain top-2 margin exceeds 1e-3."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from upertool.models.utils.folded_conv import folded_conv_count
from upertool.registry import MODELS

BN = dict(type='BN', requires_grad=True)
BACKBONES = {
    'resnet': (dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=8, norm_cfg=BN),
               [8, 16, 32, 64]),
    'resnet50': (dict(type='ResNetV1c', depth=50, stem_channels=8, base_channels=4,
                      norm_cfg=BN), [16, 32, 64, 128]),
    'convnext': (dict(type='ConvNeXt', arch=dict(depths=[1, 1, 2, 1], channels=[8, 16, 24, 32]),
                      out_indices=(0, 1, 2, 3), gap_before_final_norm=False, init_cfg=None),
                 [8, 16, 24, 32]),
    'swin': (dict(type='SwinTransformer', embed_dims=8, depths=(2, 2, 2, 2),
                  num_heads=(1, 1, 2, 2), window_size=7, out_indices=(0, 1, 2, 3)),
             [8, 16, 32, 64]),
}


def build(kind: str, fast: bool) -> nn.Module:
    backbone, channels = BACKBONES[kind]
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='EncoderDecoder', channels_last=fast, backbone=backbone,
        decode_head=dict(type='UPerHead', in_channels=channels, channels=16, num_classes=9,
                         dropout_ratio=0.0, norm_cfg=BN, low_res_fusion=fast)))
    model.init_weights()
    with torch.no_grad():  # logits of order 1, so most pixels have a clear top-2 margin
        model.decode_head.conv_seg.weight.mul_(30)
    return model


def randomise_statistics(model: nn.Module) -> None:
    """BatchNorm statistics away from the identity, so folding or ordering errors show."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


@pytest.mark.parametrize('kind', sorted(BACKBONES))
def test_fast_path_logits_and_labels_equal_plain(kind: str) -> None:
    fast, plain = build(kind, fast=True), build(kind, fast=False)
    randomise_statistics(plain)
    fast.load_state_dict(plain.state_dict())
    images = torch.randn(2, 3, 100, 132)  # not a multiple of 32: odd level sizes
    fast.eval(), plain.eval()
    with torch.inference_mode():
        a, b = fast(images, mode='tensor'), plain(images, mode='tensor')
    assert a.shape == b.shape == (2, 9, 25, 33)
    if kind.startswith('resnet'):  # every conv + BN ran folded in the fast model
        convs = sum(isinstance(m, nn.Conv2d) for m in fast.modules())
        assert folded_conv_count(fast) == convs - int(fast.with_auxiliary_head)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-4)
    top2 = b.topk(2, dim=1).values
    confident = (top2[:, 0] - top2[:, 1]) > 1e-3
    assert confident.float().mean() > 0.8
    assert torch.equal(a.argmax(1)[confident], b.argmax(1)[confident])


@pytest.mark.parametrize('kind', ['resnet', 'swin'])
def test_fast_path_training_step_equals_plain(kind: str) -> None:
    """Loss and gradients of one step in training mode (batch statistics) agree too."""
    fast, plain = build(kind, fast=True), build(kind, fast=False)
    fast.load_state_dict(plain.state_dict())
    images = torch.randn(2, 3, 64, 96)
    fast.train(), plain.train()
    for model in (fast, plain):
        torch.manual_seed(0)  # the same drop-path draws (Swin) in both
        model(images, mode='tensor').square().mean().backward()
    for (name, p), q in zip(fast.named_parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-3, atol=1e-5, msg=name)
