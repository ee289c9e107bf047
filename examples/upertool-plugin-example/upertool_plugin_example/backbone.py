"""TinyConvNet: a plain conv pyramid, the smallest backbone that meets upertool's contract.

The contract (upertool's DESIGN.md): `forward(x)` returns a tuple of multi-scale features,
finest first, and the module reports `out_channels` and `strides` (tuples), from which
upertool fills in the heads' `in_channels`.
"""
from __future__ import annotations

from collections.abc import Sequence

from mmengine.model import BaseModule
from torch import Tensor, nn

from upertool.registry import MODELS


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


@MODELS.register_module()
class TinyConvNet(BaseModule):
    """A stride-2 stem, then one stride-2 stage (two 3x3 conv-BN-ReLU) per width.

    Args:
        in_channels: image channels.
        stem_channels: channels of the stem.
        widths: channels of each stage; stage i runs at stride 2 ** (i + 2).
        init_cfg: mmengine init config.

    Shapes:
        (B, in_channels, H, W) -> tuple of (B, widths[i], ceil(H / 2 ** (i + 2)), ...).
    """

    def __init__(self, in_channels: int = 3, stem_channels: int = 8,
                 widths: Sequence[int] = (8, 16, 32, 64),
                 init_cfg: dict | list | None = None) -> None:
        super().__init__(init_cfg)
        if not widths or any(not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f'TinyConvNet: widths must be positive ints, got {widths!r}')
        self.stem = _conv_bn_relu(in_channels, stem_channels, stride=2)
        stages, prev = [], stem_channels
        for width in widths:
            stages.append(nn.Sequential(_conv_bn_relu(prev, width, stride=2),
                                        _conv_bn_relu(width, width, stride=1)))
            prev = width
        self.stages = nn.ModuleList(stages)
        self.out_channels = tuple(widths)
        self.strides = tuple(2 ** (i + 2) for i in range(len(widths)))

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        outs = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return tuple(outs)
