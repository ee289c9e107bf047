"""Data structures shared by datasets, models and metrics."""
from mmengine.structures import PixelData

from .multi_task_data_sample import TASK_GT_FIELDS, TASKS, MultiTaskSegDataSample
from .seg_data_sample import SegDataSample

__all__ = ['MultiTaskSegDataSample', 'PixelData', 'SegDataSample', 'TASKS', 'TASK_GT_FIELDS']

# mmsegmentation names that upertool leaves out raise an ImportError that says what to use.
from upertool.utils.not_provided import module_getattr  # noqa: E402

__getattr__ = module_getattr(__name__)
