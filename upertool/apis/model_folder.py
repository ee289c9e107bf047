"""One folder, one model: `save_model` writes it, `init_model(DIR)` / `SegInferencer(DIR)` read it.

    DIR/config.py           default_scope, model, test_pipeline (+ tta), dataset_meta
    DIR/model.safetensors   the weights (no pickle: nothing in the file can run code)
    DIR/README.md           classes, palette, input size, training config, evaluation figures

A Hugging Face UperNet `save_pretrained` folder (config.json + model.safetensors or
pytorch_model.bin) is read too: converted on the fly exactly as
`tools/convert_checkpoint.py hf-to-upertool` converts it.
"""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from mmengine.config import Config
from torch import nn

from .outputs import write_bytes

CONFIG_NAME, WEIGHTS_NAME, README_NAME = 'config.py', 'model.safetensors', 'README.md'
DEFAULT_TEST_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
_CONFIG_ROOT = Path(__file__).resolve().parents[1] / '.mim' / 'configs'


def check_classes(meta: Mapping[str, Any], num_classes: int, where: str) -> None:
    """Class names and palette must have one entry per output class of the model."""
    classes, palette = meta.get('classes') or (), meta.get('palette') or ()
    expected = max(num_classes, 2)  # a one-channel binary head still has two classes
    if num_classes and len(classes) != expected:
        raise ValueError(f'{where}: {len(classes)} class names ({list(classes)[:6]}...) but the '
                         f'model predicts {num_classes} classes')
    if len(palette) < len(classes):
        raise ValueError(f'{where}: the palette has {len(palette)} colours for '
                         f'{len(classes)} classes')


def shipped_config(name: str) -> str | None:
    """A config under upertool's configs by `upertool::rel/path.py` or its file name."""
    if name.startswith('upertool::'):
        path = _CONFIG_ROOT / name[len('upertool::'):]
        return str(path) if path.is_file() else None
    stem = name if name.endswith('.py') else f'{name}.py'
    hits = sorted(_CONFIG_ROOT.rglob(osp.basename(stem))) if _CONFIG_ROOT.is_dir() else []
    return str(hits[0]) if len(hits) == 1 else None


def resolve_model(model: Any, weights: str | None) -> tuple[Any, str | None]:
    """(config or folder, weights) for init_model from what a user names as the model."""
    if isinstance(model, Config) or osp.isdir(os.fspath(model)) or osp.isfile(os.fspath(model)):
        return model, weights
    found = shipped_config(os.fspath(model))
    if found is None:
        raise FileNotFoundError(f'model not found: {model} is neither a config file, a model '
                                "folder, an .onnx file nor a config shipped with upertool "
                                "('upertool::upernet/<name>.py' or its file name)")
    return found, weights


def is_hf_folder(folder: str) -> bool:
    return osp.isfile(osp.join(folder, 'config.json')) and not osp.isfile(
        osp.join(folder, CONFIG_NAME))


def read_model_folder(folder: str, checkpoint: str | None
                      ) -> tuple[str | Config, str | None, dict[str, torch.Tensor] | None]:
    """init_model's view of a folder: (config, checkpoint path, or converted weights).

    Raises:
        FileNotFoundError: no config.py (and not a Hugging Face folder), or no weights.
    """
    if is_hf_folder(folder):
        if checkpoint is not None:
            raise ValueError(f'{folder} is a Hugging Face model folder with its own weights; '
                             f'do not pass a checkpoint ({checkpoint})')
        return _convert_hf_folder(folder)
    config = osp.join(folder, CONFIG_NAME)
    if not osp.isfile(config):
        raise FileNotFoundError(f'model folder {folder} has no {CONFIG_NAME} (a folder from '
                                'save_model holds config.py and model.safetensors; a Hugging '
                                'Face folder holds config.json)')
    if checkpoint is None:
        for name in (WEIGHTS_NAME, 'model.pth'):  # model.pth: hf-to-upertool's output
            if osp.isfile(osp.join(folder, name)):
                checkpoint = osp.join(folder, name)
                break
        else:
            raise FileNotFoundError(f'model folder {folder} has no {WEIGHTS_NAME} (or model.pth)')
    return config, checkpoint, None


def _convert_hf_folder(folder: str) -> tuple[Config, None, dict[str, torch.Tensor]]:
    from upertool.convert.hf_io import read_hf_folder  # offline converters: loaded on use
    from upertool.convert.hf_upernet import hf_to_upertool
    from upertool.visualization import random_palette
    hf_config, weights, processor = read_hf_folder(folder)
    result = hf_to_upertool(hf_config, weights, processor)
    classes = list(result.class_names)
    config = Config(dict(default_scope='upertool', model=result.config,
                         test_pipeline=DEFAULT_TEST_PIPELINE,
                         dataset_meta=dict(classes=classes,
                                           palette=random_palette(len(classes)))),
                    filename=osp.join(folder, 'config.json'))
    return config, None, result.state_dict


def input_size(cfg: Config) -> tuple[int, int] | None:
    """The training crop (data_preprocessor.size), the size the model was trained at."""
    size = (cfg.get('model') or {}).get('data_preprocessor', {}).get('size')
    return None if size is None else tuple(size)


def _readme(model: nn.Module, cfg: Config, metrics: Mapping[str, Any] | None) -> str:
    meta = model.dataset_meta
    source = osp.basename(getattr(cfg, 'filename', '') or '') or 'unknown'
    lines = [f'# {source}', '',
             'A upertool model folder: `init_model(DIR)` or `SegInferencer(DIR)` loads it; '
             '`python tools/infer.py DIR IMAGES... --out-dir OUT` runs it.', '',
             f'- training config: `{source}`',
             f"- model: {cfg.model.get('type')} with {cfg.model.backbone.get('type')} and "
             f"{cfg.model.decode_head.get('type')}",
             f'- input size (training crop): {input_size(cfg) or "any"}',
             f'- {len(meta["classes"])} classes', '', '| label | class | RGB |', '|---|---|---|']
    lines += [f'| {i} | {name} | {tuple(colour)} |' for i, (name, colour)
              in enumerate(zip(meta['classes'], meta['palette'], strict=False))]
    if metrics:
        lines += ['', '## Evaluation', '', '| metric | value |', '|---|---|']
        lines += [f'| {k} | {v} |' for k, v in metrics.items()]
    return '\n'.join(lines) + '\n'


def save_model(model: nn.Module, out_dir: str | os.PathLike,
               metrics: Mapping[str, Any] | None = None) -> str:
    """Write `model` (from init_model) as a model folder; returns the folder.

    Args:
        model: a segmentor with `cfg` and `dataset_meta` (init_model sets both).
        out_dir: the folder; created, files in it replaced atomically one by one.
        metrics: evaluation figures for the README; by default those in the loaded
            checkpoint's meta (`metrics`), if any.
    """
    from safetensors.torch import save as save_safetensors

    from upertool.convert.config_writer import format_config
    model = getattr(model, 'module', model)
    cfg = getattr(model, 'cfg', None)
    if cfg is None or 'model' not in cfg:
        raise ValueError('save_model needs a model from init_model (with model.cfg)')
    out_dir = os.fspath(out_dir)
    meta = dict(model.dataset_meta)
    check_classes(meta, int(getattr(model, 'num_classes', 0)), 'save_model')
    plain = cfg.to_dict()  # ConfigDicts as plain dicts, for the config writer
    variables = dict(default_scope=plain.get('default_scope', 'upertool'), model=plain['model'],
                     test_pipeline=plain.get('test_pipeline', DEFAULT_TEST_PIPELINE),
                     dataset_meta=dict(classes=list(meta['classes']),
                                       palette=[list(map(int, c)) for c in meta['palette']]))
    for key in ('tta_pipeline', 'tta_model'):
        if key in plain:
            variables[key] = plain[key]
    source = osp.basename(getattr(cfg, 'filename', '') or '')
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    if metrics is None:
        metrics = (getattr(model, 'checkpoint_meta', None) or {}).get('metrics')
    write_bytes(osp.join(out_dir, WEIGHTS_NAME),
                save_safetensors(state, metadata=dict(format='pt', config=source)))
    text = format_config(variables, f'Saved by upertool.apis.save_model from {source}')
    write_bytes(osp.join(out_dir, CONFIG_NAME), text.encode())
    write_bytes(osp.join(out_dir, README_NAME), _readme(model, cfg, metrics).encode())
    return out_dir

