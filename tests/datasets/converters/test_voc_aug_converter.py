"""SBD .mat -> SegmentationClassAug PNGs and merged split lists; the aug config reads them."""
import os
import os.path as osp

import numpy as np
import pytest
import scipy.io as sio
from PIL import Image

from upertool.datasets import PascalVOCDataset
from upertool.datasets.converters import aug_split_lists, convert_voc_aug

VOC_TRAIN, VOC_VAL = ['2007_000032', '2007_000039'], ['2007_000033']
SBD_TRAIN, SBD_VAL = ['2007_000032', '2008_000002', '2008_000003'], ['2007_000033', '2008_000007']


def write_sbd_mat(path: str, seg: np.ndarray) -> None:
    """An SBD cls file: struct GTcls with Segmentation, Boundaries, CategoriesPresent."""
    boundaries = np.empty((1, 1), object)
    boundaries[0, 0] = np.zeros(seg.shape, np.uint8)
    present = np.unique(seg[seg > 0]).reshape(-1, 1).astype(np.uint8)
    sio.savemat(path, {'GTcls': {'Segmentation': seg, 'Boundaries': boundaries,
                                 'CategoriesPresent': present}})


@pytest.fixture
def devkit(tmp_path, seg_io):
    devkit, aug = tmp_path / 'VOCdevkit', tmp_path / 'VOCdevkit' / 'VOCaug'
    voc = devkit / 'VOC2012'
    split_dir = voc / 'ImageSets' / 'Segmentation'
    split_dir.mkdir(parents=True)
    (split_dir / 'train.txt').write_text('\n'.join(VOC_TRAIN) + '\n')
    (split_dir / 'val.txt').write_text('\n'.join(VOC_VAL) + '\n')
    (aug / 'dataset' / 'cls').mkdir(parents=True)
    (aug / 'dataset' / 'train.txt').write_text('\n'.join(SBD_TRAIN) + '\n')
    (aug / 'dataset' / 'val.txt').write_text('\n'.join(SBD_VAL) + '\n')
    truth = {}
    for i, stem in enumerate(sorted(set(VOC_TRAIN + VOC_VAL + SBD_TRAIN + SBD_VAL))):
        seg_io.write_image(str(voc / 'JPEGImages' / f'{stem}.jpg'), 7, 9, seed=i)
        seg_io.write_mask(str(voc / 'SegmentationClass' / f'{stem}.png'),
                          np.full((7, 9), 255, np.uint8))
        if stem in SBD_TRAIN + SBD_VAL:
            seg = np.zeros((7, 9), np.uint8)
            seg[1:5, 2:7] = i + 1
            seg[6] = 20
            write_sbd_mat(str(aug / 'dataset' / 'cls' / f'{stem}.mat'), seg)
            truth[stem] = seg
    return str(devkit), str(aug), truth


def test_split_arithmetic():
    trainaug, aug = aug_split_lists(VOC_TRAIN, VOC_VAL, SBD_TRAIN, SBD_VAL)
    assert trainaug == ['2007_000032', '2007_000039', '2008_000002', '2008_000003', '2008_000007']
    assert aug == ['2008_000002', '2008_000003', '2008_000007']


def test_converts_lists_and_reruns_unchanged(devkit):
    devkit_path, aug_path, truth = devkit
    lines = []
    summary = convert_voc_aug(devkit_path, aug_path, log=lines.append, log_every=2)
    assert (summary.total, summary.written) == (len(truth), len(truth))
    assert 'SBD .mat -> PNG: 2/5' in '\n'.join(lines) and '5/5' in lines[-2]
    out_dir = osp.join(devkit_path, 'VOC2012', 'SegmentationClassAug')
    for stem, seg in truth.items():
        with Image.open(osp.join(out_dir, stem + '.png')) as img:
            assert img.mode == 'P'  # like SegmentationClass: indices with the VOC palette
            np.testing.assert_array_equal(np.asarray(img), seg)
            assert img.convert('RGB').getpixel((0, 6)) == (0, 64, 128)  # class 20's colour
    split_dir = osp.join(devkit_path, 'VOC2012', 'ImageSets', 'Segmentation')
    assert open(osp.join(split_dir, 'aug.txt')).read().split() == [
        '2008_000002', '2008_000003', '2008_000007']
    assert len(open(osp.join(split_dir, 'trainaug.txt')).read().split()) == 5
    written = sorted(os.path.join(out_dir, f) for f in os.listdir(out_dir))
    written += [osp.join(split_dir, 'aug.txt'), osp.join(split_dir, 'trainaug.txt')]
    stamps = [(os.stat(p).st_mtime_ns, open(p, 'rb').read()) for p in written]
    again = convert_voc_aug(devkit_path, aug_path, nproc=2, log=lines.append)
    assert (again.written, again.unchanged) == (0, len(truth))
    assert stamps == [(os.stat(p).st_mtime_ns, open(p, 'rb').read()) for p in written]
    ds = PascalVOCDataset(data_root=osp.join(devkit_path, 'VOC2012'),
                          ann_file='ImageSets/Segmentation/aug.txt',
                          data_prefix=dict(img_path='JPEGImages',
                                           seg_map_path='SegmentationClassAug'),
                          pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')])
    assert len(ds) == 3
    np.testing.assert_array_equal(ds[2]['gt_seg_map'], truth['2008_000007'])


def test_refuses_an_output_folder_with_unrelated_files(devkit, tmp_path):
    devkit_path, aug_path, _ = devkit
    out = tmp_path / 'elsewhere'
    out.mkdir()
    (out / 'thesis.pdf').write_bytes(b'%PDF')
    with pytest.raises(FileExistsError, match='thesis.pdf'):
        convert_voc_aug(devkit_path, aug_path, str(out), log=lambda s: None)
    assert os.listdir(out) == ['thesis.pdf']


def test_missing_inputs_are_named(devkit):
    devkit_path, aug_path, _ = devkit
    os.remove(osp.join(aug_path, 'dataset', 'val.txt'))
    with pytest.raises(FileNotFoundError, match=r'SBD split list .*dataset/val.txt'):
        convert_voc_aug(devkit_path, aug_path)


def test_mask_without_image_is_named(devkit):
    devkit_path, aug_path, _ = devkit
    os.remove(osp.join(devkit_path, 'VOC2012', 'JPEGImages', '2008_000003.jpg'))
    with pytest.raises(FileNotFoundError,
                       match=r'have no image.*cls/2008_000003.mat.*JPEGImages/2008_000003.jpg'):
        convert_voc_aug(devkit_path, aug_path)


def test_listed_stem_without_mat_and_bad_mat_are_named(devkit):
    devkit_path, aug_path, truth = devkit
    cls_dir = osp.join(aug_path, 'dataset', 'cls')
    sio.savemat(osp.join(cls_dir, '2008_000002.mat'), {'S': truth['2008_000002']})
    with pytest.raises(ValueError, match=r'2008_000002.mat.*not an SBD class file'):
        convert_voc_aug(devkit_path, aug_path, log=lambda s: None)
    write_sbd_mat(osp.join(cls_dir, '2008_000002.mat'), np.full((7, 9), 33, np.uint8))
    with pytest.raises(ValueError, match=r'2008_000002.mat.*\[33\]'):
        convert_voc_aug(devkit_path, aug_path, log=lambda s: None)
    os.remove(osp.join(cls_dir, '2008_000002.mat'))
    with pytest.raises(FileNotFoundError, match=r'dataset/train.txt.*cls/2008_000002.mat'):
        convert_voc_aug(devkit_path, aug_path)
