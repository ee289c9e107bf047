"""SegInferencer: a trained segmentor on paths, folders, globs and arrays, with outputs on disk.

    inferencer = SegInferencer('work_dirs/quickstart/config.py', 'iter_2400.pth')
    result = inferencer('photos/', out_dir='out', batch_size=4)   # pred/*.png, vis/*

The next batch is read and pre-processed in a thread while the model runs, and the previous
batch is written in another, so decoding and encoding overlap with the forward pass. An input
that cannot be read is reported by name and skipped; the others go on.
"""
from __future__ import annotations

import itertools
import os
import os.path as osp
import sys
import time
from collections.abc import Iterable, Iterator, Sequence, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from upertool.registry import INFERENCERS
from upertool.structures import SegDataSample

from .inputs import InputItem, InputType, collect_inputs
from .model_folder import check_classes, resolve_model
from .outputs import draw_overlay, encode_image, encode_label_png, remove_outputs, write_bytes


@dataclass
class ItemResult:
    """One input's outcome: its prediction (and drawing), or the reason it failed."""

    item: InputItem
    sample: SegDataSample | None = None
    vis: np.ndarray | None = None
    error: str | None = None


@dataclass
class DrawOptions:
    """How overlays are drawn: colour weight, class names in regions, legend strip below."""

    opacity: float = 0.8
    with_labels: bool = True
    legend: bool = True


@dataclass
class RunStats:
    """Counts and time of the last call (what tools/infer.py prints)."""

    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


def read_image(item: InputItem) -> np.ndarray:
    """The item's BGR uint8 image; ValueError naming the file when it cannot be decoded."""
    if item.array is not None:
        return item.array
    try:
        data = np.fromfile(item.path, np.uint8)
    except OSError as err:
        raise ValueError(f'{item.path}: cannot read the file ({err.strerror})') from err
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError(f'{item.path}: cannot decode the image (corrupt, truncated or not an '
                         'image)')
    return image


def _named(item: InputItem, err: Exception) -> str:
    """The error message, starting with the input's name unless it already holds the path."""
    text = str(err)
    return text if item.path and item.path in text else f'{item.path or item.name}: {text}'


def build_backend(model: Any, weights: str | None, device: str | None, tta: bool,
                  precision: str | None, cfg_options: dict | None):
    """A TorchBackend for a config / model folder / HF folder, an OnnxBackend for a .onnx."""
    if isinstance(model, (str, os.PathLike)) and os.fspath(model).endswith('.onnx'):
        if weights is not None or tta or precision not in (None, 'fp32'):
            raise ValueError('an .onnx model takes no weights, --tta or --precision: they are '
                             'fixed at export time')
        from .onnx_backend import OnnxBackend
        return OnnxBackend(model, device)
    from .inference import init_model
    from .torch_backend import TorchBackend
    if device is None:
        import torch
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    config, weights = resolve_model(model, weights)
    return TorchBackend(init_model(config, weights, device=device, cfg_options=cfg_options),
                        tta=tta, precision=precision)


@INFERENCERS.register_module(name=['SegInferencer', 'MMSegInferencer'])
class SegInferencer:
    """Segment images with a trained model; mmsegmentation's MMSegInferencer arguments.

    Args:
        model: a config file, a config shipped with upertool (`upertool::upernet/x.py` or
            its file name), a folder from `save_model` or a Hugging Face UperNet
            `save_pretrained` folder, or an `.onnx` file from tools/deployment/export_onnx.py
            (run with onnxruntime).
        weights: checkpoint for a config; a model folder brings its own.
        classes / palette: override the class names / RGB colours (one per class).
        device: 'cpu', 'cuda', 'cuda:1'; default CUDA when available.
        tta: merge the config's `tta_pipeline` views (SegTTAModel).
        precision: test_cfg.precision ('fp32', 'bf16', 'fp16').
        cfg_options: overrides merged into the config.
    """

    def __init__(self, model: Any, weights: str | None = None,
                 classes: Sequence[str] | None = None,
                 palette: Sequence[Sequence[int]] | None = None, device: str | None = None,
                 tta: bool = False, precision: str | None = None,
                 cfg_options: dict | None = None) -> None:
        self.backend = build_backend(model, weights, device, tta, precision, cfg_options)
        meta = dict(self.backend.meta)
        if classes is not None:
            meta['classes'] = tuple(str(c) for c in classes)
        if palette is not None:
            meta['palette'] = [list(map(int, c)) for c in palette]
        check_classes(meta, self.backend.num_classes, 'SegInferencer')
        self.classes, self.palette = meta['classes'], meta['palette']
        self.stats = RunStats()

    def __call__(self, inputs: InputType | Sequence[InputType], batch_size: int = 1,
                 out_dir: str = '', return_datasamples: bool = False, return_vis: bool = False,
                 opacity: float = 0.8, with_labels: bool = True,
                 progress: bool = True) -> dict[str, Any]:
        """Segment `inputs`: a path, a folder (recursive), a glob, a BGR array or a list.

        Args:
            batch_size: images per forward pass.
            out_dir: if set, write `pred/<name>.png` (class indices, palette PNG, original
                size) and `vis/<name>` (overlay with a legend of the classes present), where
                `<name>` is the path relative to the folder given (suffix kept for vis).
            return_datasamples: return SegDataSamples instead of (H, W) label arrays.
            return_vis: also return the overlays (H + legend, W, 3) RGB.
            opacity: colour weight of the overlay in [0, 1].
            with_labels: write class names inside their regions.
            progress: a progress bar with ETA on stderr for more than one input.

        Returns:
            dict(predictions=..., visualization=..., failed=[(input, reason)]):
            predictions (and visualization) are one entry per input, None where it failed,
            or the entry itself for a single non-list input. Labels are uint8 when the
            classes fit, else int32.
        """
        if not 0 <= opacity <= 1:
            raise ValueError(f'opacity must be in [0, 1], got {opacity}')
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        single = not isinstance(inputs, (list, tuple)) and not (
            isinstance(inputs, (str, os.PathLike)) and (osp.isdir(inputs) or '*' in str(inputs)))
        items, skipped = collect_inputs(inputs)
        if hasattr(self.backend, 'set_keep_logits'):
            self.backend.set_keep_logits(return_datasamples)
        predictions, visuals = [], []
        draw = DrawOptions(opacity, with_labels)
        for result in self.run(items, batch_size, out_dir, draw, keep_vis=return_vis,
                               progress=progress, skipped=skipped):
            if result.sample is None:
                predictions.append(None)
                visuals.append(None)
                continue
            predictions.append(result.sample if return_datasamples else
                               self._labels(result.sample))
            visuals.append(None if result.vis is None else result.vis[..., ::-1].copy())
        out = dict(predictions=predictions, failed=list(self.stats.failed))
        if return_vis:
            out['visualization'] = visuals
        if single:
            out['predictions'] = predictions[0]
            if return_vis:
                out['visualization'] = visuals[0]
        return out

    def _labels(self, sample: SegDataSample) -> np.ndarray:
        labels = sample.pred_sem_seg.data[0].cpu().numpy()
        return labels.astype(np.uint8 if len(self.classes) <= 255 else np.int32)

    def run(self, items: Iterable[InputItem], batch_size: int = 1, out_dir: str = '',
            draw: DrawOptions | None = None, keep_vis: bool = False, write_vis: bool = True,
            progress: bool = True, total: int | None = None,
            skipped: Sequence[str] = ()) -> Iterator[ItemResult]:
        """Yield one ItemResult per item, in order, writing outputs under `out_dir`.

        `items` may be a lazy iterable (video frames): batches are taken from it in the
        loader thread, so memory stays bounded by a few batches; `total` sizes the progress
        bar. `self.stats` holds the counts and time when the iterator is exhausted.
        """
        draw = draw or DrawOptions()
        if isinstance(items, Sized):
            total = len(items)
        self.stats = RunStats(skipped=list(skipped))
        source = iter(items)
        bar = None
        if progress and (total is None or total > 1):
            from mmengine.utils import ProgressBar
            bar = ProgressBar(total or 0, file=sys.stderr)
        need_image = bool(out_dir and write_vis) or keep_vis
        start = time.perf_counter()
        # OpenCV's own thread pool would contend for the cores the model's threads use; the
        # loader and writer threads already run beside the model
        cv2_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            yield from self._pipelined(source, batch_size, out_dir, draw, keep_vis, write_vis,
                                       need_image, bar)
        finally:
            cv2.setNumThreads(cv2_threads)
        self.stats.seconds = time.perf_counter() - start
        if bar is not None:
            sys.stderr.write('\n')

    def _pipelined(self, source: Iterator[InputItem], batch_size: int, out_dir: str,
                   draw: DrawOptions, keep_vis: bool, write_vis: bool, need_image: bool,
                   bar) -> Iterator[ItemResult]:
        """Load the next batch and write the previous one while the model runs this one."""
        with ThreadPoolExecutor(1) as loader, ThreadPoolExecutor(1) as writer:
            loading = loader.submit(self._load, source, batch_size, need_image)
            pending: Future | None = None
            while True:
                loaded = loading.result()
                if not loaded:
                    break
                loading = loader.submit(self._load, source, batch_size, need_image)
                self._prepare(loaded)
                self._predict(loaded)
                finished = writer.submit(self._finish, loaded, out_dir, draw, keep_vis,
                                         write_vis)
                if pending is not None:
                    yield from self._account(pending.result(), bar)
                pending = finished
            if pending is not None:
                yield from self._account(pending.result(), bar)

    def _account(self, results: list[ItemResult], bar) -> Iterator[ItemResult]:
        for result in results:
            if result.error is None:
                self.stats.done += 1
            else:
                self.stats.failed.append((result.item.path or result.item.name, result.error))
                print(f'failed: {result.error}', file=sys.stderr)
            if bar is not None:
                bar.update()
            yield result

    def _load(self, source: Iterator[InputItem], batch_size: int,
              keep_image: bool) -> list[dict]:
        """Take, decode and pre-process the next batch (in the loader thread); a failure marks
        only its item. Only numpy and OpenCV run here: a torch op in a second thread would start
        a second OpenMP team, whose spinning threads slow the model's own on a busy machine."""
        loaded = []
        for item in itertools.islice(source, batch_size):
            entry: dict[str, Any] = dict(item=item, keep_image=keep_image)
            try:
                entry['image'] = read_image(item)
                entry['prepared'] = self.backend.prepare(entry['image'])
            except Exception as err:  # noqa: BLE001 - reported per input, the others go on
                entry['error'] = _named(item, err)
            loaded.append(entry)
        return loaded

    def _prepare(self, loaded: list[dict]) -> None:
        """Packing into tensors (in the main thread, for the reason in `_load`)."""
        for entry in loaded:
            if 'error' in entry:
                continue
            try:
                entry['prepared'] = self.backend.pack(entry['prepared'])
            except Exception as err:  # noqa: BLE001 - reported per input, the others go on
                entry['error'] = _named(entry['item'], err)
            if not entry['keep_image']:
                entry['image'] = None

    def _predict(self, loaded: list[dict]) -> None:
        ready = [e for e in loaded if 'error' not in e]
        if not ready:
            return
        try:
            samples = self.backend.run([e['prepared'] for e in ready])
        except Exception:  # noqa: BLE001 - find the input the model fails on, run the rest
            if len(ready) == 1:
                raise
            for entry in ready:
                self._predict([entry])
            return
        for entry, sample in zip(ready, samples, strict=True):
            entry['sample'] = sample
            entry.pop('prepared')

    def _finish(self, loaded: list[dict], out_dir: str, draw: DrawOptions, keep_vis: bool,
                write_vis: bool) -> list[ItemResult]:
        """Draw and write one batch's outputs (in the writer thread)."""
        results = []
        for entry in loaded:
            item = entry['item']
            if 'error' in entry:
                results.append(ItemResult(item, error=entry['error']))
                continue
            written: list[str] = []
            try:
                vis = self._write(entry, out_dir, draw, keep_vis, write_vis, written)
                results.append(ItemResult(item, entry['sample'], vis))
            except Exception as err:  # noqa: BLE001 - nothing half-written is left behind
                remove_outputs(written)
                results.append(ItemResult(item, error=f'{item.path or item.name}: writing the '
                                          f'outputs failed: {err}'))
        return results

    def _write(self, entry: dict, out_dir: str, draw: DrawOptions, keep_vis: bool,
               write_vis: bool, written: list[str]) -> np.ndarray | None:
        item, sample = entry['item'], entry['sample']
        mask = sample.pred_sem_seg.data[0].cpu().numpy()
        vis = None
        if (out_dir and write_vis) or keep_vis:
            vis = draw_overlay(entry['image'], mask, self.classes, self.palette, draw.opacity,
                               draw.with_labels, draw.legend)
        if out_dir:
            pred_path = osp.join(out_dir, 'pred', item.pred_name)
            write_bytes(pred_path, encode_label_png(mask, self.palette))
            written.append(pred_path)
        if out_dir and write_vis:
            vis_path = osp.join(out_dir, 'vis', item.name)
            write_bytes(vis_path, encode_image(vis_path, vis))
            written.append(vis_path)
        return vis if keep_vis else None
