"""Say loudly when the mean over classes silently drops classes that never occur.

A class with no ground-truth pixels in the whole evaluation set has an undefined IoU (NaN),
and the m-values average the other classes only. With binary masks stored as 0/255 under
`ignore_index=255`, that turns "the foreground was ignored" into aAcc 100 / mIoU 100.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def absent_classes_message(
    area_label: np.ndarray, area_pred: np.ndarray, classes: Sequence[str], ignore_index: int
) -> str | None:
    """A warning naming the classes without ground truth, or None when every class occurs."""
    absent = [i for i, n in enumerate(np.asarray(area_label)) if n == 0]
    if not absent:
        return None
    names = [
        f'{classes[i]!r}' + (' (predicted, scored 0)' if area_pred[i] > 0 else '') for i in absent
    ]
    present = len(classes) - len(absent)
    return (
        f'IoUMetric: {len(absent)} of {len(classes)} classes have no ground-truth pixel in '
        f'the evaluation set: {", ".join(names[:10])}; their IoU is nan and the m-values '
        f'average the other {present} class(es) only. If the masks store a class as '
        f'{ignore_index} (e.g. binary 0/255 masks under ignore_index={ignore_index}), that '
        'class was ignored: set binary=True on the dataset or fix label_map.'
    )
