"""mmsegmentation 1.x's module path `mmseg.evaluation.metrics.iou_metric`."""
from ..iou_metric import IoUMetric

__all__ = ['IoUMetric']
