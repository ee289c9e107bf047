"""BaseDecodeHead: input selection, the 1x1 classifier, losses and prediction resizing.

Arguments, defaults, attribute and state-dict names are mmsegmentation 1.x's
(`conv_seg`, `dropout`, `loss_decode`), so its configs and checkpoints work unchanged.
The segmentor calls exactly `forward`, `loss` and `predict`.
"""
from __future__ import annotations

import copy
import warnings
from abc import ABCMeta, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from upertool.models.losses import accuracy
from upertool.models.utils import resize
from upertool.models.utils.arg_checks import BINARY_THRESHOLD
from upertool.models.utils.folded_conv import conv_norm_relu
from upertool.registry import MODELS, TASK_UTILS

_INPUT_TRANSFORMS = (None, 'multiple_select', 'resize_concat')


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_int_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(_is_int(v) for v in value)


class BaseDecodeHead(BaseModule, metaclass=ABCMeta):
    """Base of decode heads: subclasses implement `forward(inputs) -> logits`.

    Args:
        in_channels: channels of the selected level (int), or of each selected level
            (list, with a list `in_index`).
        channels: channels of the head's last feature map, fed to `conv_seg`.
        num_classes: number of classes (2 for binary segmentation).
        out_channels: channels of `conv_seg`; None means num_classes. 1 (with
            num_classes=2) is binary segmentation with a sigmoid.
        threshold: probability above which a pixel is foreground when out_channels=1
            (default 0.3 then, as mmseg).
        dropout_ratio: Dropout2d before `conv_seg`; 0 for none.
        conv_cfg: conv config of the head's ConvModules.
        norm_cfg: norm config, e.g. dict(type='SyncBN', requires_grad=True).
        act_cfg: activation config.
        in_index: index of the backbone level used (int), or of the levels (list).
        input_transform: None (an int `in_index` selects one level, a list selects a
            list of levels), 'multiple_select' (a list of levels, mmseg's spelling) or
            'resize_concat' (levels resized to the first selected one and concatenated).
        loss_decode: a loss config or a list of them, built with MODELS; losses with the
            same `loss_name` are summed.
        ignore_index: label value that no loss or accuracy counts.
        sampler: pixel sampler config (TASK_UTILS), e.g.
            `dict(type='OHEMPixelSampler', thresh=0.7, min_kept=100000)`: its per-pixel
            weights are passed to every loss.
        align_corners: align_corners of every bilinear resize in the head.
        init_cfg: mmengine init config.

    Raises:
        ValueError / TypeError: for inconsistent arguments, naming the argument.
    """

    def __init__(self, in_channels: int | Sequence[int], channels: int, *, num_classes: int,
                 out_channels: int | None = None, threshold: float | None = None,
                 dropout_ratio: float = 0.1, conv_cfg: dict | None = None,
                 norm_cfg: dict | None = None, act_cfg: dict | None = dict(type='ReLU'),
                 in_index: int | Sequence[int] = -1, input_transform: str | None = None,
                 loss_decode: dict | Sequence[dict] | nn.Module = dict(
                     type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                 ignore_index: int | None = 255, sampler: dict | None = None,
                 align_corners: bool = False,
                 init_cfg: dict | list[dict] | None = dict(
                     type='Normal', std=0.01, override=dict(name='conv_seg'))) -> None:
        super().__init__(copy.deepcopy(init_cfg))
        name = type(self).__name__
        self._init_inputs(in_channels, in_index, input_transform)
        if not _is_int(channels) or channels < 1:
            raise ValueError(f'{name}: channels must be a positive int, got {channels!r}')
        if not _is_int(num_classes) or num_classes < 1:
            raise ValueError(f'{name}: num_classes must be an int >= 1, got {num_classes!r}')
        out_channels = num_classes if out_channels is None else out_channels
        if not _is_int(out_channels):
            raise ValueError(f'{name}: out_channels must be an int, got {out_channels!r}')
        if out_channels == 1 and num_classes != 2:
            raise ValueError(
                f'{name}: out_channels=1 (sigmoid) is binary segmentation, which has '
                f'num_classes=2 (background, foreground); got num_classes={num_classes}')
        if out_channels not in (1, num_classes):
            raise ValueError(
                f'{name}: out_channels must equal num_classes ({num_classes}), or be 1 for '
                f'binary segmentation with num_classes=2; got out_channels={out_channels}')
        if out_channels == 1 and threshold is None:
            threshold = BINARY_THRESHOLD
            warnings.warn(f'{name}: threshold is not set for binary segmentation '
                          f'(out_channels=1); it defaults to {threshold}, as in mmsegmentation',
                          UserWarning, stacklevel=2)
        if threshold is not None and not 0 <= threshold <= 1:
            raise ValueError(f'{name}: threshold must be in [0, 1], got {threshold}')
        if not 0 <= dropout_ratio < 1:
            raise ValueError(f'{name}: dropout_ratio must be in [0, 1), got {dropout_ratio}')
        if ignore_index is not None and not _is_int(ignore_index):
            raise ValueError(f'{name}: ignore_index must be an int or None, got '
                             f'{ignore_index!r}')
        self.channels = channels
        self.num_classes = num_classes
        self.out_channels = out_channels
        self.threshold = threshold
        self.dropout_ratio = dropout_ratio
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.ignore_index = ignore_index
        self.align_corners = align_corners
        self.sampler = (TASK_UTILS.build(sampler, default_args=dict(context=self))
                        if sampler is not None else None)
        self.loss_decode = self._build_losses(loss_decode)

        self.conv_seg = nn.Conv2d(channels, self.out_channels, kernel_size=1)
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 else None

    # ----------------------------------------------------------------- construction
    def _init_inputs(self, in_channels: Any, in_index: Any, input_transform: Any) -> None:
        """Check that in_channels, in_index and input_transform agree; set them."""
        name = type(self).__name__
        if input_transform not in _INPUT_TRANSFORMS:
            raise ValueError(f'{name}: input_transform must be one of {_INPUT_TRANSFORMS}, '
                             f'got {input_transform!r}')
        if _is_int_list(in_channels):
            if not in_channels or any(c < 1 for c in in_channels):
                raise ValueError(f'{name}: in_channels must be positive ints, got '
                                 f'{in_channels!r}')
            if not _is_int_list(in_index):
                raise ValueError(f'{name}: in_channels is a list {list(in_channels)}, so '
                                 f'in_index must be a list of the same length; got '
                                 f'in_index={in_index!r}')
            if len(in_index) != len(in_channels):
                raise ValueError(f'{name}: in_channels {list(in_channels)} and in_index '
                                 f'{list(in_index)} must have the same length')
            input_transform = input_transform or 'multiple_select'
            self.in_channels = (sum(in_channels) if input_transform == 'resize_concat'
                                else list(in_channels))
            self.in_index = list(in_index)
            self._level_channels = list(in_channels)
        elif _is_int(in_channels):
            if in_channels < 1:
                raise ValueError(f'{name}: in_channels must be positive, got {in_channels}')
            if input_transform is not None:
                raise ValueError(f"{name}: input_transform={input_transform!r} needs lists "
                                 f'in_channels and in_index, got in_channels={in_channels}')
            if not _is_int(in_index):
                raise ValueError(f'{name}: in_channels is an int ({in_channels}), so in_index '
                                 f'must be an int; got in_index={in_index!r}')
            self.in_channels = in_channels
            self.in_index = in_index
            self._level_channels = [in_channels]
        else:
            raise ValueError(f'{name}: in_channels must be an int or a list of ints, got '
                             f'{in_channels!r}')
        self.input_transform = input_transform

    def _build_losses(self, loss_decode: Any) -> nn.Module:
        """Build the loss or losses; out_channels=1 needs sigmoid losses."""
        name = type(self).__name__
        if isinstance(loss_decode, (dict, nn.Module)):
            configs, single = [loss_decode], True
        elif isinstance(loss_decode, (list, tuple)) and loss_decode:
            configs, single = list(loss_decode), False
        else:
            raise TypeError(f'{name}: loss_decode must be a dict or a non-empty list of dicts, '
                            f'got {loss_decode!r}')
        losses = [cfg if isinstance(cfg, nn.Module) else MODELS.build(cfg) for cfg in configs]
        for loss in losses:
            if not isinstance(getattr(loss, 'loss_name', None), str):
                raise TypeError(f'{name}: loss {type(loss).__name__} has no str `loss_name`')
            if self.out_channels == 1 and getattr(loss, 'use_sigmoid', True) is False:
                raise ValueError(
                    f'{name}: out_channels=1 (binary, sigmoid) needs sigmoid losses, but '
                    f'{type(loss).__name__} ({loss.loss_name}) has use_sigmoid=False; set '
                    'use_sigmoid=True in its config')
        return losses[0] if single else nn.ModuleList(losses)

    def extra_repr(self) -> str:
        return (f'input_transform={self.input_transform}, ignore_index={self.ignore_index}, '
                f'align_corners={self.align_corners}')

    # ---------------------------------------------------------------------- forward
    def _transform_inputs(self, inputs: Sequence[Tensor]) -> Tensor | list[Tensor]:
        """Select the levels given by `in_index` (and resize-concat them if asked).

        Args:
            inputs: all feature levels from the backbone (and neck), each (B, C_i, H_i, W_i).

        Returns:
            One tensor for an int `in_index` or 'resize_concat' (B, sum C, H_0, W_0);
            otherwise a list of tensors.
        """
        name = type(self).__name__
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(f'{name}: inputs must be the list/tuple of feature levels, got '
                            f'{type(inputs).__name__}')
        indices = self.in_index if isinstance(self.in_index, list) else [self.in_index]
        for i in indices:
            if not -len(inputs) <= i < len(inputs):
                raise ValueError(
                    f'{name}: in_index {self.in_index} asks for level {i}, but the backbone '
                    f'(and neck) gave only {len(inputs)} feature levels; check the '
                    "backbone's out_indices and the head's in_index")
        selected = [inputs[i] for i in indices]
        for i, x, expected in zip(indices, selected, self._level_channels, strict=True):
            if x.dim() != 4 or x.shape[1] != expected:
                raise ValueError(
                    f'{name}: feature level {i} has shape {tuple(x.shape)}, but in_channels '
                    f'says {expected} channels (B, {expected}, H, W); check in_channels '
                    "against the backbone's out_channels")
        if self.input_transform == 'resize_concat':
            size = selected[0].shape[2:]
            return torch.cat([resize(x, size=size, mode='bilinear',
                                     align_corners=self.align_corners) for x in selected], 1)
        if self.input_transform == 'multiple_select':
            return selected
        return selected[0]

    @abstractmethod
    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Logits (B, out_channels, h, w) at the resolution of the finest selected level."""

    def cls_seg(self, feat: Tensor) -> Tensor:
        """Classify each pixel: (B, channels, h, w) -> (B, out_channels, h, w)."""
        if self.dropout is not None:
            feat = self.dropout(feat)
        return conv_norm_relu(feat, self.conv_seg, None, None)  # prepacked at eval

    # ------------------------------------------------------------------------- loss
    def loss(self, inputs: Sequence[Tensor], batch_data_samples: Sequence[Any],
             train_cfg: dict | None = None) -> dict[str, Tensor]:
        """Forward, then losses against `sample.gt_sem_seg` (see `loss_by_feat`)."""
        return self.loss_by_feat(self.forward(inputs), batch_data_samples)

    def _stack_batch_gt(self, batch_data_samples: Sequence[Any]) -> Tensor:
        """Stack each sample's `gt_sem_seg.data` (1, H, W) into (B, 1, H, W)."""
        name = type(self).__name__
        try:
            labels = [sample.gt_sem_seg.data for sample in batch_data_samples]
        except AttributeError as err:
            raise ValueError(f'{name}: every data sample needs gt_sem_seg for the loss') from err
        shapes = {tuple(label.shape) for label in labels}
        if len(shapes) != 1:
            raise ValueError(f'{name}: gt_sem_seg shapes differ within the batch {sorted(shapes)}'
                             '; the data preprocessor should pad them to one size')
        return torch.stack(labels, dim=0)

    def loss_by_feat(self, seg_logits: Tensor,
                     batch_data_samples: Sequence[Any]) -> dict[str, Tensor]:
        """Losses and `acc_seg` of logits against the samples' labels.

        Args:
            seg_logits: (B, out_channels, h, w), resized bilinearly to the label size.
            batch_data_samples: samples with `gt_sem_seg.data` (1, H, W).

        Returns:
            {loss_name: loss, ..., 'acc_seg': (1,) accuracy in percent}.
        """
        seg_label = self._stack_batch_gt(batch_data_samples)
        # channels-last logits stay so: upsampling, the cross-entropy's softmax and the
        # accuracy's arg-max then all run along contiguous classes
        seg_logits = resize(seg_logits.float(), size=seg_label.shape[2:], mode='bilinear',
                            align_corners=self.align_corners)
        seg_label = seg_label.squeeze(1)
        if not seg_label.is_floating_point():
            seg_label = seg_label.long()
        losses = self.loss_decode if isinstance(self.loss_decode, nn.ModuleList) \
            else [self.loss_decode]
        loss: dict[str, Tensor] = {}
        seg_weight = self.sampler.sample(seg_logits, seg_label) if self.sampler else None
        for loss_decode in losses:
            value = loss_decode(seg_logits, seg_label, weight=seg_weight,
                                ignore_index=self.ignore_index)
            name = loss_decode.loss_name
            loss[name] = loss[name] + value if name in loss else value
        loss['acc_seg'] = self._accuracy(seg_logits, seg_label)
        return loss

    def _accuracy(self, seg_logits: Tensor, seg_label: Tensor) -> Tensor:
        if self.out_channels == 1:
            # mmseg takes top-1 over a single channel, i.e. always "class 0"; score the
            # thresholded sigmoid instead, as the prediction does.
            pred = (seg_logits.sigmoid() > self.threshold).squeeze(1).long()
            seg_logits = nn.functional.one_hot(pred, 2).permute(0, 3, 1, 2).float()
        return accuracy(seg_logits, seg_label, ignore_index=self.ignore_index)

    # ---------------------------------------------------------------------- predict
    def predict(self, inputs: Sequence[Tensor], batch_img_metas: Sequence[dict],
                test_cfg: dict | None = None) -> Tensor:
        """Forward, then resize the logits to the (padded) input size.

        Returns:
            (B, out_channels, H, W) logits; see `predict_by_feat` for the size.
        """
        return self.predict_by_feat(self.forward(inputs), batch_img_metas)

    def predict_by_feat(self, seg_logits: Tensor, batch_img_metas: Sequence[dict]) -> Tensor:
        """Resize logits bilinearly to the network input size, as mmseg.

        The size is `img_shape` when it is a torch.Size (slide inference sets it to the
        crop's size), else `pad_shape` if present, else `img_shape`; the segmentor then
        crops the padding and resizes to the original image.
        """
        meta = batch_img_metas[0]
        if isinstance(meta.get('img_shape'), torch.Size):
            size = meta['img_shape']
        elif 'pad_shape' in meta:
            size = meta['pad_shape']
        elif 'img_shape' in meta:
            size = meta['img_shape']
        else:
            raise ValueError(f'{type(self).__name__}: batch_img_metas[0] needs img_shape or '
                             f'pad_shape, got keys {sorted(meta)}')
        return resize(seg_logits, size=tuple(size[:2]), mode='bilinear',
                      align_corners=self.align_corners)
