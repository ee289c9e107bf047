"""Case 4: evaluation and inference refuse a checkpoint that does not fit the config."""

import pytest
import torch
from mmengine.config import Config

from upertool.apis import init_model
from upertool.checkpoint.strict_load import (
    CheckpointMismatchError,
    compare_state_dicts,
    load_model_weights,
)
from upertool.engine.hooks.run_checks import check_num_classes
from upertool.registry import MODELS


def tiny_config(num_classes=6, depth=18) -> Config:
    return Config(
        dict(
            default_scope='upertool',
            model=dict(
                type='EncoderDecoder',
                data_preprocessor=dict(type='SegDataPreProcessor', size=(32, 32)),
                backbone=dict(type='ResNetV1c', depth=depth, base_channels=8, stem_channels=8),
                decode_head=dict(
                    type='UPerHead', channels=8, num_classes=num_classes, in_index=[0, 1, 2, 3]
                ),
            ),
            test_pipeline=[dict(type='LoadImageFromFile'), dict(type='PackSegInputs')],
        )
    )


def save_weights(tmp_path, cfg, name='model.pth'):
    import upertool  # noqa: F401

    model = MODELS.build(cfg.model)
    path = tmp_path / name
    torch.save(dict(meta=dict(), state_dict=model.state_dict()), path)
    return path


def test_six_class_checkpoint_under_eight_class_config_stops_with_a_summary(tmp_path):
    path = save_weights(tmp_path, tiny_config(num_classes=6))
    with pytest.raises(
        CheckpointMismatchError,
        match=r'(?s)model.pth does not fit.*2 with another shape: '
        r'decode_head.conv_seg.weight checkpoint \[6, 8, 1, 1\] vs model '
        r'\[8, 8, 1, 1\].*strict=False',
    ):
        init_model(tiny_config(num_classes=8), str(path))


def test_deeper_backbone_checkpoint_reports_unexpected_keys(tmp_path):
    path = save_weights(tmp_path, tiny_config(depth=34))
    with pytest.raises(CheckpointMismatchError, match=r'\d+ unexpected .*backbone\.layer'):
        init_model(tiny_config(depth=18), str(path))


def test_strict_false_loads_what_fits(tmp_path):
    cfg6 = tiny_config(num_classes=6)
    path = save_weights(tmp_path, cfg6)
    model = init_model(tiny_config(num_classes=8), str(path), strict=False)
    saved = torch.load(path)['state_dict']
    assert torch.equal(model.backbone.stem[0].weight, saved['backbone.stem.0.weight'])
    assert model.decode_head.conv_seg.weight.shape[0] == 8


def test_matching_checkpoint_loads_exactly(tmp_path):
    cfg = tiny_config()
    path = save_weights(tmp_path, cfg)
    model = MODELS.build(cfg.model)
    load_model_weights(model, path)
    saved = torch.load(path)['state_dict']
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())


def test_compare_ignores_only_num_batches_tracked():
    model = {'a.weight': torch.ones(2), 'bn.num_batches_tracked': torch.tensor(0)}
    diff = compare_state_dicts(model, {'a.weight': torch.ones(2)})
    assert not diff and diff.matched == 1
    diff = compare_state_dicts(model, {'b.weight': torch.ones(2)})
    assert diff.missing == ['a.weight'] and diff.unexpected == ['b.weight']


def test_head_classes_against_dataset_classes_before_any_step():
    import upertool  # noqa: F401

    model = MODELS.build(tiny_config(num_classes=6).model)

    class Data:
        metainfo = dict(classes=[f'c{i}' for i in range(8)])

    with pytest.raises(ValueError, match=r'decode_head.num_classes=6 .* 8 classes'):
        check_num_classes(model, Data(), 'train')
