"""PascalVOCDataset on a tiny VOC2012 tree: JPEGs, palette PNGs with 255 borders, split files."""
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from upertool.datasets import PascalVOCDataset
from upertool.datasets.voc import VOC_CLASSES

LOAD = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]


def voc_colormap(n: int = 256) -> list[list[int]]:
    """The VOC devkit's colour map (bits of the index spread over R, G, B, high bits last)."""
    cmap = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap.append([r, g, b])
    return cmap


def write_voc_mask(path: str, mask: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = Image.fromarray(mask.astype(np.uint8), mode='L').convert('P')
    img.putpalette([v for c in voc_colormap() for v in c])
    img.save(path)


@pytest.fixture
def voc_root(tmp_path, seg_io):
    root = str(tmp_path / 'VOCdevkit' / 'VOC2012')
    stems = ['2007_000032', '2007_000039', '2008_000002']
    masks = {}
    for i, stem in enumerate(stems):
        mask = np.zeros((10, 14), np.uint8)
        mask[2:8, 3:11] = i + 1
        mask[2, 3:11] = 255  # the object border VOC marks as "void"
        mask[:, -1] = 20
        masks[stem] = mask
        seg_io.write_image(osp.join(root, 'JPEGImages', stem + '.jpg'), 10, 14, seed=i)
        write_voc_mask(osp.join(root, 'SegmentationClass', stem + '.png'), mask)
    split_dir = osp.join(root, 'ImageSets', 'Segmentation')
    os.makedirs(split_dir)
    with open(osp.join(split_dir, 'train.txt'), 'w') as f:
        f.write('2008_000002\n2007_000032\n')
    with open(osp.join(split_dir, 'val.txt'), 'w') as f:
        f.write('2007_000039\n')
    return root, masks


def test_metainfo_matches_the_voc_colour_map():
    assert len(PascalVOCDataset.METAINFO['classes']) == 21
    assert VOC_CLASSES[0] == 'background' and VOC_CLASSES[-1] == 'tvmonitor'
    assert PascalVOCDataset.METAINFO['palette'] == voc_colormap(21)


def test_mask_files_are_palette_pngs_in_the_voc_colours(voc_root):
    root, masks = voc_root
    with Image.open(osp.join(root, 'SegmentationClass', '2007_000032.png')) as img:
        assert img.mode == 'P'
        rgb = np.asarray(img.convert('RGB'))
    assert rgb[5, 5].tolist() == [128, 0, 0]  # class 1 drawn in VOC's colour
    assert rgb[2, 5].tolist() == [224, 224, 192]  # the border colour of index 255


def test_split_files_and_loaded_indices(voc_root):
    root, masks = voc_root
    train = PascalVOCDataset(data_root=root, pipeline=LOAD)  # defaults: train.txt, VOC folders
    assert [osp.basename(train.get_data_info(i)['img_path']) for i in range(len(train))] == [
        '2008_000002.jpg', '2007_000032.jpg']  # split-file order
    val = PascalVOCDataset(data_root=root, ann_file='ImageSets/Segmentation/val.txt',
                           pipeline=LOAD)
    assert len(val) == 1
    for ds in (train, val):
        for i in range(len(ds)):
            out = ds[i]
            stem = osp.basename(out['img_path'])[:-4]
            # indices, not colours; 255 stays 255 (ignored by losses and metrics)
            np.testing.assert_array_equal(out['gt_seg_map'], masks[stem])
            assert out['img'].shape == (10, 14, 3)


def test_split_stem_without_image_is_named(voc_root):
    root, _ = voc_root
    os.remove(osp.join(root, 'JPEGImages', '2007_000032.jpg'))
    with pytest.raises(FileNotFoundError, match='2007_000032.jpg'):
        PascalVOCDataset(data_root=root)


def test_missing_mask_is_named(voc_root):
    root, _ = voc_root
    os.remove(osp.join(root, 'SegmentationClass', '2008_000002.png'))
    with pytest.raises(FileNotFoundError, match='SegmentationClass/2008_000002.png'):
        PascalVOCDataset(data_root=root)


def test_class_value_above_20_is_reported(voc_root):
    root, masks = voc_root
    bad = masks['2007_000032'].copy()
    bad[0, 0] = 21
    write_voc_mask(osp.join(root, 'SegmentationClass', '2007_000032.png'), bad)
    with pytest.raises(ValueError, match=r'2007_000032.png.*\[21\]'):  # at build time
        PascalVOCDataset(data_root=root, pipeline=LOAD)[1]
