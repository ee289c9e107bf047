"""OHEMPixelSampler against a direct reading of its rule, and inside a head's loss."""
import torch
import torch.nn.functional as F
from torch import nn

from upertool.models.samplers import OHEMPixelSampler
from upertool.registry import MODELS


class Context(nn.Module):
    def __init__(self, ignore_index=255):
        super().__init__()
        self.ignore_index = ignore_index
        self.loss_decode = MODELS.build(dict(type='CrossEntropyLoss'))


def logits_and_labels(seed=0, n=2, c=4, h=6, w=5):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, h, w, generator=g) * 2
    labels = torch.randint(0, c, (n, h, w), generator=g)
    labels[0, 0, :3] = 255
    return logits, labels


def test_threshold_rule_keeps_low_probability_pixels():
    logits, labels = logits_and_labels()
    sampler = OHEMPixelSampler(Context(), thresh=0.5, min_kept=3)
    weight = sampler.sample(logits, labels)
    valid = labels != 255
    prob = F.softmax(logits, 1).gather(1, labels.clamp(max=3)[:, None])[:, 0]
    # min_kept * batch = 6 smallest probabilities; the cut is the 7th smallest or 0.5
    cut = max(prob[valid].sort().values[6].item(), 0.5)
    expected = (valid & (prob < cut)).float()
    assert torch.equal(weight, expected)
    assert weight[~valid].sum() == 0


def test_min_kept_raises_the_threshold_when_few_pixels_are_hard():
    logits, labels = logits_and_labels(seed=1)
    sampler = OHEMPixelSampler(Context(), thresh=1e-6, min_kept=10)
    weight = sampler.sample(logits, labels)
    assert weight.sum() == 20  # 10 per image, although no pixel is below 1e-6


def test_loss_rule_keeps_the_highest_loss_pixels():
    logits, labels = logits_and_labels(seed=2)
    weight = OHEMPixelSampler(Context(), min_kept=4).sample(logits, labels)
    loss = F.cross_entropy(logits, labels, ignore_index=255, reduction='none')
    kept = loss[weight.bool()]
    dropped = loss[(~weight.bool()) & (labels != 255)]
    assert weight.sum() == 8 and kept.min() >= dropped.max()


def test_head_loss_averages_over_the_kept_pixels_only():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='FCNHead', in_channels=4, channels=4, num_convs=1,
                             num_classes=3, dropout_ratio=0.0,
                             sampler=dict(type='OHEMPixelSampler', thresh=0.7, min_kept=5),
                             loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True)))
    assert isinstance(head.sampler, OHEMPixelSampler) and head.sampler.context is head
    logits = torch.randn(2, 3, 8, 8)
    labels = torch.randint(0, 3, (2, 8, 8))
    weight = head.sampler.sample(logits, labels)
    loss = head.loss_decode(logits, labels, weight=weight, ignore_index=255)
    per_pixel = F.cross_entropy(logits, labels, reduction='none')
    # mmsegmentation's weighting: dropped pixels count 0 but stay in the average's divisor
    torch.testing.assert_close(loss, (per_pixel * weight).sum() / labels.numel())
    assert 0 < weight.sum() < labels.numel()
    # and loss_by_feat applies it
    from mmengine.structures import PixelData

    from upertool.structures import SegDataSample
    samples = [SegDataSample(gt_sem_seg=PixelData(data=label[None])) for label in labels]
    torch.testing.assert_close(head.loss_by_feat(logits, samples)['loss_ce'], loss)
