"""mmsegmentation 1.x's package path `mmseg.evaluation.metrics`."""
from upertool.utils.not_provided import module_getattr

from ..iou_metric import IoUMetric

__all__ = ['IoUMetric']
__getattr__ = module_getattr(__name__)
