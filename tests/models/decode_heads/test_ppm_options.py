"""UPerHead's PPM options for the authors' variants: width, upsample-then-convolve, pooling."""
import pytest
import torch
import torch.nn.functional as F

from upertool.models.decode_heads import PPM, UPerHead
from upertool.models.decode_heads.integral_pool import integral_avg_pool2d


def _literal_upsample_first(ppm, x, pool):
    """The authors' order written out: pool, upsample to the input size, conv-BN-ReLU."""
    outs = []
    for scale, (_, conv) in zip(ppm.pool_scales, ppm, strict=True):
        up = F.interpolate(pool(x, scale), size=x.shape[2:], mode='bilinear',
                           align_corners=False)
        outs.append(torch.relu(conv.bn(F.conv2d(up, conv.conv.weight))))
    return outs


@pytest.mark.parametrize('pooling,pool', [('adaptive', F.adaptive_avg_pool2d),
                                          ('integral', integral_avg_pool2d)])
@pytest.mark.parametrize('training', [False, True])
def test_upsample_first_equals_the_literal_order(pooling, pool, training):
    torch.manual_seed(0)
    ppm = PPM((1, 2, 3, 6), 6, 5, conv_cfg=None, norm_cfg=dict(type='BN'),
              act_cfg=dict(type='ReLU'), align_corners=False, pooling=pooling,
              order='upsample_first')
    for _, conv in ppm:
        conv.bn.running_mean.uniform_(-1, 1)
        conv.bn.running_var.uniform_(0.5, 2)
        conv.bn.bias.data.uniform_(-1, 1)
    ppm.train(training)
    x = torch.randn(2, 6, 7, 9)
    expected = _literal_upsample_first(ppm, x, pool)  # BN statistics: identical maps
    for got, want in zip(ppm(x), expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    # and it is not the mmseg order (conv-BN-ReLU, then upsample)
    ppm.order = 'conv_first'
    assert not torch.allclose(ppm(x)[3], expected[3], atol=1e-3)


def test_ppm_channels_is_independent_of_channels_and_keys_stay_mmseg():
    head = UPerHead(in_channels=[4, 8], channels=6, num_classes=3, ppm_channels=10,
                    ppm_pooling='integral', ppm_order='upsample_first',
                    norm_cfg=dict(type='BN'))
    assert head.psp_modules[0][1].conv.weight.shape == (10, 8, 1, 1)
    assert head.bottleneck.conv.weight.shape == (6, 8 + 4 * 10, 3, 3)
    assert 'psp_modules.3.1.bn.running_mean' in head.state_dict()
    out = head([torch.randn(1, 4, 16, 16), torch.randn(1, 8, 8, 8)])
    assert out.shape == (1, 3, 16, 16)


def test_bad_ppm_options_are_named():
    with pytest.raises(ValueError, match="pooling must be one of.*'max'"):
        UPerHead(in_channels=[4, 8], channels=6, num_classes=3, ppm_pooling='max')
    with pytest.raises(ValueError, match="order must be one of.*'late'"):
        UPerHead(in_channels=[4, 8], channels=6, num_classes=3, ppm_order='late')
