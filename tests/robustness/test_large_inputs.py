"""Case 11: an input far larger than the training crop is segmented in windows, and said so."""

import pytest
import torch

from upertool.registry import MODELS


def tiny(auto_slide=True):
    import upertool  # noqa: F401

    return MODELS.build(
        dict(
            type='EncoderDecoder',
            data_preprocessor=dict(type='SegDataPreProcessor', size=(16, 16)),
            backbone=dict(type='ResNetV1c', depth=18, base_channels=4, stem_channels=4),
            decode_head=dict(type='UPerHead', channels=4, num_classes=3, in_index=[0, 1, 2, 3]),
            test_cfg=dict(mode='whole', auto_slide=auto_slide, return_logits=False),
        )
    ).eval()


def test_huge_input_runs_in_windows_and_says_so(monkeypatch, log_messages):
    model = tiny()
    calls = []
    monkeypatch.setattr(model, 'whole_inference', lambda *a: calls.append(a) or 1 / 0)
    with torch.no_grad():
        out = model.predict(torch.randn(1, 3, 80, 96))  # 30x the crop's pixels
    assert calls == []
    assert out[0].pred_sem_seg.data.shape == (1, 80, 96)
    assert any('80x96 input' in m and '16x16 windows' in m for m in log_messages)


def test_small_input_and_opt_out_stay_whole(monkeypatch):
    for model, shape in ((tiny(), (32, 32)), (tiny(auto_slide=False), (80, 96))):
        calls = []
        real = model.whole_inference
        monkeypatch.setattr(
            model, 'whole_inference', lambda *a, real=real, calls=calls: calls.append(1) or real(*a)
        )
        with torch.no_grad():
            model.predict(torch.randn(1, 3, *shape))
        assert calls == [1]


@pytest.mark.parametrize('size', [None, (16, 16)])
def test_training_crop_is_read_from_the_preprocessor(size):
    from upertool.models.segmentors.large_inputs import training_crop

    model = tiny()
    model.data_preprocessor.size = size
    assert training_crop(model) == size
