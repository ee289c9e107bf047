"""SegDataPreProcessor: normalisation, channel order, padding of images and labels, metainfo."""
import pytest
import torch
from mmengine.structures import PixelData

from upertool.models.data_preprocessor import SegDataPreProcessor, padded_shape
from upertool.registry import MODELS
from upertool.structures import SegDataSample

MEAN = [10.0, 20.0, 30.0]
STD = [2.0, 4.0, 5.0]


def _image(h, w, seed=0, channels=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (channels, h, w), generator=g, dtype=torch.uint8)


def _sample(h, w, seed=0, **meta):
    g = torch.Generator().manual_seed(seed + 100)
    sample = SegDataSample(metainfo=meta)
    sample.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, h, w), generator=g))
    return sample


def _normalised_by_hand(img, mean, std, swap):
    """Per pixel and channel, written as loops over channels on purpose (independent of code)."""
    src = img.double()
    out = torch.empty_like(src)
    for c in range(3):
        c_in = 2 - c if swap else c
        out[c] = (src[c_in] - mean[c]) / std[c]
    return out.float()


def test_registered_and_buffers_not_saved():
    pre = MODELS.build(dict(type='SegDataPreProcessor', mean=MEAN, std=STD))
    assert isinstance(pre, SegDataPreProcessor)
    # mmsegmentation checkpoints carry no data_preprocessor keys; ours must not either.
    assert pre.state_dict() == {}


@pytest.mark.parametrize('flag', ['bgr_to_rgb', 'rgb_to_bgr', None])
def test_normalisation_and_channel_order_match_hand_computation(flag):
    kwargs = {flag: True} if flag else {}
    pre = SegDataPreProcessor(mean=MEAN, std=STD, **kwargs)
    img = _image(4, 5)
    out = pre(dict(inputs=[img], data_samples=[SegDataSample()]), training=False)
    expected = _normalised_by_hand(img, MEAN, STD, swap=flag is not None)
    assert out['inputs'].dtype == torch.float32
    assert out['inputs'].shape == (1, 3, 4, 5)
    torch.testing.assert_close(out['inputs'][0], expected)


def test_no_mean_means_no_normalisation_and_one_channel_is_not_swapped():
    pre = SegDataPreProcessor(bgr_to_rgb=True)
    img = _image(3, 4, channels=1)
    out = pre(dict(inputs=[img]), training=False)
    torch.testing.assert_close(out['inputs'][0], img.float())


def test_train_pads_images_and_labels_to_size_and_records_metainfo():
    pre = SegDataPreProcessor(mean=MEAN, std=STD, size=(10, 12), pad_val=-7, seg_pad_val=99)
    imgs = [_image(5, 7, 1), _image(8, 6, 2)]
    samples = [_sample(5, 7, 1), _sample(8, 6, 2)]
    gts = [s.gt_sem_seg.data.clone() for s in samples]
    out = pre(dict(inputs=imgs, data_samples=samples), training=True)
    batch = out['inputs']
    assert batch.shape == (2, 3, 10, 12)
    for i, (h, w) in enumerate([(5, 7), (8, 6)]):
        torch.testing.assert_close(batch[i, :, :h, :w],
                                   _normalised_by_hand(imgs[i], MEAN, STD, swap=False))
        # padding sits at the bottom and on the right, with pad_val in normalised units
        assert (batch[i, :, h:, :] == -7).all() and (batch[i, :, :, w:] == -7).all()
        gt = out['data_samples'][i].gt_sem_seg.data
        assert gt.shape == (1, 10, 12)
        assert torch.equal(gt[:, :h, :w], gts[i])
        assert (gt[:, h:, :] == 99).all() and (gt[:, :, w:] == 99).all()
        meta = out['data_samples'][i].metainfo
        assert tuple(meta['img_shape']) == (h, w)
        assert tuple(meta['pad_shape']) == (10, 12)
        assert tuple(meta['padding_size']) == (0, 12 - w, 0, 10 - h)


def test_train_pads_to_common_shape_divisible_by_size_divisor():
    pre = SegDataPreProcessor(size_divisor=4)
    out = pre(dict(inputs=[_image(5, 7), _image(9, 6)],
                   data_samples=[_sample(5, 7), _sample(9, 6)]), training=True)
    assert out['inputs'].shape == (2, 3, 12, 8)
    assert [tuple(s.metainfo['padding_size']) for s in out['data_samples']] == [
        (0, 1, 0, 7), (0, 2, 0, 3)]
    assert all(s.gt_sem_seg.data.shape == (1, 12, 8) for s in out['data_samples'])


def test_padded_shape_rules():
    assert padded_shape([(5, 7), (9, 6)], (8, 8), None) == (9, 8)  # larger image is kept
    assert padded_shape([(5, 7)], None, 4) == (8, 8)
    assert padded_shape([(5, 7), (9, 6)], None, None) == (9, 7)
    assert padded_shape([(8, 8)], None, 4) == (8, 8)


def test_train_same_shapes_need_no_size():
    pre = SegDataPreProcessor()
    out = pre(dict(inputs=[_image(4, 4), _image(4, 4)],
                   data_samples=[_sample(4, 4), _sample(4, 4)]), training=True)
    assert out['inputs'].shape == (2, 3, 4, 4)


def test_train_different_shapes_without_size_is_a_clear_error():
    pre = SegDataPreProcessor()
    with pytest.raises(ValueError, match='neither size nor size_divisor'):
        pre(dict(inputs=[_image(4, 4), _image(5, 4)],
                 data_samples=[_sample(4, 4), _sample(5, 4)]), training=True)


def test_train_needs_samples_with_labels():
    pre = SegDataPreProcessor(size=(4, 4))
    with pytest.raises(ValueError, match='data_samples'):
        pre(dict(inputs=[_image(4, 4)]), training=True)
    with pytest.raises(ValueError, match='no gt_sem_seg'):
        pre(dict(inputs=[_image(4, 4)], data_samples=[SegDataSample()]), training=True)


@pytest.mark.parametrize('kwargs, match', [
    (dict(mean=[1, 2, 3], std=[1, 2]), 'mean has 3 values but std has 2'),
    (dict(mean=[1, 2, 3]), 'both mean and std'),
    (dict(bgr_to_rgb=True, rgb_to_bgr=True), 'cannot both be True'),
    (dict(size=(4, 4), size_divisor=32), 'set only one'),
    (dict(test_cfg=dict(size_divisor=0)), 'positive int'),
    (dict(test_cfg=dict(pad=1)), 'only the keys size and size_divisor'),
    (dict(size=(1, 2, 3)), 'pair of ints'),
])
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SegDataPreProcessor(**kwargs)


def test_mean_length_must_match_channels():
    pre = SegDataPreProcessor(mean=MEAN, std=STD)
    with pytest.raises(ValueError, match='3 values but the images have 1 channels'):
        pre(dict(inputs=[_image(4, 4, channels=1)]), training=False)


def test_bad_inputs_raise_clear_errors():
    pre = SegDataPreProcessor()
    with pytest.raises(ValueError, match=r'inputs\[1\] must be a \(C, H, W\) tensor'):
        pre(dict(inputs=[_image(4, 4), torch.zeros(4, 4)]), training=False)
    with pytest.raises(ValueError, match='same channel count'):
        pre(dict(inputs=[_image(4, 4), _image(4, 4, channels=1)]), training=False)


def test_test_cfg_pads_images_only_and_records_img_padding_size():
    pre = SegDataPreProcessor(test_cfg=dict(size_divisor=8), pad_val=0)
    sample = _sample(5, 7, ori_shape=(10, 14), img_shape=(5, 7))
    out = pre(dict(inputs=[_image(5, 7)], data_samples=[sample]), training=False)
    assert out['inputs'].shape == (1, 3, 8, 8)
    meta = out['data_samples'][0].metainfo
    assert tuple(meta['img_padding_size']) == (0, 1, 0, 3)
    assert tuple(meta['pad_shape']) == (8, 8)
    assert tuple(meta['img_shape']) == (5, 7) and tuple(meta['ori_shape']) == (10, 14)
    # labels are compared with predictions at the original size: never padded in testing
    assert out['data_samples'][0].gt_sem_seg.data.shape == (1, 5, 7)


def test_test_mode_stacks_different_shapes_by_padding_and_makes_samples_when_none():
    pre = SegDataPreProcessor(pad_val=3)
    imgs = [_image(5, 7, 1), _image(6, 4, 2)]
    out = pre(dict(inputs=imgs), training=False)
    assert out['inputs'].shape == (2, 3, 6, 7)
    assert (out['inputs'][0, :, 5:, :] == 3).all() and (out['inputs'][1, :, :, 4:] == 3).all()
    metas = [s.metainfo for s in out['data_samples']]
    assert [tuple(m['ori_shape']) for m in metas] == [(5, 7), (6, 4)]
    assert [tuple(m['img_padding_size']) for m in metas] == [(0, 0, 0, 1), (0, 3, 0, 0)]


def test_stacked_tensor_input_is_accepted():
    pre = SegDataPreProcessor(mean=MEAN, std=STD)
    imgs = torch.stack([_image(4, 4, 1), _image(4, 4, 2)])
    out = pre(dict(inputs=imgs), training=False)
    torch.testing.assert_close(out['inputs'][1], _normalised_by_hand(imgs[1], MEAN, STD, False))


def test_batch_augments_run_in_training_only():
    calls = []

    def double(inputs, samples):
        calls.append(inputs.shape)
        return inputs * 2, samples

    pre = SegDataPreProcessor(batch_augments=[double])
    data = dict(inputs=[torch.ones(3, 2, 2, dtype=torch.uint8)], data_samples=[_sample(2, 2)])
    assert (pre(data, training=True)['inputs'] == 2).all()
    assert (pre(dict(inputs=[torch.ones(3, 2, 2)]), training=False)['inputs'] == 1).all()
    assert calls == [(1, 3, 2, 2)]
