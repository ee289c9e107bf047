"""UPerHead (+ PPM): shapes, state-dict keys, dataflow re-computed from its own layers."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from upertool.models.decode_heads import PPM, UPerHead
from upertool.registry import MODELS

IN_CHANNELS = [4, 8, 12, 16]
BN = dict(type='BN', requires_grad=True)


def build(**kwargs):
    args = dict(type='UPerHead', in_channels=IN_CHANNELS, in_index=[0, 1, 2, 3], channels=8,
                num_classes=5, norm_cfg=BN, dropout_ratio=0.1)
    args.update(kwargs)
    return MODELS.build(args)


def pyramid(h, w, batch=2, channels=IN_CHANNELS, seed=0):
    """Backbone-like levels at strides 1, 2, 4, 8 of an h x w map (ceil, as stride-2 convs)."""
    g = torch.Generator().manual_seed(seed)
    sizes = [(h, w)]
    for _ in channels[1:]:
        sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
    return [torch.randn(batch, c, *s, generator=g) for c, s in zip(channels, sizes, strict=True)]


@pytest.mark.parametrize('size', [(33, 47), (32, 32), (17, 9), (8, 8)])
def test_output_at_finest_level(size):
    head = build().eval()
    xs = pyramid(*size)
    out = head(xs)
    assert out.shape == (2, 5, *size)
    assert torch.isfinite(out).all()


def test_state_dict_keys_match_mmseg():
    keys = set(build().state_dict())
    for key in ['psp_modules.0.1.conv.weight', 'psp_modules.3.1.bn.running_var',
                'bottleneck.conv.weight', 'bottleneck.bn.running_mean',
                'lateral_convs.0.conv.weight', 'lateral_convs.2.conv.weight',
                'fpn_convs.0.bn.weight', 'fpn_convs.2.conv.weight',
                'fpn_bottleneck.conv.weight', 'fpn_bottleneck.bn.bias',
                'conv_seg.weight', 'conv_seg.bias']:
        assert key in keys, key
    assert not any(k.startswith(('lateral_convs.3', 'fpn_convs.3', 'psp_modules.4'))
                   for k in keys)
    head = build()
    assert head.bottleneck.conv.weight.shape == (8, 16 + 4 * 8, 3, 3)
    assert head.fpn_bottleneck.conv.weight.shape == (8, 4 * 8, 3, 3)
    assert head.lateral_convs[1].conv.weight.shape == (8, 8, 1, 1)
    assert isinstance(head.psp_modules[2][0], nn.AdaptiveAvgPool2d)
    assert head.psp_modules[2][0].output_size == 3
    assert head.conv_seg.weight.shape == (5, 8, 1, 1)


def conv_module(m, x):
    """ConvModule by hand: conv, eval BN, ReLU."""
    y = F.conv2d(x, m.conv.weight, m.conv.bias, m.conv.stride, m.conv.padding,
                 m.conv.dilation)
    y = F.batch_norm(y, m.bn.running_mean, m.bn.running_var, m.bn.weight, m.bn.bias,
                     training=False, eps=m.bn.eps)
    return F.relu(y)


def uper_reference(head, xs, align_corners):
    """The UPerNet dataflow written out with the head's own weights."""
    def up(x, size):
        return F.interpolate(x, size=size, mode='bilinear', align_corners=align_corners)

    top = xs[-1]
    pooled = [up(conv_module(branch[1], F.adaptive_avg_pool2d(top, scale)), top.shape[2:])
              for branch, scale in zip(head.psp_modules, (1, 2, 3, 6), strict=True)]
    laterals = [conv_module(head.lateral_convs[i], xs[i]) for i in range(3)]
    laterals.append(conv_module(head.bottleneck, torch.cat([top, *pooled], 1)))
    for i in (3, 2, 1):
        laterals[i - 1] = laterals[i - 1] + up(laterals[i], laterals[i - 1].shape[2:])
    outs = [conv_module(head.fpn_convs[i], laterals[i]) for i in range(3)] + [laterals[3]]
    outs = [outs[0]] + [up(o, outs[0].shape[2:]) for o in outs[1:]]
    fused = conv_module(head.fpn_bottleneck, torch.cat(outs, 1))
    return F.conv2d(fused, head.conv_seg.weight, head.conv_seg.bias)


@pytest.mark.parametrize('align_corners', [False, True])
def test_forward_equals_functional_reference(align_corners):
    torch.manual_seed(0)
    head = build(align_corners=align_corners)
    # non-trivial BN statistics, so a wrong order of ops shows
    for m in head.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    head.eval()
    xs = pyramid(33, 47)
    with torch.no_grad():
        torch.testing.assert_close(head(xs), uper_reference(head, xs, align_corners),
                                   rtol=1e-4, atol=1e-5)


def test_fuse_levels_is_the_swappable_step():
    class Doubled(UPerHead):
        def _fuse_levels(self, fpn_outs):
            return 2 * super()._fuse_levels(fpn_outs)

    head = build(dropout_ratio=0.0, norm_cfg=None).eval()
    doubled = Doubled(in_channels=IN_CHANNELS, channels=8, num_classes=5, norm_cfg=None,
                      dropout_ratio=0.0).eval()
    doubled.load_state_dict(head.state_dict())
    xs = pyramid(16, 16)
    with torch.no_grad():
        feat = head._forward_feature(xs)
        torch.testing.assert_close(doubled(xs), head.conv_seg(2 * feat))


def test_in_index_defaults_to_all_levels_and_selects_subsets():
    head = UPerHead(in_channels=IN_CHANNELS, channels=8, num_classes=5)
    assert head.in_index == [0, 1, 2, 3] and head.input_transform == 'multiple_select'
    sub = build(in_channels=[8, 16], in_index=[1, 3]).eval()
    xs = pyramid(20, 28)
    assert sub(xs).shape == (2, 5, 10, 14)  # finest selected level


def test_loss_and_predict():
    head = build()
    xs = pyramid(16, 20)
    from upertool.structures import PixelData, SegDataSample
    batch = []
    for _ in range(2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, 64, 80)))
        batch.append(s)
    losses = head.loss(xs, batch, {})
    assert set(losses) == {'loss_ce', 'acc_seg'}
    losses['loss_ce'].backward()
    assert head.conv_seg.weight.grad is not None
    out = head.eval().predict(xs, [dict(img_shape=(60, 77), pad_shape=(64, 80))], {})
    assert out.shape == (2, 5, 64, 80)


def test_errors():
    with pytest.raises(ValueError, match='UPerHead: in_channels must be a list'):
        MODELS.build(dict(type='UPerHead', in_channels=16, channels=8, num_classes=5))
    with pytest.raises(ValueError, match='input_transform'):
        build(input_transform='resize_concat')
    with pytest.raises(ValueError, match='pool_scales'):
        build(pool_scales=(1, 0))
    with pytest.raises(ValueError, match='same length'):
        build(in_index=[0, 1])
    with pytest.raises(ValueError, match='only 3 feature levels'):
        build()(pyramid(16, 16)[:3])


def test_ppm_alone():
    ppm = PPM((1, 3), 6, 4, conv_cfg=None, norm_cfg=None, act_cfg=dict(type='ReLU'),
              align_corners=False)
    x = torch.randn(1, 6, 7, 9)
    outs = ppm(x)
    assert [o.shape for o in outs] == [(1, 4, 7, 9)] * 2
    # scale 1 is a global average: constant over space
    assert torch.allclose(outs[0], outs[0][..., :1, :1].expand_as(outs[0]))
    expected = F.relu(F.conv2d(F.adaptive_avg_pool2d(x, 3), ppm[1][1].conv.weight,
                               ppm[1][1].conv.bias))
    torch.testing.assert_close(outs[1], F.interpolate(expected, size=(7, 9), mode='bilinear'))
