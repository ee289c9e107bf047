"""Colour masks -> index masks: mapping, unknown colours, cache reruns and palette changes."""
import os

import numpy as np
import pytest
from PIL import Image

from upertool.datasets.converters import UnknownColorError, colors_to_index, convert_color_masks

PALETTE = [[0, 0, 0], [250, 0, 0], [0, 0, 250]]


def test_colors_to_index():
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[0, 1] = [250, 0, 0]
    rgb[2, 3] = [0, 0, 250]
    rgb[1, 2] = [255, 255, 255]
    out = colors_to_index(rgb, PALETTE, ignore_colors=[[255, 255, 255]])
    expected = np.zeros((3, 4), np.uint8)
    expected[0, 1], expected[2, 3], expected[1, 2] = 1, 2, 255
    np.testing.assert_array_equal(out, expected)


def test_unknown_colours_listed_with_coordinates():
    rgb = np.zeros((4, 5, 3), np.uint8)
    for k in range(10):  # ten different unknown colours, first pixels in row-major order
        y, x = divmod(10 + k, 5)
        rgb[y, x] = [1, 2, k + 3]
    with pytest.raises(UnknownColorError) as err:
        colors_to_index(rgb, PALETTE, path='m.png')
    msg = str(err.value)
    assert "'m.png' has 10 colour(s)" in msg and '[1, 2, 3] at (x=0, y=2), 1 px' in msg
    assert 'and 2 more' in msg


def test_bad_palettes():
    rgb = np.zeros((2, 2, 3), np.uint8)
    with pytest.raises(ValueError, match='appears twice'):
        colors_to_index(rgb, PALETTE, ignore_colors=[[0, 0, 0]])
    with pytest.raises(ValueError, match='three integers'):
        colors_to_index(rgb, [[0, 0, 256]])
    with pytest.raises(ValueError, match=r'\(H, W, 3\)'):
        colors_to_index(np.zeros((2, 2), np.uint8), PALETTE)


def test_cache_is_reused_and_follows_palette_changes(tmp_path):
    src, out = tmp_path / 'masks', tmp_path / 'masks_index'
    src.mkdir()
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = [250, 0, 0]
    Image.fromarray(rgb).save(src / 'a.png')
    [path] = convert_color_masks(str(src), ['a.png'], str(out), PALETTE)
    assert np.asarray(Image.open(path))[0, 0] == 1
    stamp = os.stat(path).st_mtime_ns
    manifest = os.stat(out / 'index_masks.json').st_mtime_ns
    convert_color_masks(str(src), ['a.png'], str(out), PALETTE)
    assert os.stat(path).st_mtime_ns == stamp
    assert os.stat(out / 'index_masks.json').st_mtime_ns == manifest
    swapped = [PALETTE[0], PALETTE[2], PALETTE[1]]
    convert_color_masks(str(src), ['a.png'], str(out), swapped)
    assert np.asarray(Image.open(path))[0, 0] == 2
    (out / 'other.txt').write_text('x')
    with pytest.raises(FileExistsError, match='other.txt'):
        convert_color_masks(str(src), ['a.png'], str(out), PALETTE)
