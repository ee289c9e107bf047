"""Installed plugins (entry-point group `upertool.plugins`) are imported on the first lookup
miss, once; a failing plugin is reported and does not hide the others."""
import os
import subprocess
import sys
import warnings

import pytest
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import DefaultScope

from upertool import plugins
from upertool.plugins import PluginImportWarning, UnknownTypeError
from upertool.registry import DATASETS, MODELS, TRANSFORMS

GOOD = '''
from torch import nn
from upertool.registry import MODELS, TRANSFORMS

@MODELS.register_module()
class GoodNet(nn.Module):
    def __init__(self, width=2):
        super().__init__()
        self.width = width

@TRANSFORMS.register_module()
class GoodTransform:
    def __call__(self, results):
        return results
'''

BROKEN = '''
import os
with open(os.environ['PLUGIN_IMPORT_LOG'], 'a') as f:
    f.write('imported\\n')
raise ImportError('needs libfoo, which is not installed')
'''


def test_plugin_is_imported_on_a_miss_and_found(plugin_site, make_plugin):
    make_plugin(plugin_site, 'good-plugin', 'fake_good_plugin', GOOD)
    assert 'fake_good_plugin' not in sys.modules
    assert not plugins.plugins_loaded()

    net = MODELS.build(dict(type='GoodNet', width=3))

    assert type(net).__module__ == 'fake_good_plugin' and net.width == 3
    assert plugins.plugins_loaded()
    # one plugin module registers in several registries; all are there after one load
    assert TRANSFORMS.get('GoodTransform').__module__ == 'fake_good_plugin'
    report = plugins.installed_plugins()
    assert [(p.name, p.module, p.distribution, p.state) for p in report] == [
        ('fake_good_plugin', 'fake_good_plugin', 'good-plugin 0.1', 'imported')]


def test_hits_do_not_import_plugins(plugin_site, make_plugin):
    make_plugin(plugin_site, 'good-plugin', 'fake_good_plugin', GOOD)
    assert MODELS.get('UPerHead') is not None
    assert DATASETS.get('ADE20KDataset') is not None
    assert not plugins.plugins_loaded() and 'fake_good_plugin' not in sys.modules


def test_get_keeps_returning_none_for_a_miss(plugin_site, make_plugin):
    make_plugin(plugin_site, 'good-plugin', 'fake_good_plugin', GOOD)
    assert MODELS.get('NoSuchNet') is None  # mmengine's contract; plugins loaded on the way
    assert 'NoSuchNet' not in MODELS
    assert 'GoodNet' in MODELS


def test_lookup_through_mmengine_root_under_default_scope(plugin_site, make_plugin):
    make_plugin(plugin_site, 'good-plugin', 'fake_good_plugin', GOOD)
    with DefaultScope.overwrite_default_scope('upertool'):
        net = MMENGINE_MODELS.build(dict(type='GoodNet'))
        with pytest.raises(UnknownTypeError, match='upertool::model registry'):
            MMENGINE_MODELS.build(dict(type='GoodNte'))
    assert type(net).__name__ == 'GoodNet'


def test_failing_plugin_is_reported_and_does_not_hide_others(plugin_site, tmp_path,
                                                             monkeypatch, make_plugin):
    log = tmp_path / 'imports.log'
    monkeypatch.setenv('PLUGIN_IMPORT_LOG', str(log))
    # 'aaa' sorts first, so the good plugin is imported after the failure
    make_plugin(plugin_site, 'aaa-broken-plugin', 'fake_aaa_broken', BROKEN)
    make_plugin(plugin_site, 'good-plugin', 'fake_good_plugin', GOOD)

    with pytest.warns(PluginImportWarning) as caught:
        assert MODELS.get('GoodNet').__module__ == 'fake_good_plugin'

    message = str(caught[0].message)
    assert "upertool plugin 'fake_aaa_broken'" in message
    assert 'aaa-broken-plugin 0.1' in message
    assert 'ImportError: needs libfoo, which is not installed' in message
    assert 'fake_aaa_broken.py:5' in message  # where it failed
    assert 'the other plugins are' in message

    with pytest.raises(KeyError) as err:  # a miss afterwards lists both, with the reason
        MODELS.build(dict(type='StillMissing'))
    text = str(err.value)
    assert ('fake_aaa_broken = fake_aaa_broken (from aaa-broken-plugin 0.1): failed to '
            'import: ImportError: needs libfoo') in text
    assert 'fake_good_plugin = fake_good_plugin (from good-plugin 0.1): imported' in text
    assert log.read_text() == 'imported\n'  # tried once, not on every miss


def test_plugins_are_imported_once_per_process(plugin_site, tmp_path, monkeypatch, make_plugin):
    log = tmp_path / 'imports.log'
    monkeypatch.setenv('PLUGIN_IMPORT_LOG', str(log))
    make_plugin(plugin_site, 'broken-plugin', 'fake_broken', BROKEN)
    with pytest.warns(PluginImportWarning):
        assert MODELS.get('Missing1') is None
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no second attempt, so no second warning
        assert MODELS.get('Missing2') is None
        assert DATASETS.get('Missing3') is None
    assert log.read_text() == 'imported\n'


def test_plugin_registering_a_taken_name_fails_naming_both(plugin_site, make_plugin):
    make_plugin(plugin_site, 'clash-plugin', 'fake_clash', '''
        from torch import nn
        from upertool.registry import MODELS

        @MODELS.register_module()
        class UPerHead(nn.Module):
            pass
        ''')
    make_plugin(plugin_site, 'good-plugin', 'fake_good_plugin', GOOD)
    with pytest.warns(PluginImportWarning) as caught:
        assert MODELS.get('GoodNet') is not None
    message = str(caught[0].message)
    assert "upertool plugin 'fake_clash'" in message
    assert 'DuplicateRegistrationError' in message
    assert 'fake_clash.UPerHead' in message
    assert 'upertool.models.decode_heads.uper_head.UPerHead' in message
    assert 'force=True' in message
    assert MODELS.get('UPerHead').__module__ == 'upertool.models.decode_heads.uper_head'


def test_plugin_with_a_missing_module_names_it(plugin_site, make_plugin):
    make_plugin(plugin_site, 'typo-plugin', 'fake_typo', '', entry_point='typo')
    (plugin_site / 'fake_typo.py').unlink()
    with pytest.warns(PluginImportWarning, match="'typo'.*No module named 'fake_typo'"):
        assert MODELS.get('Anything') is None


def test_entry_point_group_is_read_without_importing():
    loader = plugins.PluginLoader(group='upertool.plugins.no_such_group_for_tests')
    assert loader.discover() == [] and loader.load() == [] and loader.loaded


def test_import_upertool_imports_no_plugin(tmp_path, make_plugin):
    """A fresh interpreter: importing upertool and building known types loads no plugin."""
    site = tmp_path / 'site'
    site.mkdir()
    make_plugin(site, 'good-plugin', 'fake_good_plugin', GOOD)
    code = '''
import sys
import upertool
from upertool import plugins
from upertool.registry import MODELS
MODELS.build(dict(type='CrossEntropyLoss'))
print('before', plugins.plugins_loaded(), 'fake_good_plugin' in sys.modules)
MODELS.build(dict(type='GoodNet'))
print('after', plugins.plugins_loaded(), 'fake_good_plugin' in sys.modules)
'''
    env = dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split('\n')[:2] == ['before False False', 'after True True']
