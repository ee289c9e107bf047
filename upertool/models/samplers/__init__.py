"""Pixel samplers: per-pixel loss weights chosen from the current predictions."""
from .ohem_pixel_sampler import OHEMPixelSampler

__all__ = ['OHEMPixelSampler']
