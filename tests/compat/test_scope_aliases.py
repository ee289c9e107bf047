"""mmsegmentation configs unchanged: `mmpretrain.X` / `mmseg.X` types and custom_imports of those
packages work without them (one log line each), wrong stand-ins are refused, signatures cover
the originals' arguments, and an installed package is left alone."""
import inspect
import os
import subprocess
import sys

import mmengine.registry as roots
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from upertool.compat import scope_aliases
from upertool.models.backbones import ConvNeXt, SwinTransformer, VisionTransformer
from upertool.registry import MODELS, TRANSFORMS
from upertool.structures import SegDataSample

# mmsegmentation 1.x's configs/convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py
# and _base_/models/upernet_convnext.py, merged, with tiny widths, default_scope and the
# checkpoint as a local file (offline).
MMSEG_CONVNEXT_CONFIG = """
default_scope = 'upertool'
norm_cfg = dict(type='SyncBN', requires_grad=True)
custom_imports = dict(imports='mmpretrain.models', allow_failed_imports=False)
checkpoint_file = 'checkpoints/convnext-tiny_3rdparty_32xb128-noema_in1k_20220301-795e9634.pth'
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                           seg_pad_val=255, size=(64, 64)),
    pretrained=None,
    backbone=dict(
        type='mmpretrain.ConvNeXt',
        arch=dict(depths=[1, 1, 2, 1], channels=[8, 16, 16, 16]),
        out_indices=[0, 1, 2, 3],
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        gap_before_final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    decode_head=dict(
        type='UPerHead', in_channels=[8, 16, 16, 16], in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6), channels=16, dropout_ratio=0.1, num_classes=5,
        norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead', in_channels=16, in_index=2, channels=8, num_convs=1,
        concat_input=False, dropout_ratio=0.1, num_classes=5, norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(64, 64), stride=(43, 43)))
"""

# The originals' constructor arguments, from mmpretrain 1.x `models/backbones/convnext.py` and
# mmsegmentation 1.2.2 `models/backbones/{swin,vit}.py`.
ORIGINAL_ARGUMENTS = {
    ConvNeXt: ['arch', 'in_channels', 'stem_patch_size', 'norm_cfg', 'act_cfg', 'linear_pw_conv',
               'use_grn', 'drop_path_rate', 'layer_scale_init_value', 'out_indices',
               'frozen_stages', 'gap_before_final_norm', 'with_cp', 'init_cfg'],
    SwinTransformer: ['pretrain_img_size', 'in_channels', 'embed_dims', 'patch_size',
                      'window_size', 'mlp_ratio', 'depths', 'num_heads', 'strides',
                      'out_indices', 'qkv_bias', 'qk_scale', 'patch_norm', 'drop_rate',
                      'attn_drop_rate', 'drop_path_rate', 'use_abs_pos_embed', 'act_cfg',
                      'norm_cfg', 'with_cp', 'pretrained', 'frozen_stages', 'init_cfg'],
    VisionTransformer: ['img_size', 'patch_size', 'patch_pad', 'in_channels', 'embed_dims',
                        'num_layers', 'num_heads', 'mlp_ratio', 'out_origin', 'out_indices',
                        'qkv_bias', 'drop_rate', 'attn_drop_rate', 'drop_path_rate',
                        'with_cls_token', 'output_cls_token', 'norm_cfg', 'act_cfg',
                        'patch_norm', 'patch_bias', 'pre_norm', 'final_norm',
                        'interpolate_mode', 'num_fcs', 'norm_eval', 'with_cp',
                        'frozen_exclude', 'pretrained', 'init_cfg'],
}


@pytest.fixture
def log_lines(monkeypatch):
    """Messages scope_aliases logs, with every alias's once-only memory reset."""
    lines = []
    monkeypatch.setattr(scope_aliases, 'print_log', lambda msg, **kwargs: lines.append(msg))
    for name in scope_aliases.REGISTRY_NAMES:
        for child in getattr(roots, name)._children.values():
            if isinstance(child, scope_aliases.ScopeAliasRegistry):
                monkeypatch.setattr(child, '_logged', set())
    return lines


def test_mmseg_convnext_config_loads_builds_and_trains(tmp_path, log_lines):
    path = tmp_path / 'convnext-tiny_upernet.py'
    path.write_text(MMSEG_CONVNEXT_CONFIG)
    cfg = Config.fromfile(str(path))  # the custom import of mmpretrain.models is skipped
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    MODELS.build(cfg.model)  # a second build logs nothing new
    assert type(model.backbone) is ConvNeXt
    assert model.backbone.strides == (4, 8, 16, 32)
    assert model.backbone.stages[0][0].gamma.detach()[0].item() == 1.0  # layer_scale_init_value
    assert model.backbone.init_cfg['prefix'] == 'backbone.'
    assert log_lines == [
        "mmpretrain is not installed: custom_imports 'mmpretrain.models' skipped; "
        "'mmpretrain.X' types that upertool has are built with its classes",
        "mmpretrain is not installed: 'mmpretrain.ConvNeXt' is built as upertool's ConvNeXt "
        '(upertool.models.backbones.convnext)']

    sample = SegDataSample(gt_sem_seg=PixelData(data=torch.randint(0, 5, (1, 64, 64))))
    sample.set_metainfo(dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64)))
    losses = model(torch.rand(2, 3, 64, 64), [sample, sample], mode='loss')
    assert set(losses) >= {'decode.loss_ce', 'aux.loss_ce'}
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert model.backbone.stages[0][0].gamma.grad is not None


def test_custom_imports_keep_order_and_still_import_the_rest(log_lines):
    from mmengine.utils import import_modules_from_strings  # as patched by upertool's import
    imported = import_modules_from_strings(['os.path', 'mmseg.models', 'json'])
    assert imported[0] is os.path and imported[1] is None and imported[2].__name__ == 'json'
    assert import_modules_from_strings('mmseg.models') is None
    assert len(log_lines) == 1 and "custom_imports 'mmseg.models' skipped" in log_lines[0]
    with pytest.raises(ImportError, match='Failed to import not_a_package_xyz'):
        import_modules_from_strings(['mmseg.models', 'not_a_package_xyz'])


def test_mmseg_scope_resolves_in_every_upertool_registry(log_lines):
    init_default_scope('upertool')
    head = MODELS.build(dict(type='mmseg.FCNHead', in_channels=4, channels=4, num_classes=2,
                             num_convs=1))
    assert type(head).__name__ == 'FCNHead'
    assert TRANSFORMS.get('mmseg.PackSegInputs') is TRANSFORMS.get('PackSegInputs')
    assert MODELS.get('mmseg.NoSuchHead') is None
    assert log_lines == [
        "mmseg is not installed: 'mmseg.FCNHead' is built as upertool's FCNHead "
        '(upertool.models.decode_heads.fcn_head)',
        "mmseg is not installed: 'mmseg.PackSegInputs' is built as upertool's PackSegInputs "
        '(upertool.datasets.transforms.formatting)']


def test_mmpretrain_names_with_other_arguments_are_refused():
    init_default_scope('upertool')
    with pytest.raises(KeyError, match="upertool's SwinTransformer does not take its arguments "
                                       r'and weights \(upertool stands in for '
                                       r'mmpretrain.ConvNeXt only\)'):
        MODELS.build(dict(type='mmpretrain.SwinTransformer', arch='tiny'))


def test_unknown_argument_is_an_error_naming_it():
    init_default_scope('upertool')
    with pytest.raises(TypeError, match="unexpected keyword argument 'use_layer_scale'"):
        MODELS.build(dict(type='mmpretrain.ConvNeXt', use_layer_scale=True))


@pytest.mark.parametrize('cls', list(ORIGINAL_ARGUMENTS), ids=lambda c: c.__name__)
def test_every_original_argument_is_accepted(cls):
    ours = inspect.signature(cls.__init__).parameters
    missing = [name for name in ORIGINAL_ARGUMENTS[cls] if name not in ours]
    assert not missing
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in ours.values())


def test_installed_package_is_left_to_its_own_registries(tmp_path):
    fake = tmp_path / 'mmpretrain'
    fake.mkdir()
    (fake / '__init__.py').write_text('')
    code = ('import mmengine.registry as r, upertool\n'
            "print(sorted(k for k in r.MODELS._children if k.startswith('mm')))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path)] + sys.path))
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['mmseg']"
