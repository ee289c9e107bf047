"""Visualization: importing this package registers the visualizer (VISUALIZERS' location)."""
from upertool.compat.optional_optimizers import import_mmengine_model

import_mmengine_model()  # mmengine.visualization imports mmengine.model: no transformers

from .local_visualizer import SegLocalVisualizer  # noqa: E402
from .overlay import draw_class_names, draw_legend, overlay_mask, random_palette  # noqa: E402

__all__ = ['SegLocalVisualizer', 'draw_class_names', 'draw_legend', 'overlay_mask',
           'random_palette']
