"""ResNet / ResNetV1c / ResNetV1d: shapes, reported contract, mmseg key layout, freezing, init."""
import math

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from upertool.models.backbones import ResNet, ResNetV1c, ResNetV1d
from upertool.models.utils import FallbackSyncBatchNorm
from upertool.registry import MODELS

TINY = dict(stem_channels=8, base_channels=8)
SIZES = [(33, 47), (64, 64), (37, 37)]
# Widths of layer1..4 for base_channels=8, written out rather than derived from the model.
CHANNELS = {18: (8, 16, 32, 64), 50: (32, 64, 128, 256)}


def _ceil_div(size, stride):
    return -(-size // stride)


def _bn_keys(prefix):
    return [f'{prefix}.{k}' for k in
            ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')]


def _mmseg_v1c50_keys():
    """The key list of mmsegmentation's ResNetV1c-50, written from its layout."""
    keys = []
    for conv, norm in ((0, 1), (3, 4), (6, 7)):
        keys += [f'stem.{conv}.weight'] + _bn_keys(f'stem.{norm}')
    for stage, num_blocks in enumerate((3, 4, 6, 3), start=1):
        for b in range(num_blocks):
            p = f'layer{stage}.{b}'
            for j in (1, 2, 3):
                keys += [f'{p}.conv{j}.weight'] + _bn_keys(f'{p}.bn{j}')
            if b == 0:  # every stage's first block projects (64 -> 256 in layer1, then strides)
                keys += [f'{p}.downsample.0.weight'] + _bn_keys(f'{p}.downsample.1')
    return keys


@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('cls_name,depth', [('ResNet', 18), ('ResNetV1c', 50), ('ResNetV1d', 50),
                                            ('ResNetV1d', 18)])
def test_shapes_match_reported_contract(cls_name, depth, size):
    model = MODELS.build(dict(type=cls_name, depth=depth, **TINY)).eval()
    h, w = size
    with torch.no_grad():
        outs = model(torch.rand(1, 3, h, w))
    assert model.out_channels == CHANNELS[depth]
    assert model.strides == (4, 8, 16, 32)
    levels = zip(CHANNELS[depth], (4, 8, 16, 32), strict=True)
    assert [tuple(o.shape) for o in outs] == [
        (1, c, _ceil_div(h, s), _ceil_div(w, s)) for c, s in levels]


@pytest.mark.parametrize('depth', [18, 50])
def test_dilated_d8_keeps_output_stride_8(depth):
    model = ResNetV1c(depth, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                      contract_dilation=True, **TINY).eval()
    assert model.strides == (4, 8, 8, 8)
    with torch.no_grad():
        outs = model(torch.rand(2, 3, 33, 47))
    assert [tuple(o.shape) for o in outs] == [(2, c, *hw) for c, hw in zip(
        CHANNELS[depth], [(9, 12), (5, 6), (5, 6), (5, 6)], strict=True)]
    dilated = 'conv2' if depth == 50 else 'conv1'
    dil = [[getattr(blk, dilated).dilation[0] for blk in getattr(model, f'layer{i}')]
           for i in (3, 4)]
    # contract_dilation halves the first block's dilation only
    assert dil[0][0] == 1 and set(dil[0][1:]) == {2}
    assert dil[1][0] == 2 and set(dil[1][1:]) == {4}


def test_dilation_without_contract_and_multi_grid():
    plain = ResNetV1c(50, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), **TINY)
    assert [b.conv2.dilation[0] for b in plain.layer4] == [4, 4, 4]
    assert [b.conv2.padding[0] for b in plain.layer4] == [4, 4, 4]
    # mmseg semantics: multi_grid gives the last stage's block dilations outright
    grid = ResNetV1c(50, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), multi_grid=(1, 2, 4),
                     **TINY).eval()
    assert [b.conv2.dilation[0] for b in grid.layer4] == [1, 2, 4]
    assert [b.conv2.dilation[0] for b in grid.layer3] == [2] * 6
    with torch.no_grad():
        assert grid(torch.rand(1, 3, 37, 37))[3].shape == (1, 256, 5, 5)


def test_subset_of_stages_reports_only_returned_levels():
    model = ResNet(18, num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2, 0),
                   **TINY).eval()
    assert not hasattr(model, 'layer4')
    assert model.out_channels == (8, 32) and model.strides == (4, 16)
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 8, 16, 16), (1, 32, 4, 4)]


def test_v1c50_state_dict_keys_equal_mmseg_layout():
    model = ResNetV1c(50)  # full width: shapes below are those of mmseg's checkpoints
    sd = model.state_dict()
    expected = _mmseg_v1c50_keys()
    assert len(expected) == 330
    assert list(sd) == expected
    shapes = {'stem.0.weight': (32, 3, 3, 3), 'stem.7.running_var': (64,),
              'layer1.0.downsample.0.weight': (256, 64, 1, 1),
              'layer3.5.conv3.weight': (1024, 256, 1, 1), 'layer4.2.bn3.bias': (2048,)}
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key


def test_v1d_and_v1b_key_layout():
    v1d = ResNetV1d(50, **TINY)
    keys = set(v1d.state_dict())
    # AvgPool at downsample.0 (also in layer1, as mmseg), conv at .1, norm at .2
    for stage in (1, 2, 3, 4):
        assert {f'layer{stage}.0.downsample.1.weight',
                f'layer{stage}.0.downsample.2.running_mean'} <= keys
        assert f'layer{stage}.0.downsample.0.weight' not in keys
    pool = v1d.layer2[0].downsample[0]
    assert isinstance(pool, nn.AvgPool2d) and pool.ceil_mode and not pool.count_include_pad
    assert v1d.layer2[0].downsample[1].stride == (1, 1)

    v1b = ResNet(50, **TINY)
    keys = set(v1b.state_dict())
    assert {'conv1.weight', 'bn1.running_mean', 'layer2.0.downsample.0.weight'} <= keys
    assert not any(k.startswith('stem.') for k in keys)
    assert v1b.conv1.kernel_size == (7, 7)


def test_caffe_style_moves_stride_to_first_conv():
    pt = ResNet(50, **TINY)
    caffe = ResNet(50, style='caffe', **TINY).eval()
    assert (pt.layer2[0].conv1.stride, pt.layer2[0].conv2.stride) == ((1, 1), (2, 2))
    assert (caffe.layer2[0].conv1.stride, caffe.layer2[0].conv2.stride) == ((2, 2), (1, 1))
    with torch.no_grad():
        assert caffe(torch.rand(1, 3, 37, 37))[1].shape == (1, 64, 5, 5)


@pytest.mark.parametrize('cls', [ResNet, ResNetV1c])
def test_frozen_stages_stay_frozen_through_train(cls):
    model = cls(18, frozen_stages=1, **TINY)
    model.train()
    stem = [model.stem] if cls is ResNetV1c else [model.conv1, model.bn1]
    frozen = stem + [model.layer1]
    for m in frozen:
        assert all(not p.requires_grad for p in m.parameters())
        assert all(not b.training for b in m.modules() if isinstance(b, _BatchNorm))
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert model.layer2[0].bn1.training
    before = model.layer1[0].bn1.running_mean.clone()
    model(torch.rand(2, 3, 32, 32))
    assert torch.equal(model.layer1[0].bn1.running_mean, before)
    assert not torch.equal(model.layer2[0].bn1.running_mean, torch.zeros(16))


def test_norm_eval_keeps_bn_in_eval_but_trains_weights():
    model = ResNetV1c(18, norm_eval=True, **TINY)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and all(not m.training for m in bns)
    assert model.training and all(p.requires_grad for p in model.parameters())
    model(torch.rand(2, 3, 32, 32))
    assert all(torch.equal(m.running_mean, torch.zeros_like(m.running_mean)) for m in bns)


def test_syncbn_trains_on_cpu():
    model = ResNetV1c(18, norm_cfg=dict(type='SyncBN', requires_grad=True), **TINY)
    model.train()
    assert isinstance(model.stem[1], FallbackSyncBatchNorm)
    assert isinstance(model.layer2[0].downsample[1], FallbackSyncBatchNorm)
    outs = model(torch.rand(2, 3, 32, 32))
    sum(o.mean() for o in outs).backward()
    assert model.stem[0].weight.grad is not None
    assert model.layer4[1].bn2.weight.grad is not None
    assert model.stem[1].num_batches_tracked.item() == 1


def test_with_cp_matches_plain_forward_and_grads():
    torch.manual_seed(0)
    plain = ResNetV1c(18, **TINY)
    cp = ResNetV1c(18, with_cp=True, **TINY)
    cp.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    outs = [m(x) for m in (plain, cp)]
    for a, b in zip(*outs, strict=True):
        torch.testing.assert_close(a, b)
    grads = []
    for m, o in zip((plain, cp), outs, strict=True):
        sum(t.square().mean() for t in o).backward()
        grads.append(m.layer3[1].conv2.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def test_default_init_kaiming_and_zero_init_residual():
    model = ResNetV1c(50, **TINY)
    model.init_weights()
    for layer in (model.layer1, model.layer4):
        for blk in layer:
            assert torch.count_nonzero(blk.bn3.weight) == 0
            assert torch.all(blk.bn1.weight == 1) and torch.all(blk.bn1.bias == 0)
    conv = model.layer4[1].conv2.weight  # 64 x 64 x 3 x 3, Kaiming normal, fan_out, relu
    expected_std = math.sqrt(2.0 / (conv.shape[0] * 9))
    assert abs(conv.std().item() / expected_std - 1) < 0.05

    no_zero = ResNetV1c(18, zero_init_residual=False, **TINY)
    no_zero.init_weights()
    assert torch.all(no_zero.layer2[0].bn2.weight == 1)


def _randomised(model):
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.randn_like(t).abs() + 0.1)
    return model


def test_pretrained_init_cfg_loads_saved_weights(tmp_path):
    src = _randomised(ResNetV1d(18, **TINY))
    path = tmp_path / 'w.pth'
    torch.save(src.state_dict(), path)
    dst = MODELS.build(dict(type='ResNetV1d', depth=18,
                            init_cfg=dict(type='Pretrained', checkpoint=str(path)), **TINY))
    dst.init_weights()
    expected = src.state_dict()
    got = dst.state_dict()
    assert list(got) == list(expected)
    for key in expected:
        assert torch.equal(got[key], expected[key]), key


def test_pretrained_path_becomes_init_cfg(tmp_path):
    src = _randomised(ResNet(18, **TINY))
    path = str(tmp_path / 'w.pth')
    torch.save(src.state_dict(), path)
    with pytest.warns(DeprecationWarning, match='pretrained'):
        dst = ResNet(18, pretrained=path, **TINY)
    assert dst.init_cfg == dict(type='Pretrained', checkpoint=path)
    dst.init_weights()
    assert torch.equal(dst.layer3[1].conv2.weight, src.layer3[1].conv2.weight)
    # Pretrained weights are not overwritten by the zero-init of the last norm
    assert torch.equal(dst.layer3[1].bn2.weight, src.layer3[1].bn2.weight)


@pytest.mark.parametrize('kwargs,exc,match', [
    (dict(depth=42), ValueError, r'depth must be one of \[18, 34, 50, 101, 152\], got 42'),
    (dict(out_indices=(0, 4)), ValueError, r'out_indices .* 0\.\.3'),
    (dict(out_indices=(-5,)), ValueError, r'out_indices .* -4\.\.3'),
    (dict(out_indices=(1, 1)), ValueError, 'out_indices has duplicates'),
    (dict(strides=(1, 2, 2)), ValueError, r'len\(strides\) must equal num_stages=4'),
    (dict(dilations=(1, 1, 2)), ValueError, r'len\(dilations\) must equal num_stages=4'),
    (dict(strides=(1, 0, 2, 2)), ValueError, 'strides must hold ints >= 1'),
    (dict(num_stages=5), ValueError, 'num_stages must be an int in 1..4'),
    (dict(style='tf'), ValueError, "style must be 'pytorch' or 'caffe'"),
    (dict(frozen_stages=5), ValueError, 'frozen_stages'),
    (dict(multi_grid=(1, 2, 4)), ValueError, r'multi_grid needs one dilation per block .*2 blocks'),
    (dict(base_channels=0), ValueError, 'base_channels must be a positive int'),
    (dict(conv_cfg=dict(type='DCNv2')), ValueError, 'conv_cfg'),
    (dict(dcn=dict(type='DCNv2', deform_groups=1)), NotImplementedError, 'no deformable'),
    (dict(stage_with_dcn=(False, True, True, True)), NotImplementedError, 'DCN'),
    (dict(plugins=[dict(cfg=dict(type='ContextBlock'), position='after_conv3')]),
     NotImplementedError, 'no ResNet plugins'),
    (dict(pretrained='a.pth', init_cfg=dict(type='Pretrained', checkpoint='b.pth')),
     ValueError, 'either pretrained or init_cfg'),
    (dict(pretrained=3), TypeError, 'pretrained must be a str'),
])
def test_bad_arguments_raise_naming_the_argument(kwargs, exc, match):
    args = dict(depth=18, **TINY)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        ResNet(**args)


def test_variants_refuse_overriding_their_fixed_arguments():
    with pytest.raises(TypeError, match=r'V1c fixes deep_stem=True, avg_down=False; .*deep_stem'):
        ResNetV1c(18, deep_stem=False)
    with pytest.raises(TypeError, match=r'V1d fixes deep_stem=True, avg_down=True; .*avg_down'):
        ResNetV1d(18, avg_down=False)


def test_wrong_input_channels_raise_before_torch():
    model = ResNetV1c(18, **TINY)
    with pytest.raises(ValueError, match=r'expects input \(B, 3, H, W\), got \(1, 4, 32, 32\)'):
        model(torch.rand(1, 4, 32, 32))


def test_negative_out_indices_count_from_the_end_as_in_every_backbone():
    model = ResNet(18, out_indices=(-1, 0), **TINY).eval()
    assert model.out_indices == (0, 3)
    assert len(model(torch.randn(1, 3, 32, 32))) == 2


def test_stage_strides_argument_and_mmsegmentation_strides_build_the_same_model():
    new = ResNet(18, stage_strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), **TINY)
    old = ResNet(18, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), **TINY)
    assert new.stage_strides == old.stage_strides == (1, 2, 1, 1)
    assert new.strides == old.strides == (4, 8, 8, 8)  # the attribute: output strides
