"""Slide inference as functions: mmsegmentation's window grid, overlaps averaged by window
count, and the labels-only form (same labels as full accumulation, bounded memory)."""
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.structures import PixelData

from upertool.models.segmentors.inference import slide_inference, slide_labels, slide_windows
from upertool.registry import MODELS
from upertool.structures import SegDataSample


def test_slide_window_grid_matches_mmsegmentation_formula():
    # h_grids = (10 - 4 + 3 - 1) // 3 + 1 = 3, w_grids = (7 - 4 + 3 - 1) // 3 + 1 = 2;
    # the last row/column is shifted back inside the image
    assert slide_windows(10, 7, (4, 4), (3, 3)) == [
        (0, 4, 0, 4), (0, 4, 3, 7), (3, 7, 0, 4), (3, 7, 3, 7), (6, 10, 0, 4), (6, 10, 3, 7)]
    assert slide_windows(3, 3, (4, 4), (2, 2)) == [(0, 3, 0, 3)]  # crop clipped to the image


def test_slide_averages_overlaps_by_window_count():
    """Each window's logits are its own mean, so the output is a known average of window means."""
    x = torch.randn(1, 3, 7, 5)

    def encode(crop, metas):
        return crop.mean(dim=(2, 3), keepdim=True).expand_as(crop)

    out = slide_inference(encode, x, [{}], crop_size=(4, 5), stride=(3, 5))
    # windows rows [0, 4) and [3, 7): row 3 is the average of both windows' means
    m0, m1 = x[:, :, 0:4].mean(dim=(2, 3)), x[:, :, 3:7].mean(dim=(2, 3))
    torch.testing.assert_close(out[:, :, 0], m0[..., None].expand(1, 3, 5))
    torch.testing.assert_close(out[:, :, 3], ((m0 + m1) / 2)[..., None].expand(1, 3, 5))
    torch.testing.assert_close(out[:, :, 6], m1[..., None].expand(1, 3, 5))


def position_dependent_encoder(num_classes=5, seed=0):
    """Logits that depend on the window's content and on the position inside the window,
    so overlapping windows disagree and the averaging matters."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(num_classes, 3, generator=g)

    def encode(crops, metas):
        h, w = crops.shape[2:]
        ramp = torch.linspace(-1, 1, w).expand(h, w) + torch.linspace(-1, 1, h)[:, None]
        content = torch.einsum('kc,nchw->nkhw', mix, crops)
        return content + ramp * torch.arange(num_classes).view(1, -1, 1, 1) * 0.3
    return encode


@pytest.mark.parametrize('size,crop,stride,batch', [
    ((37, 53), (16, 20), (10, 12), 1),
    ((37, 53), (16, 20), (16, 20), 3),    # no overlap
    ((20, 30), (32, 32), (16, 16), 2),    # crop larger than the image
    ((64, 23), (17, 9), (5, 4), 4),       # many overlaps, stride much smaller than crop
])
def test_labels_equal_argmax_of_full_accumulation(size, crop, stride, batch):
    encode = position_dependent_encoder()
    inputs = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(1))
    metas = [dict(ori_shape=size)] * 2
    full = slide_inference(encode, inputs, metas, crop, stride, batch)
    labels = slide_labels(encode, inputs, metas, crop, stride, lambda x: x.argmax(1), batch)
    assert labels.shape == (2, *size) and labels.dtype == torch.int64
    assert torch.equal(labels, full.argmax(1))


def slide_model(return_logits):
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='ResNetV1c', depth=18, base_channels=4, stem_channels=8),
        decode_head=dict(type='UPerHead', channels=8, num_classes=6, dropout_ratio=0.0,
                         norm_cfg=dict(type='BN')),
        test_cfg=dict(mode='slide', crop_size=(32, 32), stride=(21, 21),
                      return_logits=return_logits)))
    return model.eval()


def test_predict_labels_only_equals_predict_with_logits():
    with_logits, labels_only = slide_model(True), slide_model(False)
    labels_only.load_state_dict(with_logits.state_dict())
    images = torch.randn(2, 3, 70, 52)
    metas = [dict(ori_shape=(66, 50), img_shape=(66, 50), pad_shape=(70, 52),
                  padding_size=(0, 2, 0, 4), flip=flip, flip_direction='horizontal')
             for flip in (False, True)]

    def predict(model):
        samples = [SegDataSample(metainfo=m) for m in metas]
        with torch.no_grad():
            return model.predict(images, samples)

    a, b = predict(with_logits), predict(labels_only)
    for x, y in zip(a, b, strict=True):
        assert 'seg_logits' in x and 'seg_logits' not in y
        assert y.pred_sem_seg.data.shape == (1, 66, 50)
        assert torch.equal(x.pred_sem_seg.data, y.pred_sem_seg.data)


def test_resized_predictions_fall_back_to_full_logits():
    model = slide_model(False)
    meta = dict(ori_shape=(100, 80), img_shape=(50, 40), pad_shape=(50, 40))
    sample = SegDataSample(metainfo=meta)
    sample.gt_sem_seg = PixelData(data=torch.zeros(1, 100, 80, dtype=torch.int64))
    with torch.no_grad():
        out = model.predict(torch.randn(1, 3, 50, 40), [sample])
    assert out[0].pred_sem_seg.data.shape == (1, 100, 80)


def test_large_image_with_150_classes_stays_in_bounded_memory():
    """Full fp32 logits of 150 x 1024 x 1024 alone would take 600 MiB; the band holds one
    window height (150 x 128 x 1024 x 4 B = 75 MiB). benchmarks/bench_inference.py --slide
    measures the 4096 x 4096 case with a real model."""
    script = textwrap.dedent('''
        import resource, torch
        from upertool.models.segmentors.inference import slide_labels
        torch.set_num_threads(1)
        weight = torch.randn(150, 3, 1, 1)
        encode = lambda crops, metas: torch.conv2d(crops, weight)
        image = torch.randn(1, 3, 1024, 1024)
        torch.conv2d(image[:, :, :128, :128], weight)  # allocator warm
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with torch.inference_mode():
            labels = slide_labels(encode, image, [{}], (128, 128), (96, 96),
                                  lambda x: x.argmax(1))
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        expected = torch.conv2d(image[:, :, :8], weight).argmax(1)
        assert torch.equal(labels[:, :8], expected)
        print(grown // 1024)
    ''')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    grown_mib = int(out.stdout.split()[-1])
    assert grown_mib < 250, f'peak RSS grew by {grown_mib} MiB'


@pytest.mark.parametrize('align_corners', [False, True])
def test_resized_argmax_equals_argmax_of_the_full_resize(align_corners):
    from upertool.models.utils import resized_argmax
    logits = torch.randn(7, 13, 17, generator=torch.Generator().manual_seed(2))
    full = torch.nn.functional.interpolate(logits[None], size=(50, 41), mode='bilinear',
                                           align_corners=align_corners)[0]
    labels = resized_argmax(logits, (50, 41), align_corners, rows_per_chunk=8)
    top2 = full.topk(2, dim=0).values
    clear = (top2[0] - top2[1]) > 1e-5
    assert clear.float().mean() > 0.99
    assert torch.equal(labels[clear], full.argmax(0)[clear])


def test_whole_mode_labels_only_predictions_equal_the_logits_path():
    models = []
    for return_logits in (True, False):
        model = slide_model(return_logits)
        model.test_cfg = dict(mode='whole', return_logits=return_logits)
        models.append(model)
    models[1].load_state_dict(models[0].state_dict())
    meta = dict(ori_shape=(90, 75), img_shape=(64, 48), pad_shape=(64, 48))
    images = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        a, b = (m.predict(images, [SegDataSample(metainfo=meta)])[0] for m in models)
    assert 'seg_logits' not in b and b.pred_sem_seg.data.shape == (1, 90, 75)
    logits = a.seg_logits.data
    top2 = logits.topk(2, dim=0).values
    clear = (top2[0] - top2[1]) > 1e-5
    assert torch.equal(a.pred_sem_seg.data[0][clear], b.pred_sem_seg.data[0][clear])
