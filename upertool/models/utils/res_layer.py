"""`ResLayer` of mmsegmentation 1.x: one ResNet stage built from any block class."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmengine.model import Sequential
from torch import nn

from .norm import build_norm_layer


class ResLayer(Sequential):
    """`num_blocks` blocks; the first takes the stride and a 1x1 projection `downsample`.

    Blocks are called as mmsegmentation's: `block(inplanes=, planes=, stride=, dilation=,
    downsample=, conv_cfg=, norm_cfg=, **block_args)`, and `block.expansion` gives the output
    channels (planes * expansion). Dilation: block i uses `multi_grid[i]` when given, else
    `dilation` (the first block `dilation // 2` with `contract_dilation`).

    Args:
        avg_down: project with AvgPool(stride) + stride-1 conv (ResNetV1d) instead of a
            strided conv; keys `downsample.1` / `downsample.2` then.
        block_args: passed to every block (e.g. style, with_cp).
    """

    def __init__(self, block: type[nn.Module], inplanes: int, planes: int, num_blocks: int,
                 stride: int = 1, dilation: int = 1, avg_down: bool = False,
                 conv_cfg: dict | None = None, norm_cfg: dict = dict(type='BN'),
                 multi_grid: Sequence[int] | None = None, contract_dilation: bool = False,
                 **block_args: Any) -> None:
        if conv_cfg is not None and conv_cfg.get('type', 'Conv2d') not in ('Conv2d', 'Conv'):
            raise ValueError(f"ResLayer supports conv_cfg type 'Conv2d' only, got {conv_cfg}")
        if multi_grid is not None and len(multi_grid) != num_blocks:
            raise ValueError(f'ResLayer: multi_grid {list(multi_grid)} needs one dilation per '
                             f'block ({num_blocks})')
        self.block = block
        out_channels = planes * block.expansion
        downsample = None
        if stride != 1 or inplanes != out_channels:
            layers: list[nn.Module] = []
            if avg_down:
                layers.append(nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True,
                                           count_include_pad=False))
            layers.append(nn.Conv2d(inplanes, out_channels, 1, stride=1 if avg_down else stride,
                                    bias=False))
            layers.append(build_norm_layer(norm_cfg, out_channels)[1])
            downsample = nn.Sequential(*layers)
        if multi_grid is not None:
            dilations = list(multi_grid)
        else:
            first = dilation // 2 if dilation > 1 and contract_dilation else dilation
            dilations = [first] + [dilation] * (num_blocks - 1)
        blocks = [block(inplanes=inplanes if i == 0 else out_channels, planes=planes,
                        stride=stride if i == 0 else 1, dilation=dilations[i],
                        downsample=downsample if i == 0 else None, conv_cfg=conv_cfg,
                        norm_cfg=norm_cfg, **block_args) for i in range(num_blocks)]
        super().__init__(*blocks)
