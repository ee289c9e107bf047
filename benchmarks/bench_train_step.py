"""One training step (forward + backward + optimizer step) of a segmentor.

    python benchmarks/bench_train_step.py upernet_r50 --size 512 --batch 2
    python benchmarks/bench_train_step.py quickstart --size 96 --batch 8 --channels-last

Random weights and labels, the config's losses (auxiliary heads included), SGD(0.01, 0.9)
unless --adamw. Seconds per step, GFLOP/s (flop_counter over forward + backward) and the
effective figure for the plain-form work, as bench_inference.py.
"""
from __future__ import annotations

import argparse

import torch
from common import (
    add_common_args,
    build_model,
    count_flops,
    machine_peak_gflops,
    peak_memory_mib,
    plain_form_flops,
    report,
    time_runs,
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
    args = parser.parse_args()

    model = build_model(args).train()
    images = torch.randn(args.batch, 3, args.size, args.size)
    labels = torch.randint(0, model.num_classes, (args.batch, args.size, args.size))
    samples = samples_for(labels)

    def step_of(net, optimizer=None):
        def step():
            loss, _ = net.parse_losses(net(images, samples, mode='loss'))
            loss.backward()
            if optimizer is not None:
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        return step

    flops = count_flops(step_of(model))
    plain_flops = plain_form_flops(model, step_of(model))
    model.zero_grad(set_to_none=True)
    if args.adamw:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    runner = torch.compile(model) if args.compile else model
    seconds = time_runs(step_of(runner, optimizer), args.warmup, args.runs)
    peak = None if args.no_peak else machine_peak_gflops()
    title = (f'{args.model} train step, batch {args.batch} at {args.size}x{args.size}'
             + (' plain' if args.plain else '') + (' channels-last' if model.channels_last else '')
             + (' compiled' if args.compile else '')
             + f', {"AdamW" if args.adamw else "SGD"}, {torch.get_num_threads()} threads')
    report(title, seconds, flops, plain_flops, 'step', peak, peak_memory_mib(images.device))


if __name__ == '__main__':
    main()
