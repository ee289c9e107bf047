"""Python inference API, as mmsegmentation 1.x's `mmseg.apis`: build, run, draw."""
from __future__ import annotations

import copy
import os.path as osp
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from torch import nn

from upertool.checkpoint.strict_load import load_model_weights
from upertool.registry import DATASETS, MODELS, TRANSFORMS
from upertool.structures import SegDataSample
from upertool.visualization import SegLocalVisualizer, random_palette

ImageType = Union[str, Path, np.ndarray, Sequence[Union[str, Path, np.ndarray]]]


def _load_config(config: str | Path | Config, cfg_options: dict | None) -> Config:
    if isinstance(config, (str, Path)):
        if not osp.isfile(config):
            raise FileNotFoundError(f'init_model: config file not found: {config}')
        config = Config.fromfile(str(config))
    elif isinstance(config, Config):
        config = copy.deepcopy(config)  # the caller's Config stays as it was
    else:
        raise TypeError(f'init_model: config must be a file path or a Config, got '
                        f'{type(config).__name__}')
    if cfg_options is not None:
        config.merge_from_dict(cfg_options)
    if 'model' not in config:
        raise KeyError('init_model: the config has no `model`')
    model_cfg = config.model
    # Weights come from `checkpoint` (or nowhere): no download of pretrained backbones.
    model_cfg.pop('pretrained', None)
    if isinstance(model_cfg.get('backbone'), dict):
        model_cfg.backbone.init_cfg = None
    model_cfg.train_cfg = None
    if model_cfg.get('test_cfg') is None:
        model_cfg.test_cfg = dict(mode='whole')
    else:
        model_cfg.test_cfg.setdefault('mode', 'whole')
    return config


def _dataset_cfg_meta(dataset: Any) -> dict | None:
    """classes/palette of a dataset config from its class's METAINFO and the config's
    `metainfo` override, looking inside wrappers (RepeatDataset, ConcatDataset,
    MultiSourceDataset)."""
    if not isinstance(dataset, dict):
        return None
    dtype = dataset.get('type')
    cls = dtype if isinstance(dtype, type) else DATASETS.get(dtype) if dtype else None
    meta = dict(getattr(cls, 'METAINFO', None) or {})
    meta.update(dataset.get('metainfo') or {})
    if meta.get('classes'):
        return meta
    inner = (dataset.get('dataset') or (dataset.get('datasets') or [None])[0]
             or (dataset.get('sources') or [{}])[0].get('dataset'))  # MultiSourceDataset
    return _dataset_cfg_meta(inner)


def _meta_from_config(config: Config) -> dict | None:
    """The config's `dataset_meta` (model folders), else its test (else val) dataset's meta;
    reads no files."""
    if config.get('dataset_meta'):
        return dict(config.dataset_meta)
    for key in ('test_dataloader', 'val_dataloader'):
        meta = _dataset_cfg_meta((config.get(key) or {}).get('dataset'))
        if meta is not None:
            return meta
    return None


def _set_dataset_meta(model: nn.Module, checkpoint: dict | None, config: Config,
                      source: str | None = None) -> None:
    ckpt_meta = (checkpoint or {}).get('meta') or {}
    if ckpt_meta.get('dataset_meta'):
        meta = dict(ckpt_meta['dataset_meta'])
    elif 'CLASSES' in ckpt_meta:  # mmsegmentation 0.x checkpoints
        meta = dict(classes=ckpt_meta['CLASSES'], palette=ckpt_meta.get('PALETTE'))
    else:
        meta = _meta_from_config(config)
    if meta is None:
        num_classes = getattr(getattr(model, 'decode_head', None), 'num_classes', 0)
        warnings.warn('init_model: neither the checkpoint nor the config names the classes; '
                      f'using numbers 0..{num_classes - 1}', stacklevel=3)
        meta = dict(classes=tuple(str(i) for i in range(num_classes)))
    if not meta.get('palette'):
        meta['palette'] = random_palette(len(meta['classes']))
    if ckpt_meta.get('dataset_meta') or 'CLASSES' in ckpt_meta:
        from .model_folder import check_classes
        check_classes(meta, int(getattr(model, 'num_classes', 0) or 0),
                      f'init_model: the classes in the meta of {source}')
    model.dataset_meta = meta


def init_model(config: str | Path | Config, checkpoint: str | None = None,
               device: str = 'cpu', cfg_options: dict | None = None,
               strict: bool = True) -> nn.Module:
    """Build a segmentor from a config, optionally load weights, ready for inference.

    Args:
        config: config file path or Config (not modified), or a model folder: one from
            `save_model` (config.py + model.safetensors) or a Hugging Face UperNet
            `save_pretrained` folder (converted on the fly, as hf-to-upertool does).
        checkpoint: checkpoint path or URL; None leaves the random initialisation.
        device: e.g. 'cpu', 'cuda:0'.
        cfg_options: overrides merged into the config, as `--cfg-options`.
        strict: the checkpoint must hold exactly the model's weights (else
            `CheckpointMismatchError` with a summary); False loads what fits and logs the rest.

    Returns:
        The model in eval mode on `device`, with `model.cfg` (the config used) and
        `model.dataset_meta` (classes, palette: from the checkpoint's meta, else the
        config's test dataset).
    """
    converted = None
    if isinstance(config, (str, Path)) and osp.isdir(config):  # a model folder
        from .model_folder import read_model_folder
        config, checkpoint, converted = read_model_folder(str(config), checkpoint)
    config = _load_config(config, cfg_options)
    init_default_scope(config.get('default_scope', 'upertool'))
    model = MODELS.build(config.model)
    loaded = None
    if converted is not None:  # a Hugging Face folder, converted (and checked) on the fly
        model.load_state_dict(converted, strict=True)
    elif checkpoint is not None:
        loaded = load_model_weights(model, checkpoint, strict=strict)
    _set_dataset_meta(model, loaded, config, str(checkpoint))
    model.checkpoint_meta = dict((loaded or {}).get('meta') or {})
    model.cfg = config
    model.to(device)
    model.eval()
    return model


def _test_pipeline(cfg: Config, from_array: bool) -> Compose:
    if 'test_pipeline' not in cfg:
        raise KeyError('inference_model: model.cfg has no test_pipeline')
    steps = [dict(step) for step in cfg.test_pipeline if dict(step).get('type') !=
             'LoadAnnotations']  # no labels at inference
    if not steps or 'Load' not in str(steps[0].get('type', '')):
        raise ValueError('inference_model: test_pipeline must start with an image loader, '
                         f'got {steps[0] if steps else "an empty pipeline"}')
    if from_array:
        steps[0]['type'] = 'LoadImageFromNDArray'
    # Built from upertool's registry directly: no dependence on the current default scope.
    return Compose([TRANSFORMS.build(step) for step in steps])


def _check_image(img: Any) -> dict:
    if isinstance(img, np.ndarray):
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError('inference_model: arrays must be (H, W, 3) uint8 BGR as cv2 reads '
                             f'them, got {img.shape} {img.dtype}')
        if img.size == 0:
            raise ValueError(f'inference_model: the image array is empty ({img.shape})')
        return dict(img=img)
    if isinstance(img, (str, Path)):
        if not osp.isfile(img):
            raise FileNotFoundError(f'inference_model: image not found: {img}')
        return dict(img_path=str(img))
    raise TypeError(f'inference_model: expected a path or an ndarray, got {type(img).__name__}')


def inference_model(model: nn.Module, img: ImageType) -> SegDataSample | list[SegDataSample]:
    """Segment one image or a list of images.

    Args:
        model: a segmentor from `init_model` (needs `model.cfg.test_pipeline`).
        img: an image path, an (H, W, 3) uint8 BGR array, or a list (or tuple) of these.

    Returns:
        A SegDataSample (a list of them for a list input) with `pred_sem_seg` (1, H, W)
        and `seg_logits` at each image's own size.
    """
    is_batch = isinstance(img, (list, tuple))
    imgs = list(img) if is_batch else [img]
    if not imgs:
        raise ValueError('inference_model: empty list of images')
    pipelines: dict[bool, Compose] = {}
    data: dict[str, list] = dict(inputs=[], data_samples=[])
    for one in imgs:
        item = _check_image(one)
        from_array = 'img' in item
        if from_array not in pipelines:
            pipelines[from_array] = _test_pipeline(model.cfg, from_array)
        packed = pipelines[from_array](item)
        data['inputs'].append(packed['inputs'])
        data['data_samples'].append(packed['data_samples'])
    with torch.no_grad():
        if len({tuple(x.shape) for x in data['inputs']}) <= 1:
            results = model.test_step(data)
        else:  # images of different sizes after the pipeline do not stack: one at a time
            results = [model.test_step(dict(inputs=[x], data_samples=[s]))[0]
                       for x, s in zip(data['inputs'], data['data_samples'], strict=True)]
    return results if is_batch else results[0]


def show_result_pyplot(model: nn.Module, img: str | Path | np.ndarray, result: SegDataSample,
                       opacity: float = 0.5, title: str = '', draw_gt: bool = True,
                       draw_pred: bool = True, wait_time: float = 0, show: bool = False,
                       save_dir: str | None = None, out_file: str | None = None,
                       with_labels: bool = True) -> np.ndarray:
    """Draw `result` on the image: `image | [gt |] prediction` panels.

    Args:
        model: the segmentor (its `dataset_meta` gives class names and colours).
        img: image path, or (H, W, 3) uint8 BGR array as cv2 reads it.
        result: a SegDataSample from `inference_model`.
        opacity: colour weight of the overlay, in [0, 1].
        title: window title, and file name stem for the `save_dir` backend.
        draw_gt / draw_pred: draw the ground truth (if the sample has one) / prediction.
        wait_time: seconds to show; 0 waits for a key.
        show: display the drawing in a window.
        save_dir: also save through a LocalVisBackend under `save_dir/vis_data/vis_image`.
        out_file: write the drawing to this file (instead of `save_dir`).
        with_labels: write class names inside their regions.

    Returns:
        The drawing, (H, W * panels, 3) uint8 RGB.
    """
    model = getattr(model, 'module', model)
    if isinstance(img, (str, Path)):
        if not osp.isfile(img):
            raise FileNotFoundError(f'show_result_pyplot: image not found: {img}')
        image = mmcv.imread(str(img), channel_order='rgb')
    else:
        image = np.ascontiguousarray(np.asarray(img)[..., ::-1])
    meta = getattr(model, 'dataset_meta', None) or {}
    # Built directly, not through get_instance: it must not become the "current"
    # visualizer a running Runner's hooks would pick up.
    visualizer = SegLocalVisualizer(
        name='show_result_pyplot', save_dir=save_dir, alpha=opacity,
        vis_backends=[dict(type='LocalVisBackend')] if save_dir is not None else None,
        classes=meta.get('classes'), palette=meta.get('palette'))
    return visualizer.add_datasample(
        name=title, image=image, data_sample=result, draw_gt=draw_gt, draw_pred=draw_pred,
        wait_time=wait_time, out_file=out_file, show=show, with_labels=with_labels)
