"""cross_entropy on channels-last logits (softmax along contiguous classes) equals NCHW."""
from __future__ import annotations

import pytest
import torch

from upertool.models.losses.cross_entropy import cross_entropy


@pytest.mark.parametrize('class_weight', [None, torch.linspace(0.5, 2.0, 5)])
def test_channels_last_logits_give_the_nchw_loss_and_gradient(class_weight) -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7, 9)
    label = torch.randint(0, 5, (2, 7, 9))
    label[0, :2] = 255  # ignored pixels
    last = logits.contiguous(memory_format=torch.channels_last).requires_grad_()
    nchw = logits.clone().requires_grad_()
    assert last.stride(1) == 1 and nchw.stride(1) != 1
    losses = [cross_entropy(x, label, class_weight=class_weight, reduction='none',
                            ignore_index=255) for x in (last, nchw)]
    assert losses[0].shape == (2, 7, 9)
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-6, atol=1e-6)
    assert torch.all(losses[0][0, :2] == 0)
    grads = [torch.autograd.grad(loss.sum(), x)[0]
             for loss, x in zip(losses, (last, nchw), strict=True)]
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-6, atol=1e-6)
