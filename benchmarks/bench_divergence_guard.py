"""What DivergenceGuardHook adds to a training step of a config's model.

    python benchmarks/bench_divergence_guard.py quickstart --batch 8 --steps 30

Builds the model and optimizer of the config, runs `--steps` training steps on a random batch
(after two warm-up steps) with and without the guard's checks, interleaved, and times the
checks themselves: the loss `isfinite`, one fused norm over all gradients, one over the float
buffers (BatchNorm statistics). Prints medians in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import NAMED_CONFIGS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help=f'a config path or one of {", ".join(NAMED_CONFIGS)}')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--steps', type=int, default=30)
    args = parser.parse_args()

    import torch
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    import upertool  # noqa: F401
    from upertool.engine.hooks.divergence_guard import all_finite
    from upertool.registry import MODELS

    cfg = Config.fromfile(str(NAMED_CONFIGS.get(args.config, args.config)))
    init_default_scope('upertool')
    model = MODELS.build(cfg.model)
    model.train()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    size = cfg.model.data_preprocessor.get('size') or (96, 96)
    num_classes = cfg.model.decode_head.num_classes
    from mmengine.structures import PixelData

    from upertool.structures import SegDataSample

    inputs = [torch.randint(0, 255, (3, *size), dtype=torch.uint8) for _ in range(args.batch)]
    samples = []
    for _ in range(args.batch):
        s = SegDataSample(metainfo=dict(img_shape=size, ori_shape=size, pad_shape=size))
        s.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, *size)))
        samples.append(s)
    data = dict(inputs=inputs, data_samples=samples)
    params = [p for g in wrapper.optimizer.param_groups for p in g['params']]
    buffers = [b for b in model.buffers() if b.is_floating_point()]

    def step(guard: bool) -> tuple[float, float]:
        start = time.perf_counter()
        losses = model._run_forward(model.data_preprocessor(data, True), mode='loss')
        loss, _ = model.parse_losses(losses)
        spent = 0.0
        if guard:
            t = time.perf_counter()
            bool(torch.isfinite(loss.detach()).all())
            spent += time.perf_counter() - t
        wrapper.backward(loss)
        if guard:
            t = time.perf_counter()
            all_finite([p.grad for p in params])
            spent += time.perf_counter() - t
        wrapper.step()
        wrapper.zero_grad()
        if guard:
            t = time.perf_counter()
            all_finite(buffers)
            spent += time.perf_counter() - t
        return time.perf_counter() - start, spent

    for _ in range(2):
        step(False)
    plain, guarded, checks = [], [], []
    for _ in range(args.steps):
        plain.append(step(False)[0])
        total, spent = step(True)
        guarded.append(total)
        checks.append(spent)
    ms = lambda xs: 1000 * statistics.median(xs)  # noqa: E731
    print(
        f'{args.config}, batch {args.batch}, {torch.get_num_threads()} threads, '
        f'{sum(p.numel() for p in params) / 1e6:.2f} M parameters in {len(params)} tensors, '
        f'{len(buffers)} float buffers'
    )
    print(
        f'step without guard {ms(plain):.1f} ms, with guard {ms(guarded):.1f} ms (medians); '
        f'the checks themselves {ms(checks):.2f} ms = '
        f'{100 * statistics.median(checks) / statistics.median(plain):.2f}% of a step'
    )


if __name__ == '__main__':
    main()
