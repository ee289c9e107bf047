"""Swin Transformer's window attention: windows, the shifted-window mask and (shifted) window
multi-head self-attention with a learned relative position bias, mmsegmentation 1.x's keys
(`w_msa.{qkv,proj,relative_position_bias_table,relative_position_index}`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from upertool.models.utils.pointwise_linear import PointwiseLinear

from .transformer_utils import DropPath

# Added to attention logits between tokens from different regions of a shifted window;
# mmseg's (and the original Swin's) value, kept so outputs match their checkpoints.
_MASK_VALUE = -100.0


def relative_position_index(wh: int, ww: int) -> torch.Tensor:
    """(wh*ww, wh*ww) index into the bias table: (dy + wh-1) * (2*ww-1) + (dx + ww-1)."""
    coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing='ij'))
    coords = coords.flatten(1)
    rel = coords[:, :, None] - coords[:, None, :]
    return (rel[0] + wh - 1) * (2 * ww - 1) + (rel[1] + ww - 1)


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * H/window * W/window, window*window, C), windows in row order."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def window_reverse(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """Inverse of window_partition: -> (B, H, W, C)."""
    c = windows.shape[-1]
    x = windows.view(-1, h // window, w // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def shifted_window_mask(h: int, w: int, window: int, shift: int,
                        device: torch.device) -> torch.Tensor:
    """(num_windows, N, N) additive mask: tokens that the cyclic shift brought together from
    different image regions do not attend to each other."""
    region = torch.zeros(1, h, w, 1, device=device)
    bounds = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    label = 0
    for hs in bounds:
        for ws in bounds:
            region[:, hs, ws, :] = label
            label += 1
    ids = window_partition(region, window).squeeze(-1)
    differ = ids.unsqueeze(1) != ids.unsqueeze(2)
    return torch.zeros(differ.shape, device=device).masked_fill(differ, _MASK_VALUE)


class WindowMSA(nn.Module):
    """Multi-head self-attention inside windows, with a learned relative position bias.

    Shapes: (num_windows*B, N, C) -> same, N = window_h * window_w.
    """

    def __init__(self, embed_dims: int, num_heads: int, window_size: tuple[int, int],
                 qkv_bias: bool = True, qk_scale: float | None = None,
                 attn_drop_rate: float = 0.0, proj_drop_rate: float = 0.0) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.window_size = window_size
        self.scale = qk_scale or (embed_dims // num_heads) ** -0.5
        wh, ww = window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        # A persistent buffer, as in mmseg, so its checkpoints' key sets match exactly.
        self.register_buffer('relative_position_index', relative_position_index(wh, ww))
        self.qkv = PointwiseLinear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = attn_drop_rate
        self.proj = PointwiseLinear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        bw, n, c = x.shape
        q, k, v = self.qkv(x).reshape(bw, n, 3, self.num_heads, c // self.num_heads).permute(
            2, 0, 3, 1, 4).unbind(0)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(n, n, -1).permute(2, 0, 1).contiguous()  # (heads, N, N)
        # torch's fused CPU kernel takes only 2-d or 4-d masks, (B or 1, heads or 1, N, N); it
        # falls back to the unfused math path (4.6x slower here) for any other
        if mask is None:
            attn_mask = bias.unsqueeze(0)
        else:
            attn_mask = bias.unsqueeze(0) + mask.unsqueeze(1).to(bias.dtype)  # (nW, heads, ..)
            nw = mask.shape[0]
            if nw != bw:  # one image's windows are the batch, as the mask's; else
                # fold each image's windows into the head dim, (B, nW*heads, N, d), so the
                # per-window mask broadcasts over images (a copy of q, k and v)
                q, k, v = (t.reshape(bw // nw, nw * self.num_heads, n, -1) for t in (q, k, v))
                attn_mask = attn_mask.flatten(0, 1).unsqueeze(0)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask.to(q.dtype),
            dropout_p=self.attn_drop if self.training else 0.0, scale=self.scale)
        out = out.reshape(bw, self.num_heads, n, -1).transpose(1, 2).reshape(bw, n, c)
        return self.proj_drop(self.proj(out))


class ShiftWindowMSA(nn.Module):
    """(Shifted) window attention on a token map of any size (padded to whole windows).

    Shapes: (B, H*W, C) and (H, W) -> (B, H*W, C).
    """

    def __init__(self, embed_dims: int, num_heads: int, window_size: int, shift_size: int = 0,
                 qkv_bias: bool = True, qk_scale: float | None = None,
                 attn_drop_rate: float = 0.0, proj_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0) -> None:
        super().__init__()
        if not 0 <= shift_size < window_size:
            raise ValueError(f'shift_size must be in [0, window_size={window_size}), '
                             f'got {shift_size}')
        self.window_size, self.shift_size = window_size, shift_size
        self.w_msa = WindowMSA(embed_dims, num_heads, (window_size, window_size), qkv_bias,
                               qk_scale, attn_drop_rate, proj_drop_rate)
        self.drop = DropPath(drop_path_rate)

    def forward(self, query: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        b, length, c = query.shape
        h, w = hw_shape
        ws, shift = self.window_size, self.shift_size
        x = query.view(b, h, w, c)
        pad_b, pad_r = (-h) % ws, (-w) % ws
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = x.shape[1], x.shape[2]
        mask = None
        if shift > 0:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
            mask = shifted_window_mask(hp, wp, ws, shift, x.device)
        x = window_reverse(self.w_msa(window_partition(x, ws), mask=mask), ws, hp, wp)
        if shift > 0:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
        x = x[:, :h, :w, :].reshape(b, h * w, c)
        return self.drop(x)
