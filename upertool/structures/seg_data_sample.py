"""The per-image record passed between dataset, model and metric."""
from mmengine.structures import BaseDataElement, PixelData


class SegDataSample(BaseDataElement):
    """Data sample of semantic segmentation, as in mmsegmentation 1.x.

    Fields (each a `PixelData` whose `data` is a tensor of shape (C, H, W)):
        gt_sem_seg: ground-truth label map, (1, H, W) int64.
        pred_sem_seg: predicted label map, (1, H, W) int64.
        seg_logits: per-class scores before argmax, (num_classes, H, W).
    """

    @property
    def gt_sem_seg(self) -> PixelData:
        return self._gt_sem_seg

    @gt_sem_seg.setter
    def gt_sem_seg(self, value: PixelData) -> None:
        self.set_field(value, '_gt_sem_seg', dtype=PixelData)

    @gt_sem_seg.deleter
    def gt_sem_seg(self) -> None:
        del self._gt_sem_seg

    @property
    def pred_sem_seg(self) -> PixelData:
        return self._pred_sem_seg

    @pred_sem_seg.setter
    def pred_sem_seg(self, value: PixelData) -> None:
        self.set_field(value, '_pred_sem_seg', dtype=PixelData)

    @pred_sem_seg.deleter
    def pred_sem_seg(self) -> None:
        del self._pred_sem_seg

    @property
    def seg_logits(self) -> PixelData:
        return self._seg_logits

    @seg_logits.setter
    def seg_logits(self, value: PixelData) -> None:
        self.set_field(value, '_seg_logits', dtype=PixelData)

    @seg_logits.deleter
    def seg_logits(self) -> None:
        del self._seg_logits
