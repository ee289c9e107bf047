"""Case 6: a JPEG with EXIF Orientation=6 is read in its stored pixel grid, as its mask."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from upertool.datasets import FolderSegDataset
from upertool.datasets.transforms import LoadImageFromFile


def write_rotated_jpeg(path, h=8, w=12):
    """A JPEG whose EXIF says 'rotate 90 degrees clockwise to display' (Orientation=6)."""
    raw = np.zeros((h, w, 3), np.uint8)
    raw[:, : w // 2] = 255  # left half white in the stored grid
    img = Image.fromarray(raw)
    exif = img.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, 'JPEG', exif=exif.tobytes(), quality=100)
    path.write_bytes(buf.getvalue())
    return raw


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_exif_rotation_is_ignored_by_default(tmp_path, backend):
    path = tmp_path / 'photo.jpg'
    raw = write_rotated_jpeg(path)
    out = LoadImageFromFile(imdecode_backend=backend)(dict(img_path=str(path)))
    assert out['img'].shape[:2] == raw.shape[:2] == out['ori_shape']
    assert out['img'][:, :4].mean() > 200 and out['img'][:, -4:].mean() < 50
    rotated = LoadImageFromFile(imdecode_backend=backend, apply_exif_orientation=True)(
        dict(img_path=str(path))
    )
    assert rotated['img'].shape[:2] == (12, 8)  # opt-in: as a photo viewer shows it


def test_dataset_reads_image_and_mask_on_one_grid_and_reports_exif_once(tmp_path, log_messages):
    root = tmp_path / 'data'
    (root / 'images').mkdir(parents=True)
    (root / 'masks').mkdir()
    write_rotated_jpeg(root / 'images' / 'a.jpg')
    mask = np.zeros((8, 12), np.uint8)
    mask[:, :6] = 1
    Image.fromarray(mask).save(root / 'masks' / 'a.png')
    ds = FolderSegDataset(
        data_root=str(root),
        metainfo=dict(classes=['bg', 'fg']),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')],
    )
    assert sum('EXIF orientation' in m for m in log_messages) == 1
    sample = ds[0]
    white = sample['img'].mean(axis=2) > 128
    assert (white == (sample['gt_seg_map'] == 1)).mean() > 0.95  # image and mask line up
    assert (
        cv2.imread(
            str(root / 'images' / 'a.jpg'), cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_COLOR
        ).shape[:2]
        == sample['img'].shape[:2]
    )
