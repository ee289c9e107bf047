"""ResNet backbones (ResNet, ResNetV1c, ResNetV1d) with mmsegmentation 1.x's arguments and keys.

State-dict keys equal mmsegmentation's: the stem is `conv1`/`bn1` (7x7) or `stem.{0,1,3,4,6,7}`
(deep stem: three 3x3 conv + norm + ReLU), then stages `layer1`..`layerN`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from upertool.models.utils import build_norm_layer
from upertool.models.utils.arg_checks import (
    check_out_indices,
    resolve_pretrained,
    resolve_stage_strides,
)
from upertool.models.utils.folded_conv import conv_norm_relu
from upertool.registry import MODELS

from . import resnet_weights
from .resnet_blocks import BasicBlock, Bottleneck, check_conv_cfg, conv2d, make_res_layer

# The stem (stride-2 conv + stride-2 max pool) reduces the input by 4 before layer1.
_STEM_STRIDE = 4


def _check_int_seq(name: str, value: Sequence[int], length: int, minimum: int) -> tuple[int, ...]:
    if isinstance(value, int) or not isinstance(value, Sequence):
        raise ValueError(f'{name} must be a sequence of {length} ints, got {value!r}')
    if len(value) != length:
        raise ValueError(f'len({name}) must equal num_stages={length}, got {tuple(value)}')
    if not all(isinstance(v, int) and v >= minimum for v in value):
        raise ValueError(f'{name} must hold ints >= {minimum}, got {tuple(value)}')
    return tuple(value)


@MODELS.register_module()
class ResNet(BaseModule):
    """ResNet backbone (V1b: 7x7 stem conv, strided 1x1 projection), as mmsegmentation's.

    Args:
        depth: 18, 34 (BasicBlock) or 50, 101, 152 (Bottleneck).
        in_channels: Channels of the input image.
        stem_channels: Output channels of the stem (and input channels of layer1).
        base_channels: Width of layer1; stage i is `base_channels * 2**i` wide (times 4 after
            a Bottleneck's last conv).
        num_stages: How many stages to build, 1 to 4.
        stage_strides: Stride of the first block of each stage (mmsegmentation's name for it,
            `strides`, is accepted too; the attribute `strides` is the output strides).
        dilations: Dilation of each stage.
        out_indices: Stages whose outputs `forward` returns (in stage order).
        style: 'pytorch' (stride on the 3x3 conv) or 'caffe' (stride on the first 1x1 conv).
        deep_stem: Replace the 7x7 stem conv with three 3x3 convs.
        avg_down: Downsample the shortcut by an AvgPool followed by a stride-1 1x1 conv.
        frozen_stages: -1 freezes nothing; 0 freezes the stem; k also freezes layer1..layerk
            (requires_grad False and norm layers kept in eval mode, also after `.train()`).
        conv_cfg: None or dict(type='Conv2d'); other convolution types are not available.
        norm_cfg: Norm config, e.g. dict(type='SyncBN', requires_grad=True).
        norm_eval: Keep every BatchNorm in eval mode (frozen running stats) during training.
        dcn: Must be None; upertool has no deformable convolution.
        stage_with_dcn: Must be all False (accepted for config compatibility).
        plugins: Must be None; upertool has no ResNet plugins.
        multi_grid: Dilation of each block of the last stage (replaces that stage's dilation,
            as in mmsegmentation); its length must equal the number of blocks of that stage.
        contract_dilation: First block of a dilated stage uses half the stage's dilation.
        with_cp: Trade compute for memory with activation checkpointing in every block.
        zero_init_residual: Default init sets each block's last norm to zero, so blocks start
            as identities.
        pretrained: Deprecated path to a checkpoint; becomes
            init_cfg=dict(type='Pretrained', checkpoint=pretrained).
        init_cfg: mmengine init config; None gives Kaiming convs and constant 1/0 norms.

    Attributes:
        out_channels: Channels of each returned level.
        strides: Overall output stride of each returned level (input size / feature size,
            up to rounding up for odd sizes).

    Shapes:
        (B, in_channels, H, W) -> tuple of (B, out_channels[k], ceil(H / strides[k]),
        ceil(W / strides[k])).
    """

    arch_settings: dict[int, tuple[type[BasicBlock | Bottleneck], tuple[int, ...]]] = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }
    # Key tables of this model in timm/torchvision/mmpretrain/HF checkpoints (upertool.convert).
    WEIGHT_TABLES = resnet_weights

    def __init__(self, depth: int, *, in_channels: int = 3, stem_channels: int = 64,
                 base_channels: int = 64, num_stages: int = 4,
                 stage_strides: Sequence[int] = (1, 2, 2, 2),
                 strides: Sequence[int] | None = None, dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Sequence[int] = (0, 1, 2, 3), style: str = 'pytorch',
                 deep_stem: bool = False, avg_down: bool = False, frozen_stages: int = -1,
                 conv_cfg: dict | None = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True), norm_eval: bool = False,
                 dcn: dict | None = None,
                 stage_with_dcn: Sequence[bool] = (False, False, False, False),
                 plugins: list | None = None, multi_grid: Sequence[int] | None = None,
                 contract_dilation: bool = False, with_cp: bool = False,
                 zero_init_residual: bool = True, pretrained: str | None = None,
                 init_cfg: dict | list[dict] | None = None) -> None:
        super().__init__(init_cfg)
        if depth not in self.arch_settings:
            raise ValueError(f'depth must be one of {sorted(self.arch_settings)}, got {depth!r}')
        if dcn is not None or any(stage_with_dcn):
            raise NotImplementedError(
                'upertool has no deformable convolution (DCN): ResNet needs dcn=None and '
                f'stage_with_dcn all False, got dcn={dcn!r}, stage_with_dcn={stage_with_dcn!r}')
        if plugins is not None:
            raise NotImplementedError(
                f'upertool has no ResNet plugins: plugins must be None, got {plugins!r}')
        for name, value in (('in_channels', in_channels), ('stem_channels', stem_channels),
                            ('base_channels', base_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be a positive int, got {value!r}')
        if deep_stem and stem_channels < 2:
            raise ValueError(f'deep_stem needs stem_channels >= 2, got {stem_channels}')
        if not isinstance(num_stages, int) or not 1 <= num_stages <= 4:
            raise ValueError(f'num_stages must be an int in 1..4, got {num_stages!r}')
        strides = _check_int_seq('strides', resolve_stage_strides(
            'ResNet', stage_strides, strides, (1, 2, 2, 2)), num_stages, 1)
        dilations = _check_int_seq('dilations', dilations, num_stages, 1)
        out_indices = check_out_indices(out_indices, num_stages, 'stage')
        if style not in ('pytorch', 'caffe'):
            raise ValueError(f"style must be 'pytorch' or 'caffe', got {style!r}")
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages <= num_stages:
            raise ValueError(
                f'frozen_stages must be an int in -1..num_stages={num_stages}, '
                f'got {frozen_stages!r}')
        check_conv_cfg(conv_cfg)
        block, stage_blocks = self.arch_settings[depth]
        stage_blocks = stage_blocks[:num_stages]
        if multi_grid is not None and len(multi_grid) != stage_blocks[-1]:
            raise ValueError(
                f'multi_grid needs one dilation per block of the last stage '
                f'({stage_blocks[-1]} blocks for depth {depth}), got {tuple(multi_grid)}')
        self.init_cfg, block_init_cfg = self._resolve_init_cfg(
            init_cfg, pretrained, block, zero_init_residual)

        self.depth = depth
        self.in_channels = in_channels
        self.pretrained = pretrained
        self.zero_init_residual = zero_init_residual
        self.stem_channels = stem_channels
        self.base_channels = base_channels
        self.num_stages = num_stages
        # mmseg keeps the `strides` argument as `self.strides`; here `strides` is the
        # backbone contract (output stride per returned level), so the argument is renamed.
        self.stage_strides = strides
        self.dilations = dilations
        self.out_indices = out_indices
        self.style = style
        self.deep_stem = deep_stem
        self.avg_down = avg_down
        self.frozen_stages = frozen_stages
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.multi_grid = multi_grid
        self.contract_dilation = contract_dilation
        self.block = block
        self.stage_blocks = stage_blocks

        self._make_stem_layer(in_channels, stem_channels)
        self.res_layers: list[str] = []
        inplanes = stem_channels
        for i, num_blocks in enumerate(stage_blocks):
            planes = base_channels * 2**i
            layer = make_res_layer(
                block, inplanes, planes, num_blocks, stride=strides[i], dilation=dilations[i],
                avg_down=avg_down, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                multi_grid=multi_grid if i == num_stages - 1 else None,
                contract_dilation=contract_dilation, style=style, with_cp=with_cp,
                init_cfg=block_init_cfg)
            inplanes = planes * block.expansion
            self.add_module(f'layer{i + 1}', layer)
            self.res_layers.append(f'layer{i + 1}')
        self.feat_dim = inplanes

        self.out_channels = tuple(base_channels * 2**i * block.expansion for i in out_indices)
        self.strides = tuple(_STEM_STRIDE * math.prod(strides[:i + 1]) for i in out_indices)
        self._freeze_stages()

    @staticmethod
    def _resolve_init_cfg(init_cfg: dict | list[dict] | None, pretrained: str | None,
                          block: type, zero_init_residual: bool
                          ) -> tuple[dict | list[dict] | None, dict | None]:
        """Return (the model's init_cfg, the blocks' init_cfg), following mmseg."""
        if pretrained is not None:
            return resolve_pretrained('ResNet', pretrained, init_cfg), None
        if init_cfg is not None:
            return init_cfg, None
        default = [dict(type='Kaiming', layer='Conv2d'),
                   dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]
        block_init_cfg = None
        if zero_init_residual:
            last_norm = 'norm2' if block is BasicBlock else 'norm3'
            block_init_cfg = dict(type='Constant', val=0, override=dict(name=last_norm))
        return default, block_init_cfg

    @property
    def norm1(self) -> nn.Module:
        """The stem's norm layer (7x7 stem only)."""
        return getattr(self, self.norm1_name)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        if self.deep_stem:
            half = stem_channels // 2
            self.stem = nn.Sequential(
                conv2d(in_channels, half, 3, stride=2, padding=1),
                build_norm_layer(self.norm_cfg, half)[1],
                nn.ReLU(inplace=True),
                conv2d(half, half, 3, padding=1),
                build_norm_layer(self.norm_cfg, half)[1],
                nn.ReLU(inplace=True),
                conv2d(half, stem_channels, 3, padding=1),
                build_norm_layer(self.norm_cfg, stem_channels)[1],
                nn.ReLU(inplace=True))
        else:
            self.conv1 = conv2d(in_channels, stem_channels, 7, stride=2, padding=3)
            self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def _freeze_stages(self) -> None:
        """Stop gradients and freeze norm statistics of the stem and layers <= frozen_stages."""
        frozen: list[nn.Module] = []
        if self.frozen_stages >= 0:
            frozen += [self.stem] if self.deep_stem else [self.conv1, self.norm1]
        frozen += [getattr(self, f'layer{i}') for i in range(1, self.frozen_stages + 1)]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Args: x (B, in_channels, H, W). Returns the out_indices stages' features."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects input (B, {self.in_channels}, H, W), '
                             f'got {tuple(x.shape)}')
        if self.deep_stem:
            for i in range(0, len(self.stem), 3):  # (conv, norm, relu) x 3, folded at eval
                x = conv_norm_relu(x, self.stem[i], self.stem[i + 1], self.stem[i + 2])
        else:
            x = conv_norm_relu(x, self.conv1, self.norm1, self.relu)
        x = self.maxpool(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> ResNet:
        """Switch mode, keeping frozen stages (and, with norm_eval, all BatchNorms) in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


def _variant_kwargs(cls_name: str, kwargs: dict, **fixed: bool) -> dict:
    clash = sorted(set(kwargs) & set(fixed))
    if clash:
        fixed_str = ', '.join(f'{k}={v}' for k, v in fixed.items())
        raise TypeError(f'{cls_name} fixes {fixed_str}; do not pass {clash} '
                        '(use ResNet to choose them)')
    return {**kwargs, **fixed}


@MODELS.register_module()
class ResNetV1c(ResNet):
    """ResNet with a deep stem of three 3x3 convs (`stem.*` keys); arguments as `ResNet`.

    Reference: Bag of Tricks for Image Classification (https://arxiv.org/abs/1812.01187).
    """

    def __init__(self, depth: int, **resnet_args) -> None:
        super().__init__(depth, **_variant_kwargs('ResNetV1c', resnet_args,
                                                  deep_stem=True, avg_down=False))


@MODELS.register_module()
class ResNetV1d(ResNet):
    """ResNetV1c plus AvgPool-then-conv shortcuts (`downsample.1` conv, `downsample.2` norm).

    Arguments as `ResNet`. Reference: https://arxiv.org/abs/1812.01187.
    """

    def __init__(self, depth: int, **resnet_args) -> None:
        super().__init__(depth, **_variant_kwargs('ResNetV1d', resnet_args,
                                                  deep_stem=True, avg_down=True))
