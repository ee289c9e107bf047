"""DiceLoss against loop references (mmsegmentation 1.2.2's formula) on a 1x3x2x2 case."""
import math

import pytest
import torch

from upertool.models.losses import DiceLoss
from upertool.registry import MODELS

LOGITS = torch.tensor([[[[1.0, -0.5], [0.3, 2.0]],
                        [[0.2, 0.8], [-1.0, 0.1]],
                        [[-0.7, 0.4], [1.5, -0.3]]]])
LABEL = torch.tensor([[[0, 2], [1, 255]]])


def probs(logits, sigmoid):
    out = {}
    for i in range(2):
        for j in range(2):
            xs = [float(logits[0, c, i, j]) for c in range(logits.shape[1])]
            if sigmoid:
                ps = [1 / (1 + math.exp(-x)) for x in xs]
            else:
                z = sum(math.exp(x) for x in xs)
                ps = [math.exp(x) / z for x in xs]
            out[i, j] = ps
    return out


def ref_dice(logits, label, sigmoid=True, naive=False, eps=1e-3, drop_channel=None,
             ignore=(255,)):
    p = probs(logits, sigmoid)
    a = sp = sp2 = st = 0.0
    for (i, j), ps in p.items():
        y = int(label[0, i, j])
        for c, pc in enumerate(ps):
            if c == drop_channel:
                continue
            t = 1.0 if (y == c and y not in ignore) else 0.0  # ignored pixels: zero target
            a += pc * t
            sp += pc
            sp2 += pc * pc
            st += t
    if naive:
        return 1 - (2 * a + eps) / (sp + st + eps)
    return 1 - 2 * a / ((sp2 + eps) + (st + eps))


def test_defaults_and_registry():
    loss = MODELS.build(dict(type='DiceLoss'))
    assert (loss.use_sigmoid, loss.activate, loss.reduction, loss.naive_dice, loss.loss_weight,
            loss.ignore_index, loss.eps, loss.loss_name) == (
        True, True, 'mean', False, 1.0, 255, 1e-3, 'loss_dice')


@pytest.mark.parametrize('sigmoid', [True, False])
@pytest.mark.parametrize('naive', [False, True])
def test_multiclass_matches_reference(sigmoid, naive):
    loss = DiceLoss(use_sigmoid=sigmoid, naive_dice=naive, loss_weight=2.0)
    expected = 2.0 * ref_dice(LOGITS, LABEL, sigmoid=sigmoid, naive=naive)
    assert loss(LOGITS, LABEL).item() == pytest.approx(expected, rel=1e-5)


def test_per_image_then_batch_mean():
    logits = torch.cat([LOGITS, LOGITS.flip(-1)])
    label = torch.cat([LABEL, torch.tensor([[[1, 1], [0, 2]]])])
    per_image = [ref_dice(logits[k:k + 1], label[k:k + 1]) for k in range(2)]
    loss = DiceLoss()
    none = loss(logits, label, reduction_override='none')
    assert none.shape == (2,)
    torch.testing.assert_close(none, torch.tensor(per_image))
    assert loss(logits, label).item() == pytest.approx(sum(per_image) / 2, rel=1e-6)


def test_channel_equal_to_ignore_index_is_dropped():
    loss = DiceLoss(ignore_index=1)
    expected = ref_dice(LOGITS, LABEL, drop_channel=1, ignore=(1, 255))
    assert loss(LOGITS, LABEL).item() == pytest.approx(expected, rel=1e-5)


def test_not_activated_and_one_hot_targets():
    p = LOGITS.softmax(1)
    one_hot = torch.zeros_like(p)
    for (i, j), y in {(0, 0): 0, (0, 1): 2, (1, 0): 1}.items():
        one_hot[0, y, i, j] = 1
    loss = DiceLoss(activate=False)
    expected = ref_dice(LOGITS, LABEL, sigmoid=False)
    assert loss(p, one_hot).item() == pytest.approx(expected, rel=1e-5)


def test_binary_single_channel_targets_foreground():
    logits = LOGITS[:, :1]
    label = torch.tensor([[[0, 1], [1, 255]]])
    a = sp2 = st = 0.0
    for i in range(2):
        for j in range(2):
            pc = 1 / (1 + math.exp(-float(logits[0, 0, i, j])))
            t = 1.0 if int(label[0, i, j]) == 1 else 0.0
            a, sp2, st = a + pc * t, sp2 + pc * pc, st + t
    expected = 1 - 2 * a / ((sp2 + 1e-3) + (st + 1e-3))
    assert DiceLoss()(logits, label).item() == pytest.approx(expected, rel=1e-5)


def test_out_of_range_labels_raise():
    with pytest.raises(ValueError, match=r'label values \[5\]'):
        DiceLoss()(LOGITS, torch.tensor([[[0, 5], [1, 255]]]))
    with pytest.raises(ValueError, match=r'label values \[2\]'):
        DiceLoss()(LOGITS[:, :1], torch.tensor([[[0, 2], [1, 255]]]))
