"""upertool's registries: mmengine children with plugin discovery and errors that help."""
import mmengine.registry as mmengine_registry
import pytest
from torch import nn

from upertool import plugins, registry
from upertool.plugins import DuplicateRegistrationError, Plugin, UnknownTypeError
from upertool.registry import DATASETS, HOOKS, MODELS, OPTIMIZERS, TRANSFORMS, UpertoolRegistry

LOCATIONS = {
    'MODELS': 'upertool.models', 'WEIGHT_INITIALIZERS': 'upertool.models',
    'TASK_UTILS': 'upertool.models', 'DATASETS': 'upertool.datasets',
    'TRANSFORMS': 'upertool.datasets', 'DATA_SAMPLERS': 'upertool.datasets',
    'METRICS': 'upertool.evaluation', 'EVALUATOR': 'upertool.evaluation',
    'HOOKS': 'upertool.engine', 'LOOPS': 'upertool.engine', 'OPTIMIZERS': 'upertool.engine',
    'OPTIM_WRAPPERS': 'upertool.engine', 'OPTIM_WRAPPER_CONSTRUCTORS': 'upertool.engine',
    'PARAM_SCHEDULERS': 'upertool.engine', 'LOG_PROCESSORS': 'upertool.engine',
    'RUNNERS': 'upertool.engine', 'VISUALIZERS': 'upertool.visualization',
    'VISBACKENDS': 'upertool.visualization',
}


@pytest.fixture
def restore_models():
    MODELS.import_from_location()
    saved = dict(MODELS._module_dict)
    yield
    MODELS._module_dict.clear()
    MODELS._module_dict.update(saved)


@pytest.fixture
def no_plugins(monkeypatch):
    """Misses report no installed plugin, whatever the environment has installed."""
    loader = plugins.PluginLoader(group='upertool.plugins.none_for_tests')
    monkeypatch.setattr(plugins, '_LOADER', loader)


@pytest.mark.parametrize('name', sorted(LOCATIONS) + ['MODEL_WRAPPERS', 'INFERENCERS'])
def test_registries_are_children_of_mmengine_roots(name):
    reg = getattr(registry, name)
    assert isinstance(reg, UpertoolRegistry)
    assert reg.scope == 'upertool'
    assert reg.parent is getattr(mmengine_registry, name)
    assert reg.parent._search_child('upertool') is reg  # where root lookups under the scope go
    if name in LOCATIONS:
        assert reg._locations == [LOCATIONS[name]]


def test_miss_raises_a_key_error_that_names_registry_scope_and_closest(no_plugins):
    with pytest.raises(KeyError) as err:  # `except KeyError` code keeps working
        MODELS.build(dict(type='UperHead', num_classes=2))
    assert isinstance(err.value, UnknownTypeError)
    text = str(err.value)
    lines = text.split('\n')  # printed as written, not as an escaped repr
    assert lines[0] == ("'UperHead' is not registered in the upertool::model registry "
                        '(searched upertool::model, then mmengine::model).')
    assert "Closest registered names: 'UPerHead'" in text
    assert ("Installed upertool plugins: none (no installed distribution declares an entry "
            "point in the group 'upertool.plugins').") in text
    assert ("    custom_imports = dict(imports=['your_package.your_module'], "
            'allow_failed_imports=False)') in text


def test_closest_names_ignore_case_and_come_from_parents_too(no_plugins):
    with pytest.raises(UnknownTypeError, match="Closest registered names: 'ResNetV1c'"):
        MODELS.build(dict(type='resnetv1c'))
    # AdamW is registered in mmengine's root optimizer registry, not in upertool's
    with pytest.raises(UnknownTypeError, match="'AdamW'") as err:
        OPTIMIZERS.build(dict(type='AdamWW', params=[]))
    assert 'upertool::optimizer registry' in str(err.value)


def test_miss_in_the_wrong_registry_says_where_the_name_is(no_plugins):
    with pytest.raises(UnknownTypeError) as err:
        MODELS.build(dict(type='ADE20KDataset'))
    assert ("'ADE20KDataset' is registered in the upertool::dataset registry instead: is "
            'this config entry under the right key?') in str(err.value)


def test_scope_prefix_of_an_unloaded_package_is_explained(no_plugins):
    with pytest.raises(UnknownTypeError) as err:
        TRANSFORMS.build(dict(type='mmfoo.Rezise'))
    text = str(err.value)
    assert ("The prefix 'mmfoo' asks for the registry of scope 'mmfoo', and none is loaded "
            "(is the package 'mmfoo' installed?)") in text
    assert "Closest registered names: 'Resize'" in text


def test_message_lists_plugins_and_their_state():
    report = [Plugin('ok', 'ok_pkg', 'ok-dist 1.0', 'imported'),
              Plugin('bad', 'bad_pkg', 'bad-dist 2.0', 'failed', 'ImportError: no torchvision')]
    text = plugins.unknown_type_message('Nope', HOOKS, plugins=report)
    assert "Installed upertool plugins (entry-point group 'upertool.plugins'):" in text
    assert '  - ok = ok_pkg (from ok-dist 1.0): imported' in text
    assert ('  - bad = bad_pkg (from bad-dist 2.0): failed to import: ImportError: no '
            'torchvision') in text
    assert "No registered name is close to 'Nope'." in text


def test_get_returns_none_for_direct_callers(no_plugins):
    assert MODELS.get('NoSuchThing') is None
    assert 'NoSuchThing' not in DATASETS
    assert MODELS.get('UPerHead').__name__ == 'UPerHead'


def test_registering_a_taken_name_names_both_modules(restore_models):
    class FCNHead(nn.Module):
        pass

    with pytest.raises(KeyError) as err:
        MODELS.register_module(module=FCNHead)
    assert isinstance(err.value, DuplicateRegistrationError)
    text = str(err.value)
    assert text.startswith(f'Cannot register {__name__}.test_registering_a_taken_name_names_'
                           "both_modules.<locals>.FCNHead")
    assert "as 'FCNHead' in the upertool::model registry" in text
    assert 'upertool.models.decode_heads.fcn_head.FCNHead (' in text
    assert 'fcn_head.py)' in text  # the file, to tell two copies of a package apart
    assert "register_module(name='...')" in text and 'force=True' in text
    assert MODELS.get('FCNHead').__module__ == 'upertool.models.decode_heads.fcn_head'


def test_any_taken_alias_is_refused(restore_models):
    class Fresh(nn.Module):
        pass

    with pytest.raises(DuplicateRegistrationError, match="as 'UPerHead'"):
        MODELS.register_module(name=['FreshAlias', 'UPerHead'], module=Fresh)


def test_force_replaces_and_the_same_object_registers_again(restore_models):
    class FCNHead(nn.Module):
        pass

    MODELS.register_module(module=FCNHead, force=True)
    assert MODELS.get('FCNHead') is FCNHead
    MODELS.register_module(module=FCNHead)  # the same object again: not a clash
    assert MODELS.get('FCNHead') is FCNHead


def test_a_stray_mmengine_default_scope_does_not_hide_upertools_types():
    # Any mmengine Runner built without default_scope leaves DefaultScope('mmengine'); mmengine
    # alone would then send upertool's MODELS.build to its root registry and miss.
    cfg = dict(type='FCNHead', in_channels=4, channels=4, num_classes=3, num_convs=1)
    with mmengine_registry.DefaultScope.overwrite_default_scope('mmengine'):
        with pytest.raises(KeyError, match='not in the mmengine::model registry'):
            mmengine_registry.MODELS.build(cfg)  # the root itself: still mmengine's behaviour
        head = MODELS.build(cfg)
        assert mmengine_registry.DefaultScope.get_current_instance().scope_name == 'mmengine'
    assert type(head).__name__ == 'FCNHead'
    assert head.conv_seg.out_channels == 3
