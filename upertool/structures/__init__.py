"""Data structures shared by datasets, models and metrics."""
from mmengine.structures import PixelData

from .seg_data_sample import SegDataSample

__all__ = ['PixelData', 'SegDataSample']
