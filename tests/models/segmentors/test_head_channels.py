"""Heads and necks written the mmsegmentation way build inside EncoderDecoder: in_channels fixed
by the head itself or defaulted, with or without a backbone that reports out_channels."""
import pytest
import torch
from torch import nn

from upertool.models import EncoderDecoder
from upertool.models.decode_heads import BaseDecodeHead


@pytest.fixture(autouse=True)
def upertool_scope():
    """Build from upertool's registries whatever default scope an earlier test left behind."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('upertool'):
        yield


class SilentBackbone(nn.Module):
    """Two levels of 8 and 16 channels, and no `out_channels` attribute (as many research repos)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, stride=4, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)

    def forward(self, x):
        a = self.c1(x)
        return (a, self.c2(a))


class ReportingBackbone(SilentBackbone):
    out_channels = (8, 16)


class ConvHead(BaseDecodeHead):
    def forward(self, inputs):
        x = self._transform_inputs(inputs)
        return self.cls_seg(nn.functional.conv2d(x, x.new_ones(self.channels, x.shape[1], 1, 1)))


class FixedHead(ConvHead):
    """mmseg style: fixes in_channels itself and passes everything else on."""

    def __init__(self, **kwargs):
        super().__init__(in_channels=16, channels=4, **kwargs)


class WrongFixedHead(FixedHead):
    def __init__(self, **kwargs):
        ConvHead.__init__(self, in_channels=12, channels=4, **kwargs)


class DefaultHead(ConvHead):
    """mmseg style: in_channels with a default."""

    def __init__(self, in_channels=16, channels=4, **kwargs):
        super().__init__(in_channels, channels, **kwargs)


class RequiredHead(DefaultHead):
    def __init__(self, in_channels, channels=4, **kwargs):
        super().__init__(in_channels, channels, **kwargs)


def _model(backbone, head_cls, **head_cfg):
    return EncoderDecoder(backbone=backbone, decode_head=dict(type=head_cls, num_classes=3,
                                                              **head_cfg))


@pytest.mark.parametrize('backbone_cls', [SilentBackbone, ReportingBackbone])
@pytest.mark.parametrize('head_cls', [FixedHead, DefaultHead])
def test_head_that_sets_its_own_in_channels_builds_and_runs(backbone_cls, head_cls):
    model = _model(backbone_cls(), head_cls)
    assert model.decode_head.in_channels == 16
    assert model(torch.randn(1, 3, 32, 32), mode='tensor').shape == (1, 3, 4, 4)


def test_head_fixing_wrong_channels_fails_naming_both():
    with pytest.raises(ValueError, match=r'in_channels=12.*out_channels=\[8, 16\].*\b16\b'):
        _model(ReportingBackbone(), WrongFixedHead)


def test_inference_still_fills_in_when_config_is_silent():
    model = _model(ReportingBackbone(), RequiredHead, in_index=0)
    assert model.decode_head.in_channels == 8


def test_default_is_replaced_by_backbone_when_it_reports():
    model = _model(ReportingBackbone(), DefaultHead, in_index=0)
    assert model.decode_head.in_channels == 8


def test_stated_value_disagreeing_with_backbone_fails_naming_both():
    with pytest.raises(ValueError, match=r'in_channels=\[?9\]?.*ReportingBackbone.*\[8, 16\]'):
        _model(ReportingBackbone(), RequiredHead, in_channels=9)


def test_required_in_channels_without_report_fails_clearly():
    with pytest.raises(ValueError, match='SilentBackbone does not report out_channels'):
        _model(SilentBackbone(), RequiredHead)


def _vit_like(neck_in_channels=None):
    backbone = dict(type='ResNetV1c', depth=18, base_channels=4, stem_channels=4,
                    out_indices=(2, 3))
    neck = dict(type='MultiLevelNeck', out_channels=8, scales=[1, 1])
    if neck_in_channels is not None:
        neck['in_channels'] = neck_in_channels
    return EncoderDecoder(backbone=backbone, neck=neck, decode_head=dict(
        type='FCNHead', channels=4, num_convs=1, num_classes=2, in_index=1))


def test_neck_gets_in_channels_from_backbone():
    model = _vit_like()
    assert model.neck.in_channels == [16, 32]
    assert model.decode_head.in_channels == 8
    assert model(torch.randn(1, 3, 64, 64), mode='tensor').shape == (1, 2, 2, 2)  # stride 32


def test_neck_stated_in_channels_checked_against_backbone():
    assert _vit_like([16, 32]).neck.in_channels == [16, 32]
    with pytest.raises(ValueError, match=r'neck \(MultiLevelNeck\) states in_channels=\[16, 16\]'
                                         r'.*ResNetV1c gives out_channels=\[16, 32\]'):
        _vit_like([16, 16])
