"""overlay_mask and friends against hand computations."""
import numpy as np
import pytest

from upertool.visualization import draw_class_names, draw_legend, overlay_mask, random_palette

PALETTE = [[200, 100, 0], [0, 40, 80]]  # RGB, as datasets give them


def test_overlay_blends_palette_colour_in_bgr_and_leaves_ignored_pixels():
    image = np.zeros((2, 3, 3), np.uint8)
    image[:] = (10, 20, 30)  # B, G, R
    mask = np.array([[0, 1, 255], [1, 0, 2]])  # 255 and 2 have no palette entry
    out = overlay_mask(image, mask, PALETTE, alpha=0.5)
    # class 0: RGB (200, 100, 0) -> BGR (0, 100, 200); 0.5 * (10, 20, 30) + 0.5 * colour
    np.testing.assert_array_equal(out[0, 0], [5, 60, 115])
    np.testing.assert_array_equal(out[1, 1], [5, 60, 115])
    # class 1: BGR (80, 40, 0)
    np.testing.assert_array_equal(out[0, 1], [45, 30, 15])
    np.testing.assert_array_equal(out[0, 2], [10, 20, 30])
    np.testing.assert_array_equal(out[1, 2], [10, 20, 30])
    assert out.dtype == np.uint8


@pytest.mark.parametrize('alpha', [0.0, 0.25, 1.0])
def test_overlay_alpha_endpoints_and_rounding(alpha):
    image = np.full((1, 1, 3), 100, np.uint8)
    out = overlay_mask(image, np.zeros((1, 1), np.int64), [[0, 0, 252]], alpha=alpha)  # blue
    blue = round((1 - alpha) * 100 + alpha * 252)
    rest = round((1 - alpha) * 100)
    np.testing.assert_array_equal(out[0, 0], [blue, rest, rest])  # BGR


@pytest.mark.parametrize('num_classes', [3, 40])  # per-class cv2.LUT path / per-pixel gather
def test_overlay_equals_the_float_formula_on_random_images(num_classes):
    rng = np.random.default_rng(num_classes)
    palette = rng.integers(0, 256, (num_classes, 3)).tolist()
    image = rng.integers(0, 256, (33, 47, 3), dtype=np.uint8)[..., ::-1]  # a strided view
    mask = rng.integers(-1, num_classes + 2, (33, 47))  # -1 and >= K have no colour
    out = overlay_mask(image, mask, palette, alpha=0.3)
    valid = (mask >= 0) & (mask < num_classes)
    colours = np.asarray(palette, np.float64)[:, ::-1][np.clip(mask, 0, num_classes - 1)]
    expected = np.where(valid[..., None], np.rint((1 - 0.3) * image + 0.3 * colours), image)
    np.testing.assert_array_equal(out, expected.astype(np.uint8))


def test_overlay_accepts_1hw_mask_and_rejects_bad_shapes():
    image = np.zeros((4, 5, 3), np.uint8)
    assert overlay_mask(image, np.zeros((1, 4, 5), np.int64), PALETTE).shape == (4, 5, 3)
    with pytest.raises(ValueError, match=r'mask \(4, 6\)'):
        overlay_mask(image, np.zeros((4, 6), np.int64), PALETTE)
    with pytest.raises(ValueError, match='alpha'):
        overlay_mask(image, np.zeros((4, 5), np.int64), PALETTE, alpha=1.5)


def test_class_names_are_drawn_inside_regions_only_for_present_classes():
    image = np.zeros((60, 120, 3), np.uint8)
    mask = np.zeros((60, 120), np.int64)
    mask[:, 60:] = 1
    out = draw_class_names(image, mask, ['left', 'right'], [[255, 0, 0], [0, 0, 255]])
    assert out.shape == image.shape and not np.shares_memory(out, image)
    # each label box is filled with its class colour (BGR) on its own side
    left, right = out[:, :60], out[:, 60:]
    assert (left == [0, 0, 255]).all(-1).any() and not (right == [0, 0, 255]).all(-1).any()
    assert (right == [255, 0, 0]).all(-1).any() and not (left == [255, 0, 0]).all(-1).any()


def test_legend_lists_given_labels():
    strip = draw_legend(200, [0, 1], ['a', 'b'], [[255, 0, 0], [0, 255, 0]])
    assert strip.shape[1] == 200 and strip.shape[0] >= 20
    assert (strip == [0, 0, 255]).all(-1).any() and (strip == [0, 255, 0]).all(-1).any()
    assert draw_legend(200, [], [], []).shape == (0, 200, 3)


def test_random_palette_is_fixed():
    assert random_palette(5) == random_palette(5)
    assert np.asarray(random_palette(5)).shape == (5, 3)
