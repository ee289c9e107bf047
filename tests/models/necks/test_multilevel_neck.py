"""MultiLevelNeck: values against a by-hand computation, mmseg key layout, single input,
reported out_channels (and the segmentor inferring head channels from them), init, errors."""
import math

import pytest
import torch
import torch.nn.functional as F

from upertool.models.necks import MultiLevelNeck
from upertool.registry import MODELS


def _randomised(neck):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in neck.parameters():
            p.normal_(0, 0.3)
    return neck.eval()


def test_outputs_match_by_hand_computation():
    neck = _randomised(MODELS.build(dict(type='MultiLevelNeck', in_channels=[4, 6, 4, 5],
                                         out_channels=3, scales=[4, 2, 1, 0.5])))
    inputs = [torch.randn(2, c, 5, 7) for c in (4, 6, 4, 5)]
    with torch.no_grad():
        outs = neck(inputs)
    # scale 4, 2, 1, 0.5 on a stride-16 map: strides 4, 8, 16, 32; odd sizes round down
    assert [tuple(o.shape) for o in outs] == [(2, 3, 20, 28), (2, 3, 10, 14), (2, 3, 5, 7),
                                              (2, 3, 2, 3)]
    for i, (x, scale) in enumerate(zip(inputs, (4, 2, 1, 0.5), strict=True)):
        lateral = neck.lateral_convs[i].conv
        y = F.conv2d(x, lateral.weight, lateral.bias)
        y = F.interpolate(y, scale_factor=scale, mode='bilinear', align_corners=False)
        conv = neck.convs[i].conv
        torch.testing.assert_close(outs[i], F.conv2d(y, conv.weight, conv.bias, padding=1))
    assert neck.out_channels == (3, 3, 3, 3)


def test_single_input_feeds_every_scale():
    neck = _randomised(MultiLevelNeck(in_channels=[4], out_channels=3))
    assert neck.scales == [0.5, 1, 2, 4] and len(neck.lateral_convs) == 1
    x = torch.randn(1, 4, 6, 6)
    with torch.no_grad():
        outs = neck([x])
    assert [o.shape[-1] for o in outs] == [3, 6, 12, 24]
    lateral = neck.lateral_convs[0].conv
    y = F.conv2d(x, lateral.weight, lateral.bias)
    torch.testing.assert_close(outs[1], F.conv2d(y, neck.convs[1].conv.weight,
                                                 neck.convs[1].conv.bias, padding=1))


def test_state_dict_keys_as_mmseg():
    neck = MultiLevelNeck(in_channels=[8, 8, 8, 8], out_channels=12)
    expected = [f'lateral_convs.{i}.conv.{p}' for i in range(4) for p in ('weight', 'bias')]
    expected += [f'convs.{i}.conv.{p}' for i in range(4) for p in ('weight', 'bias')]
    assert list(neck.state_dict()) == expected
    assert neck.state_dict()['convs.3.conv.weight'].shape == (12, 12, 3, 3)
    normed = MultiLevelNeck(in_channels=(8,), out_channels=4, norm_cfg=dict(type='BN'),
                            act_cfg=dict(type='ReLU'))
    keys = set(normed.state_dict())
    assert 'lateral_convs.0.conv.bias' not in keys  # a norm follows: no conv bias
    assert {'lateral_convs.0.bn.running_mean', 'convs.2.bn.weight'} <= keys
    with torch.no_grad():
        assert all(o.min() >= 0 for o in normed.eval()([torch.randn(1, 8, 4, 4)]))


def test_init_weights_is_xavier_uniform_with_zero_bias():
    neck = MultiLevelNeck(in_channels=[16], out_channels=32)
    neck.init_weights()
    weight = neck.convs[0].conv.weight  # fan_in = fan_out = 32 * 9
    bound = math.sqrt(6 / (2 * 32 * 9))
    assert weight.abs().max() <= bound and weight.abs().max() > 0.9 * bound
    assert all(torch.all(m.conv.bias == 0) for m in [*neck.convs, *neck.lateral_convs])


def test_segmentor_infers_head_channels_from_the_neck():
    model = MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='VisionTransformer', img_size=32, patch_size=8, embed_dims=8,
                      num_layers=2, num_heads=2, out_indices=(0, 1)),
        neck=dict(type='MultiLevelNeck', in_channels=[8, 8], out_channels=6, scales=[2, 1]),
        decode_head=dict(type='UPerHead', in_index=[0, 1], channels=4, num_classes=2,
                         pool_scales=(1,)),
        auxiliary_head=dict(type='FCNHead', in_index=1, channels=4, num_convs=1,
                            num_classes=2)))
    assert model.decode_head.in_channels == [6, 6]
    assert model.auxiliary_head.in_channels == 6
    with torch.no_grad():
        assert model.eval()(torch.rand(1, 3, 32, 32), mode='tensor').shape == (1, 2, 8, 8)


@pytest.mark.parametrize('kwargs,match', [
    (dict(in_channels=None), 'in_channels must be a non-empty list'),
    (dict(in_channels=768), 'in_channels must be a non-empty list'),
    (dict(in_channels=[8, 0]), 'in_channels must be a non-empty list'),
    (dict(in_channels=[8, 8]), '2 input levels for 4 scales'),
    (dict(out_channels=[8, 8, 8, 8]), 'out_channels must be a positive int'),
    (dict(out_channels=None), 'out_channels must be a positive int'),
    (dict(scales=[1, -2]), 'scales must be a non-empty list of positive numbers'),
])
def test_bad_arguments_raise_naming_the_argument(kwargs, match):
    args = dict(in_channels=[8, 8, 8, 8], out_channels=8)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        MultiLevelNeck(**args)


def test_bad_inputs_raise_before_torch():
    neck = MultiLevelNeck(in_channels=[8, 8], out_channels=4, scales=[1, 2])
    with pytest.raises(ValueError, match=r'expects 2 input levels .*got 1'):
        neck([torch.rand(1, 8, 4, 4)])
    with pytest.raises(ValueError, match=r'input 1 must be \(B, 8, H, W\), got \(1, 6, 4, 4\)'):
        neck([torch.rand(1, 8, 4, 4), torch.rand(1, 6, 4, 4)])
