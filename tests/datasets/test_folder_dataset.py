"""FolderSegDataset: users' images + index or colour masks, meta files, splits, errors."""
import json
import os
import os.path as osp
import time

import numpy as np
import pytest
from PIL import Image

from upertool.datasets import FolderSegDataset
from upertool.datasets.converters import UnknownColorError

LOAD = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
CLASSES = ['background', 'road', 'car']
PALETTE = [[0, 0, 0], [128, 64, 128], [0, 0, 142]]


def labels(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = rng.integers(0, 3, (6, 8)).astype(np.uint8)
    mask[0, 0] = 255
    return mask


def paint(mask: np.ndarray, palette=PALETTE, ignore=(255, 255, 255)) -> np.ndarray:
    """The colour rendering a user would have: palette colour per class, white = ignore."""
    rgb = np.zeros(mask.shape + (3,), np.uint8)
    for k, colour in enumerate(palette):
        rgb[mask == k] = colour
    rgb[mask == 255] = ignore
    return rgb


@pytest.fixture
def tree(tmp_path, seg_io):
    root = tmp_path / 'mydata'
    truth = {}
    for i, stem in enumerate(['a', 'b', 'sub/c']):
        suffix = '.png' if stem == 'b' else '.jpg'  # users mix formats
        seg_io.write_image(str(root / 'images' / (stem + suffix)), 6, 8, seed=i)
        truth[stem] = labels(i)
    (root / 'meta.json').write_text(json.dumps(dict(classes=CLASSES, palette=PALETTE)))
    return root, truth


def write_index_masks(root, truth, seg_io, palette_mode):
    for stem, mask in truth.items():
        seg_io.write_mask(str(root / 'masks' / (stem + '.png')), mask, palette=palette_mode)


def write_color_masks(root, truth):
    for stem, mask in truth.items():
        path = root / 'masks' / (stem + '.png')
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(paint(mask)).save(path)


@pytest.mark.parametrize('palette_mode', [False, True], ids=['L', 'P'])
def test_index_masks(tree, seg_io, palette_mode):
    root, truth = tree
    write_index_masks(root, truth, seg_io, palette_mode)
    ds = FolderSegDataset(data_root=str(root), meta_file='meta.json', pipeline=LOAD)
    assert list(ds.metainfo['classes']) == CLASSES
    assert [list(c) for c in ds.metainfo['palette']] == PALETTE
    assert len(ds) == 3
    for i in range(3):
        out = ds[i]
        stem = osp.relpath(out['img_path'], root / 'images').rsplit('.', 1)[0]
        np.testing.assert_array_equal(out['gt_seg_map'], truth[stem])


def test_color_masks_are_decoded_through_the_palette(tree, tmp_path):
    root, truth = tree
    write_color_masks(root, truth)
    cache = str(tmp_path / 'cache')
    ds = FolderSegDataset(data_root=str(root), meta_file='meta.json', pipeline=LOAD,
                          ignore_colors=[[255, 255, 255]], index_mask_dir=cache)
    for i in range(3):
        out = ds[i]
        assert out['seg_map_path'].startswith(cache)
        stem = osp.relpath(out['img_path'], root / 'images').rsplit('.', 1)[0]
        np.testing.assert_array_equal(out['gt_seg_map'], truth[stem])
    # a second construction decodes nothing again and rewrites nothing
    mtimes = {p: os.stat(osp.join(cache, p)).st_mtime_ns for p in ('a.png', 'sub/c.png')}
    time.sleep(0.01)
    FolderSegDataset(data_root=str(root), meta_file='meta.json',
                     ignore_colors=[[255, 255, 255]], index_mask_dir=cache)
    assert mtimes == {p: os.stat(osp.join(cache, p)).st_mtime_ns for p in mtimes}


def test_unknown_colour_reported_with_file_and_coordinates(tree):
    root, truth = tree
    write_color_masks(root, truth)
    rgb = paint(truth['b'])
    rgb[4, 6] = [10, 20, 30]  # a colour of no class, at x=6, y=4
    Image.fromarray(rgb).save(root / 'masks' / 'b.png')
    # white is not declared as ignore here, so it is unknown too (first at x=0, y=0)
    with pytest.raises(UnknownColorError) as err:
        FolderSegDataset(data_root=str(root), meta_file='meta.json')
    msg = str(err.value)
    assert 'b.png' in msg and '[10, 20, 30] at (x=6, y=4), 1 px' in msg
    assert '[255, 255, 255] at (x=0, y=0)' in msg
    assert '3 colour mask(s)' in msg  # every file checked before raising


def test_yaml_meta_and_split_file(tree, seg_io):
    root, truth = tree
    write_index_masks(root, truth, seg_io, True)
    (root / 'classes.yaml').write_text('classes: [bg, road, car]\n')
    (root / 'splits').mkdir()
    (root / 'splits' / 'val.txt').write_text('sub/c\nb\n')
    ds = FolderSegDataset(data_root=str(root), meta_file='classes.yaml',
                          ann_file='splits/val.txt', pipeline=LOAD)
    assert list(ds.metainfo['classes']) == ['bg', 'road', 'car']
    assert len(ds.metainfo['palette']) == 3  # none given: a fixed generated one
    assert [osp.basename(ds.get_data_info(i)['img_path']) for i in range(2)] == ['c.jpg', 'b.png']


def test_config_metainfo_overrides_meta_file(tree, seg_io):
    root, truth = tree
    write_index_masks(root, truth, seg_io, False)
    ds = FolderSegDataset(data_root=str(root), meta_file='meta.json',
                          metainfo=dict(classes=['x', 'y', 'z']))
    assert list(ds.metainfo['classes']) == ['x', 'y', 'z']
    ds = FolderSegDataset(data_root=str(root), metainfo=dict(classes=CLASSES))  # no file
    assert ds.num_classes == 3


def test_mask_stem_without_image_is_named(tree, seg_io):
    root, truth = tree
    write_index_masks(root, truth, seg_io, False)
    seg_io.write_mask(str(root / 'masks' / 'orphan.png'), truth['a'])
    with pytest.raises(FileNotFoundError, match=r"have no image.*masks/orphan\.png"):
        FolderSegDataset(data_root=str(root), meta_file='meta.json')


def test_image_without_mask_is_named(tree, seg_io):
    root, truth = tree
    write_index_masks(root, truth, seg_io, False)
    os.remove(root / 'masks' / 'sub' / 'c.png')
    with pytest.raises(FileNotFoundError, match=r"sub/c\.jpg.*has no mask.*sub/c\.png"):
        FolderSegDataset(data_root=str(root), meta_file='meta.json')


def test_bad_meta(tree, seg_io, tmp_path):
    root, truth = tree
    write_index_masks(root, truth, seg_io, False)
    with pytest.raises(FileNotFoundError, match='nope.json'):
        FolderSegDataset(data_root=str(root), meta_file='nope.json')
    (root / 'bad.json').write_text('{"classes": ["a", "b"], "palette": [[1, 2, 3]]}')
    with pytest.raises(ValueError, match=r"bad\.json.*one \[R, G, B\]"):
        FolderSegDataset(data_root=str(root), meta_file='bad.json')
    with pytest.raises(ValueError, match='needs class names'):
        FolderSegDataset(data_root=str(root))
    with pytest.raises(FileNotFoundError, match=r"data_root '.*elsewhere' is not a folder"):
        FolderSegDataset(data_root=str(tmp_path / 'elsewhere'), meta_file='meta.json')


def test_colour_masks_without_palette_are_refused(tree):
    root, truth = tree
    write_color_masks(root, truth)
    with pytest.raises(ValueError, match='RGB colour images.*palette'):
        FolderSegDataset(data_root=str(root), metainfo=dict(classes=CLASSES))


def test_index_values_beyond_classes_reported_at_load(tree, seg_io):
    root, truth = tree
    truth['a'][1, 1] = 7
    write_index_masks(root, truth, seg_io, False)
    with pytest.raises(ValueError, match=r'a\.png.*\[7\]'):  # at build time (sample checks)
        FolderSegDataset(data_root=str(root), meta_file='meta.json', pipeline=LOAD)[0]
