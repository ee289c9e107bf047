"""Eval-time folded convolutions (folded_conv.py): the same outputs as the modules they
replace, taken only where exact, and rebuilt when a weight or statistic changes; the same for
bare weights kept reordered for oneDNN (prepacked_conv2d)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from upertool.models.backbones.resnet_blocks import Bottleneck
from upertool.models.utils import ConvModule
from upertool.models.utils.folded_conv import (
    can_prepack,
    folded_conv_count,
    plain_eval_convs,
    prepacked_conv2d,
    release_folded_convs,
)
from upertool.registry import MODELS

BN = dict(type='BN')


def randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    """Weights and BatchNorm statistics far from the identity, so a folding error shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.2)
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g))
                m.running_mean.copy_(torch.randn(m.num_features, generator=g))
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.2)
    return module.eval()


def channels_last(*shape: int) -> torch.Tensor:
    return torch.randn(*shape).contiguous(memory_format=torch.channels_last)


def plain_and_folded(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    release_folded_convs(module)
    with torch.no_grad():
        with plain_eval_convs():
            plain = module(x)
        assert folded_conv_count(module) == 0
        return plain, module(x)


@pytest.mark.parametrize('kernel,stride', [(1, 1), (3, 1), (3, 2)])
def test_conv_module_folded_equals_conv_bn_relu(kernel: int, stride: int) -> None:
    block = randomise(ConvModule(6, 10, kernel, stride=stride, padding=kernel // 2, norm_cfg=BN))
    plain, folded = plain_and_folded(block, channels_last(2, 6, 13, 17))
    assert folded_conv_count(block) == 1
    assert (plain == 0).float().mean() > 0.2  # the ReLU clips a good share
    torch.testing.assert_close(folded, plain, rtol=1e-5, atol=1e-5)
    assert folded.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize('groups,dilation', [(8, 1), (1, 3), (2, 2)])
def test_grouped_and_dilated_convs_folded(groups: int, dilation: int) -> None:
    """Depthwise (DeepLabV3+'s separable convs) and dilated (ASPP, dilated ResNets) too."""
    block = randomise(ConvModule(8, 8, 3, padding=dilation, dilation=dilation, groups=groups,
                                 norm_cfg=BN))
    plain, folded = plain_and_folded(block, channels_last(2, 8, 15, 11))
    assert folded_conv_count(block) == 1
    torch.testing.assert_close(folded, plain, rtol=1e-5, atol=1e-5)


def test_bottleneck_residual_add_and_projection_folded() -> None:
    downsample = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
    block = randomise(Bottleneck(8, 4, stride=2, downsample=downsample))
    plain, folded = plain_and_folded(block, channels_last(2, 8, 12, 10))
    assert folded_conv_count(block) == 4  # conv1-3 and the projection
    assert folded.shape == (2, 16, 6, 5)
    torch.testing.assert_close(folded, plain, rtol=1e-5, atol=1e-5)


def test_changed_weights_and_statistics_are_refolded() -> None:
    block = randomise(ConvModule(4, 4, 3, padding=1, norm_cfg=BN))
    x = channels_last(1, 4, 9, 9)
    with torch.no_grad():
        block(x)
        block.bn.running_var.mul_(4)  # in place, as a loaded state dict or an update does
        block.conv.weight.add_(0.5)
        block.load_state_dict({**block.state_dict(), 'bn.bias': torch.full((4,), 3.0)})
        assert folded_conv_count(block) == 1  # the stale entry is still there
        for shape in ((1, 4, 9, 9), (3, 4, 20, 7)):  # another size: weights prepared for it
            x = channels_last(*shape)
            folded = block(x)
            with plain_eval_convs():
                plain = block(x)
            torch.testing.assert_close(folded, plain, rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings('ignore:TF32 acceleration')  # torch's own, from mkldnn.flags
def test_taken_only_where_exact() -> None:
    block = randomise(ConvModule(4, 4, 3, padding=1, norm_cfg=BN))
    x = channels_last(1, 4, 9, 9)
    with torch.no_grad():
        block(x.contiguous())  # NCHW input
        block.train()(x)  # batch statistics
        block.eval()
        with torch.autocast('cpu', dtype=torch.float16):
            block(x)
        with torch.backends.mkldnn.flags(enabled=False):
            block(x)
    assert folded_conv_count(block) == 0
    out = block(x.requires_grad_())  # autograd on: the modules run, gradients flow
    out.sum().backward()
    assert folded_conv_count(block) == 0 and block.conv.weight.grad is not None


def test_forward_hooks_still_fire() -> None:
    """A hook on the conv (feature extraction, spectral norm) sees the conv run."""
    block = randomise(ConvModule(4, 4, 1, norm_cfg=BN))
    seen = []
    block.conv.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    with torch.no_grad():
        block(channels_last(1, 4, 5, 5))
    assert seen == [torch.Size([1, 4, 5, 5])] and folded_conv_count(block) == 0


def test_segmentor_train_releases_folded_weights() -> None:
    model = MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=8),
        decode_head=dict(type='UPerHead', in_channels=[8, 16, 32, 64], channels=8,
                         num_classes=3, norm_cfg=BN)))
    randomise(model)
    with torch.inference_mode():
        model(torch.randn(1, 3, 64, 64), mode='tensor')
    assert folded_conv_count(model) > 20
    model.train()
    assert folded_conv_count(model) == 0
    model.eval()
    release_folded_convs(model)  # callable any time; the next eval pass refolds
    with torch.inference_mode():
        model(torch.randn(1, 3, 64, 64), mode='tensor')
    assert folded_conv_count(model) > 20


def test_bf16_autocast_folds_in_bf16() -> None:
    """Under CPU bf16 autocast the folded conv computes in bf16, as autocast runs a conv."""
    downsample = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16))
    block = randomise(Bottleneck(8, 4, downsample=downsample))
    x = channels_last(2, 8, 12, 10)
    with torch.no_grad():
        reference = block(x)  # fp32
        with torch.autocast('cpu', dtype=torch.bfloat16):
            with plain_eval_convs():
                plain = block(x)
            folded = block(x)
    assert folded_conv_count(block) == 4
    assert folded.dtype == plain.dtype == torch.bfloat16
    scale = reference.abs().max()
    assert (folded.float() - reference).abs().max() < 0.03 * scale
    assert (plain.float() - reference).abs().max() < 0.03 * scale


@pytest.mark.parametrize('kernel,padding', [(1, 0), (3, 1)])
def test_prepacked_conv2d_equals_conv2d_and_follows_the_weight(kernel: int,
                                                               padding: int) -> None:
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(12, 8, kernel, kernel, generator=g)
    bias = torch.randn(12, generator=g)
    x = channels_last(2, 8, 9, 11)
    with torch.no_grad():
        assert can_prepack(x, weight)
        expected = nn.functional.conv2d(x, weight, bias, padding=padding)
        got = prepacked_conv2d(x, weight, bias, padding)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        assert got.is_contiguous(memory_format=torch.channels_last)
        weight.mul_(-2)  # an in-place change: the kept reordered copy must be rebuilt
        torch.testing.assert_close(prepacked_conv2d(x, weight, None, padding),
                                   nn.functional.conv2d(x, weight, None, padding=padding),
                                   rtol=1e-5, atol=1e-5)
        bigger = channels_last(1, 8, 20, 7)  # and for another input size
        torch.testing.assert_close(prepacked_conv2d(bigger, weight, bias, padding),
                                   nn.functional.conv2d(bigger, weight, bias, padding=padding),
                                   rtol=1e-5, atol=1e-5)


def test_prepack_taken_only_where_exact() -> None:
    weight = torch.randn(4, 3, 3, 3)
    x = channels_last(1, 3, 8, 8)
    with torch.no_grad():
        assert can_prepack(x, weight)
        assert not can_prepack(x.contiguous(), weight)  # NCHW
        assert not can_prepack(x, weight.double())  # not the compute dtype
        with plain_eval_convs():
            assert not can_prepack(x, weight)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert not can_prepack(x, weight)  # fp32 weight under bf16 autocast
            assert can_prepack(x, weight.bfloat16())
    with torch.enable_grad():
        assert not can_prepack(x, weight)
    with torch.inference_mode():
        assert not can_prepack(x, torch.randn(4, 3, 3, 3))  # no version to notice changes by
