"""What `tools/convert_checkpoint.py` does, one function per subcommand.

Each reads its input with the safe loader, converts, checks the result against the model the
target config builds, and writes only a complete conversion (unless `allow_partial`), with
atomic writes. Each returns the `ConversionReport` (the CLI prints its summary).
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Any

from mmengine.config import Config

from .backbone_convert import convert_backbone_weights
from .config_writer import write_config
from .hf_io import read_hf_folder, write_hf_folder
from .hf_upernet import hf_to_upertool, upertool_to_hf
from .key_rules import ConversionReport
from .mmseg_convert import mmseg_to_upertool
from .weights_io import read_weights, write_checkpoint


def _plain(value: Any) -> Any:
    """ConfigDicts and tuples of a loaded config as plain dicts/lists (to rebuild models)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def _model_config(config: str) -> tuple[Config, dict]:
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config}')
    cfg = Config.fromfile(config)
    if 'model' not in cfg:
        raise KeyError(f'{config} has no `model`')
    return cfg, _plain(cfg.model)


def hf_to_upertool_folder(hf_dir: str, out_dir: str, allow_partial: bool = False
                          ) -> ConversionReport:
    """HF UperNet folder -> `out_dir/config.py` + `out_dir/model.pth`."""
    hf_config, weights, processor = read_hf_folder(hf_dir)
    result = hf_to_upertool(hf_config, weights, processor, allow_partial=allow_partial)
    os.makedirs(out_dir, exist_ok=True)
    header = (f'Converted by tools/convert_checkpoint.py hf-to-upertool from the Hugging Face '
              f'model in\n{osp.abspath(hf_dir)}\n'
              'Weights: model.pth beside this file (class names in its meta). Normalisation is '
              "the HF image\nprocessor's. Add datasets, schedules and runtime via _base_ to "
              'train.')
    write_config(osp.join(out_dir, 'config.py'),
                 dict(default_scope='upertool', model=result.config), header)
    meta = dict(dataset_meta=dict(classes=list(result.class_names)),
                converted_from=f'huggingface:{osp.abspath(hf_dir)}')
    write_checkpoint(osp.join(out_dir, 'model.pth'), result.state_dict, meta)
    return result.report


def _class_names(cfg: Config, meta: dict, num_classes: int) -> tuple[str, ...] | None:
    classes = (meta.get('dataset_meta') or {}).get('classes') or meta.get('CLASSES')
    if classes is None:
        from upertool.registry import DATASETS
        for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
            dataset = (cfg.get(key) or {}).get('dataset') or {}
            cls = DATASETS.get(dataset.get('type')) if isinstance(
                dataset.get('type'), str) else None
            found = (dataset.get('metainfo') or {}).get('classes') or (
                getattr(cls, 'METAINFO', {}) or {}).get('classes')
            if found:
                classes = found
                break
    if classes is None or len(classes) != num_classes:
        return None
    return tuple(str(c) for c in classes)


def upertool_to_hf_folder(config: str, checkpoint: str, out_dir: str,
                          allow_partial: bool = False) -> ConversionReport:
    """upertool config + checkpoint -> a folder `UperNetForSemanticSegmentation.from_pretrained`
    loads (config.json, model.safetensors or pytorch_model.bin, preprocessor_config.json)."""
    cfg, model_cfg = _model_config(config)
    weights, meta = read_weights(checkpoint)
    num_classes = model_cfg.get('decode_head', {}).get('num_classes', 0)
    result = upertool_to_hf(model_cfg, weights, _class_names(cfg, meta, num_classes),
                            allow_partial=allow_partial)
    write_hf_folder(out_dir, result.config, result.state_dict, result.processor)
    return result.report


def mmseg_to_upertool_file(checkpoint: str, out: str, config: str | None = None,
                           allow_partial: bool = False) -> ConversionReport:
    """mmsegmentation 0.x/1.x checkpoint -> upertool checkpoint (optionally checked against
    `config`'s model)."""
    model_cfg = _model_config(config)[1] if config else None
    result = mmseg_to_upertool(checkpoint, model_cfg, allow_partial=allow_partial)
    write_checkpoint(out, result.state_dict, result.meta)
    return result.report


def csail_to_upertool_file(encoder: str, decoder: str, out: str, config: str | None = None,
                           allow_partial: bool = False) -> ConversionReport:
    """The UPerNet authors' encoder + decoder files -> one upertool checkpoint (see csail.py)."""
    from .csail import csail_to_upertool

    model_cfg = _model_config(config)[1] if config else None
    state, meta, report = csail_to_upertool(encoder, decoder, model_cfg, allow_partial)
    write_checkpoint(out, state, meta)
    return report


def backbone_file(src: str, out: str, source: str, target: str,
                  allow_partial: bool = False) -> ConversionReport:
    """timm / torchvision / mmpretrain classification checkpoint -> backbone weights (no
    `backbone.` prefix) for `init_cfg=dict(type='Pretrained', checkpoint=out)`."""
    weights, _ = read_weights(src)
    state, report = convert_backbone_weights(weights, source, target,
                                             allow_partial=allow_partial)
    write_checkpoint(out, state, dict(converted_from=f'{source}:{osp.abspath(src)}',
                                      backbone=target))
    return report
