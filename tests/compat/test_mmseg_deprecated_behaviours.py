"""mmsegmentation 1.x's deprecated-but-used behaviours that third-party code relies on."""
import pytest
import torch

from upertool.models import FCNHead
from upertool.models.decode_heads.decode_head import BaseDecodeHead


@pytest.fixture(autouse=True)
def upertool_scope():
    """Build from upertool's registries whatever default scope an earlier test left behind."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('upertool'):
        yield


class Identity(BaseDecodeHead):
    def forward(self, inputs):
        return self._transform_inputs(inputs)


FEATS = [torch.ones(1, 2, 8, 8), 2 * torch.ones(1, 3, 4, 4), 3 * torch.ones(1, 4, 2, 2)]


def test_in_index_minus_one_with_int_in_channels_selects_last_level():
    head = Identity(in_channels=4, channels=2, num_classes=2, in_index=-1)
    assert head(FEATS) is FEATS[-1]


def test_multiple_select_returns_the_listed_levels():
    head = Identity(in_channels=[2, 4], channels=2, num_classes=2, in_index=[0, 2],
                    input_transform='multiple_select')
    out = head(FEATS)
    assert [o.shape[1] for o in out] == [2, 4]


def test_resize_concat_resizes_to_first_level_and_sums_channels():
    head = Identity(in_channels=[3, 4], channels=2, num_classes=2, in_index=[1, 2],
                    input_transform='resize_concat')
    out = head(FEATS)
    assert head.in_channels == 7 and out.shape == (1, 7, 4, 4)
    assert torch.allclose(out[:, 3:], torch.full((1, 4, 4, 4), 3.0))


@pytest.mark.parametrize('init_cfg', [
    dict(type='Constant', val=0.5, layer='Conv2d'),
    [dict(type='Constant', val=0.5, layer='Conv2d')],
    dict(type='Normal', std=0.01, override=dict(type='Constant', name='conv_seg', val=0.5))])
def test_init_cfg_forms(init_cfg):
    head = FCNHead(in_channels=4, channels=2, num_classes=3, num_convs=1, init_cfg=init_cfg)
    head.init_weights()
    assert torch.all(head.conv_seg.weight == 0.5)


def test_dataset_meta_after_init_model(tmp_path):
    from upertool.apis import init_model
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        "model = dict(type='EncoderDecoder', backbone=dict(type='ResNetV1c', depth=18, "
        "base_channels=4, stem_channels=4), decode_head=dict(type='FCNHead', channels=2, "
        "num_classes=19))\n"
        "test_dataloader = dict(dataset=dict(type='CityscapesDataset', data_root='x'))\n")
    model = init_model(str(cfg))
    assert model.dataset_meta['classes'][0] == 'road'
    assert len(model.dataset_meta['palette']) == 19


def test_encoder_decoder_subclass_hooks_of_mmseg_are_called():
    from mmengine.structures import PixelData

    from upertool.models import EncoderDecoder
    from upertool.structures import SegDataSample

    class Scaled(EncoderDecoder):
        """mmseg-style subclass that reweights the decode loss in its training hook."""

        def _decode_head_forward_train(self, inputs, data_samples):
            losses = super()._decode_head_forward_train(inputs, data_samples)
            return {k: v * 0 if k == 'decode.loss_ce' else v for k, v in losses.items()}

    model = Scaled(backbone=dict(type='ResNetV1c', depth=18, base_channels=4, stem_channels=4),
                   decode_head=dict(type='FCNHead', channels=2, num_classes=3, num_convs=1),
                   auxiliary_head=[dict(type='FCNHead', channels=2, num_classes=3, in_index=2,
                                        num_convs=1)])
    samples = [SegDataSample() for _ in range(2)]
    for sample in samples:
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 64, 64)))
    losses = model(torch.randn(2, 3, 64, 64), samples, mode='loss')
    assert losses['decode.loss_ce'] == 0 and losses['aux_0.loss_ce'] > 0
