"""Evaluation: importing this package registers every metric (METRICS' location)."""
from .iou_metric import IoUMetric

__all__ = ['IoUMetric']
