"""Inference speed of a segmentor: seconds per image, GFLOP/s, share of the machine's peak.

    python benchmarks/bench_inference.py upernet_r50 --size 512              # mode='tensor'
    python benchmarks/bench_inference.py upernet_r50 --api predict --fuse-conv-bn
    python benchmarks/bench_inference.py upernet_r50 --plain                 # plain fpn_bottleneck
    python benchmarks/bench_inference.py upernet_r50 --size 1024 --api predict --slide 512 341

Random weights, one 3xSxS image, `torch.inference_mode`. The FLOPs are counted with
torch.utils.flop_counter on one call; the "effective" figure divides the plain form's FLOPs
(upsample-concat-conv `fpn_bottleneck`) by the measured time, so it exceeds what the
hardware does when the fast form does fewer multiplications. Peak memory is the process's
peak RSS (CPU) or peak allocated memory (CUDA): run one configuration per process.
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

from upertool.engine.precision import PRECISIONS, autocast_context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_common_args(parser)
    parser.add_argument('--api', choices=('tensor', 'predict'), default='tensor',
                        help="'tensor': backbone + head logits; 'predict': + resize, argmax")
    parser.add_argument('--slide', type=int, nargs=2, metavar=('CROP', 'STRIDE'),
                        help='slide inference with square windows (implies --api predict)')
    parser.add_argument('--batch-windows', type=int, default=1, help='test_cfg.batch_size')
    parser.add_argument('--fuse-conv-bn', action='store_true', help='fold BatchNorm into convs')
    parser.add_argument('--precision', choices=PRECISIONS, default='fp32')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--no-peak', action='store_true', help='skip measuring the peak')
    parser.add_argument('--no-flops', action='store_true',
                        help='skip counting FLOPs (each count is one more full pass)')
    args = parser.parse_args()

    from upertool.models.utils import fuse_conv_bn
    device = torch.device(args.device)
    model = build_model(args).to(device).eval()
    if args.slide:
        args.api = 'predict'
        model.test_cfg = dict(mode='slide', crop_size=(args.slide[0],) * 2,
                              stride=(args.slide[1],) * 2, batch_size=args.batch_windows,
                              return_logits=False)
    elif args.api == 'predict':
        model.test_cfg = dict(mode='whole', return_logits=False)
    if args.fuse_conv_bn:
        fuse_conv_bn(model)
    runner = torch.compile(model) if args.compile else model
    image = torch.randn(1, 3, args.size, args.size, device=device)
    if model.channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    precision = autocast_context(args.precision, device)

    def call(net):
        def run():
            with torch.inference_mode(), precision:
                return net(image, mode=args.api)
        return run

    flops = float('nan') if args.no_flops else count_flops(call(model))
    plain_flops = flops if args.no_flops else plain_form_flops(model, call(model))
    probe = None if args.no_peak else PeakProbe()
    seconds = time_runs_beside_peak(call(runner), args.warmup, args.runs, probe)
    title = (f'{args.model} {args.api} {args.size}x{args.size}'
             + (f' slide {args.slide[0]}/{args.slide[1]}' if args.slide else '')
             + f" {args.precision}{' plain' if args.plain else ''}"
             + (' fuse-conv-bn' if args.fuse_conv_bn else '')
             + (' channels-last' if model.channels_last else '')
             + (' compiled' if args.compile else '')
             + f' on {device.type}, {torch.get_num_threads()} threads')
    report(title, seconds, flops, plain_flops, 'image', probe, peak_memory_mib(device))


if __name__ == '__main__':
    with contextlib.suppress(KeyboardInterrupt):
        main()
