"""FocalLoss against a loop reference of the sigmoid focal loss on a 1x3x2x2 case."""
import math

import pytest
import torch

from upertool.models.losses import FocalLoss
from upertool.registry import MODELS

LOGITS = torch.tensor([[[[1.0, -0.5], [0.3, 2.0]],
                        [[0.2, 0.8], [-1.0, 0.1]],
                        [[-0.7, 0.4], [1.5, -0.3]]]])
LABEL = torch.tensor([[[0, 2], [1, 255]]])


def ref_focal_terms(logits, label, gamma=2.0, alpha=0.5, class_weight=None, ignore=255):
    """One term per (pixel, class); ignored pixels give 0 but are counted."""
    num_classes = logits.shape[1]
    terms = []
    for i in range(logits.shape[2]):
        for j in range(logits.shape[3]):
            y = int(label[0, i, j])
            for c in range(num_classes):
                if y == ignore:
                    terms.append(0.0)
                    continue
                t = 1.0 if (c == y if num_classes > 1 else y == 1) else 0.0
                p = 1 / (1 + math.exp(-float(logits[0, c, i, j])))
                pt = p if t else 1 - p
                a = alpha[c] if isinstance(alpha, list) else alpha
                w = a if t else 1 - a
                cw = 1.0 if class_weight is None else class_weight[c]
                terms.append(-math.log(pt) * w * (1 - pt) ** gamma * cw)
    return terms


def test_defaults_and_registry():
    loss = MODELS.build(dict(type='FocalLoss'))
    assert (loss.use_sigmoid, loss.gamma, loss.alpha, loss.reduction, loss.class_weight,
            loss.loss_weight, loss.loss_name) == (True, 2.0, 0.5, 'mean', None, 1.0,
                                                  'loss_focal')


def test_mean_counts_every_pixel_and_class():
    terms = ref_focal_terms(LOGITS, LABEL)
    assert FocalLoss()(LOGITS, LABEL).item() == pytest.approx(sum(terms) / 12, rel=1e-5)


def test_gamma_alpha_list_class_weight_loss_weight():
    alpha, cw = [0.25, 0.5, 0.75], [1.0, 2.0, 0.5]
    terms = ref_focal_terms(LOGITS, LABEL, gamma=1.5, alpha=alpha, class_weight=cw)
    loss = FocalLoss(gamma=1.5, alpha=alpha, class_weight=cw, loss_weight=0.5)
    assert loss(LOGITS, LABEL).item() == pytest.approx(0.5 * sum(terms) / 12, rel=1e-5)


def test_reduction_none_keeps_prediction_shape():
    terms = ref_focal_terms(LOGITS, LABEL)
    none = FocalLoss(reduction='none')(LOGITS, LABEL)
    assert none.shape == LOGITS.shape
    # terms are ordered (h, w, c); the output is (1, C, H, W)
    expected = torch.tensor(terms).view(2, 2, 3).permute(2, 0, 1).unsqueeze(0)
    torch.testing.assert_close(none, expected)
    assert FocalLoss()(LOGITS, LABEL, reduction_override='sum').item() == pytest.approx(
        sum(terms), rel=1e-5)


def test_binary_single_channel():
    logits = LOGITS[:, :1]
    label = torch.tensor([[[0, 1], [1, 255]]])
    terms = ref_focal_terms(logits, label)
    assert FocalLoss()(logits, label).item() == pytest.approx(sum(terms) / 4, rel=1e-5)


def test_errors():
    with pytest.raises(NotImplementedError, match='sigmoid'):
        FocalLoss(use_sigmoid=False)
    with pytest.raises(ValueError, match='alpha'):
        FocalLoss(alpha=1.5)
    with pytest.raises(ValueError, match='gamma'):
        FocalLoss(gamma=-1.0)
    with pytest.raises(ValueError, match=r'label values \[9\]'):
        FocalLoss()(LOGITS, torch.tensor([[[0, 9], [1, 255]]]))
    with pytest.raises(ValueError, match='alpha.*2 values'):
        FocalLoss(alpha=[0.5, 0.5])(LOGITS, LABEL)
    with pytest.raises(ValueError, match='target shape'):
        FocalLoss()(LOGITS, torch.zeros(1, 3, 3, dtype=torch.long))
