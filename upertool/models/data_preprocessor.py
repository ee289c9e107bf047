"""SegDataPreProcessor: the first stage of every segmentor, as in mmsegmentation 1.x.

It turns the dataloader's list of (C, H, W) images into one normalised (B, C, H, W) float batch,
padding images (with `pad_val`) and, in training, their label maps (with `seg_pad_val`) at the
bottom and right, and writes what it did into each sample's metainfo so that predictions can be
cropped back to the image later:

- training: `img_shape` (before padding), `pad_shape` (after), `padding_size`;
- testing:  `pad_shape` and `img_padding_size` (the pipeline's `img_shape` is left alone).

Both padding records are (left, right, top, bottom), the order `F.pad` takes; left and top are
always 0.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Number
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor

from upertool.models.utils.arg_checks import to_2tuple
from upertool.registry import MODELS
from upertool.structures import SegDataSample


def _check_pad_cfg(size: Any, size_divisor: Any, where: str) -> tuple[tuple[int, int] | None,
                                                                          int | None]:
    """Validates one (size, size_divisor) pair; mmsegmentation allows one of them, not both."""
    size = None if size is None else to_2tuple(size, f'{where}size')
    if size is not None and size_divisor is not None:
        raise ValueError(f'{where}size={size} and {where}size_divisor={size_divisor} were both '
                         'given; set only one of them (as mmsegmentation)')
    if size_divisor is not None and (not isinstance(size_divisor, int) or size_divisor < 1):
        raise ValueError(f'{where}size_divisor must be a positive int, got {size_divisor!r}')
    return size, size_divisor


def padded_shape(shapes: Sequence[tuple[int, int]], size: tuple[int, int] | None,
                 size_divisor: int | None) -> tuple[int, int]:
    """The common (H, W) a batch of images with `shapes` is padded to.

    `size` pads up to a fixed shape (a larger image is not cropped, so the batch grows to hold
    it); `size_divisor` pads the largest image up to the next multiple; neither pads to the
    largest image only.
    """
    max_h = max(h for h, _ in shapes)
    max_w = max(w for _, w in shapes)
    if size is not None:
        return max(size[0], max_h), max(size[1], max_w)
    if size_divisor is not None and size_divisor > 1:
        return (-(-max_h // size_divisor) * size_divisor,
                -(-max_w // size_divisor) * size_divisor)
    return max_h, max_w


@MODELS.register_module()
class SegDataPreProcessor(BaseDataPreprocessor):
    """Normalise, convert colour order, pad and stack a batch for a segmentor.

    Args:
        mean: per-channel means subtracted after the channel swap; None skips normalisation.
        std: per-channel standard deviations, same length as `mean`.
        size: (h, w) every training image (and label map) is padded to.
        size_divisor: in training, pad to the largest image rounded up to a multiple of this.
        pad_val: value of padded image pixels (in normalised units, as mmsegmentation).
        seg_pad_val: value of padded label pixels; 255 is the usual `ignore_index`.
        bgr_to_rgb: reverse the channel order of 3-channel images.
        rgb_to_bgr: the same swap, named for the other direction; set at most one of the two.
        batch_augments: callables (or MODELS configs) applied in training as
            `inputs, data_samples = aug(inputs, data_samples)` after stacking.
        test_cfg: dict(size=...) or dict(size_divisor=...) for padding at test time. Without
            it, test images are only padded when they differ in shape, to stack them.
        non_blocking: passed to mmengine's BaseDataPreprocessor for host-to-device copies.
    """

    def __init__(self, mean: Sequence[Number] | None = None, std: Sequence[Number] | None = None,
                 size: tuple[int, int] | None = None, size_divisor: int | None = None,
                 pad_val: Number = 0, seg_pad_val: Number = 255, bgr_to_rgb: bool = False,
                 rgb_to_bgr: bool = False,
                 batch_augments: Sequence[Callable | dict] | None = None,
                 test_cfg: dict | None = None, non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        if bgr_to_rgb and rgb_to_bgr:
            raise ValueError('bgr_to_rgb and rgb_to_bgr cannot both be True: each reverses the '
                             'channel order, so together they would undo each other')
        self.channel_conversion = bool(bgr_to_rgb or rgb_to_bgr)
        self.size, self.size_divisor = _check_pad_cfg(size, size_divisor, '')
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val

        if (mean is None) != (std is None):
            raise ValueError('normalisation needs both mean and std; got '
                             f'mean={mean!r}, std={std!r}')
        self._enable_normalize = mean is not None
        if mean is not None:
            if len(mean) != len(std):
                raise ValueError(f'mean has {len(mean)} values but std has {len(std)}: '
                                 'give one of each per image channel')
            if any(float(s) == 0 for s in std):
                raise ValueError(f'std must not contain zeros, got {list(std)}')
            # Buffers, not parameters: they follow .to(device) but are not saved (persistent
            # False), so mmsegmentation checkpoints load without unexpected keys.
            self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1),
                                 False)
            self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1),
                                 False)

        self.batch_augments = None
        if batch_augments is not None:
            augs = [MODELS.build(a) if isinstance(a, dict) else a for a in batch_augments]
            for aug in augs:
                if not callable(aug):
                    raise TypeError(f'batch_augments items must be callable, got {type(aug)}')
            self.batch_augments = augs

        self.test_cfg = test_cfg
        test_cfg = test_cfg or {}
        unknown = set(test_cfg) - {'size', 'size_divisor'}
        if unknown:
            raise ValueError(f'test_cfg supports only the keys size and size_divisor, '
                             f'got {sorted(unknown)}')
        self._test_size, self._test_size_divisor = _check_pad_cfg(
            test_cfg.get('size'), test_cfg.get('size_divisor'), 'test_cfg.')

    def forward(self, data: dict, training: bool = False) -> dict[str, Any]:
        """Preprocess one batch from the dataloader.

        Args:
            data: dict with `inputs`, a list of (C, H, W) tensors (uint8 or float; a stacked
                (B, C, H, W) tensor is accepted too), and `data_samples`, a list of
                SegDataSample (required in training, where each needs `gt_sem_seg`).
            training: pad to the training `size` / `size_divisor` and pad `gt_sem_seg` too.

        Returns:
            dict(inputs=(B, C, H', W') float tensor, data_samples=list of SegDataSample).
            In testing, when no data_samples were given, new ones are made holding
            `ori_shape` / `img_shape` (the unpadded size) and the padding, so that predictions
            come back at the size of the images passed in.
        """
        data = self.cast_data(data)
        inputs = self._check_inputs(data.get('inputs'))
        data_samples = data.get('data_samples', None)
        if data_samples is not None and len(data_samples) != len(inputs):
            raise ValueError(f'got {len(inputs)} inputs but {len(data_samples)} data_samples')

        if self.channel_conversion and inputs[0].size(0) == 3:
            inputs = [img[[2, 1, 0], ...] for img in inputs]
        inputs = [img.float() for img in inputs]
        if self._enable_normalize:
            channels = inputs[0].size(0)
            if self.mean.numel() not in (1, channels):
                raise ValueError(f'mean/std have {self.mean.numel()} values but the images have '
                                 f'{channels} channels')
            inputs = [(img - self.mean) / self.std for img in inputs]

        shapes = [tuple(img.shape[-2:]) for img in inputs]
        if training:
            if data_samples is None:
                raise ValueError('training needs data_samples with gt_sem_seg; got none')
            if self.size is None and self.size_divisor is None and len(set(shapes)) > 1:
                raise ValueError(f'training images differ in shape ({sorted(set(shapes))}) and '
                                 'neither size nor size_divisor is set, so they cannot be '
                                 'stacked: set data_preprocessor.size (usually the crop size)')
            target = padded_shape(shapes, self.size, self.size_divisor)
            batch = self._pad_train(inputs, data_samples, target)
            if self.batch_augments is not None:
                for aug in self.batch_augments:
                    batch, data_samples = aug(batch, data_samples)
            return dict(inputs=batch, data_samples=data_samples)

        target = padded_shape(shapes, self._test_size, self._test_size_divisor)
        if data_samples is None:
            data_samples = [SegDataSample(metainfo=dict(ori_shape=s, img_shape=s))
                            for s in shapes]
        padded = []
        for img, sample in zip(inputs, data_samples, strict=True):
            padding = (0, target[1] - img.shape[-1], 0, target[0] - img.shape[-2])
            padded.append(F.pad(img, padding, value=self.pad_val))
            sample.set_metainfo(dict(img_padding_size=padding, pad_shape=target))
        return dict(inputs=torch.stack(padded), data_samples=data_samples)

    @staticmethod
    def _check_inputs(inputs: Any) -> list[torch.Tensor]:
        """Accepts a list of (C, H, W) tensors or a (B, C, H, W) tensor; a clear error otherwise."""
        if isinstance(inputs, torch.Tensor):
            if inputs.dim() != 4:
                raise ValueError(f'a stacked inputs tensor must be (B, C, H, W), got shape '
                                 f'{tuple(inputs.shape)}')
            inputs = list(inputs.unbind(0))
        if not isinstance(inputs, Sequence) or len(inputs) == 0:
            raise ValueError(f'data["inputs"] must be a non-empty list of (C, H, W) tensors, '
                             f'got {type(inputs).__name__}')
        for i, img in enumerate(inputs):
            if not isinstance(img, torch.Tensor) or img.dim() != 3:
                shape = tuple(img.shape) if isinstance(img, torch.Tensor) else type(img).__name__
                raise ValueError(f'inputs[{i}] must be a (C, H, W) tensor, got {shape}')
        channels = [img.size(0) for img in inputs]
        if len(set(channels)) > 1:
            raise ValueError(f'all images in a batch need the same channel count, got {channels}')
        return list(inputs)

    def _pad_train(self, inputs: list[torch.Tensor], data_samples: Sequence[SegDataSample],
                   target: tuple[int, int]) -> torch.Tensor:
        """Pads images and gt_sem_seg to `target` (H, W) and records the padding."""
        padded = []
        for i, (img, sample) in enumerate(zip(inputs, data_samples, strict=True)):
            if 'gt_sem_seg' not in sample:
                raise ValueError(f'data_samples[{i}] has no gt_sem_seg; training needs labels')
            gt = sample.gt_sem_seg.data
            if tuple(gt.shape[-2:]) != tuple(img.shape[-2:]):
                raise ValueError(f'data_samples[{i}].gt_sem_seg is {tuple(gt.shape[-2:])} but '
                                 f'its image is {tuple(img.shape[-2:])}')
            padding = (0, target[1] - img.shape[-1], 0, target[0] - img.shape[-2])
            padded.append(F.pad(img, padding, value=self.pad_val))
            # PixelData checks new fields against its current shape, so the old map goes first.
            del sample.gt_sem_seg.data
            sample.gt_sem_seg.data = F.pad(gt, padding, value=self.seg_pad_val)
            sample.set_metainfo(dict(img_shape=tuple(img.shape[-2:]), pad_shape=target,
                                     padding_size=padding))
        return torch.stack(padded)
