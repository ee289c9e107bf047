"""LearningRateDecayOptimizerConstructor: each parameter's lr and weight decay against depths
written out by hand here (ConvNeXt layer/stage-wise, ViT layer-wise), frozen parameters,
argument errors; and mmengine's custom_keys with upertool's Swin key names."""
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from torch import nn

from upertool.engine.optimizers import (
    LayerDecayOptimizerConstructor,
    LearningRateDecayOptimizerConstructor,
)
from upertool.registry import MODELS

BASE_LR, BASE_WD, RATE = 1e-3, 0.05, 0.8


def _segmentor(backbone, neck=None):
    cfg = dict(
        type='EncoderDecoder', backbone=backbone,
        decode_head=dict(type='UPerHead', in_index=[0, 1, 2, 3], pool_scales=(1, 2), channels=8,
                         num_classes=3, norm_cfg=dict(type='BN'),
                         loss_decode=dict(type='CrossEntropyLoss')))
    if neck is not None:
        cfg['neck'] = neck
    return MODELS.build(cfg)


def _convnext(**kwargs):
    # stage 2 has 7 blocks so `block // 3` takes the values 0, 1, 2
    return _segmentor(dict(type='ConvNeXt', arch=dict(depths=[1, 2, 7, 1],
                                                      channels=[4, 8, 8, 8]),
                           out_indices=[0, 1, 2, 3], gap_before_final_norm=False, **kwargs))


def _vit():
    return _segmentor(
        dict(type='VisionTransformer', img_size=32, patch_size=8, embed_dims=8, num_layers=3,
             num_heads=2, out_indices=(2,), final_norm=True),
        neck=dict(type='MultiLevelNeck', in_channels=[8], out_channels=8,
                  scales=[4, 2, 1, 0.5]))


def _build(model, paramwise_cfg, constructor='LearningRateDecayOptimizerConstructor'):
    init_default_scope('upertool')
    return build_optim_wrapper(model, dict(
        type='OptimWrapper', constructor=constructor, paramwise_cfg=paramwise_cfg,
        optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD)))


def _settings(optim_wrapper, model):
    """{parameter name: (lr, weight_decay)} from the optimizer's groups; each param once."""
    names = {id(p): n for n, p in model.named_parameters()}
    found = {}
    for group in optim_wrapper.optimizer.param_groups:
        assert [names[id(p)] for p in group['params']] == group['param_names']
        for p in group['params']:
            assert names[id(p)] not in found
            found[names[id(p)]] = (group['lr'], group['weight_decay'])
    return found


def _expected_wd(name, param):
    # what is exempt from weight decay: every vector, every bias, ViT's tokens
    exempt = param.ndim == 1 or name.endswith('bias') or name in (
        'backbone.cls_token', 'backbone.pos_embed')
    return 0.0 if exempt else BASE_WD


def _check(model, optim_wrapper, depth_of, num_layers):
    """lr = base * rate ** (num_layers + 1 - depth), depth 0 = input side."""
    settings = _settings(optim_wrapper, model)
    assert set(settings) == {n for n, p in model.named_parameters() if p.requires_grad}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        lr, wd = settings[name]
        expected_lr = BASE_LR * RATE**(num_layers + 1 - depth_of(name))
        assert lr == pytest.approx(expected_lr, rel=1e-9), name
        assert wd == _expected_wd(name, param), name


def test_convnext_layer_wise_lr_and_decay_per_parameter():
    num_layers = 6

    def depth(name):
        if not name.startswith('backbone.') or name.startswith('backbone.norm'):
            return num_layers + 1  # heads and the backbone's output norms: full lr
        _, kind, stage, *rest = name.split('.')
        stage = int(stage)
        if kind == 'downsample_layers':
            return [0, 2, 3, num_layers][stage]
        block = int(rest[0])
        return [1, 2, 3 + block // 3, num_layers][stage]

    model = _convnext()
    optim = _build(model, dict(decay_rate=RATE, decay_type='layer_wise', num_layers=num_layers))
    _check(model, optim, depth, num_layers)
    settings = _settings(optim, model)
    # spot checks written as numbers
    assert settings['backbone.stages.2.4.gamma'] == (pytest.approx(BASE_LR * RATE**3), 0.0)
    assert settings['backbone.stages.2.6.pointwise_conv1.weight'] == (
        pytest.approx(BASE_LR * RATE**2), BASE_WD)
    assert settings['backbone.downsample_layers.0.0.weight'] == (
        pytest.approx(BASE_LR * RATE**7), BASE_WD)
    assert settings['decode_head.conv_seg.weight'] == (pytest.approx(BASE_LR), BASE_WD)
    assert settings['decode_head.conv_seg.bias'] == (pytest.approx(BASE_LR), 0.0)


@pytest.mark.parametrize('num_layers', [6, 12])
def test_convnext_stage_wise_lr_per_parameter(num_layers):
    def depth(name):
        if name.startswith('backbone.downsample_layers.'):
            return 0
        if name.startswith('backbone.stages.'):
            return int(name.split('.')[2]) + 1
        return num_layers + 1

    model = _convnext()
    optim = _build(model, dict(decay_rate=RATE, decay_type='stage_wise', num_layers=num_layers))
    _check(model, optim, depth, num_layers)
    lrs = {g['group_name']: g['lr'] for g in optim.optimizer.param_groups}
    assert lrs['layer_1_decay'] == pytest.approx(BASE_LR * RATE**num_layers)
    assert lrs['layer_4_decay'] == pytest.approx(BASE_LR * RATE**(num_layers - 3))


def test_vit_layer_wise_lr_and_token_decay():
    num_layers = 3

    def depth(name):
        if name in ('backbone.cls_token', 'backbone.pos_embed') or name.startswith(
                'backbone.patch_embed.'):
            return 0
        if name.startswith('backbone.layers.'):
            return int(name.split('.')[2]) + 1
        return num_layers + 1  # final norm ln1, neck, heads

    model = _vit()
    optim = _build(model, dict(decay_rate=RATE, num_layers=num_layers))
    _check(model, optim, depth, num_layers)
    settings = _settings(optim, model)
    assert settings['backbone.pos_embed'] == (pytest.approx(BASE_LR * RATE**4), 0.0)
    assert settings['backbone.layers.2.attn.attn.in_proj_weight'] == (
        pytest.approx(BASE_LR * RATE), BASE_WD)
    assert settings['backbone.ln1.weight'] == (pytest.approx(BASE_LR), 0.0)
    assert settings['neck.convs.0.conv.weight'] == (pytest.approx(BASE_LR), BASE_WD)


def test_groups_train_one_step_and_frozen_parameters_are_left_out():
    model = _convnext(frozen_stages=1)
    optim = _build(model, dict(decay_rate=RATE, decay_type='stage_wise', num_layers=6))
    names = {n for g in optim.optimizer.param_groups for n in g['param_names']}
    assert not any(n.startswith(('backbone.stages.0.', 'backbone.downsample_layers.0.'))
                   for n in names)
    assert 'backbone.stages.1.0.gamma' in names
    before = model.backbone.stages[3][0].pointwise_conv1.weight.detach().clone()
    logits = model(torch.rand(2, 3, 64, 64), mode='tensor')
    optim.update_params(logits.square().mean())
    assert not torch.equal(before, model.backbone.stages[3][0].pointwise_conv1.weight)


def test_legacy_layer_decay_name_means_vit_layer_wise():
    model = _vit()
    optim = _build(model, dict(layer_decay_rate=RATE, num_layers=3),
                   constructor='LayerDecayOptimizerConstructor')
    settings = _settings(optim, model)
    assert settings['backbone.layers.0.ln1.weight'][0] == pytest.approx(BASE_LR * RATE**3)
    assert isinstance(optim.optimizer, torch.optim.AdamW)
    assert LayerDecayOptimizerConstructor.__mro__[1] is LearningRateDecayOptimizerConstructor


@pytest.mark.parametrize('paramwise_cfg,match', [
    (dict(decay_rate=0.9, num_layers=6, custom_keys={'norm': dict(decay_mult=0.)}),
     r"keys \['custom_keys'\] are not supported"),
    (dict(decay_rate=0.9), 'num_layers must be a positive int'),
    (dict(decay_rate=1.5, num_layers=6), r'decay_rate must be a number in \(0, 1\]'),
    (dict(decay_rate=0.9, num_layers=6, decay_type='block_wise'), 'decay_type must be one of'),
])
def test_bad_paramwise_cfg_is_named(paramwise_cfg, match):
    with pytest.raises(ValueError, match=match):
        LearningRateDecayOptimizerConstructor(
            dict(optimizer=dict(type='AdamW', lr=1e-3)), paramwise_cfg)


def test_unsupported_backbone_or_decay_type_is_named():
    with pytest.raises(NotImplementedError, match="'stage_wise' is not defined for a "
                                                  'VisionTransformer backbone'):
        _build(_vit(), dict(decay_rate=RATE, decay_type='stage_wise', num_layers=3))
    swin = _segmentor(dict(type='SwinTransformer', embed_dims=8, depths=(1, 1, 1, 1),
                           num_heads=(1, 1, 1, 1)))
    with pytest.raises(NotImplementedError, match='SwinTransformer backbone'):
        _build(swin, dict(decay_rate=RATE, num_layers=4))
    with pytest.raises(ValueError, match='needs a segmentor with a `backbone`'):
        _build(nn.Linear(2, 2), dict(decay_rate=RATE, num_layers=4))


def test_swin_custom_keys_exempt_norms_and_position_tables():
    """mmsegmentation's Swin optimizer: custom_keys match upertool's Swin key names."""
    model = _segmentor(dict(type='SwinTransformer', embed_dims=8, depths=(1, 1, 1, 1),
                            num_heads=(1, 1, 1, 1), use_abs_pos_embed=True,
                            pretrain_img_size=32))
    init_default_scope('upertool')
    optim = build_optim_wrapper(model, dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
        paramwise_cfg=dict(custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)})))
    # independently: parameters of LayerNorm modules and the two position tables
    exempt = {id(p) for m in model.backbone.modules() if isinstance(m, nn.LayerNorm)
              for p in m.parameters()}
    exempt |= {id(p) for n, p in model.named_parameters()
               if n.endswith(('relative_position_bias_table', 'absolute_pos_embed'))}
    assert len(exempt) == 2 * (1 + 2 * 4 + 3 + 4) + 4 + 1  # patch, blocks, merges, outs
    for group in optim.optimizer.param_groups:
        (param,) = group['params']
        assert group['lr'] == pytest.approx(6e-5)
        assert group['weight_decay'] == (0.0 if id(param) in exempt else 0.01)


class _TwoBlockBackbone(nn.Module):
    """A backbone that declares its own layer groups, whatever its class name."""

    DECAY_TYPES = ('layer_wise',)

    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(2, 2)
        self.block = nn.Linear(2, 2)

    def decay_layer_id(self, name, num_layers, decay_type):
        return 0 if name.startswith('stem.') else 1


class _Segmentor(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = _TwoBlockBackbone()
        self.head = nn.Linear(2, 1)


def test_groups_come_from_what_the_backbone_declares():
    model = _Segmentor()
    settings = _settings(_build(model, dict(decay_rate=RATE, num_layers=1)), model)
    # ids 0, 1 (backbone), 2 (after it): lr scales RATE**2, RATE, 1
    assert settings['backbone.stem.weight'][0] == pytest.approx(BASE_LR * RATE**2)
    assert settings['backbone.block.weight'][0] == pytest.approx(BASE_LR * RATE)
    assert settings['head.weight'][0] == pytest.approx(BASE_LR)
