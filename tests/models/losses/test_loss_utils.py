"""weight_reduce_loss and get_class_weight."""
import numpy as np
import pytest
import torch

from upertool.models.losses import get_class_weight, weight_reduce_loss

EPS = torch.finfo(torch.float32).eps


def test_weight_reduce_loss():
    loss = torch.tensor([1.0, 2.0, 3.0, 4.0])
    weight = torch.tensor([1.0, 0.0, 1.0, 0.5])
    assert weight_reduce_loss(loss, weight).item() == pytest.approx(6.0 / 4)
    assert weight_reduce_loss(loss, weight, reduction='sum').item() == pytest.approx(6.0)
    assert weight_reduce_loss(loss, weight, avg_factor=3).item() == pytest.approx(6 / (3 + EPS))
    torch.testing.assert_close(weight_reduce_loss(loss, weight, reduction='none', avg_factor=3),
                               loss * weight)
    assert weight_reduce_loss(loss, avg_factor=0).item() == pytest.approx(10 / EPS, rel=1e-6)
    with pytest.raises(ValueError, match='avg_factor can not be used'):
        weight_reduce_loss(loss, reduction='sum', avg_factor=2)
    with pytest.raises(ValueError, match='dims'):
        weight_reduce_loss(loss, weight.view(2, 2))


def test_get_class_weight(tmp_path):
    assert get_class_weight(None) is None
    assert get_class_weight((1, 2.5)) == [1.0, 2.5]
    path = tmp_path / 'w.npy'
    np.save(path, np.array([0.5, 1.5]))
    assert get_class_weight(path) == [0.5, 1.5]
    np.save(tmp_path / 'w2d.npy', np.ones((2, 2)))
    with pytest.raises(ValueError, match=r'w2d\.npy.*1-d'):
        get_class_weight(str(tmp_path / 'w2d.npy'))
    with pytest.raises(ValueError, match='finite'):
        get_class_weight([1.0, float('nan')])
    with pytest.raises(ValueError, match='numbers'):
        get_class_weight(['a', 'b'])
