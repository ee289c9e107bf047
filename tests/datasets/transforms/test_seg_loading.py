
import cv2
import numpy as np
import pytest
from PIL import Image

from upertool.datasets.transforms import LoadAnnotations, LoadImageFromFile, LoadImageFromNDArray


def _info(img_path, seg_map_path=None, **extra):
    info = dict(img_path=img_path, seg_fields=[], reduce_zero_label=False, label_map=None)
    if seg_map_path:
        info['seg_map_path'] = seg_map_path
    info.update(extra)
    return info


def test_load_image_is_bgr_uint8_with_shapes(tmp_path, seg_io):
    path = str(tmp_path / 'a.png')
    img = seg_io.write_image(path, 5, 7)
    out = LoadImageFromFile()(_info(path))
    assert out['img'].dtype == np.uint8
    np.testing.assert_array_equal(out['img'], img)  # cv2.imwrite took BGR, so BGR back
    rgb = np.array(Image.open(path))
    np.testing.assert_array_equal(out['img'][..., ::-1], rgb)
    assert out['img_shape'] == (5, 7) and out['ori_shape'] == (5, 7)
    as_float = LoadImageFromFile(to_float32=True)(_info(path))['img']
    assert as_float.dtype == np.float32 and np.array_equal(as_float, img.astype(np.float32))


def test_corrupt_and_missing_images_are_named(tmp_path):
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'\xff\xd8 definitely not a jpeg')
    with pytest.raises(ValueError, match='broken.jpg'):
        LoadImageFromFile()(_info(str(bad)))
    with pytest.raises(ValueError, match='broken.jpg'):
        LoadImageFromFile(imdecode_backend='pillow')(_info(str(bad)))
    with pytest.raises(FileNotFoundError, match='absent.jpg'):
        LoadImageFromFile()(_info(str(tmp_path / 'absent.jpg')))
    assert LoadImageFromFile(ignore_empty=True)(_info(str(bad))) is None


def test_load_image_from_ndarray():
    img = np.zeros((4, 6, 3), np.uint8)
    out = LoadImageFromNDArray()(dict(img=img))
    assert out['img_path'] is None and out['ori_shape'] == (4, 6) and out['img'] is img
    with pytest.raises(TypeError, match='numpy array'):
        LoadImageFromNDArray()(dict(img=[[1, 2]]))


def _with_mask(tmp_path, seg_io, mask, palette=False, img_hw=None):
    h, w = img_hw or mask.shape
    img = str(tmp_path / 'x.jpg')
    seg = str(tmp_path / 'x.png')
    seg_io.write_image(img, h, w)
    seg_io.write_mask(seg, mask, palette=palette)
    return LoadImageFromFile()(_info(img, seg, num_classes=4, ignore_index=255))


@pytest.mark.parametrize('palette', [False, True])
def test_mask_is_read_as_indices(tmp_path, seg_io, palette):
    mask = np.array([[0, 1, 2], [3, 255, 0]], np.uint8)
    results = _with_mask(tmp_path, seg_io, mask, palette=palette)
    out = LoadAnnotations()(results)
    assert out['gt_seg_map'].dtype == np.uint8
    np.testing.assert_array_equal(out['gt_seg_map'], mask)
    assert out['seg_fields'] == ['gt_seg_map']


def test_label_map_then_reduce_zero_label(tmp_path, seg_io):
    mask = np.array([[0, 1, 2, 3, 4]], np.uint8)
    results = _with_mask(tmp_path, seg_io, mask)
    results.update(label_map={1: 4, 4: 1, 2: 255}, reduce_zero_label=True, num_classes=4)
    out = LoadAnnotations()(results)
    # label_map first: [0, 4, 255, 3, 1]; then 0 -> 255 and k -> k - 1
    np.testing.assert_array_equal(out['gt_seg_map'], [[255, 3, 255, 2, 0]])


def test_reduce_zero_label_none_follows_data_info(tmp_path, seg_io):
    mask = np.array([[0, 1, 4]], np.uint8)
    results = _with_mask(tmp_path, seg_io, mask)
    results['reduce_zero_label'] = True
    out = LoadAnnotations(reduce_zero_label=None)(results)
    np.testing.assert_array_equal(out['gt_seg_map'], [[255, 0, 3]])


def test_corrupt_mask_is_named(tmp_path, seg_io):
    results = _with_mask(tmp_path, seg_io, np.zeros((2, 2), np.uint8))
    with open(results['seg_map_path'], 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n truncated')
    with pytest.raises(ValueError, match=r'mask file .*x\.png'):
        LoadAnnotations()(results)


def test_mask_size_mismatch_names_both_files_and_sizes(tmp_path, seg_io):
    results = _with_mask(tmp_path, seg_io, np.zeros((3, 4), np.uint8), img_hw=(5, 6))
    with pytest.raises(ValueError) as err:
        LoadAnnotations()(results)
    msg = str(err.value)
    assert 'x.png' in msg and 'x.jpg' in msg and '4x3' in msg and '6x5' in msg


def test_out_of_range_labels_name_file_and_values(tmp_path, seg_io):
    mask = np.array([[0, 3, 4, 9], [255, 1, 2, 4]], np.uint8)
    results = _with_mask(tmp_path, seg_io, mask)
    with pytest.raises(ValueError, match=r'x\.png.*\[4, 9\]'):
        LoadAnnotations()(results)


def test_ignore_index_other_than_255(tmp_path, seg_io):
    mask = np.array([[0, 3, 7]], np.uint8)
    results = _with_mask(tmp_path, seg_io, mask)
    results['ignore_index'] = 7
    np.testing.assert_array_equal(LoadAnnotations()(results)['gt_seg_map'], mask)
    results = _with_mask(tmp_path, seg_io, np.array([[0, 255]], np.uint8))
    results['ignore_index'] = 7
    with pytest.raises(ValueError, match=r'\[255\]'):
        LoadAnnotations()(results)


def test_colour_mask_is_rejected(tmp_path, seg_io):
    results = _with_mask(tmp_path, seg_io, np.zeros((2, 3), np.uint8))
    cv2.imwrite(results['seg_map_path'], np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ValueError, match=r'x\.png.*single-channel'):
        LoadAnnotations()(results)


def test_16bit_mask_values_that_fit_are_accepted(tmp_path, seg_io):
    results = _with_mask(tmp_path, seg_io, np.zeros((2, 3), np.uint8))
    cv2.imwrite(results['seg_map_path'], np.array([[0, 1, 2], [3, 255, 0]], np.uint16))
    out = LoadAnnotations(imdecode_backend='cv2')(results)
    assert out['gt_seg_map'].dtype == np.uint8 and out['gt_seg_map'][1, 1] == 255
    cv2.imwrite(results['seg_map_path'], np.full((2, 3), 300, np.uint16))
    with pytest.raises(ValueError, match='uint8'):
        LoadAnnotations(imdecode_backend='cv2')(results)
