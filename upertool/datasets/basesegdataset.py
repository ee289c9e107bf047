"""mmsegmentation 1.x's module path `mmseg.datasets.basesegdataset` (upertool: `base`)."""
from .base import BaseSegDataset

__all__ = ['BaseSegDataset']
