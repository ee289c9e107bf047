"""LovaszLoss: equals 1 - IoU for hard predictions, ignores what it should, trains."""
import pytest
import torch

from upertool.models.losses import LovaszLoss, lovasz_softmax
from upertool.registry import MODELS


def iou_loss_per_class(pred, label, num_classes):
    losses = []
    for c in range(num_classes):
        inter = ((pred == c) & (label == c)).sum().item()
        union = ((pred == c) | (label == c)).sum().item()
        losses.append(1 - inter / union if union else 0.0)
    return torch.tensor(losses)


def test_hard_predictions_give_one_minus_iou():
    g = torch.Generator().manual_seed(0)
    label = torch.randint(0, 4, (300,), generator=g)
    pred = torch.where(torch.rand(300, generator=g) < 0.7, label,
                       torch.randint(0, 4, (300,), generator=g))
    probs = torch.nn.functional.one_hot(pred, 4).float()
    expected = iou_loss_per_class(pred, label, 4)
    torch.testing.assert_close(lovasz_softmax(probs, label, 'all'), expected.mean())
    torch.testing.assert_close(lovasz_softmax(probs, label, [1, 3]), expected[[1, 3]].mean())
    weights = [1.0, 2.0, 0.0, 1.0]
    torch.testing.assert_close(lovasz_softmax(probs, label, 'all', weights),
                               (expected * torch.tensor(weights)).sum() / 4)


def test_present_classes_only_and_ignored_pixels():
    label = torch.tensor([[[0, 0, 1, 255]]])
    logits = torch.randn(1, 3, 1, 4)
    loss = LovaszLoss(classes='present')
    # class 2 is absent, the ignored pixel carries a label that would be out of range
    value = loss(logits, label, ignore_index=255)
    probs = logits[0, :, 0, :3].t().softmax(1)
    torch.testing.assert_close(value, lovasz_softmax(probs, label[0, 0, :3], [0, 1]))
    # a pixel sampler's weights do not change it (mmsegmentation's behaviour)
    weight = torch.tensor([[[1., 0., 1., 1.]]])
    torch.testing.assert_close(loss(logits, label, weight=weight, ignore_index=255), value)


def test_per_image_averages_image_losses():
    logits, label = torch.randn(2, 3, 4, 5), torch.randint(0, 3, (2, 4, 5))
    per_image = LovaszLoss(per_image=True, loss_weight=2.0)(logits, label)
    parts = [LovaszLoss()(logits[i:i + 1], label[i:i + 1]) for i in range(2)]
    torch.testing.assert_close(per_image, 2.0 * (parts[0] + parts[1]) / 2)


def test_gradient_steps_reduce_the_loss():
    torch.manual_seed(0)
    label = torch.randint(0, 3, (2, 8, 8))
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    loss = MODELS.build(dict(type='LovaszLoss', reduction='none'))
    start = loss(logits, label).item()
    optimizer = torch.optim.SGD([logits], lr=50.0)
    for _ in range(20):
        optimizer.zero_grad()
        loss(logits, label).backward()
        optimizer.step()
    assert loss(logits, label).item() < 0.5 * start


def test_errors():
    with pytest.raises(NotImplementedError, match='binary'):
        LovaszLoss(loss_type='binary')
    with pytest.raises(ValueError, match='classes'):
        LovaszLoss(classes='some')
    with pytest.raises(ValueError, match='outside|range|label'):
        LovaszLoss()(torch.randn(1, 3, 2, 2), torch.full((1, 2, 2), 7))
