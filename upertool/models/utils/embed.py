"""`AdaptivePadding` and `PatchEmbed` with mmsegmentation 1.x's arguments, defaults and keys
(`projection`, `norm`), for code that builds its own transformer from them (e.g. MiT)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from .arg_checks import to_2tuple
from .norm import build_norm_layer


class AdaptivePadding(nn.Module):
    """Pad so that a (dilated) kernel with `stride` covers every pixel: ceil(H / stride) outputs.

    'corner' pads bottom/right, 'same' splits the padding around the map.
    """

    def __init__(self, kernel_size: int | Sequence[int] = 1, stride: int | Sequence[int] = 1,
                 dilation: int | Sequence[int] = 1, padding: str = 'corner') -> None:
        super().__init__()
        if padding not in ('same', 'corner'):
            raise ValueError(f"AdaptivePadding: padding must be 'same' or 'corner', got "
                             f'{padding!r}')
        self.padding = padding
        self.kernel_size = to_2tuple(kernel_size, 'kernel_size')
        self.stride = to_2tuple(stride, 'stride')
        self.dilation = to_2tuple(dilation, 'dilation')

    def get_pad_shape(self, input_shape: Sequence[int]) -> tuple[int, int]:
        """(pad_h, pad_w) for an (H, W) input."""
        pads = []
        for size, k, s, d in zip(input_shape, self.kernel_size, self.stride, self.dilation,
                                 strict=True):
            pads.append(max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0))
        return pads[0], pads[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = self.get_pad_shape(x.shape[-2:])
        if pad_h == 0 and pad_w == 0:
            return x
        if self.padding == 'corner':
            return F.pad(x, [0, pad_w, 0, pad_h])
        return F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])


class PatchEmbed(BaseModule):
    """Image to tokens by a conv (`projection`), then an optional `norm`.

    Args:
        kernel_size / stride: of the projection; stride None means kernel_size.
        padding: an int (conv padding) or 'corner' / 'same' (AdaptivePadding first).
        norm_cfg: norm over the tokens, e.g. dict(type='LN'); None for none.
        input_size: if given, `init_out_size` is the token grid it gives.

    Shapes: (B, in_channels, H, W) -> ((B, h*w, embed_dims), (h, w)).
    """

    def __init__(self, in_channels: int = 3, embed_dims: int = 768, conv_type: str = 'Conv2d',
                 kernel_size: int | Sequence[int] = 16, stride: int | Sequence[int] | None = None,
                 padding: int | Sequence[int] | str = 'corner',
                 dilation: int | Sequence[int] = 1, bias: bool = True,
                 norm_cfg: dict | None = None, input_size: int | Sequence[int] | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if conv_type not in ('Conv2d', 'Conv'):
            raise ValueError(f"PatchEmbed supports conv_type 'Conv2d' only, got {conv_type!r}")
        self.embed_dims = embed_dims
        kernel = to_2tuple(kernel_size, 'kernel_size')
        stride = kernel if stride is None else to_2tuple(stride, 'stride')
        dilation = to_2tuple(dilation, 'dilation')
        self.adap_padding = None
        if isinstance(padding, str):
            if padding not in ('corner', 'same'):
                raise ValueError(f"PatchEmbed: padding must be 'corner', 'same' or an int, got "
                                 f'{padding!r}')
            self.adap_padding = AdaptivePadding(kernel, stride, dilation, padding)
            padding = 0
        pad = to_2tuple(padding, 'padding', minimum=0)
        self.projection = nn.Conv2d(in_channels, embed_dims, kernel, stride, pad, dilation,
                                    bias=bias)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1] if norm_cfg is not None else None
        self.init_input_size = self.init_out_size = None
        if input_size:
            self.init_input_size = to_2tuple(input_size, 'input_size')
            extra = (self.adap_padding.get_pad_shape(self.init_input_size)
                     if self.adap_padding else (0, 0))
            self.init_out_size = tuple(
                (size + e + 2 * p - d * (k - 1) - 1) // s + 1 for size, e, p, d, k, s in zip(
                    self.init_input_size, extra, pad, dilation, kernel, stride, strict=True))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        if self.adap_padding is not None:
            x = self.adap_padding(x)
        x = self.projection(x)
        out_size = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return x, out_size
