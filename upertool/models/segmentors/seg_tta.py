"""Test-time augmentation: average class probabilities over augmented views."""
from __future__ import annotations

import torch
from mmengine.model import BaseTTAModel

from upertool.registry import MODELS
from upertool.structures import PixelData, SegDataSample


@MODELS.register_module()
class SegTTAModel(BaseTTAModel):
    """Merge the predictions of one image's views (scales, flips), as mmsegmentation's.

    Each view's `seg_logits` are already at the original image size with flips undone
    (EncoderDecoder.postprocess_result), so they align pixel by pixel; they are turned into
    probabilities (softmax, or sigmoid for a binary head) and averaged.
    """

    def merge_preds(self, data_samples_list: list[list[SegDataSample]]) -> list[SegDataSample]:
        head = self.module.decode_head
        merged = []
        for views in data_samples_list:
            if not all(hasattr(view, 'seg_logits') for view in views):
                raise ValueError('SegTTAModel needs seg_logits of every view; do not set '
                                 'test_cfg.return_logits=False for test-time augmentation.')
            logits = torch.stack([view.seg_logits.data for view in views])
            if head.out_channels == 1:
                probs = logits.sigmoid().mean(0)
                pred = (probs > head.threshold).long()
            else:
                probs = logits.softmax(dim=1).mean(0)
                pred = probs.argmax(dim=0, keepdim=True)
            sample = SegDataSample(metainfo=views[0].metainfo)
            sample.seg_logits = PixelData(data=probs)
            sample.pred_sem_seg = PixelData(data=pred)
            if hasattr(views[0], 'gt_sem_seg'):
                sample.gt_sem_seg = views[0].gt_sem_seg
            merged.append(sample)
        return merged
