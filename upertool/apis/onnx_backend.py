"""Running an exported .onnx segmentor with onnxruntime, with SegInferencer's pre/post steps.

The file's `upertool` metadata (written by `export_onnx`) gives the input size, normalisation,
channel order, padding value, classes and palette. An image no larger than the export size is
padded at the bottom and right (as SegDataPreProcessor pads), one that is larger is resized to
it; the logits are resized to the export size, cropped to the image and resized back to the
original size before the arg-max, as EncoderDecoder.postprocess_result does.
"""
from __future__ import annotations

import json
import os
import os.path as osp

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

from upertool.models.utils import resized_argmax
from upertool.structures import SegDataSample

from .onnx_export import METADATA_KEY


def read_metadata(path: str, session) -> dict:
    props = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in props:
        raise ValueError(f'{path} has no {METADATA_KEY!r} metadata: export it with '
                         'tools/deployment/export_onnx.py, which records the input size, '
                         'normalisation and classes the inferencer needs')
    return json.loads(props[METADATA_KEY])


class OnnxBackend:
    """An onnxruntime session behind the inferencer's `prepare` / `run` interface."""

    def __init__(self, path: str | os.PathLike, device: str | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ImportError("the onnxruntime backend needs onnxruntime: pip install -e "
                              "'.[export]'") from err
        path = os.fspath(path)
        if not osp.isfile(path):
            raise FileNotFoundError(f'ONNX model not found: {path}')
        providers = ['CPUExecutionProvider']
        if device and device.startswith('cuda'):
            providers.insert(0, 'CUDAExecutionProvider')
        try:
            self.session = ort.InferenceSession(path, providers=providers)
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ValueError(f'{path}: onnxruntime cannot load it: {err}') from err
        self.path = path
        meta = read_metadata(path, self.session)
        self.size = tuple(meta['input_size'])
        self.labels_output = meta['output'] == 'labels'
        self.mean = None if meta['mean'] is None else np.asarray(meta['mean'], np.float32)
        self.std = None if meta['std'] is None else np.asarray(meta['std'], np.float32)
        self.bgr_to_rgb = meta['bgr_to_rgb']
        self.pad_val = meta['pad_val']
        self.align_corners = meta['align_corners']
        self.num_classes = meta['num_classes']
        self.meta = dict(classes=tuple(meta['classes']), palette=meta['palette'])
        self.input_name = self.session.get_inputs()[0].name
        self.fixed_batch = isinstance(self.session.get_inputs()[0].shape[0], int)

    def prepare(self, image: np.ndarray) -> dict:
        """BGR uint8 (H, W, 3) -> the normalised (3, h, w) export-size input and how to undo."""
        height, width = image.shape[:2]
        img = image[..., ::-1] if self.bgr_to_rgb else image
        img = img.astype(np.float32)
        if self.mean is not None:
            img = (img - self.mean) / self.std
        eh, ew = self.size
        if height <= eh and width <= ew:
            valid = (height, width)
            canvas = np.full((eh, ew, 3), self.pad_val, np.float32)
            canvas[:height, :width] = img
        else:  # larger than the graph: resize to it, and the prediction back
            valid = (eh, ew)
            canvas = cv2.resize(img, (ew, eh), interpolation=cv2.INTER_LINEAR)
        return dict(input=np.ascontiguousarray(canvas.transpose(2, 0, 1)),
                    ori_shape=(height, width), valid=valid)

    def pack(self, prepared: dict) -> dict:
        """Nothing left to do in the main thread: `prepare` made the input array."""
        return prepared

    def run(self, prepared: list[dict]) -> list[SegDataSample]:
        batch = np.stack([p['input'] for p in prepared])
        if self.fixed_batch:
            outputs = np.concatenate([self.session.run(None, {self.input_name: one[None]})[0]
                                      for one in batch])
        else:
            outputs = self.session.run(None, {self.input_name: batch})[0]
        return [self._restore(out, p) for out, p in zip(outputs, prepared, strict=True)]

    def _restore(self, output: np.ndarray, item: dict) -> SegDataSample:
        (vh, vw), ori = item['valid'], item['ori_shape']
        if self.labels_output:
            labels = output[:vh, :vw]
            if (vh, vw) != tuple(ori):
                labels = cv2.resize(labels.astype(np.int32), (ori[1], ori[0]),
                                    interpolation=cv2.INTER_NEAREST)
            pred = torch.from_numpy(np.asarray(labels, np.int64))[None]
        else:
            logits = torch.from_numpy(output)[None]
            logits = F.interpolate(logits, size=self.size, mode='bilinear',
                                   align_corners=self.align_corners)[0, :, :vh, :vw]
            pred = resized_argmax(logits, tuple(ori), self.align_corners)[None]
        sample = SegDataSample(metainfo=dict(ori_shape=tuple(ori)))
        sample.pred_sem_seg = PixelData(data=pred)
        return sample
