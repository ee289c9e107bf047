"""ValLossHook: validation loss = the cross-entropy of the padded batch, averaged per image."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub

from upertool.engine.hooks import ValLossHook
from upertool.registry import MODELS
from upertool.structures import PixelData, SegDataSample

NUM_CLASSES = 3


def tiny_segmentor():
    torch.manual_seed(0)
    ce = dict(type='CrossEntropyLoss', avg_non_ignore=True)
    return MODELS.build(dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0., 0., 0.],
                               std=[255., 255., 255.], size_divisor=32),
        backbone=dict(type='ResNetV1c', depth=18, base_channels=4, stem_channels=4),
        decode_head=dict(type='UPerHead', in_index=[0, 1, 2, 3], channels=4,
                         num_classes=NUM_CLASSES, loss_decode=ce),
        auxiliary_head=dict(type='FCNHead', in_index=2, channels=4, num_convs=1,
                            concat_input=False, num_classes=NUM_CLASSES,
                            loss_decode=dict(ce, loss_weight=0.4)))).eval()


def batch(sizes: list[tuple[int, int]], seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for h, w in sizes:
        inputs.append(torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(img_path=f'{seed}_{h}x{w}.png'))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, NUM_CLASSES, (1, h, w), generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def expected_losses(model, data: dict) -> dict[str, float]:
    """Cross-entropy of each head's logits, resized to the padded input, over real pixels."""
    processed = model.data_preprocessor(data, training=False)
    inputs = processed['inputs']
    target = torch.full((len(inputs), *inputs.shape[-2:]), 255, dtype=torch.long)
    for i, sample in enumerate(data['data_samples']):
        gt = sample.gt_sem_seg.data[0]
        target[i, :gt.shape[0], :gt.shape[1]] = gt
    with torch.no_grad():
        feats = model.extract_feat(inputs)
        result = {}
        for name, head, weight in (('decode', model.decode_head, 1.0),
                                   ('aux', model.auxiliary_head, 0.4)):
            logits = F.interpolate(head(feats), size=inputs.shape[-2:], mode='bilinear')
            result[f'{name}.loss_ce'] = weight * float(
                F.cross_entropy(logits, target, ignore_index=255))
    result['loss'] = result['decode.loss_ce'] + result['aux.loss_ce']
    return result


def test_val_loss_is_the_image_weighted_mean_over_batches():
    model = tiny_segmentor()
    hub = MessageHub.get_instance('test_val_loss_hook')
    runner = SimpleNamespace(model=model, message_hub=hub)
    # the second batch mixes sizes, so the preprocessor pads and the hook must pad the labels
    batches = [batch([(32, 32), (32, 32)], 0), batch([(24, 28), (32, 20)], 1), batch([(32, 32)], 2)]
    expected = [expected_losses(model, b) for b in batches]
    hook = ValLossHook()
    for _ in range(2):  # a second validation must not average with the first
        hook.before_val_epoch(runner)
        for i, b in enumerate(batches):
            hook.after_val_iter(runner, i, b, outputs=None)
        hook.after_val_epoch(runner, metrics={})
    weights = [2, 2, 1]
    for key in ('loss', 'decode.loss_ce', 'aux.loss_ce'):
        mean = sum(w * e[key] for w, e in zip(weights, expected, strict=True)) / sum(weights)
        buffer = hub.get_scalar(f'val/val/{key}')
        assert buffer.current() == pytest.approx(mean, rel=1e-4)
        assert len(buffer.data[0]) == 1  # one value: LoggerHook's window mean is this value


def test_samples_without_labels_are_named():
    model = tiny_segmentor()
    data = batch([(32, 32)], 0)
    del data['data_samples'][0].gt_sem_seg
    runner = SimpleNamespace(model=model, message_hub=MessageHub.get_instance('t_no_gt'))
    with pytest.raises(KeyError, match='0_32x32.png has no gt_sem_seg'):
        ValLossHook().after_val_iter(runner, 0, data)
