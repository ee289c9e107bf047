"""PSPHead, ASPPHead, DepthwiseSeparableASPPHead, SegformerHead and LightHamHead: mmsegmentation's
arguments, keys and output sizes on tiny inputs (logit parity with mmsegmentation 1.2.2 itself
is benchmarks/check_mmseg_parity_new_models.py)."""
import pytest
import torch
from mmengine.structures import PixelData

from upertool.registry import MODELS
from upertool.structures import SegDataSample


@pytest.fixture(autouse=True)
def upertool_scope():
    """Build from upertool's registries whatever default scope an earlier test left behind."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('upertool'):
        yield

BN = dict(type='BN')
FEATS = [torch.randn(2, 4, 16, 16), torch.randn(2, 6, 8, 8), torch.randn(2, 8, 4, 4),
         torch.randn(2, 10, 4, 4)]

CASES = {
    'PSPHead': (dict(in_channels=10, in_index=3, channels=4, pool_scales=(1, 2)), (4, 4),
                ['psp_modules.1.1.conv.weight', 'psp_modules.1.1.bn.running_var',
                 'bottleneck.conv.weight', 'conv_seg.weight']),
    'ASPPHead': (dict(in_channels=10, in_index=3, channels=4, dilations=(1, 2, 3)), (4, 4),
                 ['image_pool.1.conv.weight', 'aspp_modules.0.conv.weight',
                  'aspp_modules.2.bn.weight', 'bottleneck.conv.weight']),
    'DepthwiseSeparableASPPHead': (
        dict(in_channels=10, in_index=3, channels=4, dilations=(1, 2), c1_in_channels=4,
             c1_channels=2), (16, 16),
        ['aspp_modules.1.depthwise_conv.conv.weight', 'aspp_modules.1.pointwise_conv.bn.bias',
         'c1_bottleneck.conv.weight', 'sep_bottleneck.1.pointwise_conv.conv.weight']),
    'SegformerHead': (dict(in_channels=[4, 6, 8, 10], in_index=[0, 1, 2, 3], channels=4),
                      (16, 16), ['convs.3.conv.weight', 'fusion_conv.bn.weight']),
    'LightHamHead': (dict(in_channels=[6, 8, 10], in_index=[1, 2, 3], channels=4,
                          ham_channels=8, norm_cfg=dict(type='GN', num_groups=2),
                          ham_kwargs=dict(MD_R=3)), (8, 8),
                     ['squeeze.conv.weight', 'squeeze.gn.weight', 'hamburger.ham_in.conv.bias',
                      'hamburger.ham_out.gn.weight', 'align.conv.weight']),
}


def _head(name, **extra):
    cfg = dict(CASES[name][0], type=name, num_classes=3, **extra)
    cfg.setdefault('norm_cfg', BN)
    return MODELS.build(cfg)


@pytest.mark.parametrize('name', sorted(CASES))
def test_head_keys_shapes_and_loss(name):
    head = _head(name).eval()
    keys = set(head.state_dict())
    missing = [k for k in CASES[name][2] if k not in keys]
    assert not missing, f'{name} lacks mmseg keys {missing}; has {sorted(keys)[:20]}'
    logits = head(FEATS)
    assert logits.shape == (2, 3, *CASES[name][1])
    head.train()
    samples = []
    for _ in range(2):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 32, 32)))
        samples.append(sample)
    losses = head.loss(FEATS, samples, None)
    assert torch.isfinite(losses['loss_ce']) and losses['loss_ce'] > 0


def test_ham_head_is_deterministic_given_the_seed_and_keeps_bases_without_rand_init():
    head = _head('LightHamHead').eval()
    torch.manual_seed(3)
    a = head(FEATS)
    torch.manual_seed(3)
    assert torch.equal(a, head(FEATS))
    fixed = _head('LightHamHead', ham_kwargs=dict(MD_R=3, rand_init=False)).eval()
    fixed(FEATS)
    assert fixed.hamburger.ham.bases.shape == (1, 8, 3)
    assert torch.equal(fixed(FEATS), fixed(FEATS))


def test_nmf_reconstructs_a_low_rank_non_negative_map():
    from upertool.models.decode_heads.ham_head import NMF2D
    torch.manual_seed(0)
    w, h = torch.rand(1, 6, 2), torch.rand(1, 2, 25)
    x = (w @ h).view(1, 6, 5, 5)
    nmf = NMF2D(dict(MD_R=2, eval_steps=200)).eval()
    assert (nmf(x) - x).abs().max() < 0.05


@pytest.mark.parametrize('name,bad,match', [
    ('PSPHead', dict(pool_scales=3), 'pool_scales must be a list'),
    ('ASPPHead', dict(dilations=(1, 0)), 'dilations must be a list of ints >= 1'),
    ('DepthwiseSeparableASPPHead', dict(c1_in_channels=-1), 'c1_in_channels must be'),
])
def test_bad_arguments_name_the_argument(name, bad, match):
    with pytest.raises(ValueError, match=match):
        _head(name, **bad)


def test_deeplabv3plus_c1_channels_checked_against_the_first_level():
    head = _head('DepthwiseSeparableASPPHead', c1_in_channels=5)
    with pytest.raises(ValueError, match='first backbone level has 4 channels, c1_in_channels '
                                         'says 5'):
        head(FEATS)


def test_segformer_and_mit_build_inside_encoder_decoder_with_inferred_channels():
    model = MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='MixVisionTransformer', embed_dims=4, num_layers=[1, 1, 1, 1],
                      num_heads=[1, 2, 2, 2]),
        decode_head=dict(type='SegformerHead', in_index=[0, 1, 2, 3], channels=4,
                         num_classes=2, norm_cfg=BN)))
    assert model.decode_head.in_channels == [4, 8, 8, 8]
    assert model(torch.randn(1, 3, 64, 64), mode='tensor').shape == (1, 2, 16, 16)
