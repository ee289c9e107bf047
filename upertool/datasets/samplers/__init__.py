"""Batch samplers (registered in DATA_SAMPLERS)."""
from .source_batch_sampler import SourceBatchSampler

__all__ = ['SourceBatchSampler']
