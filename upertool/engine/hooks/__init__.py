"""Hooks that mmengine lacks."""
from .visualization_hook import SegVisualizationHook

__all__ = ['SegVisualizationHook']
