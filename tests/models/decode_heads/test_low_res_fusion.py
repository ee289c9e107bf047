"""The fewer-multiplication fpn_bottleneck equals the plain upsample-concat-conv form."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from upertool.models.decode_heads import UPerHead
from upertool.models.decode_heads.low_res_fusion import conv3x3_over_upsampled_levels


def plain_form(levels, weight, align_corners):
    size = levels[0].shape[2:]
    upsampled = [levels[0]] + [
        F.interpolate(x, size=size, mode='bilinear', align_corners=align_corners)
        for x in levels[1:]]
    return F.conv2d(torch.cat(upsampled, dim=1), weight, padding=1)


def random_levels(sizes, channels=(3, 3, 3, 3), batch=2, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, *s, generator=g, dtype=dtype)
            for c, s in zip(channels, sizes, strict=True)]


# strides 1/2/4/8 of odd sizes, a non-power-of-two ratio, a 1x1 level, and equal sizes
LEVEL_SIZES = [
    [(33, 47), (17, 24), (9, 12), (5, 6)],
    [(24, 24), (12, 12), (6, 6), (3, 3)],
    [(10, 7), (4, 5), (1, 1)],
    [(8, 8), (8, 8), (3, 5)],
]


@pytest.mark.parametrize('sizes', LEVEL_SIZES)
@pytest.mark.parametrize('align_corners', [False, True])
def test_equals_plain_form_in_float64(sizes, align_corners):
    levels = random_levels(sizes, channels=[3, 4, 2, 5][:len(sizes)])
    weight = torch.randn(6, sum(x.shape[1] for x in levels), 3, 3, dtype=torch.float64)
    fast = conv3x3_over_upsampled_levels(levels, weight, align_corners)
    torch.testing.assert_close(fast, plain_form(levels, weight, align_corners),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('align_corners', [False, True])
def test_gradients_equal_plain_form(align_corners):
    levels = [x.requires_grad_() for x in random_levels(LEVEL_SIZES[0])]
    weight = torch.randn(4, 12, 3, 3, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 4, 33, 47, dtype=torch.float64)
    grads = []
    for form in (conv3x3_over_upsampled_levels, plain_form):
        out = form(levels, weight, align_corners)
        grads.append(torch.autograd.grad((out * upstream).sum(), [*levels, weight]))
    for fast, plain in zip(*grads, strict=True):
        torch.testing.assert_close(fast, plain, rtol=1e-10, atol=1e-10)


def test_float32_and_channels_last_inputs():
    levels = random_levels(LEVEL_SIZES[1], channels=[16] * 4, dtype=torch.float32)
    weight = torch.randn(16, 64, 3, 3) * 0.1
    reference = plain_form(levels, weight, False)
    cl_levels = [x.contiguous(memory_format=torch.channels_last) for x in levels]
    for inputs in (levels, cl_levels):
        torch.testing.assert_close(conv3x3_over_upsampled_levels(inputs, weight, False),
                                   reference, rtol=1e-4, atol=1e-4)


def test_cached_matrices_built_under_inference_mode_serve_training():
    levels = random_levels([(11, 13), (6, 7)], channels=[2, 2], dtype=torch.float32, seed=3)
    weight = torch.randn(2, 4, 3, 3)
    with torch.inference_mode():
        conv3x3_over_upsampled_levels(levels, weight, False)
    trained = weight.clone().requires_grad_()
    conv3x3_over_upsampled_levels(levels, trained, False).sum().backward()
    assert trained.grad is not None and torch.isfinite(trained.grad).all()


def _head(low_res_fusion, seed=0):
    torch.manual_seed(seed)
    head = UPerHead(in_channels=[8, 16, 24, 32], channels=16, num_classes=7,
                    norm_cfg=dict(type='BN'), dropout_ratio=0.0, low_res_fusion=low_res_fusion)
    for m in head.modules():  # statistics away from the identity, so order errors show
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return head


def test_head_fast_and_plain_give_the_same_logits_and_labels():
    fast, plain = _head(True), _head(False)
    assert fast.state_dict().keys() == plain.state_dict().keys()
    plain.load_state_dict(fast.state_dict())
    levels = random_levels([(32, 40), (16, 20), (8, 10), (4, 5)], channels=[8, 16, 24, 32],
                           batch=3, dtype=torch.float32, seed=1)
    with torch.no_grad():
        a, b = fast.eval()(levels), plain.eval()(levels)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    top2 = b.topk(2, dim=1).values
    confident = (top2[:, 0] - top2[:, 1]) > 1e-3
    assert confident.float().mean() > 0.9
    assert torch.equal(a.argmax(1)[confident], b.argmax(1)[confident])
    # training mode (batch statistics) and the parameter gradients agree as well
    fast.train(), plain.train()
    for head in (fast, plain):
        head(levels).square().mean().backward()
    for (name, p), q in zip(fast.named_parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-3, atol=1e-5, msg=name)


def test_inference_adds_band_by_band_in_place_with_the_same_result():
    # 70 x 90 output: three bands of rows and of columns, the last ones partial
    levels = random_levels([(70, 90), (35, 45), (9, 12)], channels=[4, 4, 4], batch=2)
    weight = torch.randn(300, 12, 3, 3, dtype=torch.float64)
    with torch.no_grad():
        fast = conv3x3_over_upsampled_levels(levels, weight, False)
    assert fast.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast, plain_form(levels, weight, False),
                               rtol=1e-10, atol=1e-10)
