"""Shared pieces of the benchmark scripts: models by name, timing, FLOPs, the machine's peak.

Benchmarks print figures; they are not tests. Run each from the repository root, e.g.
`python benchmarks/bench_inference.py upernet_r50 --size 512`.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable

import torch

# the counter tools/analysis/get_flops.py uses too, so their figures agree
from upertool.models.utils.flops import count_flops, plain_form  # noqa: F401

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMED_CONFIGS = {
    'upernet_r50': 'configs/upernet/upernet_r50_4xb4-80k_ade20k-512x512.py',
    'swin_t': 'configs/swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py',
    'convnext_t': 'configs/convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py',
    'quickstart': 'configs/quickstart/upernet_r18-narrow_1xb8-2.4k_synthetic-96x96.py',
}


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('model', help=f"a config path or one of {', '.join(NAMED_CONFIGS)}")
    parser.add_argument('--size', type=int, default=512, help='square input side')
    parser.add_argument('--threads', type=int, default=None, help='torch threads (default: all)')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--plain', action='store_true',
                        help='UPerHead without the low-resolution fpn_bottleneck (the plain form)')
    parser.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=None,
                        help='override the config (default: as the config says)')
    parser.add_argument('--compile', action='store_true', help='wrap the model in torch.compile')
    parser.add_argument('--seed', type=int, default=0)


def load_model_config(name_or_path: str, plain: bool = False,
                      channels_last: bool | None = None):
    """The `model` dict of a named model or config file, with the benchmark's switches."""
    from mmengine.config import Config
    path = NAMED_CONFIGS.get(name_or_path, name_or_path)
    if not os.path.isabs(path):
        path = os.path.join(REPO, path)
    if not os.path.isfile(path):
        sys.exit(f'no such config or model name: {name_or_path!r} '
                 f'(names: {", ".join(NAMED_CONFIGS)})')
    model = Config.fromfile(path).model
    backbone = model.backbone
    backbone.pop('init_cfg', None)  # random weights: nothing is downloaded or read
    backbone.pop('pretrained', None)
    model.pop('pretrained', None)
    if plain and model.decode_head.get('type') == 'UPerHead':
        model.decode_head.low_res_fusion = False
    if channels_last is not None:
        model.channels_last = channels_last
    return model


def build_model(args: argparse.Namespace) -> torch.nn.Module:
    import upertool  # noqa: F401  (registers the components)
    from upertool.registry import MODELS
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    return MODELS.build(load_model_config(args.model, args.plain, args.channels_last))


def time_runs(fn: Callable[[], object], warmup: int, runs: int) -> tuple[float, float]:
    """(median, min) wall seconds of `runs` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def plain_form_flops(model: torch.nn.Module, fn: Callable[[], object]) -> float:
    """FLOPs of `fn` with the model's UPerHead switched to the plain fpn_bottleneck.

    The switch is a runtime flag, so no copy of the model is made (a copy would count in
    the peak memory the benchmark reports).
    """
    with plain_form(model):
        return count_flops(fn)


class PeakProbe:
    """The machine's fp32 peak: the best of a 4096^2 matmul and a channels-last 3x3 conv
    256->256 at 128x128.

    The host's clock drifts between runs (figures here moved 5-8% from one run to the next),
    so `sample()` is called beside every timed run of the model: the share of peak compares
    the model and the peak at the same clock, each by the same statistics (the median of all
    timings, and the fastest one).
    """

    def __init__(self) -> None:
        self.a, self.b = torch.randn(4096, 4096), torch.randn(4096, 4096)
        self.x = torch.randn(1, 256, 128, 128).contiguous(memory_format=torch.channels_last)
        self.w = torch.randn(256, 256, 3, 3).contiguous(memory_format=torch.channels_last)
        self.matmul: list[float] = []
        self.conv: list[float] = []

    def sample(self) -> None:
        """Time one matmul and three convolutions, now."""
        self.matmul.append(time_runs(lambda: self.a @ self.b, 0, 1)[0])
        with torch.no_grad():
            for _ in range(3):
                self.conv.append(time_runs(lambda: torch.conv2d(self.x, self.w, padding=1),
                                           0, 1)[0])

    def gflops(self, best: bool = False) -> tuple[float, str]:
        """(peak GFLOP/s, the detail line) from the median timings so far (the fastest
        ones with `best`)."""
        if not self.conv:
            self.sample()
        pick = min if best else statistics.median
        matmul = 2 * 4096 ** 3 / pick(self.matmul) / 1e9
        conv = 2 * 9 * 256 * 256 * 128 * 128 / pick(self.conv) / 1e9
        return max(matmul, conv), (f"matmul {matmul:.0f}, conv3x3 {conv:.0f} GFLOP/s, "
                                   f"{'fastest' if best else 'median'} of "
                                   f'{len(self.conv)} timings beside the timed runs')


def time_runs_beside_peak(fn: Callable[[], object], warmup: int, runs: int,
                          probe: PeakProbe | None) -> tuple[float, float]:
    """`time_runs`, with a peak sample taken after each timed run when a probe is given."""
    if probe is None:
        return time_runs(fn, warmup, runs)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        times.append(time_runs(fn, 0, 1)[0])
        probe.sample()
    return statistics.median(times), min(times)


def peak_memory_mib(device: torch.device) -> float:
    """Peak GPU memory on CUDA, else this process's peak resident set size."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(title: str, seconds: tuple[float, float], flops: float, plain_flops: float,
           per: str, probe: PeakProbe | None, memory_mib: float) -> None:
    """Print one benchmark's figures in a fixed layout."""
    median, best = seconds
    print(f'== {title}')
    print(f'  time per {per}: median {median:.4f} s, min {best:.4f} s')
    print(f'  counted {flops / 1e9:.1f} GFLOP -> {flops / median / 1e9:.1f} GFLOP/s achieved')
    if probe is not None:
        peak_gflops, detail = probe.gflops()
        effective = plain_flops / median / 1e9
        achieved = flops / median / 1e9
        print(f'  machine peak {peak_gflops:.0f} GFLOP/s ({detail}); the FLOPs done run at '
              f'{100 * achieved / peak_gflops:.0f}% of peak; plain-form work '
              f'{plain_flops / 1e9:.1f} GFLOP -> effective {effective:.1f} GFLOP/s = '
              f'{100 * effective / peak_gflops:.0f}% of peak')
        fastest_peak, _ = probe.gflops(best=True)
        print(f'  fastest run against the fastest peak timing ({fastest_peak:.0f} GFLOP/s): '
              f'{100 * flops / best / 1e9 / fastest_peak:.0f}% of peak')
    print(f'  peak memory {memory_mib:.0f} MiB')
