"""channel_argmax: the labels of torch.argmax, including its tie and NaN rules."""
import pytest
import torch

from upertool.models.utils import channel_argmax


@pytest.mark.parametrize('shape,dim', [((6, 17, 23), 0), ((2, 5, 9, 11), 1), ((3, 4), 0),
                                       ((4, 7), 1)])
def test_equals_torch_argmax(shape, dim):
    torch.manual_seed(0)
    logits = torch.randn(shape)
    assert torch.equal(channel_argmax(logits, dim), logits.argmax(dim))


def test_channels_last_logits():
    logits = torch.randn(2, 5, 8, 9).contiguous(memory_format=torch.channels_last)
    assert torch.equal(channel_argmax(logits, 1), logits.argmax(1))
    assert torch.equal(channel_argmax(logits[0], 0), logits[0].argmax(0))


def test_ties_take_the_first_maximum():
    # integers in a small range: many pixels have two or more classes at the maximum
    logits = torch.randint(0, 3, (5, 32, 32)).float()
    logits[:, 0, 0] = -torch.inf  # all equal (to -inf): label 0, as argmax
    labels = channel_argmax(logits, 0)
    assert torch.equal(labels, logits.argmax(0))
    assert labels[0, 0] == 0
    assert (logits.max(0).values == logits[2]).sum() > 0  # ties really occur


def test_nan_counts_as_largest():
    logits = torch.randn(4, 6, 6)
    logits[2, 1, 1] = float('nan')
    logits[3, 1, 1] = float('nan')
    labels = channel_argmax(logits, 0)
    assert torch.equal(labels, logits.argmax(0))
    assert labels[1, 1] == 2
