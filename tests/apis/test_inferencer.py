"""SegInferencer on every input kind, outputs on disk, bad inputs, videos."""
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from upertool.apis import MMSegInferencer, SegInferencer, inference_model, init_model
from upertool.apis.outputs import draw_overlay
from upertool.apis.video import segment_video
from upertool.registry import INFERENCERS

pytestmark = pytest.mark.usefixtures('one_thread')

SIZES = [(37, 45), (50, 31), (33, 33), (64, 48)]  # odd and non-square (H, W)


@pytest.fixture(scope='module')
def inferencer(model_dir):
    return SegInferencer(str(model_dir))


@pytest.fixture(scope='module')
def reference(model_dir):
    return init_model(str(model_dir))


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    """A nested folder of images of odd sizes, and their arrays."""
    root = tmp_path_factory.mktemp('images')
    rng = np.random.default_rng(0)
    arrays = {}
    for k, (h, w) in enumerate(SIZES):
        name = f'sub{k % 2}/deeper/img{k}.png' if k >= 2 else f'img{k}.jpg'
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        cv2.imwrite(str(path), image)
        arrays[name] = cv2.imread(str(path))  # what decoding gives (jpg is lossy)
    (root / 'notes.txt').write_text('not an image')
    return root, arrays


def expected_mask(model, image):
    return inference_model(model, image).pred_sem_seg.data[0].numpy()


def test_registered_under_both_names():
    assert INFERENCERS.get('SegInferencer') is SegInferencer
    assert INFERENCERS.get('MMSegInferencer') is SegInferencer
    assert MMSegInferencer is SegInferencer


def test_every_input_kind_gives_the_models_masks(inferencer, reference, images):
    root, arrays = images
    names = sorted(arrays)
    expected = {n: expected_mask(reference, arrays[n]) for n in names}
    # one path -> one prediction, at the original size
    single = inferencer(str(root / names[0]))['predictions']
    np.testing.assert_array_equal(single, expected[names[0]])
    assert single.shape == arrays[names[0]].shape[:2]
    # an array, and a list of arrays
    np.testing.assert_array_equal(inferencer(arrays[names[1]])['predictions'],
                                  expected[names[1]])
    listed = inferencer([arrays[n] for n in names], batch_size=3)['predictions']
    for name, got in zip(names, listed, strict=True):
        np.testing.assert_array_equal(got, expected[name])
    # a glob, and a list mixing paths and arrays
    globbed = inferencer(str(root / 'sub*' / '**' / '*.png'))['predictions']
    assert len(globbed) == 2
    mixed = inferencer([str(root / names[0]), arrays[names[2]]])['predictions']
    np.testing.assert_array_equal(mixed[1], expected[names[2]])


def test_folder_writes_pred_and_vis_with_relative_paths(inferencer, images, tmp_path):
    root, arrays = images
    out = tmp_path / 'out'
    result = inferencer(str(root), batch_size=2, out_dir=str(out), return_datasamples=True)
    assert result['failed'] == []
    assert inferencer.stats.skipped == [str(root / 'notes.txt')]
    for name, image in arrays.items():
        pred_file = out / 'pred' / (os.path.splitext(name)[0] + '.png')
        vis_file = out / 'vis' / name
        assert pred_file.is_file() and vis_file.is_file()
        with Image.open(pred_file) as png:
            assert png.mode == 'P'
            labels = np.array(png)
            palette = png.getpalette()[:3 * len(inferencer.palette)]
        assert labels.shape == image.shape[:2]
        assert palette == [v for colour in inferencer.palette for v in colour]
        vis = cv2.imread(str(vis_file))
        assert vis.shape[1] == image.shape[1] and vis.shape[0] > image.shape[0]
    samples = result['predictions']
    assert len(samples) == len(arrays) and samples[0].pred_sem_seg.data.ndim == 3


def legend_colours(strip_bgr, palette):
    """Which palette colours fill at least a swatch's worth of pixels in the strip."""
    found = set()
    for label, rgb in enumerate(palette):
        hits = np.all(strip_bgr == np.array(rgb[::-1], np.uint8), axis=-1).sum()
        if hits >= 20:
            found.add(label)
    return found


def test_legend_lists_exactly_the_classes_present(tiny):
    image = np.full((60, 90, 3), 128, np.uint8)
    mask = np.zeros((60, 90), np.int64)
    mask[:, 30:60], mask[:, 60:] = 2, 4  # classes 0, 2, 4; 255 is not a class
    mask[:5, :5] = 255
    drawn = draw_overlay(image, mask, tiny.CLASSES, tiny.PALETTE, 0.5, with_labels=False)
    strip = drawn[60:]
    assert strip.shape[0] > 0
    assert legend_colours(strip, tiny.PALETTE) == {0, 2, 4}


def test_written_overlay_legend_matches_written_mask(inferencer, images, tmp_path):
    root, arrays = images
    name = sorted(arrays)[-1]
    inferencer(str(root / name), out_dir=str(tmp_path), with_labels=False)
    base = os.path.basename(name)  # a single path is written under its file name
    labels = np.array(Image.open(tmp_path / 'pred' / (os.path.splitext(base)[0] + '.png')))
    vis = cv2.imread(str(tmp_path / 'vis' / base))
    present = set(np.unique(labels).tolist())
    assert len(present) >= 2  # the tiny model's head is scaled so several classes win
    assert legend_colours(vis[labels.shape[0]:], inferencer.palette) == present


def test_corrupt_image_is_reported_and_skipped(inferencer, images, tmp_path):
    root, arrays = images
    folder = tmp_path / 'in'
    for name, image in arrays.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / name), image)
    bad = folder / 'sub0' / 'broken.png'
    bad.write_bytes(b'\x89PNG\r\n\x1a\n' + b'garbage' * 10)
    out = tmp_path / 'out'
    result = inferencer(str(folder), batch_size=2, out_dir=str(out))
    assert [name for name, _ in result['failed']] == [str(bad)]
    assert 'cannot decode' in result['failed'][0][1]
    assert sum(p is None for p in result['predictions']) == 1
    assert not (out / 'pred' / 'sub0' / 'broken.png').exists()
    assert not (out / 'vis' / 'sub0' / 'broken.png').exists()
    written = sorted(str(p.relative_to(out / 'pred')) for p in (out / 'pred').rglob('*.png'))
    assert written == sorted(os.path.splitext(n)[0] + '.png' for n in arrays)
    assert not [p for p in out.rglob('.*') if p.is_file()]  # no temporaries left


@pytest.mark.parametrize('bad, message', [
    ('missing.png', 'input not found'),
    ('notes.txt', 'unsupported file type'),
    ('*.gif', 'matches no image'),
])
def test_bad_requests_stop_at_once(inferencer, images, bad, message):
    root, _ = images
    with pytest.raises((FileNotFoundError, ValueError), match=message):
        inferencer(str(root / bad))


def test_model_folder_errors_name_the_problem(tmp_path, model_dir):
    with pytest.raises(FileNotFoundError, match='has no config.py'):
        SegInferencer(str(tmp_path))
    with pytest.raises(ValueError, match='2 class names'):
        SegInferencer(str(model_dir), classes=['a', 'b'])
    with pytest.raises(FileNotFoundError, match='model not found'):
        SegInferencer('no_such_config.py')


def test_ten_second_video(inferencer, reference, tmp_path):
    fps, size, frames = 10.0, (64, 48), 100  # 10 s
    path = tmp_path / 'clip.mp4'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, size)
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    for k in range(frames):
        writer.write(np.roll(base, 2 * k, axis=1))
    writer.release()
    out = tmp_path / 'out'
    done = segment_video(inferencer, str(path), str(out), batch_size=4, save_masks=True,
                         progress=False)
    assert done == frames
    overlay = cv2.VideoCapture(str(out / 'vis' / 'clip.mp4'))
    assert int(overlay.get(cv2.CAP_PROP_FRAME_COUNT)) == frames
    assert overlay.get(cv2.CAP_PROP_FPS) == pytest.approx(fps)
    assert (int(overlay.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(overlay.get(cv2.CAP_PROP_FRAME_HEIGHT))) == size
    overlay.release()
    source = cv2.VideoCapture(str(path))
    for k in range(frames):
        ok, frame = source.read()
        assert ok
        mask = np.array(Image.open(out / 'pred' / 'clip' / f'{k:06d}.png'))
        np.testing.assert_array_equal(mask, expected_mask(reference, frame), err_msg=f'{k}')
    source.release()


def test_unreadable_video_stops_with_its_name(inferencer, tmp_path):
    bad = tmp_path / 'broken.mp4'
    bad.write_bytes(b'not a video at all')
    with pytest.raises(ValueError, match='broken.mp4'):
        segment_video(inferencer, str(bad), str(tmp_path / 'out'), progress=False)
    assert not list((tmp_path / 'out').rglob('*.mp4'))
