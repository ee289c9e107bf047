"""ConvNeXt: reported contract, mmpretrain key layout, LayerNorm2d/GRN values, the two
pointwise-conv layouts, pooled outputs, drop path, freezing, argument errors, UPerNet."""
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

from upertool.models.backbones import ConvNeXt
from upertool.models.backbones.convnext import GRN, LayerNorm2d
from upertool.registry import MODELS
from upertool.structures import SegDataSample

TINY = dict(arch=dict(depths=[1, 1, 2, 1], channels=[8, 16, 24, 32]), out_indices=[0, 1, 2, 3],
            gap_before_final_norm=False)
SIZES = [(33, 47), (64, 64), (70, 50)]


def _convnext_t_keys():
    """mmpretrain's ConvNeXt-T (depths 3,3,9,3), out_indices 0..3, from its module layout:
    all downsample layers, then all stages, then the output norms."""
    keys = ['downsample_layers.0.0.weight', 'downsample_layers.0.0.bias',
            'downsample_layers.0.1.weight', 'downsample_layers.0.1.bias']
    for i in (1, 2, 3):
        keys += [f'downsample_layers.{i}.{j}.{p}' for j in (0, 1) for p in ('weight', 'bias')]
    for i, depth in enumerate((3, 3, 9, 3)):
        for b in range(depth):
            keys += [f'stages.{i}.{b}.gamma']  # a direct parameter comes before submodules
            keys += [f'stages.{i}.{b}.{m}.{p}' for m in (
                'depthwise_conv', 'norm', 'pointwise_conv1', 'pointwise_conv2')
                for p in ('weight', 'bias')]
    return keys + [f'norm{i}.{p}' for i in range(4) for p in ('weight', 'bias')]


@pytest.mark.parametrize('size', SIZES)
def test_shapes_match_reported_contract(size):
    model = MODELS.build(dict(type='ConvNeXt', **TINY)).eval()
    h, w = size
    with torch.no_grad():
        outs = model(torch.rand(2, 3, h, w))
    assert model.out_channels == (8, 16, 24, 32)
    assert model.strides == (4, 8, 16, 32)
    # no padding in the stem or downsampling convs: sizes round down
    assert [tuple(o.shape) for o in outs] == [
        (2, c, h // s, w // s) for c, s in zip((8, 16, 24, 32), (4, 8, 16, 32), strict=True)]


def test_convnext_t_state_dict_keys_equal_mmpretrain_layout():
    with torch.device('meta'):
        model = ConvNeXt('tiny', out_indices=[0, 1, 2, 3], gap_before_final_norm=False)
    sd = model.state_dict()
    expected = _convnext_t_keys()
    assert len(expected) == 186
    assert list(sd) == expected
    shapes = {'downsample_layers.0.0.weight': (96, 3, 4, 4),
              'downsample_layers.0.1.weight': (96,), 'downsample_layers.1.0.weight': (96,),
              'downsample_layers.1.1.weight': (192, 96, 2, 2),
              'stages.2.8.depthwise_conv.weight': (384, 1, 7, 7),
              'stages.3.2.pointwise_conv1.weight': (3072, 768),
              'stages.0.0.pointwise_conv2.weight': (96, 384), 'stages.1.0.gamma': (192,),
              'norm3.bias': (768,)}
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key


@pytest.mark.parametrize('arch,channels,blocks', [('small', 768, 27), ('base', 1024, 27),
                                                  ('large', 1536, 27), ('xlarge', 2048, 27)])
def test_named_archs(arch, channels, blocks):
    with torch.device('meta'):
        model = ConvNeXt(arch, out_indices=-1, gap_before_final_norm=False)
    assert model.out_channels == (channels,) and model.strides == (32,)
    assert len(model.stages[2]) == blocks
    assert [k for k in model.state_dict() if k.startswith('norm')] == ['norm3.weight', 'norm3.bias']


def test_layer_norm_2d_keeps_the_input_memory_layout():
    """channel_first: an NCHW input gives an NCHW-contiguous map, a channels-last input a
    channels-last one (no copy to NCHW that the next convolution would undo), same values."""
    torch.manual_seed(0)
    norm = LayerNorm2d(6)
    x = torch.randn(2, 6, 5, 7)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    plain, cl = norm(x), norm(x_cl)
    assert plain.is_contiguous()
    assert cl.is_contiguous(memory_format=torch.channels_last) and not cl.is_contiguous()
    torch.testing.assert_close(cl, plain, rtol=0, atol=0)


@pytest.mark.parametrize('data_format', ['channel_first', 'channel_last'])
def test_layer_norm_2d_is_exact(data_format):
    torch.manual_seed(0)
    norm = LayerNorm2d(6, eps=1e-6)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(2, 6, 5, 7) * 3 + 1
    if data_format == 'channel_first':
        got = norm(x)
        nhwc = x.permute(0, 2, 3, 1)
        expected = F.layer_norm(nhwc, (6,), norm.weight, norm.bias, 1e-6).permute(0, 3, 1, 2)
    else:
        nhwc = x.permute(0, 2, 3, 1)
        got = norm(nhwc, data_format='channel_last')
        expected = F.layer_norm(nhwc, (6,), norm.weight, norm.bias, 1e-6)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    # and by hand: per-pixel statistics over the channels
    mean = x.mean(1, keepdim=True)
    var = x.var(1, unbiased=False, keepdim=True)
    by_hand = (x - mean) / torch.sqrt(var + 1e-6) * norm.weight.view(1, -1, 1, 1) \
        + norm.bias.view(1, -1, 1, 1)
    if data_format == 'channel_last':
        by_hand = by_hand.permute(0, 2, 3, 1)
    torch.testing.assert_close(got, by_hand, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match='data_format'):
        norm(x, data_format='nchw')


def test_grn_formula_in_both_layouts():
    torch.manual_seed(0)
    grn = GRN(4)
    with torch.no_grad():
        grn.gamma.normal_()
        grn.beta.normal_()
    x = torch.randn(2, 4, 3, 5)
    gx = x.square().sum((2, 3), keepdim=True).sqrt()
    nx = gx / (gx.mean(1, keepdim=True) + 1e-6)
    expected = grn.gamma.view(1, 4, 1, 1) * x * nx + grn.beta.view(1, 4, 1, 1) + x
    torch.testing.assert_close(grn(x), expected)
    torch.testing.assert_close(grn(x.permute(0, 2, 3, 1), data_format='channel_last'),
                               expected.permute(0, 2, 3, 1))


@pytest.mark.parametrize('use_grn', [False, True])
def test_linear_and_conv_pointwise_layouts_agree(use_grn):
    torch.manual_seed(0)
    args = dict(TINY, use_grn=use_grn, layer_scale_init_value=0.5)
    linear = ConvNeXt(linear_pw_conv=True, **args).eval()
    conv = ConvNeXt(linear_pw_conv=False, **args).eval()
    state = linear.state_dict()
    for key, value in state.items():
        if 'pointwise_conv' in key and key.endswith('weight'):
            state[key] = value[:, :, None, None]  # (out, in) -> (out, in, 1, 1)
        elif key.endswith('grn.gamma') or key.endswith('grn.beta'):
            state[key] = torch.randn_like(value)
    conv.load_state_dict(state)
    linear.load_state_dict({k: v.flatten(1) if v.dim() == 4 and 'pointwise' in k else v
                            for k, v in state.items()})
    x = torch.rand(1, 3, 36, 44)
    with torch.no_grad():
        for a, b in zip(linear(x), conv(x), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert ('stages.0.0.grn.gamma' in state) == use_grn


def test_gap_before_final_norm_pools_then_normalises():
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match='gap_before_final_norm=False'):
        pooled = ConvNeXt(**dict(TINY, gap_before_final_norm=True)).eval()
    assert pooled.out_channels == (8, 16, 24, 32) and pooled.strides == (None,) * 4
    stage_out = {}
    for i, stage in enumerate(pooled.stages):
        stage.register_forward_hook(lambda m, a, out, i=i: stage_out.__setitem__(i, out))
    with torch.no_grad():
        outs = pooled(torch.rand(2, 3, 40, 40))
    for i, out in enumerate(outs):
        assert out.shape == (2, pooled.channels[i])
        norm = getattr(pooled, f'norm{i}')
        expected = F.layer_norm(stage_out[i].mean((2, 3)), (pooled.channels[i],), norm.weight,
                                norm.bias, 1e-6)
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_segmentation_setting_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        ConvNeXt(**TINY)


def test_layer_scale_and_out_indices():
    model = ConvNeXt(**dict(TINY, layer_scale_init_value=0.25, out_indices=-1))
    assert model.out_indices == (3,) and model.out_channels == (32,)
    assert torch.all(model.stages[1][0].gamma == 0.25)
    assert not hasattr(model, 'norm0') and hasattr(model, 'norm3')
    no_scale = ConvNeXt(**dict(TINY, layer_scale_init_value=0))
    assert not any(k.endswith('gamma') for k in no_scale.state_dict())
    negative = ConvNeXt(**dict(TINY, out_indices=(-3, 0)))
    assert negative.out_indices == (0, 1) and negative.strides == (4, 8)


def test_drop_path_is_identity_in_eval_and_random_in_training():
    torch.manual_seed(0)
    dropping = ConvNeXt(**dict(TINY, drop_path_rate=0.5, layer_scale_init_value=1.0))
    plain = ConvNeXt(**dict(TINY, drop_path_rate=0.0, layer_scale_init_value=1.0))
    plain.load_state_dict(dropping.state_dict())
    assert dropping.stages[3][0].drop_path.drop_prob == pytest.approx(0.5)
    assert dropping.stages[0][0].drop_path.drop_prob == 0.0
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        for a, b in zip(dropping.eval()(x), plain.eval()(x), strict=True):
            torch.testing.assert_close(a, b)
        dropping.train()
        first, second = dropping(x)[3], dropping(x)[3]
    assert not torch.allclose(first, second)


def test_frozen_stages_stay_frozen_through_train():
    model = ConvNeXt(**dict(TINY, frozen_stages=2)).train()
    for i in (0, 1):
        for m in (model.downsample_layers[i], model.stages[i]):
            assert not m.training and all(not p.requires_grad for p in m.parameters())
    assert model.stages[2].training and all(p.requires_grad for p in model.stages[2].parameters())
    assert model.norm0.weight.requires_grad  # output norms are not part of a stage


def test_with_cp_matches_plain_forward_and_grads():
    torch.manual_seed(0)
    plain = ConvNeXt(**TINY)
    cp = ConvNeXt(**dict(TINY, with_cp=True))
    cp.load_state_dict(plain.state_dict())
    x = torch.rand(1, 3, 32, 32)
    results = []
    for m in (plain, cp):
        outs = m(x)
        sum(o.square().mean() for o in outs).backward()
        results.append((outs, m.stages[2][1].pointwise_conv1.weight.grad.clone()))
    for a, b in zip(results[0][0], results[1][0], strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(results[0][1], results[1][1])


def test_default_init_is_truncated_normal():
    model = ConvNeXt(**TINY)
    model.init_weights()
    weight = model.stages[2][0].pointwise_conv1.weight
    assert abs(weight.std().item() - 0.02) < 0.004
    assert torch.all(model.stages[2][0].pointwise_conv1.bias == 0)
    assert torch.all(model.norm1.weight == 1)


def test_classifier_checkpoint_loads_with_backbone_prefix(tmp_path):
    """mmseg's ConvNeXt configs load mmpretrain classifier files with prefix='backbone.'."""
    torch.manual_seed(0)
    src = ConvNeXt(**TINY)
    with torch.no_grad():
        for p in src.parameters():
            p.normal_()
    state = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    state['head.fc.weight'] = torch.zeros(10, 32)
    path = tmp_path / 'cls.pth'
    torch.save({'state_dict': state}, path)
    dst = MODELS.build(dict(type='ConvNeXt', **TINY, init_cfg=dict(
        type='Pretrained', checkpoint=str(path), prefix='backbone.')))
    dst.init_weights()
    for key, value in src.state_dict().items():
        assert torch.equal(dst.state_dict()[key], value), key


@pytest.mark.parametrize('kwargs,exc,match', [
    (dict(arch='tinyy'), ValueError, "arch must be one of .*'tiny'"),
    (dict(arch=dict(depths=[1, 1])), ValueError, 'needs keys "depths" and "channels"'),
    (dict(arch=dict(depths=[1, 1], channels=[8])), ValueError, 'the same length'),
    (dict(arch=dict(depths=[1, 0], channels=[8, 8])), ValueError, 'depths must be'),
    (dict(out_indices=[4]), ValueError, r'out_indices .* -4\.\.3'),
    (dict(out_indices=[3, -1]), ValueError, 'out_indices name a stage twice'),
    (dict(frozen_stages=-1), ValueError, r'frozen_stages must be an int in 0\.\.4'),
    (dict(norm_cfg=dict(type='BN')), ValueError, "norm_cfg must be dict.type='LN2d'"),
    (dict(norm_cfg=dict(type='LN2d', momentum=0.1)), ValueError, 'unknown keys'),
    (dict(drop_path_rate=1.5), ValueError, 'drop_path_rate'),
    (dict(layer_scale_init_value=-1), ValueError, 'layer_scale_init_value'),
    (dict(stem_patch_size=0), ValueError, 'stem_patch_size must be a positive int'),
])
def test_bad_arguments_raise_naming_the_argument(kwargs, exc, match):
    args = dict(TINY)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        ConvNeXt(**args)


def test_bad_inputs_raise_before_torch():
    model = ConvNeXt(**TINY)
    with pytest.raises(ValueError, match=r'expects input \(B, 3, H, W\), got \(1, 1, 32, 32\)'):
        model(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match='at least 32 px'):
        model(torch.rand(1, 3, 31, 64))


def test_upernet_with_convnext_trains_and_predicts():
    model = MODELS.build(dict(
        type='EncoderDecoder', backbone=dict(type='ConvNeXt', **TINY),
        decode_head=dict(type='UPerHead', in_index=[0, 1, 2, 3], channels=8, num_classes=3,
                         pool_scales=(1, 2)),
        auxiliary_head=dict(type='FCNHead', in_index=2, channels=4, num_convs=1,
                            num_classes=3, concat_input=False),
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0] * 3, std=[1] * 3)))
    assert model.decode_head.in_channels == [8, 16, 24, 32]
    assert model.auxiliary_head.in_channels == 24
    sample = SegDataSample(metainfo=dict(img_shape=(48, 40), ori_shape=(48, 40)))
    sample.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 48, 40)))
    model.train()
    losses = model(torch.rand(2, 3, 48, 40), [sample, sample], mode='loss')
    (losses['decode.loss_ce'] + losses['aux.loss_ce']).backward()
    assert math.isfinite(losses['decode.loss_ce'].item())
    assert model.backbone.stages[0][0].depthwise_conv.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        pred = model.predict(torch.rand(1, 3, 48, 40))[0]
    assert pred.pred_sem_seg.data.shape == (1, 48, 40)
