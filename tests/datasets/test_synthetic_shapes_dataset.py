import glob
import multiprocessing
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from PIL import Image

from upertool.datasets import SyntheticShapesDataset
from upertool.datasets import synthetic as synthetic_module
from upertool.datasets.synthetic import generate_synthetic_shapes
from upertool.datasets.synthetic_shapes import CLASSES, ShapeSceneGenerator
from upertool.registry import DATASETS

SMALL = dict(num_train=12, num_val=4, image_size=48)


def _files(root):
    return sorted(osp.relpath(p, root) for p in glob.glob(osp.join(root, '**', '*.png'),
                                                           recursive=True))


def _read_split(root, split):
    imgs = sorted(glob.glob(osp.join(root, 'img_dir', split, '*.png')))
    x = np.stack([cv2.imread(p) for p in imgs])
    y = np.stack([np.array(Image.open(p.replace('img_dir', 'ann_dir'))) for p in imgs])
    return x, y


def _miou(pred, gt, num_classes=6):
    ious = []
    for k in range(num_classes):
        union = np.sum((pred == k) | (gt == k))
        if union:
            ious.append(np.sum((pred == k) & (gt == k)) / union)
    return 100 * float(np.mean(ious))


def test_layout_on_disk_and_loading_path(tmp_path):
    ds = SyntheticShapesDataset(cache_dir=str(tmp_path), **SMALL)
    roots = os.listdir(tmp_path)
    assert len(roots) == 1  # one folder per parameter hash, no temporary leftovers
    root = osp.join(tmp_path, roots[0])
    files = _files(root)
    assert [f for f in files if f.startswith('img_dir/train/')] == \
        [f'img_dir/train/{i:05d}.png' for i in range(12)]
    assert len([f for f in files if f.startswith('ann_dir/val/')]) == 4
    assert osp.isfile(osp.join(root, 'meta.json'))
    mask = Image.open(osp.join(root, 'ann_dir/train/00000.png'))
    assert mask.mode == 'P' and mask.size == (48, 48)
    assert len(ds) == 12 and ds.metainfo['classes'] == CLASSES
    assert ds.get_data_info(3)['seg_map_path'] == osp.join(root, 'ann_dir/train/00003.png')
    val = DATASETS.build(dict(type='SyntheticShapesDataset', split='val', cache_dir=str(tmp_path),
                              pipeline=[dict(type='LoadImageFromFile'),
                                        dict(type='LoadAnnotations'), dict(type='PackSegInputs')],
                              **SMALL))
    out = val[1]
    assert tuple(out['inputs'].shape) == (3, 48, 48)
    assert int(out['data_samples'].gt_sem_seg.data.max()) < 6


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = SyntheticShapesDataset(cache_dir=str(tmp_path / 'a'), **SMALL).data_root
    b = SyntheticShapesDataset(cache_dir=str(tmp_path / 'b'), **SMALL).data_root
    c = SyntheticShapesDataset(cache_dir=str(tmp_path / 'c'), seed=1, **SMALL).data_root
    assert osp.basename(a) == osp.basename(b) != osp.basename(c)
    files = _files(a)
    assert files == _files(b) == _files(c)
    for f in files:
        with open(osp.join(a, f), 'rb') as fa, open(osp.join(b, f), 'rb') as fb:
            assert fa.read() == fb.read(), f
    same = sum(open(osp.join(a, f), 'rb').read() == open(osp.join(c, f), 'rb').read()
               for f in files)
    assert same == 0


def test_cache_is_reused_and_mismatches_are_refused(tmp_path, monkeypatch):
    ds = SyntheticShapesDataset(cache_dir=str(tmp_path), **SMALL)

    def fail(*args, **kwargs):
        raise AssertionError('regenerated a cached set')

    monkeypatch.setattr(synthetic_module, 'generate_synthetic_shapes', fail)
    assert len(SyntheticShapesDataset(cache_dir=str(tmp_path), split='val', **SMALL)) == 4
    with pytest.raises(ValueError, match='noise_std'):
        SyntheticShapesDataset(data_root=ds.data_root, noise_std=0., **SMALL)
    other = tmp_path / 'not_synthetic'
    other.mkdir()
    (other / 'x.txt').write_text('x')
    with pytest.raises(FileExistsError, match='meta.json'):
        SyntheticShapesDataset(data_root=str(other), **SMALL)
    with pytest.raises(ValueError, match='split'):
        SyntheticShapesDataset(split='test', cache_dir=str(tmp_path), **SMALL)


def _generate(root, params):
    generate_synthetic_shapes(root, params)


def test_concurrent_generation_is_safe(tmp_path):
    params = dict(version=2, num_train=40, num_val=5, image_size=48, seed=3,
                  num_shapes=[3, 6], radius_range=[0.12, 0.25], num_clutter=[1, 3],
                  front_line_prob=0.2, noise_std=5., min_contrast=90.)
    root = str(tmp_path / 'set')
    ctx = multiprocessing.get_context('fork')
    procs = [ctx.Process(target=_generate, args=(root, params)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert os.listdir(tmp_path) == ['set']  # the loser's temporary folder is gone
    assert len(_files(root)) == 90
    generate_synthetic_shapes(root, params)  # a late third writer: harmless too
    assert os.listdir(tmp_path) == ['set']


def test_difficulty_knobs():
    rng = np.random.default_rng(0)
    g = ShapeSceneGenerator(image_size=48, num_shapes=(1, 1), num_clutter=(0, 0),
                            front_line_prob=0., noise_std=0., jitter=(0., 0.))
    img, mask = g.render(rng)
    assert len(np.unique(mask)) <= 2
    # no clutter, no noise: the background is one fill; with a flat fill it is uniform
    flat = [len(np.unique(g.render(np.random.default_rng(i))[0][..., 0][
        g.render(np.random.default_rng(i))[1] == 0])) for i in range(8)]
    assert min(flat) == 1
    noisy = ShapeSceneGenerator(image_size=48, noise_std=20.)
    quiet = ShapeSceneGenerator(image_size=48, noise_std=0., jitter=(0., 0.))
    a = noisy.render(np.random.default_rng(5))[0].astype(float)
    b = quiet.render(np.random.default_rng(5))[0].astype(float)
    assert np.abs(np.diff(a, axis=1)).mean() > np.abs(np.diff(b, axis=1)).mean() + 5


def test_shape_geometry():
    g = ShapeSceneGenerator(image_size=100)
    r = 20.
    circle = g.shape_mask(1, 50, 50, r, 0.)
    assert abs(circle.sum() - np.pi * r * r) / (np.pi * r * r) < 0.05
    ring = g.shape_mask(5, 50, 50, r, 0.)
    assert not ring[50, 50] and ring[50, 50 + int(0.75 * r)]
    assert abs(ring.sum() - 0.75 * np.pi * r * r) / (0.75 * np.pi * r * r) < 0.08
    square = g.shape_mask(2, 50, 50, r, 0.)
    side = 1.1 * r * np.sqrt(2)
    assert abs(square.sum() - side ** 2) / side ** 2 < 0.08
    star = g.shape_mask(4, 50, 50, r, 0.)
    hull = cv2.convexHull(np.argwhere(star)[:, ::-1].astype(np.int32))
    assert star.sum() < 0.75 * cv2.contourArea(hull)  # concave, unlike the polygons
    tri = g.shape_mask(3, 50, 50, r, 0.)
    hull = cv2.convexHull(np.argwhere(tri)[:, ::-1].astype(np.int32))
    assert tri.sum() > 0.9 * cv2.contourArea(hull)
    rotated = g.shape_mask(2, 50, 50, r, np.pi / 4)
    assert not np.array_equal(rotated, square)
    cut = g.shape_mask(1, 0, 0, r, 0.)  # at the corner: a quarter survives
    assert abs(cut.sum() - circle.sum() / 4) < 0.1 * circle.sum()


@pytest.fixture(scope='module')
def shapes_split(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('shapes'))
    ds = SyntheticShapesDataset(cache_dir=root, num_train=300, num_val=100, image_size=96)
    return _read_split(ds.data_root, 'train'), _read_split(ds.data_root, 'val')


def test_class_statistics(shapes_split):
    (x, y), (xv, yv) = shapes_split
    for labels in (y, yv):
        assert set(np.unique(labels).tolist()) == set(range(6))
    share = np.bincount(y.ravel(), minlength=6) / y.size
    assert 0.5 < share[0] < 0.85 and share[1:].min() > 0.03
    # colour is independent of class: every class's mean colour is close to the overall one
    pixels, labels = x.reshape(-1, 3).astype(float), y.ravel()
    overall = pixels.mean(0)
    for k in range(6):
        assert np.abs(pixels[labels == k].mean(0) - overall).max() < 25, CLASSES[k]


def _colour_bin_classifier(x, y, xv, bins=16):
    """Per-pixel majority vote in each RGB bin: the best colour-only rule the data allows."""
    def code(img):
        q = img.reshape(-1, 3).astype(np.int64) // (256 // bins)
        return (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]

    counts = np.zeros((bins ** 3, 6), np.int64)
    np.add.at(counts, (code(x), y.ravel()), 1)
    lut = counts.argmax(1)  # empty bins vote 0 (background, the commonest class)
    return lut[code(xv)].reshape(xv.shape[:-1])


def test_colour_alone_cannot_segment(shapes_split):
    (x, y), (xv, yv) = shapes_split
    miou = _miou(_colour_bin_classifier(x, y, xv), yv)
    assert miou <= 40, miou
    # the same classifier does learn when colour carries the class: the bound can fail
    palette = np.random.default_rng(0).integers(0, 256, (6, 3))
    noise = np.random.default_rng(1)
    tint = (palette[y] + noise.normal(0, 8, y.shape + (3,))).clip(0, 255).astype(np.uint8)
    tint_v = (palette[yv] + noise.normal(0, 8, yv.shape + (3,))).clip(0, 255).astype(np.uint8)
    assert _miou(_colour_bin_classifier(tint, y, tint_v), yv) > 90
