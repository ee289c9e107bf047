"""EncoderDecoder with the real ResNet, UPerHead and FCNHead at tiny widths: channel checks
against the backbone, the three modes, a training step and slide inference end to end (the
stand-in components' tests are in test_encoder_decoder.py)."""
import pytest
import torch
from mmengine.structures import PixelData

from upertool.models.segmentors import EncoderDecoder
from upertool.structures import SegDataSample


def _gt_sample(h: int, w: int, seed: int) -> SegDataSample:
    """A sample with a random 3-class ground truth."""
    sample = SegDataSample()
    labels = torch.randint(0, 3, (1, h, w), generator=torch.Generator().manual_seed(seed))
    sample.gt_sem_seg = PixelData(data=labels)
    return sample

def _real_upernet(**kwargs):
    """UPerNet on ResNetV1c-18 at tiny widths; heads' in_channels left for the segmentor."""
    norm_cfg = dict(type='SyncBN', requires_grad=True)
    torch.manual_seed(0)
    return EncoderDecoder(
        backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=4,
                      norm_cfg=norm_cfg),
        decode_head=dict(type='UPerHead', in_index=[0, 1, 2, 3], channels=8, pool_scales=(1, 2),
                         num_classes=3, norm_cfg=norm_cfg, dropout_ratio=0.0,
                         loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True)),
        auxiliary_head=dict(type='FCNHead', in_index=2, channels=4, num_convs=1,
                            concat_input=False, num_classes=3, norm_cfg=norm_cfg,
                            loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4,
                                             avg_non_ignore=True)),
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, size=(64, 48)),
        **kwargs)


def test_real_upernet_channels_loss_tensor_and_predict():
    model = _real_upernet(test_cfg=dict(mode='whole'))
    assert model.backbone.out_channels == (4, 8, 16, 32)
    assert list(model.decode_head.in_channels) == [4, 8, 16, 32]
    assert model.auxiliary_head.in_channels == 16
    imgs = [torch.randint(0, 256, (3, 64, 48), dtype=torch.uint8),
            torch.randint(0, 256, (3, 56, 40), dtype=torch.uint8)]
    samples = [_gt_sample(64, 48, 0), _gt_sample(56, 40, 1)]
    data = model.data_preprocessor(dict(inputs=imgs, data_samples=samples), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg', 'aux.loss_ce', 'aux.acc_seg'}
    assert all(torch.isfinite(v).all() for v in losses.values())

    model.eval()
    assert model(data['inputs'], mode='tensor').shape == (2, 3, 16, 12)  # stride-4 level
    sample = SegDataSample(metainfo=dict(ori_shape=(70, 50), img_shape=(56, 40)))
    with torch.no_grad():
        pred = model.test_step(dict(inputs=[imgs[1]], data_samples=[sample]))[0]
    assert pred.seg_logits.data.shape == (3, 70, 50)
    assert pred.pred_sem_seg.data.shape == (1, 70, 50)


def test_real_upernet_train_step_updates_weights():
    from mmengine.optim import OptimWrapper

    model = _real_upernet().train()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.decode_head.conv_seg.weight.detach().clone()
    # two images: BN in PPM's 1x1 pooled branch needs more than one value per channel
    data = dict(inputs=[torch.randint(0, 256, (3, 60, 44), dtype=torch.uint8),
                        torch.randint(0, 256, (3, 64, 48), dtype=torch.uint8)],
                data_samples=[_gt_sample(60, 44, 0), _gt_sample(64, 48, 1)])
    log_vars = model.train_step(data, wrapper)
    assert {'loss', 'decode.loss_ce', 'aux.loss_ce'} <= set(log_vars)
    assert not torch.equal(model.decode_head.conv_seg.weight, before)


def test_real_uperhead_without_in_index_or_in_channels_takes_every_level():
    model = EncoderDecoder(
        backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=4),
        decode_head=dict(type='UPerHead', channels=8, pool_scales=(1, 2), num_classes=3))
    assert list(model.decode_head.in_channels) == [4, 8, 16, 32]


def test_real_upernet_mmseg_style_config_is_checked_against_resnet():
    with pytest.raises(ValueError, match=r'decode_head \(UPerHead\).*\[4, 8, 16, 64\].*ResNetV1c'):
        EncoderDecoder(
            backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=4),
            decode_head=dict(type='UPerHead', in_channels=[4, 8, 16, 64], in_index=[0, 1, 2, 3],
                             channels=8, pool_scales=(1, 2), num_classes=3))


def test_real_upernet_slide_matches_whole_and_batched_windows():
    from mmengine.config import ConfigDict

    model = _real_upernet(test_cfg=dict(mode='whole')).eval()
    x = torch.randn(1, 3, 40, 36)

    def run(**test_cfg):
        model.test_cfg = ConfigDict(test_cfg)
        with torch.no_grad():
            return model.inference(x, [{}])

    whole = run(mode='whole')
    one_window = run(mode='slide', crop_size=(64, 64), stride=(32, 32))
    slide = run(mode='slide', crop_size=(32, 32), stride=(16, 16))
    batched = run(mode='slide', crop_size=(32, 32), stride=(16, 16), batch_size=4)
    torch.testing.assert_close(one_window, whole)
    torch.testing.assert_close(batched, slide, rtol=1e-5, atol=1e-5)
    assert slide.shape == whole.shape == (1, 3, 40, 36)
