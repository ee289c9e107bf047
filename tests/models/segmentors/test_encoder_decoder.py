"""EncoderDecoder with tiny stand-in backbones/heads whose outputs are known functions of the input.

The stand-ins follow the backbone/head contracts in DESIGN.md and are registered under test-only
names; integration with the real ResNet/UPerHead/FCNHead is in test_encoder_decoder_real.py.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.structures import PixelData
from torch import nn

from upertool.models.data_preprocessor import SegDataPreProcessor
from upertool.models.segmentors import EncoderDecoder
from upertool.registry import MODELS
from upertool.structures import SegDataSample


def _tile(x, channels):
    return x.repeat(1, math.ceil(channels / x.shape[1]), 1, 1)[:, :channels]


@MODELS.register_module(name='_TestBackbone', force=True)
class _TestBackbone(BaseModule):
    """Level i = avg-pool by strides[i], then channels tiled ('identity') or a 1x1 conv ('conv')."""

    def __init__(self, out_channels=(3,), strides=(1,), kind='identity', in_channels=3,
                 init_cfg=None):
        super().__init__(init_cfg)
        self.out_channels, self.strides, self.kind = tuple(out_channels), tuple(strides), kind
        self.convs = nn.ModuleList(nn.Conv2d(in_channels, c, 1) for c in out_channels)

    def forward(self, x):
        outs = []
        for s, c, conv in zip(self.strides, self.out_channels, self.convs, strict=True):
            y = F.avg_pool2d(x, s) if s > 1 else x
            outs.append(_tile(y, c) if self.kind == 'identity' else conv(y))
        return tuple(outs)


@MODELS.register_module(name='_TestSilentBackbone', force=True)
class _TestSilentBackbone(nn.Module):
    """A backbone that does not report out_channels."""

    def forward(self, x):
        return (x,)


@MODELS.register_module(name='_TestNeck', force=True)
class _TestNeck(nn.Module):
    """FPN-like: every level mapped to one `out_channels` (an int, as mmseg's FPN)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.convs = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels)

    def forward(self, feats):
        return tuple(conv(f) for conv, f in zip(self.convs, feats, strict=True))


@MODELS.register_module(name='_TestHead', force=True)
class _TestHead(nn.Module):
    """Logits from the first selected level: 'identity' (channels tiled), 'const' (a per-class
    constant), 'conv' (a kernel_size conv, so a pixel sees its neighbours)."""

    def __init__(self, in_channels, num_classes, in_index=-1, out_channels=None, threshold=None,
                 align_corners=False, kind='identity', kernel_size=1, channels=None):
        super().__init__()
        self.in_channels, self.in_index, self.num_classes = in_channels, in_index, num_classes
        self.out_channels = num_classes if out_channels is None else out_channels
        self.threshold, self.align_corners, self.kind = threshold, align_corners, kind
        first = in_channels if isinstance(in_channels, int) else in_channels[0]
        self.conv = nn.Conv2d(first, self.out_channels, kernel_size, padding=kernel_size // 2)
        self.register_buffer('const', torch.arange(self.out_channels, dtype=torch.float32) * 0.5)

    def forward(self, inputs):
        x = inputs[self.in_index if isinstance(self.in_index, int) else self.in_index[0]]
        if self.kind == 'identity':
            return _tile(x, self.out_channels)
        if self.kind == 'const':
            return self.const.view(1, -1, 1, 1).expand(x.shape[0], -1, *x.shape[2:]).clone()
        return self.conv(x)

    def loss(self, inputs, batch_data_samples, train_cfg):
        logits = self.forward(inputs)
        gt = torch.stack([s.gt_sem_seg.data for s in batch_data_samples]).squeeze(1)
        logits = F.interpolate(logits, gt.shape[-2:], mode='bilinear', align_corners=False)
        valid = gt != 255
        acc = (logits.argmax(1) == gt)[valid].float().mean() * 100
        return dict(loss_ce=F.cross_entropy(logits, gt, ignore_index=255), acc_seg=acc)

    def predict(self, inputs, batch_img_metas, test_cfg):
        meta = batch_img_metas[0]
        size = tuple(meta.get('pad_shape', meta['img_shape']))[:2]
        return F.interpolate(self.forward(inputs), size, mode='bilinear', align_corners=False)


def _model(backbone=None, head=None, **kwargs):
    backbone = dict(type='_TestBackbone', **(backbone or {}))
    head = {'type': '_TestHead', 'num_classes': 3, **(head or {})}
    return EncoderDecoder(backbone=backbone, decode_head=head, **kwargs).eval()


def _gt_sample(h, w, seed=0, **meta):
    sample = SegDataSample(metainfo=meta)
    gen = torch.Generator().manual_seed(seed)
    sample.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, h, w), generator=gen))
    return sample


# ---------------------------------------------------------------- construction, in_channels

def test_in_channels_inferred_from_backbone_by_in_index():
    model = _model(backbone=dict(out_channels=(4, 8, 16), strides=(1, 2, 4), kind='conv'),
                   head=dict(in_index=[0, 1, 2]),
                   auxiliary_head=[dict(type='_TestHead', num_classes=3, in_index=1),
                                   dict(type='_TestHead', num_classes=3)])
    assert model.decode_head.in_channels == [4, 8, 16]
    assert model.auxiliary_head[0].in_channels == 8
    assert model.auxiliary_head[1].in_channels == 16  # default in_index=-1


def test_in_channels_inferred_from_neck():
    model = EncoderDecoder(
        backbone=dict(type='_TestBackbone', out_channels=(4, 8), strides=(1, 2), kind='conv'),
        neck=dict(type='_TestNeck', in_channels=[4, 8], out_channels=6),
        decode_head=dict(type='_TestHead', num_classes=3, in_index=[0, 1]),
        auxiliary_head=dict(type='_TestHead', num_classes=3, in_index=0))
    assert model.decode_head.in_channels == [6, 6]
    assert model.auxiliary_head.in_channels == 6


def test_stated_in_channels_that_agree_are_kept():
    model = _model(backbone=dict(out_channels=(4, 8), strides=(1, 2), kind='conv'),
                   head=dict(in_channels=(4, 8), in_index=(0, 1)))
    assert tuple(model.decode_head.in_channels) == (4, 8)


def test_in_channels_mismatch_names_head_index_and_backbone():
    with pytest.raises(ValueError) as err:
        _model(backbone=dict(out_channels=(4, 8, 16), strides=(1, 2, 4), kind='conv'),
               head=dict(in_channels=[4, 8, 15], in_index=[0, 1, 2]))
    msg = str(err.value)
    for part in ('decode_head', '_TestHead', '[4, 8, 15]', 'in_index=[0, 1, 2]',
                 '_TestBackbone', '[4, 8, 16]'):
        assert part in msg, (part, msg)


def test_aux_head_mismatch_against_neck_is_named():
    with pytest.raises(ValueError, match=r'auxiliary_head\[1\].*in_channels=7.*_TestNeck'):
        EncoderDecoder(
            backbone=dict(type='_TestBackbone', out_channels=(4, 8), strides=(1, 2), kind='conv'),
            neck=dict(type='_TestNeck', in_channels=[4, 8], out_channels=6),
            decode_head=dict(type='_TestHead', num_classes=3),
            auxiliary_head=[dict(type='_TestHead', num_classes=3),
                            dict(type='_TestHead', num_classes=3, in_channels=7)])


def test_in_index_out_of_range_is_a_clear_error():
    with pytest.raises(ValueError, match='out of range for the 2 feature levels'):
        _model(backbone=dict(out_channels=(4, 8), strides=(1, 2)), head=dict(in_index=2))


def test_backbone_without_out_channels_needs_stated_in_channels():
    with pytest.raises(ValueError, match='state in_channels'):
        EncoderDecoder(backbone=dict(type='_TestSilentBackbone'),
                       decode_head=dict(type='_TestHead', num_classes=3))
    model = EncoderDecoder(backbone=dict(type='_TestSilentBackbone'),
                           decode_head=dict(type='_TestHead', num_classes=3, in_channels=3))
    assert model.decode_head.in_channels == 3


def test_pretrained_becomes_backbone_init_cfg_and_conflicts_are_refused():
    model = _model(pretrained='weights.pth')
    assert model.backbone.init_cfg == dict(type='Pretrained', checkpoint='weights.pth')
    with pytest.raises(ValueError, match='both the backbone and the segmentor'):
        _model(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='a.pth')),
               pretrained='b.pth')


def test_data_preprocessor_config_is_built_from_upertool_registry():
    model = _model(data_preprocessor=dict(type='SegDataPreProcessor', mean=[0] * 3, std=[1] * 3))
    assert isinstance(model.data_preprocessor, SegDataPreProcessor)


def test_unknown_test_mode_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"\('whole', 'slide'\).*'sliding'"):
        _model(test_cfg=dict(mode='sliding'))
    model = _model(test_cfg=dict(mode='whole'))
    model.test_cfg.mode = 'tiles'  # changed after construction, as tools do
    with pytest.raises(ValueError, match="'tiles'"):
        model.predict(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match='stride'):
        _model(test_cfg=dict(mode='slide', crop_size=(4, 4)))
    with pytest.raises(ValueError, match='larger than crop_size'):
        _model(test_cfg=dict(mode='slide', crop_size=(4, 4), stride=(5, 2)))


# ---------------------------------------------------------------- modes

def test_loss_keys_with_one_auxiliary_head_and_gradients_flow():
    model = _model(backbone=dict(kind='conv', out_channels=(4,)), head=dict(kind='conv'),
                   auxiliary_head=dict(type='_TestHead', num_classes=3, kind='conv')).train()
    losses = model(torch.randn(2, 3, 8, 8), [_gt_sample(8, 8, 0), _gt_sample(8, 8, 1)],
                   mode='loss')
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg', 'aux.loss_ce', 'aux.acc_seg'}
    (losses['decode.loss_ce'] + losses['aux.loss_ce']).backward()
    assert model.backbone.convs[0].weight.grad.abs().sum() > 0
    assert model.auxiliary_head.conv.weight.grad.abs().sum() > 0


def test_loss_keys_with_a_list_of_auxiliary_heads():
    aux = [dict(type='_TestHead', num_classes=3, kind='conv') for _ in range(2)]
    model = _model(head=dict(kind='conv'), auxiliary_head=aux)
    losses = model(torch.randn(1, 3, 8, 8), [_gt_sample(8, 8)], mode='loss')
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg', 'aux_0.loss_ce', 'aux_0.acc_seg',
                           'aux_1.loss_ce', 'aux_1.acc_seg'}


def test_tensor_mode_returns_head_logits_at_stride_4_without_aux_heads():
    calls = []
    model = _model(backbone=dict(out_channels=(4, 8), strides=(4, 8), kind='conv'),
                   head=dict(in_index=[0, 1], kind='conv'),
                   auxiliary_head=dict(type='_TestHead', num_classes=3, in_index=1),
                   data_preprocessor=dict(type='SegDataPreProcessor', mean=[100] * 3,
                                          std=[1] * 3))
    model.auxiliary_head.register_forward_hook(lambda *a: calls.append('aux'))
    x = torch.randn(2, 3, 32, 24)
    out = model(x, mode='tensor')
    assert out.shape == (2, 3, 8, 6)
    assert calls == []
    # the preprocessor is not run in tensor mode: the head sees x itself
    torch.testing.assert_close(out, model.decode_head(model.backbone(x)))


def test_invalid_forward_mode():
    with pytest.raises(RuntimeError, match='loss, predict and tensor'):
        _model()(torch.zeros(1, 3, 4, 4), mode='train')


# ---------------------------------------------------------------- predict

def test_predict_without_samples_uses_input_shape():
    model = _model()
    x = torch.randn(2, 3, 5, 6)
    preds = model.predict(x)
    assert len(preds) == 2
    torch.testing.assert_close(preds[1].seg_logits.data, x[1])  # identity model
    assert torch.equal(preds[1].pred_sem_seg.data, x[1].argmax(0, keepdim=True))
    assert preds[0].pred_sem_seg.data.dtype == torch.int64


@pytest.mark.parametrize('direction, dim', [('horizontal', -1), ('vertical', -2),
                                            ('diagonal', (-2, -1))])
def test_predict_removes_padding_and_undoes_flip(direction, dim):
    """Identity model: logits are the pixels, so the answer is the unflipped original image."""
    model = _model(data_preprocessor=dict(type='SegDataPreProcessor', test_cfg=dict(
        size_divisor=8)))
    original = torch.randn(3, 5, 7)
    sample = SegDataSample(metainfo=dict(ori_shape=(5, 7), img_shape=(5, 7), flip=True,
                                         flip_direction=direction))
    data = dict(inputs=[original.flip(dim)], data_samples=[sample])
    preds = model.test_step(data)
    assert preds[0].metainfo['img_padding_size'] == (0, 1, 0, 3)
    torch.testing.assert_close(preds[0].seg_logits.data, original)
    assert torch.equal(preds[0].pred_sem_seg.data, original.argmax(0, keepdim=True))


def test_predict_unknown_flip_direction_is_refused():
    model = _model()
    sample = SegDataSample(metainfo=dict(ori_shape=(5, 7), img_shape=(5, 7), flip=True,
                                         flip_direction='sideways'))
    with pytest.raises(ValueError, match="got 'sideways'"):
        model.predict(torch.randn(1, 3, 5, 7), [sample])


def test_predict_training_style_padding_size_is_removed_and_resized_to_ori_shape():
    model = _model(head=dict(align_corners=False))
    image = torch.randn(1, 3, 4, 6)
    padded = F.pad(image, (0, 2, 0, 4), value=50.0)
    sample = SegDataSample(metainfo=dict(ori_shape=(8, 9), padding_size=(0, 2, 0, 4)))
    pred = model.predict(padded, [sample])[0]
    expected = F.interpolate(image, (8, 9), mode='bilinear', align_corners=False)[0]
    torch.testing.assert_close(pred.seg_logits.data, expected)
    assert pred.pred_sem_seg.data.shape == (1, 8, 9)


def test_predict_batch_of_different_sizes_through_the_preprocessor():
    model = _model(data_preprocessor=dict(type='SegDataPreProcessor'))
    imgs = [torch.randn(3, 5, 7), torch.randn(3, 6, 4)]
    preds = model.test_step(dict(inputs=imgs))
    for img, pred in zip(imgs, preds, strict=True):
        torch.testing.assert_close(pred.seg_logits.data, img)


def test_binary_head_uses_sigmoid_and_threshold():
    model = _model(head=dict(out_channels=1, num_classes=2, threshold=0.6))
    # sigmoid(x) > 0.6 exactly when x > log(1.5) ~= 0.405
    x = torch.tensor([0.3, 0.5, -1.0, 2.0]).view(1, 1, 2, 2).expand(1, 3, 2, 2)
    pred = model.predict(x)[0]
    assert pred.pred_sem_seg.data.tolist() == [[[0, 1], [0, 1]]]
    torch.testing.assert_close(pred.seg_logits.data, x[0, :1].sigmoid())


def test_return_logits_false_keeps_only_labels():
    pred = _model(test_cfg=dict(mode='whole', return_logits=False)).predict(torch.randn(1, 3, 4, 4))
    assert 'pred_sem_seg' in pred[0] and 'seg_logits' not in pred[0]


# ---------------------------------------------------------------- slide inference

def _context_model(**test_cfg):
    """A 3x3 conv head on a stride-2 level: each logit depends on a neighbourhood."""
    torch.manual_seed(0)
    return _model(backbone=dict(out_channels=(4,), strides=(2,), kind='conv'),
                  head=dict(kind='conv', kernel_size=3), test_cfg=test_cfg)


def test_slide_equals_whole_when_one_window_covers_the_image():
    x = torch.randn(2, 3, 12, 10)
    whole = _context_model(mode='whole').inference(x, [{}] * 2)
    slide = _context_model(mode='slide', crop_size=(16, 16), stride=(8, 8)).inference(x, [{}] * 2)
    torch.testing.assert_close(slide, whole, rtol=0, atol=0)


def test_slide_of_a_constant_model_has_no_seams():
    model = _model(head=dict(kind='const'), test_cfg=dict(mode='slide', crop_size=(6, 5),
                                                          stride=(4, 3)))
    out = model.inference(torch.randn(1, 3, 17, 13), [{}])
    expected = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1).expand_as(out)
    torch.testing.assert_close(out, expected)


def test_slide_of_a_pointwise_model_equals_whole():
    x = torch.randn(2, 3, 17, 13)
    whole = _model().inference(x, [{}] * 2)
    slide = _model(test_cfg=dict(mode='slide', crop_size=(6, 5), stride=(4, 3))).inference(
        x, [{}] * 2)
    torch.testing.assert_close(slide, whole)
    torch.testing.assert_close(slide, x)


@pytest.mark.parametrize('batch_size', [2, 3, 100])
def test_batched_windows_equal_unbatched(batch_size):
    x = torch.randn(2, 3, 20, 14)
    one = _context_model(mode='slide', crop_size=(8, 8), stride=(5, 5)).inference(x, [{}] * 2)
    many = _context_model(mode='slide', crop_size=(8, 8), stride=(5, 5),
                          batch_size=batch_size).inference(x, [{}] * 2)
    torch.testing.assert_close(many, one, rtol=1e-5, atol=1e-6)


def test_slide_predict_end_to_end_through_test_step():
    model = _model(data_preprocessor=dict(type='SegDataPreProcessor', mean=[1, 2, 3],
                                          std=[2, 2, 2], test_cfg=dict(size_divisor=4)),
                   test_cfg=dict(mode='slide', crop_size=(4, 4), stride=(3, 3), batch_size=2))
    img = torch.randint(0, 255, (3, 9, 10), dtype=torch.uint8)
    sample = SegDataSample(metainfo=dict(ori_shape=(9, 10), img_shape=(9, 10)))
    pred = model.test_step(dict(inputs=[img], data_samples=[sample]))[0]
    expected = (img.float() - torch.tensor([1.0, 2, 3]).view(3, 1, 1)) / 2
    torch.testing.assert_close(pred.seg_logits.data, expected)


def test_head_default_in_index_is_the_head_class_default():
    """A head whose own in_index default is None (UPerHead's: every level) gets every level."""

    @MODELS.register_module(name='_TestAllLevelsHead', force=True)
    class _AllLevelsHead(_TestHead):
        def __init__(self, in_channels, num_classes, in_index=None, **kwargs):
            super().__init__(in_channels, num_classes, in_index=in_index or [0], **kwargs)

    model = EncoderDecoder(
        backbone=dict(type='_TestBackbone', out_channels=(4, 8), strides=(1, 2), kind='conv'),
        decode_head=dict(type='_TestAllLevelsHead', num_classes=3),
        auxiliary_head=dict(type='_TestHead', num_classes=3))
    assert model.decode_head.in_channels == [4, 8]
    assert model.auxiliary_head.in_channels == 8
