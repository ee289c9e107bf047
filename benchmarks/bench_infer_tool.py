"""tools/infer.py's throughput on a folder of images against the model's own time.

    python benchmarks/bench_infer_tool.py quickstart --ckpt work_dirs/quickstart/iter_2400.pth
    python benchmarks/bench_infer_tool.py upernet_r50 --images 40

Generates IMAGES 512x512 JPEGs (shapes on textured backgrounds), saves the model as a model
folder (random weights unless --ckpt), and alternates ROUNDS times between
  (a) the pure model time as benchmarks/bench_inference.py measures it: `mode='tensor'` on
      one 1x3xSxS input in inference mode (the config's channels-last setting), and
  (b) `tools/infer.py MODEL_DIR <a slice of the folder> --out-dir ...` (decoding, the test
      pipeline, the forward pass, resizing and arg-max to the original size, palette PNG and
      overlay writing), whose own images/s line is parsed,
so both see the same load on a shared machine. It prints images/s of each per round and the
tool's share of the model's rate: per round (the median of those is the figure least moved by
other work on the machine) and over all rounds. The tool runs with
`--cfg-options model.test_cfg.auto_slide=False`, so that an input much larger than the training
crop (the quickstart model's 96 px at 512 px) runs the same whole-image forward pass as the
model-alone figure instead of switching to windows.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import statistics
import sys
import tempfile
import time

import cv2
import numpy as np
import torch
from common import NAMED_CONFIGS, REPO

SUMMARY = re.compile(r'done: (\d+) images/frames, failed: (\d+).*\(([\d.]+) s\)')


def make_images(folder: str, count: int, size: int, seed: int = 0, prefix: str = '') -> None:
    """`count` JPEGs of coloured shapes on noisy backgrounds."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for k in range(count):
        image = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
        for _ in range(rng.integers(3, 7)):
            colour = tuple(int(c) for c in rng.integers(60, 256, 3))
            centre = tuple(int(c) for c in rng.integers(0, size, 2))
            radius = int(rng.integers(size // 20, size // 5))
            if rng.random() < 0.5:
                cv2.circle(image, centre, radius, colour, -1)
            else:
                cv2.rectangle(image, centre, (centre[0] + radius, centre[1] + radius), colour, -1)
        cv2.imwrite(os.path.join(folder, f'{prefix}{k:05d}.jpg'), image,
                    [cv2.IMWRITE_JPEG_QUALITY, 90])


def pure_model_seconds(model: torch.nn.Module, size: int, runs: int) -> list[float]:
    """bench_inference.py's measurement: mode='tensor', batch 1, inference mode."""
    image = torch.randn(1, 3, size, size)
    if getattr(model, 'channels_last', False):
        image = image.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        model(image, mode='tensor')  # warm-up
        for _ in range(runs):
            start = time.perf_counter()
            model(image, mode='tensor')
            times.append(time.perf_counter() - start)
    return times


def run_tool(infer, model_dir: str, folder: str, out_dir: str, batch: int) -> tuple[int, float]:
    """(images done, seconds) from tools/infer.py's own summary line."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = infer.main([model_dir, folder, '--out-dir', out_dir, '--batch-size', str(batch),
                         '--no-progress', '--device', 'cpu',
                         '--cfg-options', 'model.test_cfg.auto_slide=False'])
    match = SUMMARY.search(stdout.getvalue())
    if rc != 0 or match is None or int(match.group(2)):
        sys.exit(f'tools/infer.py failed (exit {rc}):\n{stdout.getvalue()}')
    return int(match.group(1)), float(match.group(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('model', help=f"one of {', '.join(NAMED_CONFIGS)} or a config path")
    parser.add_argument('--ckpt', default=None, help='weights (default: random)')
    parser.add_argument('--images', type=int, default=200)
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--rounds', type=int, default=4, help='alternations of (a) and (b)')
    parser.add_argument('--pure-runs', type=int, default=5, help='model passes per round')
    args = parser.parse_args()

    import importlib.util

    from upertool.apis import init_model, save_model
    spec = importlib.util.spec_from_file_location('infer_tool', os.path.join(REPO, 'tools',
                                                                              'infer.py'))
    infer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(infer)
    config = os.path.join(REPO, NAMED_CONFIGS.get(args.model, args.model))
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model = init_model(config, args.ckpt)
        model_dir = save_model(model, os.path.join(tmp, 'model'))
        model = init_model(model_dir)  # what the tool runs, loaded the same way
        per_round = -(-args.images // args.rounds)
        for r in range(args.rounds):
            count = min(per_round, args.images - r * per_round)
            make_images(os.path.join(tmp, 'in', f'round{r}'), count, args.size, seed=r,
                        prefix=f'r{r}_')
        pure, tool_images, tool_seconds, ratios = [], 0, 0.0, []
        for r in range(args.rounds):
            times = pure_model_seconds(model, args.size, args.pure_runs)
            pure.extend(times)
            done, seconds = run_tool(infer, model_dir, os.path.join(tmp, 'in', f'round{r}'),
                                     os.path.join(tmp, 'out'), args.batch_size)
            tool_images += done
            tool_seconds += seconds
            ratios.append(done / seconds * statistics.median(times))
            print(f'round {r}: model {1 / statistics.median(times):.3f} images/s (median of '
                  f'{len(times)}), tools/infer.py {done / seconds:.3f} images/s ({done} '
                  f'images, {seconds:.1f} s) = {100 * ratios[-1]:.1f}%', flush=True)
        written = sum(len(files) for _, _, files in os.walk(os.path.join(tmp, 'out')))
    model_rate = 1 / statistics.median(pure)
    tool_rate = tool_images / tool_seconds
    print(f'== {args.model} {args.size}x{args.size} batch {args.batch_size}, '
          f'{torch.get_num_threads()} threads: {tool_images} images ({written} files written)')
    print(f'  model alone (mode=tensor, median of {len(pure)}): {model_rate:.3f} images/s '
          f'({statistics.median(pure):.4f} s/image)')
    print(f'  tools/infer.py: {tool_rate:.3f} images/s ({tool_seconds / tool_images:.4f} '
          f's/image) = {100 * tool_rate / model_rate:.1f}% of the model alone; per round '
          f'median {100 * statistics.median(ratios):.1f}% '
          f"({', '.join(f'{100 * r:.0f}' for r in ratios)})")


if __name__ == '__main__':
    main()
