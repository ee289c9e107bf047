"""Case 8: config mistakes stop at start-up with one clear message each."""

import argparse

import pytest
from mmengine.config import Config

from upertool.engine.config_checks import (
    CheckedDictAction,
    ConfigError,
    check_cfg_options,
    check_run_config,
    read_config_file,
)
from upertool.engine.hooks.run_checks import check_batchnorm_batch_size

QUICK = 'configs/quickstart/upernet_r18-narrow_1xb8-2.4k_synthetic-96x96.py'


@pytest.fixture(scope='module')
def quick(robust_root=None):
    from pathlib import Path

    return Config.fromfile(str(Path(__file__).resolve().parents[2] / QUICK))


@pytest.mark.parametrize(
    'key, hint',
    [
        ('default_hooks.checkpoint.intervl', 'default_hooks.checkpoint.interval'),
        ('randomnes.seed', 'randomness.seed'),
    ],
)
def test_unknown_keys_name_the_closest_existing_one(quick, key, hint):
    with pytest.raises(ConfigError, match=rf'no key {key!r}; did you mean {hint}'):
        check_cfg_options(quick, {key: 2})


def test_known_keys_constructor_arguments_and_plus_keys_pass(quick):
    options = {
        'train_cfg.max_iters': 10,  # in the config
        'train_dataloader.dataset.cache_dir': '/tmp/x',  # SyntheticShapesDataset arg
        'default_hooks.checkpoint.save_best': 'mIoU',  # CheckpointHook arg
        '+my_new_key': 1,
    }  # added on purpose
    checked = check_cfg_options(quick, options)
    assert checked['my_new_key'] == 1 and '+my_new_key' not in checked
    with pytest.raises(ConfigError, match='no key .*cache_dirr'):
        check_cfg_options(quick, {'train_dataloader.dataset.cache_dirr': '/tmp/x'})


def _parse(*items):
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=CheckedDictAction)
    return parser.parse_args(['--cfg-options', *items]).cfg_options


def test_entry_without_equals_or_unparsable_value_names_the_key(capsys):
    assert _parse('a.b=1', 'c=[1,2]') == {'a.b': 1, 'c': [1, 2]}
    with pytest.raises(SystemExit):
        _parse('train_cfg.max_iters')
    assert "'train_cfg.max_iters': expected KEY=VALUE" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parse('model.size=[1,2')
    assert 'model.size: cannot parse value' in capsys.readouterr().err


@pytest.mark.parametrize(
    'change, message',
    [
        ({'train_cfg': dict(type='IterBasedTrainLoop', max_iters=0)}, 'max_iters must be'),
        ({'train_dataloader': dict(batch_size=0)}, 'train_dataloader.batch_size must be'),
        ({'default_scope': 'uppertool'}, "did you mean 'upertool'"),
    ],
)
def test_values_that_would_fail_late(quick, change, message):
    cfg = Config(dict(quick.to_dict(), **change))
    with pytest.raises(ConfigError, match=message):
        check_run_config(cfg, training=True)


def test_syntax_error_in_a_base_names_file_and_line(tmp_path):
    (tmp_path / 'base.py').write_text('a = 1\nmodel = dict(x=1\nb = 2\n')
    (tmp_path / 'leaf.py').write_text("_base_ = ['./base.py']\nc = 3\n")
    with pytest.raises(ConfigError, match=r'base\.py, line 2'):
        read_config_file(str(tmp_path / 'leaf.py'))
    (tmp_path / 'own.py').write_text('x = (1,\n')
    with pytest.raises(ConfigError, match=r'own\.py, line 1'):
        read_config_file(str(tmp_path / 'own.py'))


def test_batch_size_one_with_batchnorm_in_training():
    import upertool  # noqa: F401
    from upertool.registry import MODELS

    model = MODELS.build(
        dict(
            type='EncoderDecoder',
            backbone=dict(type='ResNetV1c', depth=18, base_channels=8, stem_channels=8),
            decode_head=dict(type='UPerHead', channels=8, num_classes=3, in_index=[0, 1, 2, 3]),
        )
    )
    with pytest.raises(ValueError, match='batch_size=1 .* BatchNorm'):
        check_batchnorm_batch_size(model, 1)
    check_batchnorm_batch_size(model, 2)
