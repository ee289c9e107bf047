"""TIMMBackbone: any timm model that supports `features_only`, as an upertool backbone.

mmsegmentation 1.x's name, arguments and state-dict keys (`timm_model.*`); timm is optional
(requirements/optional.txt) and imported only when a TIMMBackbone is built.
"""
from __future__ import annotations

import os.path as osp
from collections.abc import Sequence
from typing import Any

import torch
from mmengine.model import BaseModule
from torch import nn

from upertool.models.utils.norm import FallbackSyncBatchNorm
from upertool.registry import MODELS

# mmcv's norm names (mmsegmentation's TIMMBackbone looks `norm_layer` up in mmcv's registry)
# for the norms timm builds as `norm_layer(num_features)`.
MMCV_NORM_LAYERS: dict[str, type[nn.Module]] = {
    'BN': nn.BatchNorm2d, 'BN2d': nn.BatchNorm2d, 'SyncBN': FallbackSyncBatchNorm,
    'LN': nn.LayerNorm, 'IN': nn.InstanceNorm2d,
}


def import_timm() -> Any:
    """timm, or an ImportError that says how to install it."""
    try:
        import timm
    except ImportError as err:
        raise ImportError(
            f'TIMMBackbone needs timm, which could not be imported ({err}). Install it with '
            '`pip install timm` (or `pip install -r requirements/optional.txt`); timm imports '
            'torchvision, whose version must match the installed torch') from err
    return timm


@MODELS.register_module()
class TIMMBackbone(BaseModule):
    """A timm model's multi-scale features (`timm.create_model(..., features_only=True)`).

    Args:
        model_name: timm model name, e.g. 'convnext_tiny', 'resnet50', 'efficientnet_b0',
            'swin_tiny_patch4_window7_224' (any model whose features_only mode works).
        features_only: Must be True (a classifier's logits are no backbone); kept for
            mmsegmentation's signature.
        pretrained: Let timm download its ImageNet weights from the Hugging Face hub.
            Default False (mmsegmentation's is True), so that building works offline.
        checkpoint_path: A local file of the timm model's own weights (`.pth`/`.bin` state
            dict or `.safetensors`, as timm or the hub ships them). Loaded by timm into the
            full model, with the model's own key filter, before the feature wrapper is put
            around it - so the classifier's keys in the file do no harm (timm's own
            `checkpoint_path` would load into the wrapper and refuse them).
        in_channels: Channels of the input image (timm's `in_chans`; timm adapts the first
            conv of pretrained weights).
        out_indices: Which of the model's feature levels to return (timm's indices, e.g.
            (1, 2, 3, 4) for the stride-4..32 levels of a ResNet, whose level 0 is stride 2);
            None keeps timm's default for the model.
        init_cfg: mmengine init config, e.g. dict(type='Pretrained', checkpoint=...) of a
            whole TIMMBackbone state dict (keys `timm_model.*`).
        **timm_kwargs: Passed to `timm.create_model` unchanged (e.g. `img_size`,
            `strict_img_size=False`, `drop_path_rate`, `output_stride`, architecture
            overrides). `norm_layer` may name an mmcv norm ('BN', 'SyncBN', 'LN', 'IN').

    Attributes:
        out_channels: Channels of each returned level (timm's `feature_info.channels()`).
        strides: Reduction of each returned level (timm's `feature_info.reduction()`); each
            map is floor or ceil of input / stride, depending on the model's padding.
        channels_last_output: Whether timm hands the maps out as (B, H, W, C) (transformers
            such as Swin: the wrapper's `output_fmt` says so), turned into (B, C, H, W) here.

    Shapes:
        (B, in_channels, H, W) -> tuple of (B, out_channels[k], ~H / strides[k],
        ~W / strides[k]).
    """

    def __init__(self, model_name: str, features_only: bool = True, pretrained: bool = False,
                 checkpoint_path: str = '', in_channels: int = 3,
                 out_indices: Sequence[int] | None = None, init_cfg: dict | list | None = None,
                 **timm_kwargs: Any) -> None:
        timm = import_timm()
        super().__init__(init_cfg=init_cfg)
        if not isinstance(model_name, str) or not model_name:
            raise ValueError(f'TIMMBackbone: model_name must be a timm model name, '
                             f'got {model_name!r}')
        if features_only is not True:
            raise ValueError('TIMMBackbone: features_only must be True (a segmentation '
                             'backbone returns feature maps, not class logits)')
        if checkpoint_path and not osp.isfile(checkpoint_path):
            raise FileNotFoundError(f'TIMMBackbone: checkpoint_path {checkpoint_path!r} is not '
                                    'a file')
        if not timm.is_model(model_name):
            raise ValueError(f'TIMMBackbone: timm has no model {model_name!r} (timm '
                             f'{timm.__version__}); see timm.list_models()')
        norm_layer = timm_kwargs.get('norm_layer')
        if isinstance(norm_layer, str) and norm_layer in MMCV_NORM_LAYERS:
            timm_kwargs['norm_layer'] = MMCV_NORM_LAYERS[norm_layer]
        elif norm_layer == 'GN':
            raise ValueError("TIMMBackbone: norm_layer='GN' needs a group count; use timm's "
                             "'groupnorm' or a callable")
        if out_indices is not None:
            timm_kwargs['out_indices'] = tuple(out_indices)
        if checkpoint_path:
            # upertool's safe loader first: a file that would run code (or is no checkpoint)
            # is refused naming the file and the opt-in, before timm reads it
            from upertool.checkpoint import load_checkpoint_file

            load_checkpoint_file(checkpoint_path)
            overlay = dict(timm_kwargs.pop('pretrained_cfg_overlay', None) or {})
            overlay['file'] = checkpoint_path
            timm_kwargs['pretrained_cfg_overlay'] = overlay
        try:
            self.timm_model = timm.create_model(
                model_name, features_only=True, pretrained=bool(pretrained or checkpoint_path),
                in_chans=in_channels, **timm_kwargs)
        except RuntimeError as err:  # timm: 'features_only not implemented for ...'
            if 'features_only' in str(err):
                raise ValueError(f'TIMMBackbone: timm cannot build {model_name!r} with '
                                 f'features_only=True: {err}') from err
            raise
        info = self.timm_model.feature_info
        self.out_channels = tuple(int(c) for c in info.channels())
        self.strides = tuple(int(r) for r in info.reduction())
        # The wrapper records the layout of the maps it returns: timm sets it from the
        # model's `output_fmt` (NHWC for Swin and other channels-last transformers); models
        # with their own feature class (EfficientNet, MobileNetV3, ...) return NCHW.
        fmt = getattr(self.timm_model, 'output_fmt', 'NCHW')
        fmt = getattr(fmt, 'value', fmt)
        if fmt not in ('NCHW', 'NHWC'):
            raise ValueError(f'TIMMBackbone: {model_name!r} returns {fmt} features; only '
                             'NCHW and NHWC maps can feed a decode head')
        self.channels_last_output = fmt == 'NHWC'
        self.model_name = model_name
        self.in_channels = in_channels
        if pretrained or checkpoint_path:
            self._is_init = True  # keep the loaded weights through init_weights()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Args: x (B, in_channels, H, W). Returns the selected levels as (B, C, h, w)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'TIMMBackbone({self.model_name}) expects input '
                             f'(B, {self.in_channels}, H, W), got {tuple(x.shape)}')
        features = self.timm_model(x)
        if isinstance(features, dict):
            features = list(features.values())
        outs = []
        for i, (feat, channels) in enumerate(zip(features, self.out_channels, strict=True)):
            if self.channels_last_output:
                feat = feat.permute(0, 3, 1, 2).contiguous()
            if feat.dim() != 4 or feat.shape[1] != channels:
                raise RuntimeError(
                    f'TIMMBackbone({self.model_name}): level {i} has shape '
                    f'{tuple(feat.shape)}, but timm reports {channels} channels '
                    f'({"NHWC" if self.channels_last_output else "NCHW"} output)')
            outs.append(feat)
        return tuple(outs)
