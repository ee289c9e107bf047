"""BaseDecodeHead: argument checks, input selection, loss(), predict(), init."""
import warnings

import pytest
import torch
from torch import nn

from upertool.models.decode_heads import BaseDecodeHead
from upertool.models.losses import CrossEntropyLoss, accuracy
from upertool.structures import PixelData, SegDataSample


class ConvHead(BaseDecodeHead):
    """Minimal head: cls_seg on the selected level (or the finest of several)."""

    def forward(self, inputs):
        x = self._transform_inputs(inputs)
        if isinstance(x, list):
            x = x[0]
        return self.cls_seg(x)


def head(**kwargs):
    args = dict(in_channels=4, channels=4, num_classes=3, dropout_ratio=0.0)
    args.update(kwargs)
    return ConvHead(**args)


def levels(batch=2, sizes=((8, 12), (4, 6), (2, 3)), channels=(4, 4, 4)):
    return [torch.randn(batch, c, h, w) for c, (h, w) in zip(channels, sizes, strict=True)]


def samples(labels):
    out = []
    for label in labels:
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=label[None])
        out.append(sample)
    return out


def test_attributes_and_defaults():
    h = ConvHead(4, 8, num_classes=5)
    assert (h.in_channels, h.channels, h.num_classes, h.out_channels, h.threshold) == (
        4, 8, 5, 5, None)
    assert (h.in_index, h.input_transform, h.ignore_index, h.align_corners) == (
        -1, None, 255, False)
    assert isinstance(h.dropout, nn.Dropout2d) and h.dropout.p == 0.1
    assert isinstance(h.conv_seg, nn.Conv2d) and h.conv_seg.kernel_size == (1, 1)
    assert isinstance(h.loss_decode, CrossEntropyLoss)
    assert h.loss_decode.use_sigmoid is False and h.sampler is None
    assert list(h.state_dict()) == ['conv_seg.weight', 'conv_seg.bias']
    assert head(dropout_ratio=0).dropout is None


def test_init_cfg_normal_on_conv_seg():
    h = ConvHead(4, 32, num_classes=16)
    h.init_weights()
    assert torch.all(h.conv_seg.bias == 0)
    assert 0.008 < h.conv_seg.weight.std().item() < 0.012


def test_binary_out_channels_one():
    with pytest.warns(UserWarning, match='threshold'):
        h = head(num_classes=2, out_channels=1,
                 loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=True))
    assert (h.out_channels, h.threshold, h.conv_seg.out_channels) == (1, 0.3, 1)
    assert head(num_classes=2, out_channels=1, threshold=0.6,
                loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=True)).threshold == 0.6
    with pytest.raises(ValueError, match='use_sigmoid=True'):
        head(num_classes=2, out_channels=1, threshold=0.5)


@pytest.mark.parametrize('kwargs, match', [
    (dict(in_channels=[4, 4], in_index=-1), 'in_index must be a list'),
    (dict(in_channels=[4, 4], in_index=[0, 1, 2]), 'same length'),
    (dict(in_channels=4, in_index=[0, 1]), 'in_index must be an int'),
    (dict(in_channels=4, input_transform='resize_concat'), 'needs lists'),
    (dict(in_channels=[4], in_index=[0], input_transform='concat'), 'input_transform'),
    (dict(in_channels='4'), 'in_channels must be'),
    (dict(in_channels=0), 'in_channels must be positive'),
    (dict(channels=0), 'channels must be'),
    (dict(num_classes=0), 'num_classes'),
    (dict(num_classes=5, out_channels=3), 'out_channels must equal num_classes'),
    (dict(num_classes=3, out_channels=1), 'num_classes=2'),
    (dict(dropout_ratio=1.0), 'dropout_ratio'),
    (dict(ignore_index='x'), 'ignore_index'),
])
def test_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        head(**kwargs)


def test_sampler_and_loss_type_errors():
    with pytest.raises(ValueError, match='thresh'):
        head(sampler=dict(type='OHEMPixelSampler', thresh=1.5))
    with pytest.raises(KeyError, match='OHEMPixelSamplr'):
        head(sampler=dict(type='OHEMPixelSamplr'))
    with pytest.raises(TypeError, match='loss_decode'):
        head(loss_decode='CrossEntropyLoss')
    with pytest.raises(TypeError, match='loss_decode'):
        head(loss_decode=[])


def test_transform_inputs_selection():
    xs = levels(channels=(4, 6, 8))
    assert head(in_channels=8)._transform_inputs(xs) is xs[-1]
    assert head(in_channels=6, in_index=1)._transform_inputs(xs) is xs[1]
    selected = head(in_channels=[8, 4], in_index=[2, 0])._transform_inputs(xs)
    assert selected[0] is xs[2] and selected[1] is xs[0]
    h = head(in_channels=[4, 6], in_index=[0, 1], input_transform='resize_concat')
    assert h.in_channels == 10 and h.input_transform == 'resize_concat'
    cat = h._transform_inputs(xs)
    assert cat.shape == (2, 10, 8, 12)
    up = nn.functional.interpolate(xs[1], size=(8, 12), mode='bilinear', align_corners=False)
    torch.testing.assert_close(cat, torch.cat([xs[0], up], 1))
    assert head(in_channels=[4, 6], in_index=[0, 1]).input_transform == 'multiple_select'


def test_transform_inputs_errors():
    xs = levels()
    with pytest.raises(ValueError, match=r'level 3.*only 3 feature levels'):
        head(in_index=3)._transform_inputs(xs)
    with pytest.raises(ValueError, match=r'level -4.*only 3'):
        head(in_channels=[4, 4], in_index=[0, -4])._transform_inputs(xs)
    with pytest.raises(ValueError, match='in_channels says 5 channels'):
        head(in_channels=5)._transform_inputs(xs)
    with pytest.raises(TypeError, match='list/tuple'):
        head()._transform_inputs(xs[0])


def test_loss_keys_and_values():
    torch.manual_seed(0)
    h = head(loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True))
    xs = levels()
    labels = torch.randint(0, 3, (2, 16, 24))
    labels[0, :3] = 255
    losses = h.loss(xs, samples(labels), train_cfg={})
    assert set(losses) == {'loss_ce', 'acc_seg'}
    logits = nn.functional.interpolate(h(xs), size=(16, 24), mode='bilinear',
                                       align_corners=False)
    expected = nn.functional.cross_entropy(logits, labels, ignore_index=255)
    torch.testing.assert_close(losses['loss_ce'], expected)
    torch.testing.assert_close(losses['acc_seg'], accuracy(logits, labels, ignore_index=255))


def test_loss_list_same_name_summed_different_names_separate():
    xs = levels()
    labels = torch.randint(0, 3, (2, 8, 12))
    ce = dict(type='CrossEntropyLoss', avg_non_ignore=True)
    single = head(loss_decode=ce)
    double = head(loss_decode=[ce, dict(ce, loss_weight=0.5)])
    double.load_state_dict(single.state_dict())
    one = single.loss(xs, samples(labels), {})
    two = double.loss(xs, samples(labels), {})
    assert set(two) == {'loss_ce', 'acc_seg'}
    torch.testing.assert_close(two['loss_ce'], 1.5 * one['loss_ce'])
    mixed = head(loss_decode=[ce, dict(type='DiceLoss', use_sigmoid=False)])
    mixed.load_state_dict(single.state_dict())
    out = mixed.loss(xs, samples(labels), {})
    assert set(out) == {'loss_ce', 'loss_dice', 'acc_seg'}
    torch.testing.assert_close(out['loss_ce'], one['loss_ce'])


def test_loss_out_of_range_label_and_binary_accuracy():
    xs = levels()
    h = head(loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True))
    bad = torch.zeros(2, 8, 12, dtype=torch.long)
    bad[1, 0, 0] = 3
    with pytest.raises(ValueError, match=r'label values \[3\]'):
        h.loss(xs, samples(bad), {})
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        binary = head(num_classes=2, out_channels=1, threshold=0.5,
                      loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=True))
    labels = torch.randint(0, 2, (2, 2, 3))  # the selected (last) level's size
    losses = binary.loss(xs, samples(labels), {})
    pred = (binary(xs).sigmoid() > 0.5).squeeze(1).long()
    expected = (pred == labels).float().mean().item() * 100
    assert losses['acc_seg'].item() == pytest.approx(expected, rel=1e-4)


def test_predict_resizes_to_pad_or_img_shape():
    xs = levels()
    h = head().eval()
    logits = h(xs)
    out = h.predict(xs, [dict(img_shape=(30, 45), pad_shape=(32, 48))], {})
    assert out.shape == (2, 3, 32, 48)
    torch.testing.assert_close(out, nn.functional.interpolate(
        logits, size=(32, 48), mode='bilinear', align_corners=False))
    assert h.predict(xs, [dict(img_shape=(30, 45))], {}).shape == (2, 3, 30, 45)
    # slide inference gives the crop size as a torch.Size: it wins over pad_shape
    out = h.predict(xs, [dict(img_shape=torch.Size([20, 24]), pad_shape=(32, 48))], {})
    assert out.shape == (2, 3, 20, 24)
    with pytest.raises(ValueError, match='img_shape'):
        h.predict(xs, [dict()], {})
