"""ONNX export of the shipped model families, checked against PyTorch with onnxruntime.

    python benchmarks/check_onnx_export.py upernet_r50 swin_t convnext_t vit_b fcn quickstart
    python benchmarks/check_onnx_export.py upernet_r50 --size 512 --time 5   # + time per image

Each model is built from its config with random weights and random BatchNorm statistics (the
quickstart one takes `--quickstart-ckpt` when given), exported by
`upertool.apis.onnx_export.export_onnx` at SIZE x SIZE, and run by onnxruntime and PyTorch on
one random input: the largest absolute logit difference (fp32) and the share of pixels whose
labels agree where PyTorch's top-2 margin exceeds 1e-3 are printed. `--time N` then times N
passes of each, interleaved (PyTorch `mode='tensor'` in inference mode, onnxruntime on the CPU
execution provider), one image per pass, and prints the medians.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch
from common import NAMED_CONFIGS, REPO, load_model_config

EXTRA_CONFIGS = {
    'vit_b': 'configs/vit/vit_vit-b16_mln_upernet_8xb2-160k_ade20k-512x512.py',
    'fcn': 'configs/fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024.py',
}


def build(name: str, ckpt: str | None) -> torch.nn.Module:
    from upertool.apis import init_model
    from upertool.registry import MODELS
    path = {**NAMED_CONFIGS, **EXTRA_CONFIGS}.get(name, name)
    if name == 'quickstart' and ckpt:
        return init_model(os.path.join(REPO, path), ckpt)
    torch.manual_seed(0)
    model = MODELS.build(load_model_config(path)).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model


def time_both(model: torch.nn.Module, path: str, size: int, runs: int) -> tuple[float, float]:
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    x = torch.randn(1, 3, size, size)
    feed = {'input': x.numpy()}
    if getattr(model, 'channels_last', False):
        x = x.contiguous(memory_format=torch.channels_last)
    torch_s, ort_s = [], []
    with torch.inference_mode():
        model(x, mode='tensor')
        session.run(None, feed)
        for _ in range(runs):  # interleaved, so both see the same load on shared cores
            start = time.perf_counter()
            model(x, mode='tensor')
            torch_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            session.run(None, feed)
            ort_s.append(time.perf_counter() - start)
    return statistics.median(torch_s), statistics.median(ort_s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('models', nargs='+',
                        help=f"names ({', '.join([*NAMED_CONFIGS, *EXTRA_CONFIGS])}) or configs")
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--quickstart-size', type=int, default=96)
    parser.add_argument('--quickstart-ckpt', default=None)
    parser.add_argument('--time', type=int, default=0, metavar='N', help='timed passes')
    args = parser.parse_args()
    from upertool.apis.onnx_export import export_onnx
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            size = args.quickstart_size if name == 'quickstart' else args.size
            model = build(name, args.quickstart_ckpt)
            path = os.path.join(tmp, f'{os.path.basename(name)}.onnx')
            start = time.perf_counter()
            result = export_onnx(model, path, (size, size))
            check = result.check
            ok = check.max_abs_diff <= 1e-4 and check.margin_agreement == 1.0
            failed |= not ok
            print(f'== {name} {size}x{size} ({result.route}, {model.num_classes} classes, '
                  f'export + check {time.perf_counter() - start:.0f} s): max |logit diff| '
                  f'{check.max_abs_diff:.2e}, labels equal {100 * check.label_agreement:.4f}% '
                  f'({100 * check.margin_agreement:.4f}% where margin > 1e-3) '
                  f"-> {'OK' if ok else 'FAIL'}", flush=True)
            if args.time:
                torch_s, ort_s = time_both(model, path, size, args.time)
                print(f'   time per image (median of {args.time}, interleaved, '
                      f'{torch.get_num_threads()} threads): PyTorch {torch_s:.3f} s, '
                      f'onnxruntime {ort_s:.3f} s', flush=True)
            os.remove(path)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
