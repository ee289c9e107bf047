"""Every config under configs/ builds: the model (without weights) and every pipeline transform."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from upertool.registry import MODELS, TRANSFORMS

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'
LEAF_CONFIGS = sorted(p for p in CONFIG_DIR.rglob('*.py') if '_base_' not in p.parts)
# Backbone types that need an optional package (requirements/optional.txt): skipped without it.
OPTIONAL_BACKBONES = {'TIMMBackbone': 'timm', 'HFBackbone': 'transformers'}


def _pipelines(cfg: Config) -> dict[str, list]:
    found = {}
    for key in ('train_pipeline', 'test_pipeline', 'tta_pipeline'):
        if key in cfg:
            found[key] = cfg[key]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg.get(loader, {}).get('dataset', {})
        if 'pipeline' in dataset:
            found[f'{loader}.dataset.pipeline'] = dataset['pipeline']
    return found


def test_configs_exist():
    assert len(LEAF_CONFIGS) >= 10


def _config_params() -> list:
    """Configs with an optional backbone are marked `extras`, so CI's extras stage builds them."""
    params = []
    for path in LEAF_CONFIGS:
        text = path.read_text()
        optional = any(backbone in text for backbone in OPTIONAL_BACKBONES)
        params.append(pytest.param(path, id=str(path.relative_to(CONFIG_DIR)),
                                   marks=[pytest.mark.extras] if optional else []))
    return params


@pytest.mark.parametrize('path', _config_params())
def test_config_builds(path: Path):
    cfg = Config.fromfile(str(path))
    for backbone_type, package in OPTIONAL_BACKBONES.items():
        if backbone_type in str(cfg.model):
            pytest.importorskip(package)
    assert cfg.default_scope == 'upertool'
    init_default_scope('upertool')
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
    pipelines = _pipelines(cfg)
    assert pipelines, f'{path} has no pipeline'
    for name, pipeline in pipelines.items():
        for transform in pipeline:
            built = TRANSFORMS.build(transform)
            assert callable(built), f'{name}: {transform} did not build a transform'
