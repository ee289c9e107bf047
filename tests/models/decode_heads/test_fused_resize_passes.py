"""The compiled resize passes of the low-resolution fusion equal the plain form, and run only
where they should (eval, fp32, CPU, numba present and not turned off)."""
import multiprocessing

import numba
import pytest
import torch
import torch.nn.functional as F

from upertool.models.decode_heads import fused_resize_passes
from upertool.models.decode_heads.low_res_fusion import conv3x3_over_upsampled_levels
from upertool.models.utils.folded_conv import plain_eval_convs


def plain_form(levels, weight, align_corners):
    """upsample, concatenate, 3x3 conv, in float64: the reference."""
    levels, weight = [x.double() for x in levels], weight.double()
    size = levels[0].shape[2:]
    upsampled = [levels[0]] + [
        F.interpolate(x, size=size, mode='bilinear', align_corners=align_corners)
        for x in levels[1:]]
    return F.conv2d(torch.cat(upsampled, dim=1), weight, padding=1)


def random_case(sizes, channels=5, out_channels=7, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    levels = [torch.randn(batch, channels, *s, generator=g).contiguous(
        memory_format=torch.channels_last) for s in sizes]
    weight = torch.randn(out_channels, channels * len(sizes), 3, 3, generator=g)
    return levels, weight


@pytest.fixture
def kernel_calls(monkeypatch):
    """Counts the compiled passes' calls (and the levels each got)."""
    calls = []
    real = fused_resize_passes.add_resized_levels

    def spy(out, levels):
        calls.append(len(levels))
        real(out, levels)
    monkeypatch.setattr(fused_resize_passes, 'add_resized_levels', spy)
    return calls


# odd and non-square sizes, a non-power-of-two ratio, a 1x1 level, five levels (two kernel
# groups of coarse levels), a coarse level as large as the finest (the plain conv takes it)
SIZES = [
    [(33, 47), (17, 24), (9, 12), (5, 6)],
    [(20, 20), (7, 9), (1, 1)],
    [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)],
    [(8, 8), (8, 8), (3, 5)],
]


@pytest.mark.parametrize('sizes', SIZES)
@pytest.mark.parametrize('align_corners', [False, True])
def test_compiled_passes_equal_the_plain_form(sizes, align_corners, kernel_calls):
    levels, weight = random_case(sizes)
    with torch.no_grad():
        fast = conv3x3_over_upsampled_levels(levels, weight, align_corners)
    resized = sum(tuple(s) != tuple(sizes[0]) for s in sizes[1:])
    assert kernel_calls == [resized]
    assert fast.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast.double(), plain_form(levels, weight, align_corners),
                               rtol=1e-5, atol=1e-5)


def test_compiled_and_torch_passes_agree(monkeypatch, kernel_calls):
    levels, weight = random_case(SIZES[0], channels=16, out_channels=24, batch=3, seed=1)
    bias = torch.randn(24)
    with torch.inference_mode():
        compiled = conv3x3_over_upsampled_levels(levels, weight, False, bias)
        monkeypatch.setattr(fused_resize_passes, 'kernel', lambda: None)
        torch_form = conv3x3_over_upsampled_levels(levels, weight, False, bias)
    assert kernel_calls == [3]  # the first call only
    torch.testing.assert_close(compiled, torch_form, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('case', ['grad', 'plain_eval_convs', 'float64', 'bf16 autocast'])
def test_torch_form_runs_where_the_compiled_one_must_not(case, kernel_calls):
    levels, weight = random_case(SIZES[1])
    if case == 'float64':
        levels, weight = [x.double() for x in levels], weight.double()
    if case == 'grad':
        weight.requires_grad_()
        out = conv3x3_over_upsampled_levels(levels, weight, False)
        out.sum().backward()
        assert weight.grad is not None
    elif case == 'plain_eval_convs':
        with torch.no_grad(), plain_eval_convs():
            out = conv3x3_over_upsampled_levels(levels, weight, False)
    elif case == 'bf16 autocast':
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
            out = conv3x3_over_upsampled_levels(levels, weight, False)
    else:
        with torch.no_grad():
            out = conv3x3_over_upsampled_levels(levels, weight, False)
    assert kernel_calls == []
    tolerance = 0.1 if case == 'bf16 autocast' else 1e-4
    torch.testing.assert_close(out.double(), plain_form(levels, weight, False),
                               rtol=tolerance, atol=tolerance)


def test_environment_variable_turns_the_compiled_passes_off(monkeypatch):
    fused_resize_passes.kernel.cache_clear()
    try:
        monkeypatch.setenv('UPERTOOL_NO_NUMBA', '1')
        assert fused_resize_passes.kernel() is None
        assert not fused_resize_passes.can_run(
            torch.zeros(1, 2, 3, 3).contiguous(memory_format=torch.channels_last))
        fused_resize_passes.kernel.cache_clear()
        monkeypatch.setenv('UPERTOOL_NO_NUMBA', '0')
        assert fused_resize_passes.kernel() is not None
    finally:
        fused_resize_passes.kernel.cache_clear()


@pytest.mark.parametrize('threads', [1, 3])
def test_rows_split_over_torchs_thread_count(threads, monkeypatch):
    levels, weight = random_case(SIZES[0], batch=3)
    expected = plain_form(levels, weight, False)
    compiled = fused_resize_passes.kernel()
    parallel_calls = []
    real_parallel = compiled.add_rows_in_parallel
    monkeypatch.setattr(compiled, 'add_rows_in_parallel',
                        lambda out, n, *args: parallel_calls.append(n) or real_parallel(
                            out, n, *args))
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        with torch.no_grad():
            out = conv3x3_over_upsampled_levels(levels, weight, False)
    finally:
        torch.set_num_threads(previous)
    used = min(threads, numba.config.NUMBA_NUM_THREADS)
    assert parallel_calls == ([] if used == 1 else [used])
    if used > 1:
        assert numba.get_num_threads() == used
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)


def _fuse_in_child(queue):
    torch.set_num_threads(1)  # as DataLoader workers do: torch's OpenMP pool is not fork-safe
    levels, weight = random_case(SIZES[1])
    with torch.no_grad():
        queue.put(conv3x3_over_upsampled_levels(levels, weight, False).sum().item())


def test_a_forked_child_runs_the_compiled_passes(kernel_calls):
    """With one thread (as torch needs after a fork) the child runs the serial kernel, no
    parallel region: GNU OpenMP's is not fork-safe."""
    levels, weight = random_case(SIZES[1])
    with torch.no_grad():
        expected = conv3x3_over_upsampled_levels(levels, weight, False).sum().item()
    assert kernel_calls == [2]
    context = multiprocessing.get_context('fork')
    queue = context.Queue()
    child = context.Process(target=_fuse_in_child, args=(queue,))
    child.start()
    try:
        result = queue.get(timeout=60)
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
    assert result == pytest.approx(expected, rel=1e-6)


def test_sparse_rows_pads_and_refuses_dense_rows():
    matrix = torch.tensor([[0.0, 0.25, 0.75, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    index, weight = fused_resize_passes.sparse_rows(matrix, 2)
    assert index.tolist() == [[1, 2], [0, 0], [0, 0]]
    assert weight.tolist() == [[0.25, 0.75], [0.0, 0.0], [1.0, 0.0]]
    with pytest.raises(ValueError, match='row 0 has 3 nonzero entries, more than 2'):
        fused_resize_passes.sparse_rows(torch.tensor([[0.2, 0.3, 0.5]]), 2)


def test_tap_maps_must_be_channels_last():
    out = torch.zeros(1, 2, 4, 4).contiguous(memory_format=torch.channels_last)
    tables = fused_resize_passes.level_tables(torch.zeros(3, 4, 2), torch.zeros(4, 6))
    with pytest.raises(ValueError, match='channels-last'):
        fused_resize_passes.add_resized_levels(out, [(torch.zeros(1, 18, 2, 2), tables)])
