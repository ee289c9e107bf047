"""The PyTorch side of SegInferencer: the config's test pipeline and `model.test_step`.

`prepare` runs in the inferencer's loader thread (decoding and the pipeline's numpy/OpenCV steps
of the next batch overlap with the model), `pack` (PackSegInputs, torch) and `run` in the main
thread; `run` returns SegDataSamples with `pred_sem_seg` at each image's original size.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from torch import nn

from upertool.registry import MODELS, TRANSFORMS
from upertool.structures import SegDataSample

from .model_folder import DEFAULT_TEST_PIPELINE


def _without_annotations(steps: list) -> list:
    """Pipeline steps without LoadAnnotations, also inside TestTimeAug's lists."""
    out = []
    for step in steps:
        step = dict(step)
        if step.get('type') == 'LoadAnnotations':
            continue
        if step.get('type') == 'TestTimeAug':
            groups = [_without_annotations(list(group)) for group in step['transforms']]
            step['transforms'] = [group for group in groups if group]
        out.append(step)
    return out


def build_pipeline(cfg: Any, tta: bool) -> tuple[Compose | None, Any]:
    """The config's test (or TTA) pipeline, reading arrays instead of files, no labels, in
    two parts: the steps before PackSegInputs (numpy / OpenCV: they may run in a loader
    thread) and the packing into tensors (None and the whole pipeline for TTA)."""
    key = 'tta_pipeline' if tta else 'test_pipeline'
    if tta and key not in cfg:
        raise KeyError('the model config has no tta_pipeline (needed by --tta)')
    # a config without one (e.g. hf-to-upertool's) runs the image at its own size
    steps = _without_annotations(copy.deepcopy(list(cfg.get(key, DEFAULT_TEST_PIPELINE))))
    if not steps or 'Load' not in str(steps[0].get('type', '')):
        raise ValueError(f'{key} must start with an image loader, got '
                         f'{steps[0] if steps else "an empty pipeline"}')
    steps[0]['type'] = 'LoadImageFromNDArray'
    if not tta and steps[-1].get('type') == 'PackSegInputs':
        return (Compose([TRANSFORMS.build(step) for step in steps[:-1]]),
                TRANSFORMS.build(steps[-1]))
    return None, Compose([TRANSFORMS.build(step) for step in steps])


class TorchBackend:
    """Runs an `init_model` segmentor (optionally wrapped for test-time augmentation).

    Args:
        model: an EncoderDecoder from init_model (with `cfg` and `dataset_meta`).
        tta: merge the config's `tta_pipeline` views with SegTTAModel.
        precision: test_cfg.precision for the forward passes ('fp32', 'bf16', 'fp16').
        keep_logits: keep `seg_logits` in the predictions (mmsegmentation's data samples);
            False predicts labels only, which resizes and arg-maxes in bands (less memory).
    """

    def __init__(self, model: nn.Module, tta: bool = False, precision: str | None = None,
                 keep_logits: bool = False) -> None:
        self.model = model
        self.meta = model.dataset_meta
        self.num_classes = int(model.num_classes)
        test_cfg = dict(model.test_cfg or {})
        if precision is not None:
            test_cfg['precision'] = precision
        model.test_cfg = test_cfg
        model._slide_settings()  # a bad precision fails here, naming test_cfg.precision
        self.tta = tta
        self.set_keep_logits(keep_logits)
        self.pre_pack, self.pack_step = build_pipeline(model.cfg, tta)
        self.runner = model
        if tta:
            tta_cfg = dict(model.cfg.get('tta_model') or dict(type='SegTTAModel'))
            tta_cfg['module'] = model
            self.runner = MODELS.build(tta_cfg)

    def set_keep_logits(self, keep: bool) -> None:
        """Keep `seg_logits` in the predictions (TTA always does: it merges them)."""
        self.model.test_cfg['return_logits'] = bool(keep or self.tta)

    def prepare(self, image: np.ndarray) -> dict:
        """The pipeline up to PackSegInputs (no torch ops: safe in a loader thread)."""
        return dict(img=image) if self.pre_pack is None else self.pre_pack(dict(img=image))

    def pack(self, prepared: dict) -> dict:
        """PackSegInputs (torch ops: in the thread that runs the model)."""
        return self.pack_step(prepared)

    def run(self, prepared: list[dict]) -> list[SegDataSample]:
        # inference mode: no autograd bookkeeping at all (no_grad still bumps version counters)
        with torch.inference_mode():
            if self.tta:
                return self.runner.test_step(pseudo_collate(prepared))
            shapes = {tuple(p['inputs'].shape) for p in prepared}
            if len(shapes) > 1:  # padding to a common size would cost more than it saves
                return [s for p in prepared for s in self._step([p])]
            return self._step(prepared)

    def _step(self, prepared: list[dict]) -> list[SegDataSample]:
        data = dict(inputs=[p['inputs'] for p in prepared],
                    data_samples=[p['data_samples'] for p in prepared])
        return self.runner.test_step(data)
