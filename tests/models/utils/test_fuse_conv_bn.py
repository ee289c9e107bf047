"""Eval-time Conv+BN folding: same logits, no BatchNorm left where the order is known."""
import pytest
import torch
from torch import nn

from upertool.models.utils import fuse_conv_bn
from upertool.registry import MODELS


def segmentor(backbone):
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='EncoderDecoder', backbone=backbone,
        decode_head=dict(type='UPerHead', channels=8, num_classes=5, dropout_ratio=0.0,
                         norm_cfg=dict(type='BN')),
        auxiliary_head=dict(type='FCNHead', in_index=2, channels=8, num_classes=5,
                            norm_cfg=dict(type='BN'))))
    model.init_weights()
    for m in model.modules():  # statistics and affine terms away from the identity
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


BACKBONES = [
    dict(type='ResNetV1c', depth=18, base_channels=8, stem_channels=8),   # deep stem
    dict(type='ResNetV1d', depth=50, base_channels=4, stem_channels=8),   # avg_down, Bottleneck
    dict(type='ResNet', depth=18, base_channels=8, stem_channels=8),      # 7x7 stem
]


@pytest.mark.parametrize('backbone', BACKBONES, ids=lambda b: f"{b['type']}-{b['depth']}")
def test_folded_model_gives_the_same_logits(backbone):
    model = segmentor(backbone)
    images = torch.randn(2, 3, 45, 38)
    with torch.no_grad():
        before = model(images, mode='tensor')
        fuse_conv_bn(model)
        after = model(images, mode='tensor')
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)
    left = [name for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert left == []
    # auxiliary heads are folded too, although predictions never use them
    assert isinstance(model.auxiliary_head.convs[0].bn, nn.Identity)


def test_training_model_is_refused():
    model = segmentor(BACKBONES[0]).train()
    with pytest.raises(RuntimeError, match='model.eval'):
        fuse_conv_bn(model)


def test_norm_not_after_a_conv_is_kept():
    block = nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 1), nn.ReLU(), nn.BatchNorm2d(4))
    block.eval()
    fuse_conv_bn(block)
    assert isinstance(block[0], nn.BatchNorm2d) and isinstance(block[3], nn.BatchNorm2d)
