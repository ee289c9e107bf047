"""Converters without transformers/timm: key tables, layouts, refusals, mmseg and mmpretrain
files, the CLI (tiny models; the comparisons against real libraries are in the extras tests)."""
import importlib.util
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.registry import DefaultScope

from upertool.apis import init_model
from upertool.convert.backbone_convert import convert_backbone_weights
from upertool.convert.config_writer import format_config, write_config
from upertool.convert.hf_io import read_hf_folder, write_hf_folder
from upertool.convert.hf_upernet import hf_to_upertool, upertool_to_hf
from upertool.convert.key_rules import ConversionError, KeyMapper
from upertool.convert.mmseg_convert import mmseg_to_upertool
from upertool.convert.weights_io import read_weights
from upertool.models.backbones import swin_weights as swin_layout
from upertool.registry import MODELS

TOOL = Path(__file__).parents[2] / 'tools' / 'convert_checkpoint.py'
BN = dict(type='BN', requires_grad=True)
BACKBONES = {
    'convnext': dict(type='ConvNeXt', arch=dict(depths=[1, 1, 2, 1], channels=[8, 16, 24, 32]),
                     out_indices=(0, 1, 2, 3), gap_before_final_norm=False, init_cfg=None),
    'swin': dict(type='SwinTransformer', embed_dims=8, depths=(2, 2, 2, 2),
                 num_heads=(1, 1, 2, 2), window_size=7, out_indices=(0, 1, 2, 3)),
    'resnet': dict(type='ResNet', depth=18, stem_channels=8, base_channels=4, norm_cfg=BN),
}


def model_cfg(kind, backbone=None):
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[120.0, 110.0, 100.0],
                               std=[60.0, 55.0, 50.0], bgr_to_rgb=True),
        backbone=backbone or BACKBONES[kind],
        decode_head=dict(type='UPerHead', channels=8, num_classes=3, norm_cfg=BN),
        auxiliary_head=dict(type='FCNHead', in_index=2, channels=4, num_convs=1,
                            concat_input=False, num_classes=3, norm_cfg=BN),
        test_cfg=dict(mode='whole'))


def build(cfg):
    # Another test's Runner may have left mmengine's default scope current.
    with DefaultScope.overwrite_default_scope('upertool'):
        return MODELS.build(cfg)


def random_state(cfg, seed=0):
    gen = torch.Generator().manual_seed(seed)
    state = build(cfg).state_dict()
    return {k: (torch.randn(v.shape, generator=gen) if v.is_floating_point() else v)
            for k, v in state.items()}


def run_tool(*args):
    spec = importlib.util.spec_from_file_location('convert_checkpoint_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main([str(a) for a in args])


# --- key tables and layouts ---------------------------------------------------------------------


def test_key_templates_shift_numbers_both_ways():
    rules = [('hidden_states_norms.stage{i+1}.', 'norm{i}.'),
             ('encoder.stages.{i}.layers.{j}.layer_scale_parameter', 'stages.{i}.{j}.gamma')]
    forward, backward = KeyMapper(rules), KeyMapper(rules, reverse=True)
    assert forward.map_key('hidden_states_norms.stage4.weight') == 'norm3.weight'
    assert backward.map_key('norm0.bias') == 'hidden_states_norms.stage1.bias'
    assert forward.map_key('encoder.stages.2.layers.5.layer_scale_parameter') == \
        'stages.2.5.gamma'
    assert forward.map_key('encoder.stages.2.layers.5.layer_scale_parameter.x') is None
    state, unmapped = forward.apply({'hidden_states_norms.stage1.weight': torch.ones(1),
                                     'other.weight': torch.ones(1)})
    assert list(state) == ['norm0.weight'] and unmapped == ['other.weight']
    with pytest.raises(ConversionError, match='two source keys map to'):
        KeyMapper([('a.', 'x.'), ('b.', 'x.')]).apply({'a.w': torch.ones(1),
                                                      'b.w': torch.ones(1)})


def test_merging_permutation_turns_neighbour_concat_into_unfold_order():
    c = 3
    x = torch.randn(2, c, 6, 4)
    tokens = x.permute(0, 2, 3, 1)  # the original Swin concatenates whole neighbours
    official = torch.cat([tokens[:, 0::2, 0::2], tokens[:, 1::2, 0::2], tokens[:, 0::2, 1::2],
                          tokens[:, 1::2, 1::2]], dim=-1).reshape(2, -1, 4 * c)
    unfold = F.unfold(x, 2, stride=2).transpose(1, 2)
    weight, norm = torch.randn(5, 4 * c), torch.randn(4 * c)

    assert torch.equal(official[..., swin_layout.unfold_permutation(c)], unfold)
    torch.testing.assert_close(unfold @ swin_layout.merging_to_unfold(weight).T,
                               official @ weight.T)
    assert torch.equal(swin_layout.merging_to_unfold(norm)[swin_layout.unfold_permutation(c)
                                                           .argsort()], norm)
    assert torch.equal(swin_layout.merging_to_official(swin_layout.merging_to_unfold(weight)),
                       weight)


def test_qkv_split_and_merge():
    qkv = torch.arange(18.).reshape(6, 3)
    state = {'a.qkv.weight': qkv}
    swin_layout.split_qkv(state)
    assert torch.equal(state['a.key.weight'], qkv[2:4])
    swin_layout.merge_qkv(state)
    assert list(state) == ['a.qkv.weight'] and torch.equal(state['a.qkv.weight'], qkv)


# --- Hugging Face layout, without transformers ------------------------------------------------


@pytest.mark.parametrize('kind,hf_key', [
    ('convnext', 'backbone.encoder.stages.1.downsampling_layer.1.weight'),
    ('swin', 'backbone.encoder.layers.0.blocks.1.attention.self.query.weight'),
    ('resnet', 'backbone.encoder.stages.0.layers.0.shortcut.normalization.running_var')])
def test_hf_layout_round_trip_is_bit_exact(kind, hf_key):
    cfg = model_cfg(kind)
    state = random_state(cfg)
    hf = upertool_to_hf(cfg, state, ('a', 'b', 'c'))

    assert hf.report.complete, hf.report.summary()
    for key in (hf_key, 'decode_head.classifier.weight', 'auxiliary_head.convs.0.conv.weight',
                'decode_head.psp_modules.3.1.batch_norm.running_mean'):
        assert key in hf.state_dict, key
    assert hf.config['id2label'] == {'0': 'a', '1': 'b', '2': 'c'}
    assert hf.processor['image_mean'] == [120 / 255, 110 / 255, 100 / 255]

    back = hf_to_upertool(hf.config, hf.state_dict, hf.processor)
    assert set(back.state_dict) == set(state)
    for key, value in state.items():
        assert torch.equal(back.state_dict[key], value), key
    assert back.config['data_preprocessor']['std'] == pytest.approx([60.0, 55.0, 50.0])
    assert back.class_names == ('a', 'b', 'c')


def test_transformers5_in_memory_swin_names_are_accepted():
    cfg = model_cfg('swin')
    state = random_state(cfg)
    hf = upertool_to_hf(cfg, state)
    renames = [('backbone.embeddings.', 'backbone.swin.embeddings.'),
               ('backbone.encoder.', 'backbone.swin.encoder.'),
               ('.attention.self.query.', '.attention.q_proj.'),
               ('.attention.self.key.', '.attention.k_proj.'),
               ('.attention.self.value.', '.attention.v_proj.'),
               ('.attention.output.dense.', '.attention.o_proj.'),
               ('.attention.self.relative_position_bias_table',
                '.attention.relative_position_bias.relative_position_bias_table'),
               ('.intermediate.dense.', '.mlp.fc1.'), ('.output.dense.', '.mlp.fc2.')]
    v5 = {}
    for key, value in hf.state_dict.items():
        for old, new in renames:
            key = key.replace(old, new)
        v5[key] = value
    v5['backbone.swin.layernorm.weight'] = torch.ones(64)  # saved by transformers 5, unused

    back = hf_to_upertool(hf.config, v5)
    assert back.report.dropped == ['backbone.swin.layernorm.weight']
    assert all(torch.equal(back.state_dict[k], v) for k, v in state.items())


def test_resnet_v1c_is_refused_with_the_reason():
    cfg = model_cfg('resnet', dict(type='ResNetV1c', depth=18, norm_cfg=BN))
    with pytest.raises(ConversionError, match='7x7 stem'):
        upertool_to_hf(cfg, random_state(cfg))


def test_group_norm_heads_are_refused():
    cfg = model_cfg('resnet')
    cfg['decode_head']['norm_cfg'] = dict(type='GN', num_groups=2)
    with pytest.raises(ConversionError, match='BatchNorm'):
        upertool_to_hf(cfg, random_state(cfg))


def test_partial_hf_folder_is_refused_unless_allowed(tmp_path, capsys):
    cfg = model_cfg('convnext')
    hf = upertool_to_hf(cfg, random_state(cfg))
    del hf.state_dict['backbone.hidden_states_norms.stage2.bias']
    hf.state_dict['decode_head.extra.weight'] = torch.ones(1)
    write_hf_folder(tmp_path / 'hf', hf.config, hf.state_dict, hf.processor)

    assert run_tool('hf-to-upertool', tmp_path / 'hf', tmp_path / 'out') == 1
    err = capsys.readouterr().err
    assert 'backbone.norm1.bias' in err and 'decode_head.extra.weight' in err
    assert not (tmp_path / 'out' / 'model.pth').exists()

    assert run_tool('hf-to-upertool', tmp_path / 'hf', tmp_path / 'out', '--allow-partial') == 0
    assert 'backbone.norm1.bias' in capsys.readouterr().out
    weights, meta = read_weights(tmp_path / 'out' / 'model.pth')
    assert 'backbone.norm1.bias' not in weights and meta['dataset_meta']['classes'][0] == '0'


def test_cli_round_trip_through_an_hf_folder(tmp_path, capsys):
    cfg = model_cfg('swin')
    state = random_state(cfg, seed=5)
    write_config(tmp_path / 'cfg.py', dict(default_scope='upertool', model=cfg))
    torch.save(dict(state_dict=state, meta=dict(dataset_meta=dict(classes=['x', 'y', 'z']))),
               tmp_path / 'model.pth')

    assert run_tool('upertool-to-hf', tmp_path / 'cfg.py', tmp_path / 'model.pth',
                    tmp_path / 'hf') == 0
    hf_config, hf_state, processor = read_hf_folder(tmp_path / 'hf')
    assert hf_config['backbone_config']['window_size'] == 7
    assert run_tool('hf-to-upertool', tmp_path / 'hf', tmp_path / 'back') == 0
    model = init_model(str(tmp_path / 'back' / 'config.py'), str(tmp_path / 'back' / 'model.pth'))
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key], value), key
    assert model.dataset_meta['classes'] == ['x', 'y', 'z']
    assert 'complete' in capsys.readouterr().out


def test_cli_refuses_v1c_and_writes_nothing(tmp_path, capsys):
    cfg = model_cfg('resnet', dict(type='ResNetV1c', depth=18, norm_cfg=BN))
    write_config(tmp_path / 'cfg.py', dict(model=cfg))
    torch.save(random_state(cfg), tmp_path / 'model.pth')
    assert run_tool('upertool-to-hf', tmp_path / 'cfg.py', tmp_path / 'model.pth',
                    tmp_path / 'hf') == 1
    assert 'deep stem' in capsys.readouterr().err
    assert not (tmp_path / 'hf').exists()


def test_config_writer_round_trips_and_wraps():
    variables = dict(model=dict(type='X', depths=(2, 2), ids={'a b': [1] * 60}, none=None),
                     crop=(512, 512))
    source = format_config(variables, 'line one\nline two')
    namespace = {}
    exec(source, namespace)
    assert namespace['model'] == variables['model'] and namespace['crop'] == (512, 512)
    assert source.startswith('# line one\n# line two\n')
    assert max(len(line) for line in source.splitlines()) <= 100


# --- mmsegmentation files -----------------------------------------------------------------------


def test_mmseg_0x_checkpoint_loads_directly_and_converts(tmp_path):
    cfg = model_cfg('resnet')
    state = random_state(cfg, seed=1)
    legacy = {
        'meta': dict(CLASSES=('sky', 'road', 'car'), PALETTE=[[1, 2, 3], [4, 5, 6], [7, 8, 9]],
                     mmcv_version='1.7.0', config='model = dict()', iter=160000),
        'state_dict': {'module.' + k: v for k, v in state.items()}
        | {'module.ema_backbone_conv1_weight': torch.zeros(1)},
        'optimizer': dict(state={}, param_groups=[dict(lr=0.01, params=[0])]),
    }
    src = tmp_path / 'mmseg0x.pth'
    torch.save(legacy, src, _use_new_zipfile_serialization=False)  # torch < 1.6 format
    write_config(tmp_path / 'cfg.py', dict(model=cfg))

    assert run_tool('mmseg-to-upertool', src, tmp_path / 'clean.pth',
                    '--config', tmp_path / 'cfg.py') == 0
    loaded = torch.load(tmp_path / 'clean.pth', weights_only=True)
    assert set(loaded) == {'meta', 'state_dict'}
    assert loaded['meta']['dataset_meta'] == dict(classes=['sky', 'road', 'car'],
                                                  palette=[[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    model = build(cfg)
    model.load_state_dict(loaded['state_dict'], strict=True)

    # No conversion needed to use it: init_model strips `module.`, names the classes.
    direct = init_model(str(tmp_path / 'cfg.py'), str(src))
    assert direct.dataset_meta['classes'] == ('sky', 'road', 'car')
    assert torch.equal(direct.state_dict()['backbone.conv1.weight'], state['backbone.conv1.weight'])


def test_mmseg_1x_checkpoint_with_message_hub(tmp_path):
    cfg = model_cfg('swin')
    state = random_state(cfg, seed=2)
    state = {k.replace('patch_embed.projection.', 'patch_embed.proj.'): v
             for k, v in state.items()}  # the pre-refactor name
    buffer = HistoryBuffer()
    buffer.update(0.5)
    src = tmp_path / 'mmseg1x.pth'
    torch.save(dict(meta=dict(dataset_meta=dict(classes=('a', 'b', 'c'), palette=None)),
                    state_dict=state, message_hub=dict(log_scalars={'train/loss': buffer})),
               src)
    result = mmseg_to_upertool(src, cfg)
    assert result.report.complete, result.report.summary()
    assert 'backbone.patch_embed.projection.weight' in result.state_dict
    assert result.meta['dataset_meta'] == dict(classes=['a', 'b', 'c'])

    bad = dict(cfg, decode_head=dict(cfg['decode_head'], channels=16))
    with pytest.raises(ConversionError, match='shapes that disagree'):
        mmseg_to_upertool(src, bad)


# --- classification checkpoints -> backbone ---------------------------------------------------


def test_mmpretrain_resnet_v1d_layout(tmp_path):
    target = build(dict(type='ResNetV1d', depth=18, init_cfg=None))
    mine = {k: torch.randn(v.shape) if v.is_floating_point() else v
            for k, v in target.state_dict().items()}
    # mmpretrain: deep stem as three ConvModules; no (identity) pool where the stride is 1.
    stem = {'stem.0.': 'stem.0.conv.', 'stem.1.': 'stem.0.bn.', 'stem.3.': 'stem.1.conv.',
            'stem.4.': 'stem.1.bn.', 'stem.6.': 'stem.2.conv.', 'stem.7.': 'stem.2.bn.'}
    theirs = {}
    for key, value in mine.items():
        for ours, pretrain in stem.items():
            if key.startswith(ours):
                key = pretrain + key[len(ours):]
        key = key.replace('layer1.0.downsample.1.', 'layer1.0.downsample.0.').replace(
            'layer1.0.downsample.2.', 'layer1.0.downsample.1.')
        theirs['backbone.' + key] = value
    theirs['head.fc.weight'] = torch.zeros(10, 512)
    torch.save(dict(state_dict=theirs, meta=dict()), tmp_path / 'mmpretrain.pth')

    assert run_tool('backbone', tmp_path / 'mmpretrain.pth', tmp_path / 'r18.pth',
                    '--from', 'mmpretrain', '--to', 'ResNetV1d/18') == 0
    converted, _ = read_weights(tmp_path / 'r18.pth')
    assert set(converted) == set(mine)
    assert all(torch.equal(converted[k], v) for k, v in mine.items())

    pretrained = build(dict(type='ResNetV1d', depth=18, init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'r18.pth'))))
    pretrained.init_weights()
    assert torch.equal(pretrained.stem[0].weight, mine['stem.0.weight'])


def test_wrong_family_or_arch_is_named():
    deep = {'conv1.0.weight': torch.zeros(32, 3, 3, 3), 'bn1.weight': torch.zeros(64)}
    with pytest.raises(ConversionError, match='deep 3x3 stem.*ResNetV1c or ResNetV1d'):
        convert_backbone_weights(deep, 'timm', 'ResNet/50')
    with pytest.raises(ConversionError, match='--to must name one of'):
        convert_backbone_weights(deep, 'timm', 'Resnet50')
    convnext = build(dict(type='ConvNeXt', arch='atto', out_indices=(3,),
                                 gap_before_final_norm=False, init_cfg=None))
    state = {'backbone.' + k: v for k, v in convnext.state_dict().items()}
    with pytest.raises(ConversionError, match="not 'tiny'"):
        convert_backbone_weights(state, 'mmpretrain', 'ConvNeXt/tiny')
    converted, report = convert_backbone_weights(state, 'mmpretrain', 'ConvNeXt/atto')
    assert report.complete and set(converted) == set(convnext.state_dict())


def test_missing_inputs_fail_with_the_path(tmp_path, capsys):
    assert run_tool('hf-to-upertool', tmp_path / 'org/model', tmp_path / 'o') == 1
    assert 'huggingface-cli download' in capsys.readouterr().err
    os.makedirs(tmp_path / 'empty')
    (tmp_path / 'empty' / 'config.json').write_text('{"model_type": "upernet"}')
    assert run_tool('hf-to-upertool', tmp_path / 'empty', tmp_path / 'o') == 1
    assert 'has no weights' in capsys.readouterr().err
