"""`SelfAttentionBlock` of mmsegmentation 1.x (the non-local / attention block its heads share),
with its arguments and keys (`key_project`, `query_project`, `value_project`, `out_project`)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .conv_module import ConvModule


class SelfAttentionBlock(nn.Module):
    """Attention of query pixels over key pixels, each projected by 1x1 convs.

    Args:
        key_in_channels / query_in_channels: channels of the key / query maps.
        channels: channels of the key/query projection (and of the value with `with_out`).
        out_channels: channels of the result.
        share_key_query: one projection for both (needs equal input channels).
        query_downsample / key_downsample: modules applied after projection, or None.
        key_query_num_convs / value_out_num_convs: 1x1 convs in each projection.
        key_query_norm / value_out_norm: ConvModules (conv + norm + act) instead of plain convs.
        matmul_norm: scale the similarities by channels ** -0.5.
        with_out: project the context with `out_project` (value then has `channels`).

    Shapes: query (B, Cq, H, W), key (B, Ck, h, w) -> (B, out_channels, H, W).
    """

    def __init__(self, key_in_channels: int, query_in_channels: int, channels: int,
                 out_channels: int, share_key_query: bool, query_downsample: nn.Module | None,
                 key_downsample: nn.Module | None, key_query_num_convs: int,
                 value_out_num_convs: int, key_query_norm: bool, value_out_norm: bool,
                 matmul_norm: bool, with_out: bool, conv_cfg: dict | None,
                 norm_cfg: dict | None, act_cfg: dict | None) -> None:
        super().__init__()
        if share_key_query and key_in_channels != query_in_channels:
            raise ValueError('SelfAttentionBlock: share_key_query needs key_in_channels == '
                             f'query_in_channels, got {key_in_channels} and {query_in_channels}')
        self.key_in_channels = key_in_channels
        self.query_in_channels = query_in_channels
        self.out_channels = out_channels
        self.channels = channels
        self.share_key_query = share_key_query
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.key_project = self.build_project(key_in_channels, channels, key_query_num_convs,
                                              key_query_norm, conv_cfg, norm_cfg, act_cfg)
        self.query_project = self.key_project if share_key_query else self.build_project(
            query_in_channels, channels, key_query_num_convs, key_query_norm, conv_cfg,
            norm_cfg, act_cfg)
        self.value_project = self.build_project(
            key_in_channels, channels if with_out else out_channels, value_out_num_convs,
            value_out_norm, conv_cfg, norm_cfg, act_cfg)
        self.out_project = self.build_project(
            channels, out_channels, value_out_num_convs, value_out_norm, conv_cfg, norm_cfg,
            act_cfg) if with_out else None
        self.query_downsample = query_downsample
        self.key_downsample = key_downsample
        self.matmul_norm = matmul_norm
        self.init_weights()

    def init_weights(self) -> None:
        """A plain-conv out projection starts at zero, so the block starts as a no-op branch."""
        if self.out_project is not None and not isinstance(self.out_project, ConvModule):
            for param in self.out_project.parameters():
                nn.init.zeros_(param)

    def build_project(self, in_channels: int, channels: int, num_convs: int,
                      use_conv_module: bool, conv_cfg: dict | None, norm_cfg: dict | None,
                      act_cfg: dict | None) -> nn.Module:
        """`num_convs` 1x1 convs (ConvModules with `use_conv_module`); one is not wrapped."""
        convs: list[nn.Module] = []
        for i in range(num_convs):
            c_in = in_channels if i == 0 else channels
            convs.append(ConvModule(c_in, channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                    act_cfg=act_cfg) if use_conv_module
                         else nn.Conv2d(c_in, channels, 1))
        return convs[0] if len(convs) == 1 else nn.Sequential(*convs)

    def forward(self, query_feats: torch.Tensor, key_feats: torch.Tensor) -> torch.Tensor:
        batch_size = query_feats.size(0)
        query = self.query_project(query_feats)
        if self.query_downsample is not None:
            query = self.query_downsample(query)
        query = query.reshape(*query.shape[:2], -1).permute(0, 2, 1)  # (B, Nq, C)
        key = self.key_project(key_feats)
        value = self.value_project(key_feats)
        if self.key_downsample is not None:
            key = self.key_downsample(key)
            value = self.key_downsample(value)
        key = key.reshape(*key.shape[:2], -1)  # (B, C, Nk)
        value = value.reshape(*value.shape[:2], -1).permute(0, 2, 1)  # (B, Nk, Cv)
        sim_map = torch.matmul(query, key)
        if self.matmul_norm:
            sim_map = (self.channels ** -0.5) * sim_map
        context = torch.matmul(F.softmax(sim_map, dim=-1), value)  # (B, Nq, Cv)
        context = context.permute(0, 2, 1).reshape(batch_size, -1, *query_feats.shape[2:])
        if self.out_project is not None:
            context = self.out_project(context)
        return context
