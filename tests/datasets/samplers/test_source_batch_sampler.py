"""SourceBatchSampler: one source per batch, draw frequencies, determinism, ranks."""
import itertools
import math

import numpy as np
import pytest

from upertool.datasets.samplers import SourceBatchSampler


class _Sources:
    """What the sampler reads from a MultiSourceDataset: its sources' index ranges."""

    def __init__(self, sizes, weights=None):
        bounds = np.cumsum([0, *sizes])
        self.source_ranges = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
        self.weights = weights

    def __len__(self):
        return self.source_ranges[-1][1]


def _source(ranges, index):
    return next(s for s, (lo, hi) in enumerate(ranges) if lo <= index < hi)


@pytest.mark.parametrize('sizes,weights', [((600, 300, 100), None), ((50, 50), (0.8, 0.2)),
                                           ((10, 990), (1, 1))])
def test_source_frequencies_within_three_standard_deviations(sizes, weights):
    sampler = SourceBatchSampler(_Sources(sizes), batch_size=4, weights=weights, seed=3)
    draws = 10_000
    counts = np.zeros(len(sizes))
    for batch in itertools.islice(iter(sampler), draws):
        sources = {_source(sampler.ranges, i) for i in batch}
        assert len(sources) == 1, batch  # a batch never mixes sources
        counts[sources.pop()] += 1
    p = np.asarray(sizes if weights is None else weights, float)
    p /= p.sum()
    for count, prob in zip(counts, p, strict=True):
        assert abs(count - draws * prob) <= 3 * math.sqrt(draws * prob * (1 - prob))


def test_deterministic_under_a_seed_and_covering_each_source():
    make = lambda seed: list(itertools.islice(iter(  # noqa: E731
        SourceBatchSampler(_Sources((7, 5)), batch_size=3, seed=seed)), 40))
    assert make(1) == make(1)
    assert make(1) != make(2)
    seen = sorted(set(itertools.chain.from_iterable(make(1))))
    assert seen == list(range(12))


def test_ranks_draw_the_same_source_and_disjoint_samples():
    ranks = []
    for rank in (0, 1):
        sampler = SourceBatchSampler(_Sources((40, 24)), batch_size=2, seed=5)
        sampler.rank, sampler.world_size = rank, 2  # as under --launcher pytorch
        ranks.append(list(itertools.islice(iter(sampler), 200)))
    for a, b in zip(*ranks, strict=True):
        assert _source(sampler.ranges, a[0]) == _source(sampler.ranges, b[0])
        assert not set(a) & set(b)


def test_bad_arguments():
    with pytest.raises(TypeError, match='needs a MultiSourceDataset'):
        SourceBatchSampler([1, 2, 3], batch_size=2)
    with pytest.raises(ValueError, match='2 non-negative numbers'):
        SourceBatchSampler(_Sources((3, 3)), batch_size=2, weights=(1, 2, 3), seed=0)
