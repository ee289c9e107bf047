import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomChannelSwap(BaseTransform):
    """Reverse the colour channels with probability `prob`."""

    def __init__(self, prob=0.5):
        self.prob = prob

    def transform(self, results):
        if np.random.rand() < self.prob:
            results['img'] = np.ascontiguousarray(results['img'][..., ::-1])
        return results
