"""FCNHead: num_convs, concat_input, dilation, keys, errors."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from upertool.models.decode_heads import FCNHead
from upertool.registry import MODELS


def build(**kwargs):
    args = dict(type='FCNHead', in_channels=8, in_index=1, channels=6, num_classes=3,
                dropout_ratio=0.0)
    args.update(kwargs)
    return MODELS.build(args)


def levels(batch=2):
    return [torch.randn(batch, 4, 18, 26), torch.randn(batch, 8, 9, 13)]


@pytest.mark.parametrize('num_convs', [0, 1, 2])
@pytest.mark.parametrize('concat_input', [True, False])
def test_structure_and_shapes(num_convs, concat_input):
    in_channels = 6 if num_convs == 0 else 8
    head = build(in_channels=in_channels, num_convs=num_convs, concat_input=concat_input,
                 norm_cfg=dict(type='BN')).eval()
    xs = [torch.randn(2, 4, 18, 26), torch.randn(2, in_channels, 9, 13)]
    assert head(xs).shape == (2, 3, 9, 13)
    if num_convs == 0:
        assert isinstance(head.convs, nn.Identity)
    else:
        assert isinstance(head.convs, nn.Sequential) and len(head.convs) == num_convs
    assert hasattr(head, 'conv_cat') == concat_input


def test_state_dict_keys_match_mmseg():
    keys = list(build(norm_cfg=dict(type='BN')).state_dict())
    for key in ['convs.0.conv.weight', 'convs.0.bn.running_mean', 'convs.1.conv.weight',
                'conv_cat.conv.weight', 'conv_cat.bn.weight', 'conv_seg.weight',
                'conv_seg.bias']:
        assert key in keys, key
    aux = build(num_convs=1, concat_input=False)
    assert sorted(aux.state_dict()) == ['conv_seg.bias', 'conv_seg.weight',
                                        'convs.0.conv.bias', 'convs.0.conv.weight']


@pytest.mark.parametrize('dilation', [1, 2])
def test_forward_equals_functional_reference(dilation):
    torch.manual_seed(0)
    head = build(num_convs=2, dilation=dilation, kernel_size=3).eval()
    xs = levels()
    x = xs[1]
    y = x
    for m in head.convs:
        assert m.conv.dilation == (dilation, dilation)
        y = F.relu(F.conv2d(y, m.conv.weight, m.conv.bias, padding=dilation, dilation=dilation))
    cat = head.conv_cat.conv
    assert cat.dilation == (1, 1)  # conv_cat is never dilated, as mmseg
    y = F.relu(F.conv2d(torch.cat([x, y], 1), cat.weight, cat.bias, padding=1))
    expected = F.conv2d(y, head.conv_seg.weight, head.conv_seg.bias)
    with torch.no_grad():
        torch.testing.assert_close(head(xs), expected)


def test_kernel_size_5_keeps_size():
    head = build(kernel_size=5, dilation=3).eval()
    assert head.convs[0].conv.padding == (6, 6)
    assert head(levels()).shape == (2, 3, 9, 13)


def test_resize_concat_input():
    head = build(in_channels=[4, 8], in_index=[0, 1], input_transform='resize_concat').eval()
    assert head.in_channels == 12
    assert head(levels()).shape == (2, 3, 18, 26)


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_convs=-1), 'num_convs must be an int >= 0'),
    (dict(num_convs=1.5), 'num_convs'),
    (dict(kernel_size=2), 'kernel_size must be a positive odd int'),
    (dict(dilation=0), 'dilation must be an int >= 1'),
    (dict(num_convs=0), r'in_channels \(8\) must equal channels \(6\)'),
    (dict(in_channels=[4, 8], in_index=[0, 1]), 'takes one feature map'),
])
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)


def test_keyword_only_and_registry():
    assert MODELS.get('FCNHead') is FCNHead
    with pytest.raises(TypeError):
        FCNHead(8, 6, num_classes=3)
