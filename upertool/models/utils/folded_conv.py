"""Eval-time convolutions with BatchNorm folded in and ReLU (and a residual add) fused.

In eval mode a BatchNorm is a fixed per-channel affine map, so conv -> BN -> ReLU is one
convolution with rescaled weights, a bias and a ReLU. On a CPU, oneDNN runs that as one
primitive (`mkldnn::_convolution_pointwise`, the op torch.compile's CPU backend emits),
with the weight already in its blocked layout, so each layer costs one pass over its
output instead of three (conv, BN, ReLU) plus a weight reorder per call. A ResNet block's
last conv adds the residual in place before its ReLU.

The folded weights live in a cache beside the module, never in it: the parameters and the
state dict stay as trained, a changed weight or statistic (load_state_dict, an optimizer
step) invalidates the entry, and `release_folded_convs` frees them (EncoderDecoder does on
`train()`). The path is taken only where it gives the modules' result up to rounding: no
autograd; a channels-last CPU input in fp32, or under CPU bf16 autocast (the folded weights
cast to bf16, as autocast casts a conv's); an eval-mode BatchNorm (or none); a zero-padded
nn.Conv2d without hooks; no tracing (export, torch.compile). Everything else runs the
modules as they are. `plain_eval_convs()` turns it off, to compare against.
"""
from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_weights
from torch.utils.weak import WeakIdKeyDictionary

_enabled = True
# conv module -> (key, weight for oneDNN, bias); weak, so a dropped model frees its entries
_cache: weakref.WeakKeyDictionary[nn.Module, tuple] = weakref.WeakKeyDictionary()
# weight tensor -> (key, weight reordered for oneDNN); see `kept_beside`
_packed_weights = WeakIdKeyDictionary()
_T = TypeVar('_T')


@contextlib.contextmanager
def plain_eval_convs() -> Iterator[None]:
    """Run every convolution as its modules (conv, norm, act) inside this block, and the
    other eval-only fast paths (`eval_fast_paths_may_run`) in their torch form."""
    global _enabled
    previous, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = previous


def eval_fast_paths_may_run() -> bool:
    """The conditions every eval-only fast path shares: not inside `plain_eval_convs()`, no
    autograd, no tracing, export or compilation."""
    return _enabled and not torch.is_grad_enabled() and not _tracing()


def release_folded_convs(model: nn.Module) -> None:
    """Drop the cached folded weights of `model`'s convolutions (they are rebuilt on use)."""
    for module in model.modules():
        _cache.pop(module, None)


def folded_conv_count(model: nn.Module) -> int:
    """How many of `model`'s modules hold folded weights now (0 after `train()`)."""
    return sum(module in _cache for module in model.modules())


_ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn,
                                                            '_convolution_pointwise')


def can_fold(x: Tensor, conv: nn.Module, norm: nn.Module | None) -> bool:
    """Whether `norm(conv(x))` may run as one folded oneDNN convolution here."""
    return (_onednn_may_run(x)
            and type(conv) is nn.Conv2d and conv.padding_mode == 'zeros'
            and not isinstance(conv.padding, str)
            and conv.weight.dtype == torch.float32 and conv.weight.device.type == 'cpu'
            and not conv.weight.is_inference()  # no version counter to notice a change by
            and (norm is None or _is_eval_batch_norm(norm, conv.out_channels))
            and not _hooked(conv, norm))


def can_prepack(x: Tensor, weight: Tensor) -> bool:
    """Whether `conv2d(x, weight)` may run with `weight` kept reordered for oneDNN
    (`prepacked_conv2d`): the conditions of `can_fold` for a bare weight, which must be in
    the compute dtype already (as `cached_folded_weight_and_bias` gives it)."""
    return (_onednn_may_run(x)
            and weight.dim() == 4 and weight.device.type == 'cpu'
            and weight.dtype == compute_dtype(x) and not weight.is_inference())


def prepacked_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None,
                     padding: int = 0) -> Tensor:
    """`conv2d(x, weight, bias, padding=padding)` with `weight` reordered for oneDNN once and
    kept until it changes (keyed by the tensor itself: pass one that lives between calls);
    check `can_prepack` first. Saves the per-call reorder (UPerHead's 512->512 3x3 fusion
    conv at 128x128: 155.7 -> 150.1 ms)."""
    args = ([padding] * 2, [1, 1], [1, 1], 1)  # padding, stride, dilation, groups
    packed = kept_beside(_packed_weights, weight, (tuple(x.shape),),
                         lambda: _reordered(weight, *args, x.shape))
    return torch.ops.mkldnn._convolution_pointwise(x.to(weight.dtype), packed, bias, *args,
                                                   'none', [], '')


def kept_beside(cache: WeakIdKeyDictionary, tensor: Tensor, key: tuple,
                build: Callable[[], _T]) -> _T:
    """`build()`'s result, kept in `cache` beside `tensor` (by identity, as tensors compare
    by value; weakly, so a dropped tensor takes its entry with it) until the tensor's
    version or `key` changes. `tensor` must not be an inference tensor (it has no version)."""
    return _kept(cache, tensor, (tensor._version, *key), build)


def _kept(cache: weakref.WeakKeyDictionary | WeakIdKeyDictionary, owner: object, key: tuple,
          build: Callable[[], _T]) -> _T:
    """`owner`'s entry in `cache` if it was built for `key`, else `build()`'s result,
    replacing it."""
    entry = cache.get(owner)
    if entry is None or entry[0] != key:
        entry = (key, build())
        cache[owner] = entry
    return entry[1]


@torch.inference_mode(False)
@torch.no_grad()
def _reordered(weight: Tensor, padding: list[int], stride: list[int], dilation: list[int],
               groups: int, input_shape: torch.Size) -> Tensor:
    """`weight` in oneDNN's blocked layout for a convolution over inputs of `input_shape`."""
    return torch._C._nn.mkldnn_reorder_conv2d_weight(
        weight.contiguous().to_mkldnn(), padding, stride, dilation, groups, list(input_shape))


def _onednn_may_run(x: Tensor) -> bool:
    """The input-side conditions of both paths: enabled, no autograd or tracing, a
    channels-last CPU map in fp32, or under CPU bf16 autocast."""
    return (eval_fast_paths_may_run() and _ONEDNN and torch.backends.mkldnn.enabled
            and x.device.type == 'cpu' and x.dim() == 4
            and x.dtype in (torch.float32, torch.bfloat16)
            and x.is_contiguous(memory_format=torch.channels_last)
            and (x.dtype == torch.float32 if not torch.is_autocast_enabled('cpu')
                 else torch.get_autocast_dtype('cpu') == torch.bfloat16))


def _hooked(*modules: nn.Module | None) -> bool:
    """Whether a forward hook would see these modules run (skipping them would hide it);
    spectral norm, for one, computes the weight in a pre-hook."""
    if nn.modules.module._global_forward_hooks or nn.modules.module._global_forward_pre_hooks:
        return True
    return any(m is not None and (m._forward_hooks or m._forward_pre_hooks) for m in modules)


def _tracing() -> bool:
    """Export and compilation record the modules' own ops (ONNX has no oneDNN op; the
    compilers fold BatchNorm themselves)."""
    return (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
            or torch.compiler.is_compiling())


def _is_eval_batch_norm(norm: nn.Module, channels: int) -> bool:
    return (isinstance(norm, _BatchNorm) and not norm.training
            and norm.running_mean is not None and norm.num_features == channels
            and not norm.running_mean.is_inference())


def _versions(*tensors: Tensor | None) -> tuple:
    return tuple((t.data_ptr(), t._version) if t is not None else None for t in tensors)


@torch.inference_mode(False)
@torch.no_grad()
def folded_weight_and_bias(conv: nn.Conv2d, norm: nn.Module | None) -> tuple[Tensor, Tensor]:
    """(weight, bias) of the one convolution that equals `norm(conv(.))` in eval mode;
    the weight is channels-last. Ordinary tensors even under inference_mode, so that what
    is derived from them can be cached by their version."""
    if norm is None:
        bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels)
        weight = conv.weight
    else:
        weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias, norm.running_mean,
                                            norm.running_var, norm.eps, norm.weight, norm.bias)
    return weight.detach().contiguous(memory_format=torch.channels_last), bias.detach()


def cached_folded_weight_and_bias(conv: nn.Conv2d, norm: nn.Module | None,
                                  dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """`folded_weight_and_bias` in `dtype`, kept until a weight or statistic changes (the
    same tensors on every call, so what callers derive from them can be cached too)."""
    def build() -> tuple[Tensor, Tensor]:
        weight, bias = folded_weight_and_bias(conv, norm)
        return weight.to(dtype), bias.to(dtype)
    return _kept(_cache, conv, ('plain', dtype, *_state_key(conv, norm)), build)


def _state_key(conv: nn.Conv2d, norm: nn.Module | None) -> tuple:
    params = (conv.weight, conv.bias)
    if norm is not None:
        params += (norm.weight, norm.bias, norm.running_mean, norm.running_var)
    return _versions(*params) + (norm.eps if norm is not None else None,)


def compute_dtype(x: Tensor) -> torch.dtype:
    """What the convolution computes in: bf16 under CPU bf16 autocast (as autocast would run
    it), else the input's dtype."""
    return torch.bfloat16 if torch.is_autocast_enabled('cpu') else x.dtype


def _packed(conv: nn.Conv2d, norm: nn.Module | None, x: Tensor) -> tuple[Tensor, Tensor]:
    """The folded weight, in the compute dtype, reordered for oneDNN's kernel for inputs
    shaped like `x`."""
    dtype = compute_dtype(x)

    def build() -> tuple[Tensor, Tensor]:
        weight, bias = folded_weight_and_bias(conv, norm)
        packed = _reordered(weight.to(dtype), list(conv.padding), list(conv.stride),
                            list(conv.dilation), conv.groups, x.shape)
        return packed, bias.to(dtype).contiguous()
    return _kept(_cache, conv, ('packed', tuple(x.shape), dtype, *_state_key(conv, norm)),
                 build)


def folded_conv(x: Tensor, conv: nn.Conv2d, norm: nn.Module | None, relu: bool,
                residual: Tensor | None = None) -> Tensor:
    """relu?(norm(conv(x)) [+ residual]) as one oneDNN convolution; check `can_fold` first.

    Args:
        x: (B, C_in, H, W) channels-last, fp32 (bf16 under autocast).
        residual: added before the ReLU (a residual block's identity), shaped as the output.
    """
    weight, bias = _packed(conv, norm, x)
    x = x.to(compute_dtype(x))  # bf16 autocast: as autocast would cast the conv's input
    args = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)
    if residual is None:
        return torch.ops.mkldnn._convolution_pointwise(
            x, weight, bias, *args, 'relu' if relu else 'none', [], '')
    # the residual added in place to the fresh output: oneDNN's fused binary add measured
    # slower here (R-50 layer1: 2.6 vs 1.9 ms), and its in-place form would write into the
    # identity, which callers may still hold
    out = torch.ops.mkldnn._convolution_pointwise(x, weight, bias, *args, 'none', [], '')
    out += residual
    return out.relu_() if relu else out


def conv_norm_relu(x: Tensor, conv: nn.Conv2d, norm: nn.Module | None,
                   relu: nn.Module | None, residual: Tensor | None = None) -> Tensor:
    """relu(norm(conv(x)) + residual), each part optional: folded where `can_fold`, else the
    modules as they are. `relu` is an nn.ReLU (fused) or None."""
    if (can_fold(x, conv, norm) and (relu is None or type(relu) is nn.ReLU)
            and not _hooked(relu)):
        return folded_conv(x, conv, norm, relu is not None, residual)
    out = conv(x)
    if norm is not None:
        out = norm(out)
    if residual is not None:
        out = out + residual
    return relu(out) if relu is not None else out
