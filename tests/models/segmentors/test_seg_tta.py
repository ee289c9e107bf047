"""SegTTAModel averages per-view probabilities at the original size."""
import pytest
import torch

from upertool.registry import MODELS
from upertool.structures import PixelData, SegDataSample


def tiny_segmentor(out_channels: int = 3) -> torch.nn.Module:
    num_classes = 2 if out_channels == 1 else out_channels
    loss = dict(type='CrossEntropyLoss', use_sigmoid=out_channels == 1)
    return MODELS.build(dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1]),
        backbone=dict(type='ResNetV1c', depth=18, base_channels=4, stem_channels=4,
                      out_indices=(3,)),
        decode_head=dict(type='FCNHead', channels=4, num_convs=1, num_classes=num_classes,
                         out_channels=out_channels, loss_decode=loss),
    )).eval()


def view(logits: torch.Tensor) -> SegDataSample:
    sample = SegDataSample(metainfo=dict(img_path='a.png', ori_shape=logits.shape[1:]))
    sample.seg_logits = PixelData(data=logits)
    sample.gt_sem_seg = PixelData(data=torch.zeros(1, *logits.shape[1:], dtype=torch.long))
    return sample


def test_merge_averages_softmax_probabilities():
    tta = MODELS.build(dict(type='SegTTAModel', module=tiny_segmentor()))
    a, b = torch.randn(3, 5, 7), torch.randn(3, 5, 7)
    merged = tta.merge_preds([[view(a), view(b)]])[0]
    expected = (a.softmax(0) + b.softmax(0)) / 2
    torch.testing.assert_close(merged.seg_logits.data, expected)
    assert torch.equal(merged.pred_sem_seg.data, expected.argmax(0, keepdim=True))
    assert merged.img_path == 'a.png' and merged.gt_sem_seg.shape == (5, 7)


def test_merge_binary_uses_sigmoid_and_threshold():
    model = tiny_segmentor(out_channels=1)
    tta = MODELS.build(dict(type='SegTTAModel', module=model))
    a, b = torch.randn(1, 4, 4), torch.randn(1, 4, 4)
    merged = tta.merge_preds([[view(a), view(b)]])[0]
    probs = (a.sigmoid() + b.sigmoid()) / 2
    assert torch.equal(merged.pred_sem_seg.data, (probs > model.decode_head.threshold).long())


def test_merge_without_logits_says_why():
    tta = MODELS.build(dict(type='SegTTAModel', module=tiny_segmentor()))
    sample = SegDataSample()
    sample.pred_sem_seg = PixelData(data=torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match='return_logits'):
        tta.merge_preds([[sample]])


def test_test_step_flip_views_match_manual_average():
    torch.manual_seed(0)
    model = tiny_segmentor()
    tta = MODELS.build(dict(type='SegTTAModel', module=model))
    img = torch.randint(0, 255, (3, 21, 19), dtype=torch.uint8)
    flipped = img.flip(-1)
    metas = [dict(ori_shape=(21, 19), img_shape=(21, 19), flip=False),
             dict(ori_shape=(21, 19), img_shape=(21, 19), flip=True,
                  flip_direction='horizontal')]
    views = [dict(inputs=[x], data_samples=[SegDataSample(metainfo=m)])
             for x, m in zip((img, flipped), metas, strict=True)]
    with torch.no_grad():
        plain = [model.test_step(v)[0].seg_logits.data for v in views]
        merged = tta.test_step(dict(inputs=[[img], [flipped]],
                                    data_samples=[[SegDataSample(metainfo=m)] for m in metas]))
    expected = (plain[0].softmax(0) + plain[1].softmax(0)) / 2
    torch.testing.assert_close(merged[0].seg_logits.data, expected)
