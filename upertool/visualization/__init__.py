"""Visualization: importing this package registers the visualizer (VISUALIZERS' location)."""
from .local_visualizer import SegLocalVisualizer
from .overlay import draw_class_names, draw_legend, overlay_mask, random_palette

__all__ = ['SegLocalVisualizer', 'draw_class_names', 'draw_legend', 'overlay_mask',
           'random_palette']
