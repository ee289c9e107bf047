"""Data structures shared by datasets, models and metrics."""
from mmengine.structures import PixelData

from .multi_task_data_sample import TASK_GT_FIELDS, TASKS, MultiTaskSegDataSample
from .seg_data_sample import SegDataSample

__all__ = ['MultiTaskSegDataSample', 'PixelData', 'SegDataSample', 'TASKS', 'TASK_GT_FIELDS']
