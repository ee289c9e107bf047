"""Hugging Face UperNet `config.json` (+ `preprocessor_config.json`) <-> upertool model config.

What HF's UperNet fixes that a upertool config must say explicitly: BatchNorm + ReLU conv
modules, `align_corners=False`, the auxiliary FCN head on the third backbone level
(`in_index=2`, kernel 3), no dropout before the classifier (upertool keeps mmseg's
`dropout_ratio=0.1`, which only acts in training). Normalisation comes from the image
processor: `pixel = (rgb * rescale_factor - image_mean) / image_std`, i.e. upertool's
`SegDataPreProcessor(mean=image_mean / rescale_factor, std=image_std / rescale_factor,
bgr_to_rgb=True)` on images loaded as BGR.
"""
from __future__ import annotations

import copy
import inspect
from typing import Any

from .key_rules import ConversionError

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # SegformerImageProcessor's defaults (RGB, 0..1)
IMAGENET_STD = (0.229, 0.224, 0.225)
_RESNET_DEPTHS = {('basic', (2, 2, 2, 2)): 18, ('basic', (3, 4, 6, 3)): 34,
                  ('bottleneck', (3, 4, 6, 3)): 50, ('bottleneck', (3, 4, 23, 3)): 101,
                  ('bottleneck', (3, 8, 36, 3)): 152}


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ConversionError(message)


def _out_indices(backbone: dict) -> tuple[int, ...]:
    names = backbone.get('out_features') or [
        f'stage{i}' for i in range(1, len(backbone.get('depths', [])) + 1)]
    _require(all(n.startswith('stage') and n != 'stem' for n in names),
             f'HF backbone out_features must be stages, got {names}')
    return tuple(int(n[len('stage'):]) - 1 for n in names)


def _act(name: str, model_type: str) -> None:
    _require(name in ('gelu', 'relu'), f'HF {model_type} hidden_act={name!r} is not supported')


def _backbone_from_hf(bb: dict) -> dict:
    kind = bb.get('model_type')
    out_indices = _out_indices(bb)
    if kind == 'convnext':
        _act(bb.get('hidden_act', 'gelu'), kind)
        return dict(type='ConvNeXt',
                    arch=dict(depths=list(bb['depths']), channels=list(bb['hidden_sizes'])),
                    in_channels=bb.get('num_channels', 3),
                    stem_patch_size=bb.get('patch_size', 4), out_indices=out_indices,
                    drop_path_rate=bb.get('drop_path_rate', 0.0),
                    layer_scale_init_value=bb.get('layer_scale_init_value', 1e-6),
                    gap_before_final_norm=False, init_cfg=None)
    if kind == 'swin':
        _act(bb.get('hidden_act', 'gelu'), kind)
        _require(not bb.get('use_absolute_embeddings', False),
                 'HF Swin with use_absolute_embeddings=True is not supported')
        patch = bb.get('patch_size', 4)
        return dict(type='SwinTransformer', pretrain_img_size=bb.get('image_size', 224),
                    in_channels=bb.get('num_channels', 3), embed_dims=bb['embed_dim'],
                    patch_size=patch, window_size=bb.get('window_size', 7),
                    mlp_ratio=bb.get('mlp_ratio', 4.0), depths=list(bb['depths']),
                    num_heads=list(bb['num_heads']),
                    strides=[patch] + [2] * (len(bb['depths']) - 1), out_indices=out_indices,
                    qkv_bias=bb.get('qkv_bias', True),
                    drop_path_rate=bb.get('drop_path_rate', 0.1),
                    norm_cfg=dict(type='LN', eps=bb.get('layer_norm_eps', 1e-5)))
    if kind == 'resnet':
        _act(bb.get('hidden_act', 'relu'), kind)
        layer_type, depths = bb.get('layer_type', 'bottleneck'), tuple(bb['depths'])
        depth = _RESNET_DEPTHS.get((layer_type, depths))
        _require(depth is not None, f'HF ResNet {layer_type} with depths {list(depths)} is not '
                 f'one of ResNet-18/34/50/101/152')
        expansion = 4 if layer_type == 'bottleneck' else 1
        base = bb['hidden_sizes'][0] // expansion
        _require(list(bb['hidden_sizes']) == [base * expansion * 2**i for i in range(4)],
                 f'HF ResNet hidden_sizes {bb["hidden_sizes"]} do not double per stage')
        return dict(type='ResNet', depth=depth, in_channels=bb.get('num_channels', 3),
                    stem_channels=bb.get('embedding_size', 64), base_channels=base,
                    strides=(2 if bb.get('downsample_in_first_stage') else 1, 2, 2, 2),
                    style='caffe' if bb.get('downsample_in_bottleneck') else 'pytorch',
                    out_indices=out_indices, norm_cfg=dict(type='SyncBN', requires_grad=True),
                    init_cfg=None)
    raise ConversionError(f'HF UperNet backbone {kind!r} is not supported (supported: '
                          "'convnext', 'swin', 'resnet')")


def data_preprocessor_from_hf(processor: dict | None) -> dict:
    """SegDataPreProcessor config equal to an HF image processor's rescale + normalise."""
    processor = processor or {}
    scale = processor.get('rescale_factor', 1 / 255) if processor.get('do_rescale', True) else 1
    if processor.get('do_normalize', True):
        mean = processor.get('image_mean', IMAGENET_MEAN)
        std = processor.get('image_std', IMAGENET_STD)
    else:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    return dict(type='SegDataPreProcessor', mean=[round(m / scale, 6) for m in mean],
                std=[round(s / scale, 6) for s in std], bgr_to_rgb=True, pad_val=0,
                seg_pad_val=255)


def model_from_hf(config: dict, processor: dict | None = None) -> dict:
    """upertool `model` config for an HF `UperNetConfig` dict (and image processor dict)."""
    _require(config.get('model_type') == 'upernet',
             f"config.json has model_type={config.get('model_type')!r}, not 'upernet'")
    _require(not config.get('use_timm_backbone') and config.get('backbone_config'),
             'HF UperNet with a timm or named backbone (no backbone_config) is not supported')
    num_classes = len(config.get('id2label') or {}) or config.get('num_labels', 2)
    norm_cfg = dict(type='SyncBN', requires_grad=True)
    ignore = config.get('loss_ignore_index', 255)
    model = dict(
        type='EncoderDecoder', data_preprocessor=data_preprocessor_from_hf(processor),
        backbone=_backbone_from_hf(config['backbone_config']),
        decode_head=dict(type='UPerHead', channels=config.get('hidden_size', 512),
                         pool_scales=tuple(config.get('pool_scales', (1, 2, 3, 6))),
                         num_classes=num_classes, norm_cfg=norm_cfg, align_corners=False,
                         dropout_ratio=0.1, ignore_index=ignore,
                         loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        train_cfg=dict(), test_cfg=dict(mode='whole'))
    if config.get('use_auxiliary_head', True):
        aux = dict(type='FCNHead', in_channels=config.get('auxiliary_in_channels'), in_index=2)
        if aux['in_channels'] is None:  # transformers >= 5: the backbone's third level
            del aux['in_channels']  # (upertool infers it the same way)
        model['auxiliary_head'] = dict(
            **aux, channels=config.get('auxiliary_channels', 256),
            num_convs=config.get('auxiliary_num_convs', 1),
            concat_input=config.get('auxiliary_concat_input', False), num_classes=num_classes,
            norm_cfg=norm_cfg, align_corners=False, dropout_ratio=0.1, ignore_index=ignore,
            loss_decode=dict(type='CrossEntropyLoss',
                             loss_weight=config.get('auxiliary_loss_weight', 0.4)))
    return model


def class_names_from_hf(config: dict) -> tuple[str, ...]:
    """Class names in label order from `id2label` ('0', '1', ... when absent)."""
    id2label = {int(k): v for k, v in (config.get('id2label') or {}).items()}
    if not id2label:
        return tuple(str(i) for i in range(config.get('num_labels', 2)))
    return tuple(str(id2label.get(i, i)) for i in range(max(id2label) + 1))


# ----------------------------------------------------------------------------- upertool -> HF


def with_defaults(cfg: dict) -> dict:
    """A component config with the class's default for every argument it leaves out."""
    from mmengine.registry import DefaultScope

    from upertool.registry import MODELS
    with DefaultScope.overwrite_default_scope('upertool'):
        cls = MODELS.get(cfg['type'])
    _require(cls is not None, f'unknown model type {cfg["type"]!r}')
    full: dict[str, Any] = {}
    # Subclasses forward `**head_args` to their base: collect defaults down the MRO.
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        for name, p in inspect.signature(init).parameters.items():
            if p.default is not inspect.Parameter.empty:
                full.setdefault(name, copy.deepcopy(p.default))
    full.update(copy.deepcopy(dict(cfg)))
    return full


def _norm_is_bn(cfg: dict | None, where: str) -> None:
    _require(isinstance(cfg, dict) and cfg.get('type') in ('BN', 'SyncBN', 'BN2d'),
             f'{where}: HF UperNet uses BatchNorm conv modules, got norm_cfg={cfg!r}')


def _backbone_to_hf(bb: dict) -> dict:
    kind = bb['type'].split('.')[-1]
    if bb.get('strides') is None and 'stage_strides' in bb:  # mmseg's name, or upertool's
        bb = dict(bb, strides=bb['stage_strides'])
    out_features = [f'stage{i + 1}' for i in sorted(bb['out_indices'])]
    if kind == 'ConvNeXt':
        arch = bb['arch']
        from upertool.models.backbones.convnext import ConvNeXt
        arch = ConvNeXt.arch_settings[arch] if isinstance(arch, str) else arch
        _require(bb['linear_pw_conv'] and not bb['use_grn'] and not bb['gap_before_final_norm'],
                 'HF ConvNext has Linear pointwise convs, no GRN and feature-map outputs: '
                 'needs linear_pw_conv=True, use_grn=False, gap_before_final_norm=False')
        return dict(model_type='convnext', num_channels=bb['in_channels'],
                    patch_size=bb['stem_patch_size'], depths=list(arch['depths']),
                    hidden_sizes=list(arch['channels']), hidden_act='gelu',
                    layer_scale_init_value=bb['layer_scale_init_value'],
                    drop_path_rate=bb['drop_path_rate'], out_features=out_features)
    if kind == 'SwinTransformer':
        patch = bb['patch_size']
        _require(list(bb['strides']) == [patch] + [2] * (len(bb['depths']) - 1)
                 and not bb['use_abs_pos_embed'] and bb['patch_norm']
                 and bb['qk_scale'] is None,
                 'HF Swin needs strides=(patch_size, 2, 2, 2), use_abs_pos_embed=False, '
                 'patch_norm=True and qk_scale=None')
        size = bb['pretrain_img_size']
        return dict(model_type='swin', image_size=size if isinstance(size, int) else size[0],
                    num_channels=bb['in_channels'], patch_size=patch,
                    embed_dim=bb['embed_dims'], depths=list(bb['depths']),
                    num_heads=list(bb['num_heads']), window_size=bb['window_size'],
                    mlp_ratio=float(bb['mlp_ratio']), qkv_bias=bb['qkv_bias'],
                    hidden_act='gelu', drop_path_rate=bb['drop_path_rate'],
                    layer_norm_eps=bb['norm_cfg'].get('eps', 1e-5), out_features=out_features)
    if kind == 'ResNet':
        _require(bb['deep_stem'] is False and bb['avg_down'] is False
                 and tuple(bb['dilations']) == (1, 1, 1, 1) and bb['num_stages'] == 4
                 and tuple(bb['strides'])[1:] == (2, 2, 2) and not bb['multi_grid'],
                 'HF ResNet has a 7x7 stem, strided 1x1 shortcuts, no dilation and 4 stages: '
                 'needs deep_stem=False, avg_down=False, dilations=(1, 1, 1, 1), '
                 'strides=(1|2, 2, 2, 2)')
        _norm_is_bn(bb['norm_cfg'], 'backbone')
        layer_type = 'basic' if bb['depth'] in (18, 34) else 'bottleneck'
        depths = next(d for (t, d), n in _RESNET_DEPTHS.items() if n == bb['depth'])
        expansion = 1 if layer_type == 'basic' else 4
        return dict(model_type='resnet', num_channels=bb['in_channels'],
                    embedding_size=bb['stem_channels'], depths=list(depths),
                    hidden_sizes=[bb['base_channels'] * expansion * 2**i for i in range(4)],
                    layer_type=layer_type, hidden_act='relu',
                    downsample_in_first_stage=bb['strides'][0] == 2,
                    downsample_in_bottleneck=bb['style'] == 'caffe', out_features=out_features)
    if kind in ('ResNetV1c', 'ResNetV1d'):
        raise ConversionError(
            f'{kind} has a deep stem of three 3x3 convs; Hugging Face ResNet is v1.5 with a '
            'single 7x7 stem conv, so these weights have no place in an HF ResNet backbone. '
            "Use type='ResNet' models (or HF's timm backbone 'resnet50c'/'resnet50d' outside "
            'this converter).')
    raise ConversionError(f'No Hugging Face UperNet backbone for {kind!r} (supported: '
                          'ConvNeXt, SwinTransformer, ResNet)')


def _hf_level_channels(bb: dict) -> list[int]:
    """Channels of each stage of an HF backbone config."""
    if bb['model_type'] == 'swin':
        return [bb['embed_dim'] * 2**i for i in range(len(bb['depths']))]
    return list(bb['hidden_sizes'])


def _check_head(head: dict, where: str) -> None:
    _norm_is_bn(head.get('norm_cfg'), where)
    _require(head['act_cfg'] == dict(type='ReLU') and head['conv_cfg'] is None
             and not head['align_corners'] and head['out_channels'] in (None,
                                                                       head['num_classes']),
             f'{where}: HF UperNet heads are conv + BatchNorm + ReLU with '
             'align_corners=False and softmax outputs (out_channels = num_classes)')


def hf_config_from_model(model: dict, class_names: tuple[str, ...] | None = None) -> dict:
    """HF `UperNetConfig` dict (config.json) for a upertool EncoderDecoder config."""
    _require(model.get('type', 'EncoderDecoder').split('.')[-1] == 'EncoderDecoder'
             and not model.get('neck'), 'only EncoderDecoder models without a neck convert '
             'to Hugging Face UperNet')
    backbone = with_defaults(model['backbone'])
    bb = _backbone_to_hf(backbone)
    decode = with_defaults(model['decode_head'])
    _require(decode['type'].split('.')[-1] == 'UPerHead', 'the decode head must be UPerHead')
    _check_head(decode, 'decode_head')
    levels = len(bb['out_features'])
    _require(decode['in_index'] in (None, list(range(levels)), tuple(range(levels))),
             f'decode_head.in_index must use every backbone level in order ({levels})')
    num_classes = decode['num_classes']
    names = class_names or tuple(str(i) for i in range(num_classes))
    _require(len(names) == num_classes, f'{len(names)} class names for {num_classes} classes')
    config = dict(model_type='upernet', architectures=['UperNetForSemanticSegmentation'],
                  backbone_config=bb, hidden_size=decode['channels'],
                  pool_scales=list(decode['pool_scales']), initializer_range=0.02,
                  loss_ignore_index=decode['ignore_index'] if decode['ignore_index']
                  is not None else 255, use_auxiliary_head=False,
                  id2label={str(i): n for i, n in enumerate(names)},
                  label2id={n: i for i, n in enumerate(names)})
    aux = model.get('auxiliary_head')
    if aux:
        _require(isinstance(aux, dict), 'HF UperNet has one auxiliary head, not a list')
        aux = with_defaults(aux)
        _require(aux['type'].split('.')[-1] == 'FCNHead' and aux['in_index'] == 2
                 and aux['kernel_size'] == 3 and aux['dilation'] == 1,
                 'the HF auxiliary head is an FCNHead on level 2 with 3x3 undilated convs')
        _check_head(aux, 'auxiliary_head')
        _require(aux['num_classes'] == num_classes, 'auxiliary and decode heads disagree on '
                 'num_classes')
        loss = aux.get('loss_decode')
        weight = loss.get('loss_weight', 1.0) if isinstance(loss, dict) else 0.4
        in_channels = aux.get('in_channels') or _hf_level_channels(bb)[2]
        config.update(use_auxiliary_head=True, auxiliary_in_channels=in_channels,
                      auxiliary_channels=aux['channels'], auxiliary_num_convs=aux['num_convs'],
                      auxiliary_concat_input=aux['concat_input'], auxiliary_loss_weight=weight)
    return config


def hf_processor_from_model(model: dict) -> dict:
    """`preprocessor_config.json` whose normalisation equals the model's data preprocessor."""
    pre = dict(model.get('data_preprocessor') or {})
    mean, std = pre.get('mean'), pre.get('std')
    rgb = pre.get('bgr_to_rgb', False) or pre.get('rgb_to_bgr', False)
    _require(mean is not None and len(mean) == 3 and rgb,
             'the data preprocessor must normalise 3 channels and convert BGR to RGB (HF '
             f'image processors take RGB), got {pre!r}')
    return dict(image_processor_type='SegformerImageProcessor', do_resize=False,
                do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
                image_mean=[m / 255 for m in mean], image_std=[s / 255 for s in std],
                do_reduce_labels=False)


def hf_kind(config: dict) -> str:
    """The HF backbone model_type of an UperNet config dict."""
    return (config.get('backbone_config') or {}).get('model_type', '')


def check_hf_meta(config: Any) -> None:
    """A clear error when a config.json is not a dict."""
    _require(isinstance(config, dict), f'config.json must hold an object, got {type(config)}')
