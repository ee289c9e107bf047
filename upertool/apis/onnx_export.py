"""ONNX export of a segmentor at a fixed input size, checked against PyTorch with onnxruntime.

What is exported is `mode='tensor'` (backbone, neck, decode head: logits at the head's
resolution) or, with `labels_only`, the labels at the input size (logits resized bilinearly and
arg-maxed). The input is the already-normalised image, as `mode='tensor'` takes it; the data
preprocessor's mean, std, channel order and padding value, the export size and the classes and
palette travel in the file's metadata (`upertool` key, JSON), which `OnnxSegmentor` reads.

`nn.AdaptiveAvgPool2d` (the PPM's pooling) has no ONNX form unless the output size divides the
input size. At a fixed input size it is a fixed linear map, so the exporter swaps each one (in
a copy of the model) for two matrix products with the exact averaging matrices: the same
numbers, any sizes. The model itself is not changed.
"""
from __future__ import annotations

import copy
import io
import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

METADATA_KEY = 'upertool'


def adaptive_pool_matrix(src: int, dst: int) -> Tensor:
    """(dst, src) matrix whose row i averages `AdaptiveAvgPool`'s bin i of a length-`src` axis.

    Bin i covers [floor(i * src / dst), ceil((i + 1) * src / dst)), PyTorch's definition.
    """
    matrix = torch.zeros(dst, src, dtype=torch.float64)
    for i in range(dst):
        start, end = (i * src) // dst, -(-((i + 1) * src) // dst)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


class FixedSizeAdaptiveAvgPool2d(nn.Module):
    """AdaptiveAvgPool2d for one known input size, as `P_h @ x @ P_w^T` (exports as MatMul)."""

    def __init__(self, in_size: tuple[int, int], out_size: tuple[int, int]) -> None:
        super().__init__()
        self.in_size, self.out_size = tuple(in_size), tuple(out_size)
        self.register_buffer('rows', adaptive_pool_matrix(in_size[0], out_size[0]).float())
        self.register_buffer('cols', adaptive_pool_matrix(in_size[1], out_size[1]).t().float())

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) != self.in_size:
            raise ValueError(f'FixedSizeAdaptiveAvgPool2d was built for inputs of {self.in_size}, '
                             f'got {tuple(x.shape[-2:])}')
        return self.rows @ x @ self.cols


def _pair(size: Any, like: tuple[int, int]) -> tuple[int, int]:
    size = (size, size) if isinstance(size, int) else tuple(size)
    return tuple(like[i] if s is None else int(s) for i, s in enumerate(size))


def replace_adaptive_pooling(model: nn.Module, example: Tensor) -> int:
    """Swap every AdaptiveAvgPool2d of `model` (in place) for its fixed-size matrix form.

    The input size of each pooling is taken from one forward pass on `example`.
    Returns the number of modules swapped.
    """
    seen: dict[str, tuple[int, int]] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.AdaptiveAvgPool2d):
            def record(mod, args, name=name):
                seen[name] = tuple(args[0].shape[-2:])
            hooks.append(module.register_forward_pre_hook(record))
    try:
        with torch.no_grad():
            model(example, mode='tensor')
    finally:
        for hook in hooks:
            hook.remove()
    for name, in_size in seen.items():
        parent_name, _, child = name.rpartition('.')
        parent = model.get_submodule(parent_name) if parent_name else model
        old = getattr(parent, child)
        setattr(parent, child, FixedSizeAdaptiveAvgPool2d(in_size, _pair(old.output_size,
                                                                         in_size)))
    return len(seen)


class ExportWrapper(nn.Module):
    """The graph that is exported: normalised images -> logits, or labels at the input size."""

    def __init__(self, model: nn.Module, labels_only: bool) -> None:
        super().__init__()
        self.model = model
        self.labels_only = labels_only
        self.align_corners = bool(getattr(model, 'align_corners', False))

    def forward(self, inputs: Tensor) -> Tensor:
        logits = self.model(inputs, mode='tensor').float()
        if not self.labels_only:
            return logits
        logits = F.interpolate(logits, size=inputs.shape[-2:], mode='bilinear',
                               align_corners=self.align_corners)
        return logits.argmax(dim=1)


def export_metadata(model: nn.Module, shape: tuple[int, int], labels_only: bool) -> dict:
    """What OnnxSegmentor needs to pre- and post-process like the PyTorch model."""
    pre = getattr(model, 'data_preprocessor', None)
    mean = getattr(pre, 'mean', None)
    std = getattr(pre, 'std', None)
    meta = getattr(model, 'dataset_meta', None) or {}
    cfg = getattr(model, 'cfg', None)
    return dict(
        input_size=list(shape), output='labels' if labels_only else 'logits',
        mean=None if mean is None else mean.flatten().tolist(),
        std=None if std is None else std.flatten().tolist(),
        bgr_to_rgb=bool(getattr(pre, 'channel_conversion', False)),
        pad_val=float(getattr(pre, 'pad_val', 0)),
        align_corners=bool(getattr(model, 'align_corners', False)),
        num_classes=int(getattr(model, 'num_classes', 0) or 0),
        classes=[str(c) for c in meta.get('classes', ())],
        palette=[[int(v) for v in c] for c in meta.get('palette', ())],
        config=os.path.basename(getattr(cfg, 'filename', '') or '') if cfg is not None else '')


@dataclass
class ExportCheck:
    """onnxruntime against PyTorch on one random input."""

    max_abs_diff: float  # logits (NaN for labels-only exports)
    label_agreement: float  # share of pixels with equal labels
    margin_agreement: float  # the same where PyTorch's top-2 margin exceeds 1e-3
    torch_s: float
    onnxruntime_s: float

    def summary(self) -> str:
        return (f'max |logit difference| {self.max_abs_diff:.3g}; labels equal on '
                f'{100 * self.label_agreement:.4f}% of pixels ({100 * self.margin_agreement:.4f}% '
                f'where the top-2 margin > 1e-3); one pass: PyTorch {self.torch_s:.3f} s, '
                f'onnxruntime {self.onnxruntime_s:.3f} s')


def _import_onnx():
    try:
        import onnx
        import onnxruntime
    except ImportError as err:
        raise ImportError("ONNX export needs onnx and onnxruntime: pip install -e '.[export]'"
                          ) from err
    return onnx, onnxruntime


@dataclass
class ExportResult:
    """How the file was made and, when checked, how it compares with PyTorch."""

    route: str  # which exporter, and whether the plain fpn_bottleneck was used
    check: ExportCheck | None


def _torch_export(wrapper: nn.Module, example: Tensor, dynamic_batch: bool, opset: int,
                  dynamo: bool) -> bytes:
    import contextlib
    import warnings
    buffer = io.BytesIO()
    axes = {'input': {0: 'batch'}, 'output': {0: 'batch'}} if dynamic_batch else None
    with warnings.catch_warnings(), torch.no_grad(), \
            contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter('ignore')  # tracer warnings about shapes: the size is fixed
        torch.onnx.export(wrapper, (example,), buffer, dynamo=dynamo, opset_version=opset,
                          input_names=['input'], output_names=['output'], dynamic_axes=axes,
                          **({'optimize': True, 'verbose': False} if dynamo else {}))
    return buffer.getvalue()


def _export_bytes(wrapper: ExportWrapper, example: Tensor, dynamic_batch: bool,
                  opset: int) -> tuple[bytes, str]:
    """The ONNX bytes and the route taken.

    UPerHead's `fpn_bottleneck` is exported in its plain upsample-concat-conv form (the same
    logits up to fp32 rounding): the low-resolution form is a chain of channels-last views
    and banded products that PyTorch runs fast, but that ONNX spells as transposes and small
    matmuls, which onnxruntime ran 4x slower than the plain form (R-50 at 512 px: 3.7 vs
    0.89 s). torch.export's exporter (`dynamo=True`, needs onnxscript) is tried first, the
    TorchScript exporter after it.
    """
    heads = [m for m in wrapper.modules() if getattr(m, 'low_res_fusion', False)]
    for head in heads:
        head.low_res_fusion = False
    plain = ', plain fpn_bottleneck' if heads else ''
    try:
        import onnxscript  # noqa: F401
        return (_torch_export(wrapper, example, dynamic_batch, opset, True),
                'torch.export' + plain)
    except ImportError:
        why = 'onnxscript is not installed'
    except Exception as err:  # noqa: BLE001 - any exporter failure takes the fallback route
        why = f'torch.export failed ({type(err).__name__}: {str(err).splitlines()[0][:200]})'
    route = 'TorchScript exporter' + plain
    print(f'export_onnx: {why}; using the {route}')
    return _torch_export(wrapper, example, dynamic_batch, opset, False), route


def export_onnx(model: nn.Module, out: str | os.PathLike, shape: tuple[int, int],
                dynamic_batch: bool = False, labels_only: bool = False, opset: int = 18,
                check: bool = True, seed: int = 0) -> ExportResult:
    """Write `model` (an EncoderDecoder from init_model) as ONNX; check it with onnxruntime.

    Args:
        model: the segmentor; it is not modified (a copy is exported).
        out: the .onnx file; written atomically (nothing is left on failure).
        shape: (H, W) input size the graph is fixed to.
        dynamic_batch: let the batch dimension vary.
        labels_only: output (B, H, W) int64 labels instead of the head's logits.
        opset: ONNX opset version.
        check: run onnxruntime and PyTorch on one random input and compare.

    Returns:
        The route taken and the comparison (None with check=False).
    """
    onnx, _ = _import_onnx()
    height, width = (int(shape[0]), int(shape[1]))
    model = copy.deepcopy(model).cpu().eval()
    example = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(seed))
    replace_adaptive_pooling(model, example)
    wrapper = ExportWrapper(model, labels_only).eval()
    data, route = _export_bytes(wrapper, example, dynamic_batch, opset)
    proto = onnx.load_from_string(data)
    entry = proto.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(export_metadata(model, (height, width), labels_only))
    from upertool.checkpoint.atomic_io import atomic_write
    atomic_write(out, lambda f: f.write(proto.SerializeToString()))
    result = compare_with_torch(wrapper, out, example, labels_only) if check else None
    return ExportResult(route, result)


def compare_with_torch(wrapper: nn.Module, path: str | os.PathLike, example: Tensor,
                       labels_only: bool) -> ExportCheck:
    """Run the exported file and the PyTorch graph on `example` and compare."""
    import time
    _, ort = _import_onnx()
    session = ort.InferenceSession(os.fspath(path), providers=['CPUExecutionProvider'])
    start = time.perf_counter()
    got = session.run(None, {'input': example.numpy()})[0]
    ort_s = time.perf_counter() - start
    with torch.no_grad():
        start = time.perf_counter()
        logits = wrapper.model(example, mode='tensor').float()
        torch_s = time.perf_counter() - start
    if labels_only:
        full = F.interpolate(logits, size=example.shape[-2:], mode='bilinear',
                             align_corners=wrapper.align_corners)
        ref_labels, diff = full.argmax(1).numpy(), float('nan')
        labels, margin_logits = got, full
    else:
        ref_labels, labels = logits.argmax(1).numpy(), got.argmax(1)
        diff = float(np.abs(got - logits.numpy()).max())
        margin_logits = logits
    top2 = margin_logits.topk(2, dim=1).values if margin_logits.shape[1] > 1 else None
    clear = (np.ones_like(ref_labels, bool) if top2 is None
             else (top2[:, 0] - top2[:, 1]).numpy() > 1e-3)
    equal = labels == ref_labels
    return ExportCheck(diff, float(equal.mean()), float(equal[clear].mean()) if clear.any()
                       else 1.0, torch_s, ort_s)
