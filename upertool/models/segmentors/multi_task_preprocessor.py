"""The data preprocessor of multi-task batches, whose samples carry only some label maps."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from upertool.models.data_preprocessor import SegDataPreProcessor
from upertool.registry import MODELS

_MAP_FIELDS = ('gt_sem_seg', 'gt_part_seg', 'gt_material_seg')


@MODELS.register_module()
class MultiTaskDataPreProcessor(SegDataPreProcessor):
    """SegDataPreProcessor that pads whichever label maps a sample has (objects, parts,
    materials), each with `seg_pad_val`, instead of requiring `gt_sem_seg`: a source that
    annotates materials only has no object map, and none is made up for it.

    Args: SegDataPreProcessor's.
    """

    def _pad_train(self, inputs: list[torch.Tensor], data_samples: Sequence,
                   target: tuple[int, int]) -> torch.Tensor:
        padded = []
        for i, (img, sample) in enumerate(zip(inputs, data_samples, strict=True)):
            padding = (0, target[1] - img.shape[-1], 0, target[0] - img.shape[-2])
            padded.append(F.pad(img, padding, value=self.pad_val))
            for field in _MAP_FIELDS:
                if field not in sample:
                    continue
                gt = getattr(sample, field).data
                if tuple(gt.shape[-2:]) != tuple(img.shape[-2:]):
                    where = sample.metainfo.get('img_path', f'data_samples[{i}]')
                    raise ValueError(f'{where}: {field} is {tuple(gt.shape[-2:])} but its image '
                                     f'is {tuple(img.shape[-2:])}')
                # PixelData checks new fields against its current shape: old map goes first
                del getattr(sample, field).data
                getattr(sample, field).data = F.pad(gt, padding, value=self.seg_pad_val)
            sample.set_metainfo(dict(img_shape=tuple(img.shape[-2:]), pad_shape=target,
                                     padding_size=padding))
        return torch.stack(padded)
