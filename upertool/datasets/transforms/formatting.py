"""Packing a sample for the model, and test-time augmentation built from upertool's registry."""
from collections.abc import Callable, Sequence
from typing import Union

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmcv.transforms import TestTimeAug as MMCVTestTimeAug
from mmengine.structures import PixelData

from upertool.registry import TRANSFORMS
from upertool.structures import SegDataSample


@TRANSFORMS.register_module()
class PackSegInputs(BaseTransform):
    """Pack ``img`` and ``gt_seg_map`` into ``inputs`` and ``data_samples``.

    Returns ``dict(inputs=Tensor (C, H, W) of the image's dtype (uint8 from the loaders),
    data_samples=SegDataSample)`` whose ``gt_sem_seg`` (when a mask was loaded) is a
    PixelData with ``data`` (1, H, W) int64, and whose metainfo holds the ``meta_keys``
    found in the results.

    Args:
        meta_keys: keys copied into the sample's metainfo.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_path', 'seg_map_path', 'ori_shape',
                                             'img_shape', 'pad_shape', 'scale_factor', 'flip',
                                             'flip_direction', 'reduce_zero_label')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        packed = dict()
        if 'img' in results:
            img = results['img']
            if img.ndim < 3:
                img = img[..., None]
            # Flips and crops leave strided views; the model wants contiguous memory.
            packed['inputs'] = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = SegDataSample()
        if results.get('gt_seg_map', None) is not None:
            seg = results['gt_seg_map']
            if seg.ndim != 2:
                raise ValueError(f'PackSegInputs: gt_seg_map must be (H, W), got {seg.shape} '
                                 f'(from {results.get("seg_map_path")!r})')
            sample.gt_sem_seg = PixelData(
                data=torch.from_numpy(seg[None, ...].astype(np.int64)))
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        packed['data_samples'] = sample
        return packed

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'


@TRANSFORMS.register_module()
class TestTimeAug(MMCVTestTimeAug):
    """mmcv's TestTimeAug with its sub-transforms built from upertool's registry.

    mmcv builds them from mmengine's root registry, which resolves 'Resize' to mmcv's
    class (or nothing, for 'PackSegInputs') unless the default scope is 'upertool'.
    Every combination of one transform per list is applied to a copy of the results;
    the outputs are gathered key by key into lists.

    Args:
        transforms: a list of lists of transform configs or callables.
    """

    def __init__(self, transforms: list[list[Union[dict, Callable]]]) -> None:
        built = [[TRANSFORMS.build(t) if isinstance(t, dict) else t for t in group]
                 for group in transforms]
        super().__init__(built)
