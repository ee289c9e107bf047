"""PartLoss against a loop written by hand, following the reference's part_loss."""
import math

import pytest
import torch

from upertool.models.losses import PartLoss, part_loss


def _hand_loss(logits, part, obj, valid, groups, ignore=255):
    """Per group: sum over valid images of the NLL at that object's annotated pixels,
    divided by the number of those pixels (at least 1); groups summed."""
    total, start = 0.0, 0
    for g, (o, n) in enumerate(groups):
        num, den = 0.0, 0
        for b in range(logits.shape[0]):
            if not valid[b][g]:
                continue
            for y in range(logits.shape[2]):
                for x in range(logits.shape[3]):
                    if obj[b][y][x] != o or part[b][y][x] == ignore:
                        continue
                    scores = [float(logits[b, start + k, y, x]) for k in range(n)]
                    log_z = math.log(sum(math.exp(s) for s in scores))
                    num += log_z - scores[int(part[b][y][x])]
                    den += 1
        total += num / max(den, 1)
        start += n
    return total


def test_part_loss_matches_hand_loop():
    gen = torch.Generator().manual_seed(0)
    groups = [(1, 2), (3, 3)]
    logits = torch.randn(3, 5, 4, 5, generator=gen, dtype=torch.float64)
    obj = torch.randint(0, 4, (3, 4, 5), generator=gen)
    part = torch.randint(0, 2, (3, 4, 5), generator=gen)
    part[obj == 3] = torch.randint(0, 3, (int((obj == 3).sum()),), generator=gen)
    part[0, 0, :] = 255  # unannotated part pixels
    valid = torch.tensor([[True, True], [False, True], [True, False]])
    expected = _hand_loss(logits, part.tolist(), obj.tolist(), valid.tolist(), groups)
    got = part_loss(logits, part, obj, valid, [1, 3], [2, 3])
    assert got.item() == pytest.approx(expected, rel=1e-9)
    weighted = PartLoss(loss_weight=0.5)(logits, part, obj, valid, [1, 3], [2, 3])
    assert weighted.item() == pytest.approx(0.5 * expected, rel=1e-9)


def test_no_valid_image_gives_zero_and_gradient_only_to_masked_pixels():
    logits = torch.randn(1, 2, 3, 3, requires_grad=True)
    obj = torch.zeros(1, 3, 3, dtype=torch.long)
    obj[0, 1, 1] = 1
    part = torch.zeros(1, 3, 3, dtype=torch.long)
    assert part_loss(logits, part, obj, torch.tensor([[False]]), [1], [2]).item() == 0
    part_loss(logits, part, obj, torch.tensor([[True]]), [1], [2]).backward()
    touched = logits.grad.abs().sum(1)[0] > 0
    assert touched.tolist() == (obj[0] == 1).tolist()
