"""SourceBatchSampler: every batch from one data source, as Unified Perceptual Parsing trains.

Each iteration draws one source (probability proportional to its size, or to configured
weights) and a batch of that source's samples. The draws come from generators seeded
with `seed` alone, so they are reproducible, and under `--launcher pytorch` every rank
draws the same source at every iteration (the heads a batch trains must agree across
ranks) and its own disjoint share of the source's samples.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from upertool.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class SourceBatchSampler(Sampler):
    """Infinite batches of indices, each batch from one source of a MultiSourceDataset.

    Args:
        sampler: the dataloader's sampler (mmengine passes it); only its `dataset`, a
            MultiSourceDataset, and its `seed` (when `seed` is None) are used.
        batch_size: samples per batch on each rank.
        weights: per-source draw weights (normalised); None: the dataset's `weights`,
            else proportional to the sources' sizes.
        seed: seed of the draws; None takes the sampler's (mmengine synchronises it
            across ranks), else a synchronised random seed.
    """

    def __init__(self, sampler, batch_size: int, weights: Sequence[float] | None = None,
                 seed: int | None = None) -> None:
        dataset = getattr(sampler, 'dataset', sampler)
        ranges = getattr(dataset, 'source_ranges', None)
        if ranges is None:
            raise TypeError(f'SourceBatchSampler needs a MultiSourceDataset, got '
                            f'{type(dataset).__name__}')
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f'SourceBatchSampler: batch_size must be an int >= 1, got '
                             f'{batch_size!r}')
        self.sampler = sampler  # mmengine's DistSamplerSeedHook reads it
        self.dataset = dataset
        self.ranges = list(ranges)
        self.batch_size = batch_size
        self.rank, self.world_size = get_dist_info()
        if weights is None:
            weights = getattr(dataset, 'weights', None)
        sizes = [end - start for start, end in self.ranges]
        weights = np.asarray(sizes if weights is None else weights, dtype=np.float64)
        if weights.shape != (len(sizes),) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f'SourceBatchSampler: weights must be {len(sizes)} non-negative '
                             f'numbers, not all zero (one per source), got {weights.tolist()}')
        self.probabilities = weights / weights.sum()
        if seed is None:
            seed = getattr(sampler, 'seed', None)
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Kept for mmengine's DistSamplerSeedHook; the stream is infinite and seeded once."""
        self.epoch = epoch

    def _source_stream(self, source: int) -> Iterator[int]:
        """The source's indices, reshuffled on every pass, identically on every rank."""
        start, end = self.ranges[source]
        rng = np.random.default_rng([self.seed, 1, source])
        while True:
            yield from (start + rng.permutation(end - start)).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        choose = np.random.default_rng([self.seed, 0])
        streams = [self._source_stream(s) for s in range(len(self.ranges))]
        span = self.batch_size * self.world_size
        lo = self.rank * self.batch_size
        while True:
            source = int(choose.choice(len(self.ranges), p=self.probabilities))
            batch = [next(streams[source]) for _ in range(span)]
            yield batch[lo:lo + self.batch_size]

    def __len__(self) -> int:
        """Batches in one pass over the data on this rank (the stream itself never ends)."""
        return max(1, len(self.dataset) // (self.batch_size * self.world_size))
