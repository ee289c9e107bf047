import numpy as np
import pytest

from upertool.datasets.transforms import (
    Pad,
    RandomCrop,
    RandomFlip,
    RandomResize,
    Resize,
    ResizeToMultiple,
)
from upertool.registry import TRANSFORMS


def _sample(h=40, w=60, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    seg = rng.integers(0, 5, (h, w)).astype(np.uint8)
    return dict(img=img, gt_seg_map=seg, seg_fields=['gt_seg_map'], img_shape=(h, w))


@pytest.mark.parametrize('name', ['LoadImageFromFile', 'LoadAnnotations', 'Resize',
                                  'RandomResize', 'RandomCrop', 'RandomFlip', 'Pad',
                                  'PhotoMetricDistortion', 'PackSegInputs',
                                  'LoadImageFromNDArray', 'TestTimeAug', 'ResizeToMultiple'])
def test_names_resolve_to_upertool_classes(name):
    assert TRANSFORMS.get(name).__module__.startswith('upertool.datasets.transforms')


def test_resize_to_scale_without_ratio():
    out = Resize(scale=(30, 10))(_sample())
    assert out['img'].shape == (10, 30, 3) and out['gt_seg_map'].shape == (10, 30)
    assert out['img_shape'] == (10, 30) and out['scale_factor'] == (0.5, 0.25)
    assert out['keep_ratio'] is False


@pytest.mark.parametrize('hw, scale, expected', [
    ((40, 60), (100, 50), (50, 75)),    # min(100/60, 50/40) = 1.25
    ((40, 60), (2048, 512), (512, 768)),  # min(2048/60, 512/40) = 12.8
    ((60, 40), (100, 50), (75, 50)),    # portrait: long side is h
])
def test_resize_keep_ratio_sizes(hw, scale, expected):
    h, w = hw
    factor = min(max(scale) / max(h, w), min(scale) / min(h, w))
    assert expected == (int(h * factor + 0.5), int(w * factor + 0.5))
    out = Resize(scale=scale, keep_ratio=True)(_sample(h, w))
    assert out['img'].shape[:2] == expected and out['gt_seg_map'].shape == expected


def test_resize_seg_uses_nearest():
    sample = _sample(8, 8)
    seg = sample['gt_seg_map'].copy()
    out = Resize(scale=(16, 16))(sample)
    # nearest at an exact x2: every output pixel is a copy of one input pixel
    np.testing.assert_array_equal(out['gt_seg_map'], np.repeat(np.repeat(seg, 2, 0), 2, 1))
    out = Resize(scale=(13, 5))(out)
    assert set(np.unique(out['gt_seg_map'])) <= set(np.unique(seg))


def test_resize_by_scale_factor():
    out = Resize(scale_factor=0.5)(_sample(40, 60))
    assert out['img'].shape[:2] == (20, 30) and out['scale_factor'] == (0.5, 0.5)
    out = Resize(scale_factor=1.5, keep_ratio=True)(_sample(40, 60))
    assert out['img'].shape[:2] == (60, 90)
    with pytest.raises(ValueError, match='scale'):
        Resize()


def test_random_resize_ratio_range_keeps_ratio():
    np.random.seed(0)
    t = RandomResize(scale=(60, 40), ratio_range=(0.5, 2.0), keep_ratio=True)
    heights = []
    for _ in range(20):
        out = t(_sample(40, 60))
        h, w = out['img'].shape[:2]
        assert 20 <= h <= 80 and abs(w / h - 1.5) < 0.05
        assert out['gt_seg_map'].shape == (h, w)
        heights.append(h)
    assert len(set(heights)) > 5


def test_random_resize_between_two_scales():
    np.random.seed(1)
    t = RandomResize(scale=[(10, 20), (30, 25)], keep_ratio=False)
    for _ in range(10):
        h, w = t(_sample())['img'].shape[:2]
        assert 10 <= w <= 30 and 20 <= h <= 25
    with pytest.raises(ValueError, match='ratio_range'):
        RandomResize(scale=(10, 10))


def test_random_crop_sizes():
    np.random.seed(0)
    out = RandomCrop(crop_size=(16, 24))(_sample(40, 60))
    assert out['img'].shape == (16, 24, 3) and out['gt_seg_map'].shape == (16, 24)
    assert out['img_shape'] == (16, 24)
    out = RandomCrop(crop_size=32)(_sample(20, 50))  # taller than the image: image height
    assert out['img'].shape[:2] == (20, 32)


def test_random_crop_cuts_image_and_mask_at_the_same_place():
    np.random.seed(3)
    sample = _sample(30, 30)
    img, seg = sample['img'].copy(), sample['gt_seg_map'].copy()
    out = RandomCrop(crop_size=(10, 12))(sample)
    hits = [(y, x) for y in range(21) for x in range(19)
            if np.array_equal(img[y:y + 10, x:x + 12], out['img'])]
    assert len(hits) == 1
    y, x = hits[0]
    np.testing.assert_array_equal(out['gt_seg_map'], seg[y:y + 10, x:x + 12])


def _count_draws(t):
    calls = []
    draw = t._random_bbox

    def counted(img):
        calls.append(1)
        return draw(img)

    t._random_bbox = counted
    return calls


def test_cat_max_ratio_retries_ten_times_on_a_single_class_mask():
    t = RandomCrop(crop_size=8, cat_max_ratio=0.75)
    calls = _count_draws(t)
    sample = _sample(20, 20)
    sample['gt_seg_map'][:] = 3
    t(sample)
    assert len(calls) == 11  # first draw + mmsegmentation's 10 retries
    calls.clear()
    RandomCrop.__init__(t, crop_size=8, cat_max_ratio=1.0)
    t(_sample(20, 20))
    assert len(calls) == 1


def test_cat_max_ratio_steers_crops_to_mixed_windows():
    # Rows 0-19 class 0, rows 20-39 class 1; a 20x20 crop at row y holds y/20 of class 1
    # and is accepted when both shares are < 0.75, i.e. y in 6..14 (9 of 21 offsets).
    def mixed_share(cat_max_ratio, n=100):
        np.random.seed(0)
        t = RandomCrop(crop_size=(20, 20), cat_max_ratio=cat_max_ratio)
        ok = 0
        for _ in range(n):
            sample = _sample(40, 20)
            sample['gt_seg_map'] = np.repeat(np.arange(2, dtype=np.uint8), 20)[:, None] \
                .repeat(20, 1)
            seg = t(sample)['gt_seg_map']
            share = np.bincount(seg.ravel(), minlength=2) / seg.size
            ok += share.max() < 0.75
        return ok / n

    assert mixed_share(0.75) >= 0.97  # fails only if 11 draws in a row miss: 0.57^11
    assert mixed_share(1.0) < 0.7  # one draw: 9/21 on average


def test_cat_max_ratio_ignores_ignore_index():
    t = RandomCrop(crop_size=(4, 4), cat_max_ratio=0.75, ignore_index=255)
    calls = _count_draws(t)
    sample = _sample(4, 4)
    seg = np.full((4, 4), 255, np.uint8)
    seg[0, :2] = 1
    seg[1, :2] = 2  # 2 + 2 labelled pixels, 12 ignored: shares 0.5 / 0.5
    sample['gt_seg_map'] = seg
    t(sample)
    assert len(calls) == 1


@pytest.mark.parametrize('direction, expected', [
    ('horizontal', lambda a: a[:, ::-1]), ('vertical', lambda a: a[::-1]),
    ('diagonal', lambda a: a[::-1, ::-1])])
def test_flip_directions_and_twice_is_identity(direction, expected):
    sample = _sample(6, 9)
    img, seg = sample['img'].copy(), sample['gt_seg_map'].copy()
    t = RandomFlip(prob=1., direction=direction)
    out = t(sample)
    np.testing.assert_array_equal(out['img'], expected(img))
    np.testing.assert_array_equal(out['gt_seg_map'], expected(seg))
    assert out['flip'] is True and out['flip_direction'] == direction
    out = t(out)
    np.testing.assert_array_equal(out['img'], img)
    np.testing.assert_array_equal(out['gt_seg_map'], seg)


def test_flip_probability_and_no_flip_record():
    out = RandomFlip(prob=0.)(_sample())
    assert out['flip'] is False and out['flip_direction'] is None
    np.random.seed(0)
    t = RandomFlip(prob=0.3)
    flips = sum(t(_sample(2, 2))['flip'] for _ in range(400))
    assert 80 <= flips <= 160  # Binomial(400, 0.3): mean 120, sd 9
    t = RandomFlip(prob=[0.3, 0.5], direction=['horizontal', 'vertical'])
    dirs = [t(_sample(2, 2))['flip_direction'] for _ in range(400)]
    assert 80 <= dirs.count('horizontal') <= 160 and 160 <= dirs.count('vertical') <= 240
    with pytest.raises(ValueError, match='direction'):
        RandomFlip(prob=0.5, direction='sideways')


def test_flip_swaps_seg_labels():
    sample = _sample(2, 3)
    sample['gt_seg_map'] = np.array([[1, 2, 0], [2, 1, 0]], np.uint8)
    out = RandomFlip(prob=1., swap_seg_labels=[(1, 2)])(sample)
    np.testing.assert_array_equal(out['gt_seg_map'], [[0, 1, 2], [0, 2, 1]])


def test_pad_to_size_with_values():
    sample = _sample(5, 7)
    img, seg = sample['img'].copy(), sample['gt_seg_map'].copy()
    out = Pad(size=(10, 8), pad_val=3)(sample)  # (w, h)
    assert out['img'].shape == (8, 10, 3) and out['gt_seg_map'].shape == (8, 10)
    np.testing.assert_array_equal(out['img'][:5, :7], img)
    np.testing.assert_array_equal(out['gt_seg_map'][:5, :7], seg)
    assert (out['img'][5:] == 3).all() and (out['img'][:, 7:] == 3).all()
    assert (out['gt_seg_map'][5:] == 255).all() and (out['gt_seg_map'][:, 7:] == 255).all()
    assert out['pad_shape'] == (8, 10, 3) and out['img_shape'] == (8, 10)
    assert out['pad_fixed_size'] == (10, 8) and out['pad_size_divisor'] is None


def test_pad_to_multiple_and_mmcv_style_values():
    out = Pad(size_divisor=32, pad_val=dict(img=1, seg=7))(_sample(50, 70))
    assert out['img'].shape[:2] == (64, 96) and out['gt_seg_map'].shape == (64, 96)
    assert out['img'][63, 95, 0] == 1 and out['gt_seg_map'][63, 95] == 7
    out = Pad(size_divisor=8, seg_pad_val=0)(_sample(16, 8))
    assert out['img'].shape[:2] == (16, 8)  # already a multiple: unchanged
    with pytest.raises(ValueError, match='exactly one'):
        Pad()
    with pytest.raises(ValueError, match='larger'):
        Pad(size=(4, 4))(_sample(5, 5))


def test_resize_to_multiple():
    out = ResizeToMultiple(size_divisor=16)(_sample(40, 60))
    assert out['img'].shape[:2] == (48, 64) and out['gt_seg_map'].shape == (48, 64)
    assert out['pad_shape'] == (48, 64)
