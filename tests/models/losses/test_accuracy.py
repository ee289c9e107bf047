"""accuracy(): percent of correct pixels, counted by hand."""
import pytest
import torch

from upertool.models.losses import accuracy

EPS = torch.finfo(torch.float32).eps
LOGITS = torch.tensor([[[[1.0, -0.5], [0.3, 2.0]],
                        [[0.2, 0.8], [-1.0, 0.1]],
                        [[-0.7, 0.4], [1.5, -0.3]]]])
# argmax per pixel: (0,0)->0, (0,1)->1, (1,0)->2, (1,1)->0


def test_top1_with_and_without_ignore():
    label = torch.tensor([[[0, 2], [2, 255]]])  # correct: (0,0), (1,0)
    acc = accuracy(LOGITS, label, ignore_index=255)
    assert acc.shape == (1,)
    assert acc.item() == pytest.approx((2 + EPS) * 100 / (3 + EPS), rel=1e-6)
    assert accuracy(LOGITS, label).item() == pytest.approx((2 + EPS) * 100 / (4 + EPS),
                                                           rel=1e-6)


def test_topk_tuple_and_thresh():
    label = torch.tensor([[[0, 2], [1, 0]]])
    # second-best: (0,1)->2 (0.4), (1,0)->0 (0.3)
    top1, top2 = accuracy(LOGITS, label, topk=(1, 2))
    assert top1.item() == pytest.approx(200 / 4, rel=1e-5)
    assert top2.item() == pytest.approx(300 / 4, rel=1e-5)
    # only scores > 1.2 count: (1,1) has 2.0 and is correct; (0,0) has 1.0
    assert accuracy(LOGITS, label, thresh=1.2).item() == pytest.approx(100 / 4, rel=1e-5)


def test_all_ignored_and_errors():
    label = torch.full((1, 2, 2), 255)
    assert accuracy(LOGITS, label, ignore_index=255).item() == pytest.approx(100, rel=1e-5)
    with pytest.raises(ValueError, match='maxk 4'):
        accuracy(LOGITS, label, topk=4)
    with pytest.raises(ValueError, match=r'\(N, C, \.\.\.\)'):
        accuracy(LOGITS, label[0])
