"""Evaluation: importing this package registers every metric (METRICS' location)."""
from .iou_metric import IoUMetric
from .multi_task_metric import MultiTaskMetric

__all__ = ['IoUMetric', 'MultiTaskMetric']

# mmsegmentation names that upertool leaves out raise an ImportError that says what to use.
from upertool.utils.not_provided import module_getattr  # noqa: E402

__getattr__ = module_getattr(__name__)
