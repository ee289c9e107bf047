"""tools/misc/print_config.py prints the merged config and can save it without _base_."""
import importlib.util
from pathlib import Path

import pytest
from mmengine.config import Config

_spec = importlib.util.spec_from_file_location(
    'analysis_helpers', Path(__file__).with_name('analysis_helpers.py'))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)
tool = helpers.load_tool('tools/misc/print_config.py')


def test_prints_bases_merged_and_options_applied(tmp_path, capsys):
    saved = tmp_path / 'merged.py'
    tool.main([helpers.CONFIG, '--cfg-options', 'randomness.seed=7', '--save', str(saved)])
    printed = capsys.readouterr().out
    assert "default_scope = 'upertool'" in printed  # from _base_/default_runtime.py
    assert 'seed=7' in printed and 'SyntheticShapesDataset' in printed  # _base_/datasets
    assert '_base_' not in saved.read_text()
    merged, original = Config.fromfile(str(saved)), Config.fromfile(helpers.CONFIG)
    assert merged.randomness.seed == 7
    assert merged.model.to_dict() == original.model.to_dict()


def test_missing_config_and_bad_save_name(tmp_path):
    with pytest.raises(SystemExit, match='Config file not found'):
        tool.main([str(tmp_path / 'nope.py')])
    with pytest.raises(SystemExit, match='give a .py file name'):
        tool.main([helpers.CONFIG, '--save', str(tmp_path / 'merged.txt')])
