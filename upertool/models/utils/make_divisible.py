"""`make_divisible` of mmsegmentation 1.x: round channel counts to a multiple of a divisor."""
from __future__ import annotations


def make_divisible(value: float, divisor: int, min_value: int | None = None,
                   min_ratio: float = 0.9) -> int:
    """The multiple of `divisor` nearest to `value`, at least `min_value` (default `divisor`),
    bumped up by one `divisor` if rounding lost more than `1 - min_ratio` of `value`."""
    min_value = divisor if min_value is None else min_value
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < min_ratio * value:
        new_value += divisor
    return new_value
