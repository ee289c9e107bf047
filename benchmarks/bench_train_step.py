"""One training step (forward + backward + optimizer step) of a segmentor.

    python benchmarks/bench_train_step.py upernet_r50 --size 512 --batch 2
    python benchmarks/bench_train_step.py quickstart --size 96 --batch 8 --channels-last
    python benchmarks/bench_train_step.py quickstart --size 96 --batch 8 --precision bf16

Random weights and labels, the config's losses (auxiliary heads included), SGD(0.01, 0.9)
unless --adamw; `--precision bf16` runs the forward pass under CPU bf16 autocast with fp32
master weights, as `tools/train.py --amp` (BF16AutocastOptimWrapper) does. Seconds per step,
GFLOP/s (flop_counter over forward + backward) and the effective figure for the plain-form
work, as bench_inference.py.
"""
from __future__ import annotations

import argparse
import contextlib

import torch
from common import (
    PeakProbe,
    add_common_args,
    build_model,
    count_flops,
    peak_memory_mib,
    plain_form_flops,
    report,
    time_runs_beside_peak,
)
from mmengine.structures import PixelData


def samples_for(labels: torch.Tensor) -> list:
    from upertool.structures import SegDataSample
    h, w = labels.shape[-2:]
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), padding_size=[0] * 4)
    return [SegDataSample(metainfo=meta, gt_sem_seg=PixelData(data=label[None]))
            for label in labels]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_common_args(parser)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--adamw', action='store_true', help='fused AdamW instead of SGD')
    parser.add_argument('--no-peak', action='store_true', help='skip measuring the peak')
    parser.add_argument('--no-flops', action='store_true', help='skip counting FLOPs')
    parser.add_argument('--precision', choices=('fp32', 'bf16'), default='fp32',
                        help='bf16: forward under bf16 autocast (tools/train.py --amp on CPU)')
    args = parser.parse_args()

    model = build_model(args).train()
    images = torch.randn(args.batch, 3, args.size, args.size)
    labels = torch.randint(0, model.num_classes, (args.batch, args.size, args.size))
    samples = samples_for(labels)

    def autocast():
        if args.precision == 'bf16':
            return torch.autocast(device_type=images.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def step_of(net, optimizer=None):
        def step():
            with autocast():
                loss, _ = net.parse_losses(net(images, samples, mode='loss'))
            loss.backward()
            if optimizer is not None:
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        return step

    flops = float('nan') if args.no_flops else count_flops(step_of(model))
    plain_flops = flops if args.no_flops else plain_form_flops(model, step_of(model))
    model.zero_grad(set_to_none=True)
    if args.adamw:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    runner = torch.compile(model) if args.compile else model
    probe = None if args.no_peak else PeakProbe()
    seconds = time_runs_beside_peak(step_of(runner, optimizer), args.warmup, args.runs, probe)
    title = (f'{args.model} train step, batch {args.batch} at {args.size}x{args.size}'
             + (' plain' if args.plain else '') + (' channels-last' if model.channels_last else '')
             + (' compiled' if args.compile else '') + f' {args.precision}'
             + f', {"AdamW" if args.adamw else "SGD"}, {torch.get_num_threads()} threads')
    report(title, seconds, flops, plain_flops, 'step', probe, peak_memory_mib(images.device))


if __name__ == '__main__':
    main()
