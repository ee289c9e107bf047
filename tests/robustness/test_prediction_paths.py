"""Case 2: `--out` keeps each prediction's path below the image folder (a/x.png, b/x.png)."""

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from PIL import Image

from upertool.datasets import FolderSegDataset
from upertool.evaluation import IoUMetric
from upertool.structures import SegDataSample


def _sample(img_path: str, value: int) -> SegDataSample:
    sample = SegDataSample(metainfo=dict(img_path=img_path))
    sample.pred_sem_seg = PixelData(data=torch.full((1, 4, 4), value))
    sample.gt_sem_seg = PixelData(data=torch.full((1, 4, 4), value))
    return sample


def test_same_file_name_in_two_subfolders_gives_two_masks(tmp_path, seg_io_tree):
    root = seg_io_tree(tmp_path, ['a/x', 'b/x'])
    ds = FolderSegDataset(data_root=str(root), metainfo=dict(classes=['bg', 'fg']))
    metric = IoUMetric(output_dir=str(tmp_path / 'out'))
    metric.dataset_meta = ds.metainfo
    metric.process({}, [_sample(ds[0]['img_path'], 0), _sample(ds[1]['img_path'], 1)])
    out = tmp_path / 'out'
    written = sorted(str(p.relative_to(out)) for p in out.rglob('*.png'))
    assert written == ['a/x.png', 'b/x.png']
    assert np.asarray(Image.open(tmp_path / 'out/a/x.png')).max() == 0
    assert np.asarray(Image.open(tmp_path / 'out/b/x.png')).min() == 1


def test_without_an_image_folder_a_clash_is_an_error_not_an_overwrite(tmp_path):
    metric = IoUMetric(output_dir=str(tmp_path / 'out'))
    metric.dataset_meta = dict(classes=['bg', 'fg'])
    metric.process({}, [_sample('/data/a/x.jpg', 0)])
    with pytest.raises(FileExistsError, match=r'/data/a/x.jpg.*/data/b/x.jpg'):
        metric.process({}, [_sample('/data/b/x.jpg', 1)])


@pytest.fixture
def seg_io_tree():
    import cv2

    def make(tmp_path, stems):
        root = tmp_path / 'data'
        for i, stem in enumerate(stems):
            (root / 'images' / stem).parent.mkdir(parents=True, exist_ok=True)
            (root / 'masks' / stem).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / 'images' / f'{stem}.png'), np.full((4, 4, 3), i, np.uint8))
            Image.fromarray(np.full((4, 4), i, np.uint8)).save(root / 'masks' / f'{stem}.png')
        return root

    return make
