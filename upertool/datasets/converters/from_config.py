"""Build the dataset a config trains or tests on, for the analysis tools."""
from __future__ import annotations

from typing import Any

from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope

from upertool.engine.cli import read_config

SPLITS = ('train', 'val', 'test')


def dataset_cfg_from_config(config: str, split: str = 'train',
                            cfg_options: dict | None = None) -> tuple[dict, Config]:
    """The ``<split>_dataloader.dataset`` entry of a config (after ``cfg_options``).

    Also sets the config's default scope, so wrapped datasets (``ConcatDataset``) build
    their parts from upertool's registry.

    Raises:
        SystemExit: naming the config file when it is missing or lacks the loader.
    """
    if split not in SPLITS:
        raise SystemExit(f'--split must be one of {SPLITS}, got {split!r}')
    cfg = read_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'upertool'))
    loader = cfg.get(f'{split}_dataloader')
    if not loader or 'dataset' not in loader:
        raise SystemExit(f'{config} has no {split}_dataloader.dataset')
    dataset = loader['dataset']
    return (dataset.to_dict() if isinstance(dataset, ConfigDict) else dict(dataset)), cfg


def build_dataset(dataset_cfg: dict) -> Any:
    """Build a dataset config with upertool's registry (mmengine wrappers included)."""
    from upertool.registry import DATASETS
    return DATASETS.build(dataset_cfg)
