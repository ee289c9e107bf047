from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS


@DATASETS.register_module()
class TinyShapesDataset(BaseSegDataset):
    METAINFO = dict(
        classes=('background', 'square', 'disc'),
        palette=[[0, 0, 0], [200, 40, 40], [40, 40, 200]])

    def __init__(self, img_suffix='.png', seg_map_suffix='.png', **kwargs):
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)
