"""Export a segmentor to ONNX at a fixed input size and check it against PyTorch.

    python tools/deployment/export_onnx.py CONFIG CKPT --out model.onnx --shape 512 512
    python tools/infer.py model.onnx photos/ --out-dir out        # run it with onnxruntime

The graph takes normalised (B, 3, H, W) float32 images (what `mode='tensor'` takes) and
returns the decode head's logits (B, K, H/4, W/4 for UPerNet), or with --labels-only the
(B, H, W) int64 labels. The file's metadata carries the normalisation, size, classes and
palette that SegInferencer / tools/infer.py use. After writing, onnxruntime and PyTorch run one
random input and the largest logit difference and the label agreement are printed.
Needs `pip install -e '.[export]'` (onnx, onnxruntime, onnxscript).
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file or model folder')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='weights (not needed for a model folder)')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--shape', type=int, nargs=2, required=True, metavar=('H', 'W'),
                        help='input size the graph is fixed to')
    parser.add_argument('--dynamic-batch', action='store_true', help='let the batch size vary')
    parser.add_argument('--labels-only', action='store_true',
                        help='output arg-maxed labels at the input size instead of logits')
    parser.add_argument('--opset', type=int, default=18)
    parser.add_argument('--no-check', action='store_true', help='skip the onnxruntime check')
    args = parser.parse_args(argv)
    if not args.out.endswith('.onnx'):
        raise SystemExit(f'--out must end in .onnx, got {args.out}')
    if min(args.shape) < 32:
        raise SystemExit(f'--shape {args.shape}: the backbones need at least 32 x 32')
    from upertool.apis import init_model
    from upertool.apis.onnx_export import export_onnx
    try:
        model = init_model(args.config, args.checkpoint, device='cpu')
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise SystemExit(f'error: {err}') from None
    result = export_onnx(model, args.out, tuple(args.shape), dynamic_batch=args.dynamic_batch,
                         labels_only=args.labels_only, opset=args.opset,
                         check=not args.no_check)
    print(f'wrote {args.out} ({result.route}, input 1x3x{args.shape[0]}x{args.shape[1]}, '
          f"output {'labels' if args.labels_only else 'logits'})")
    if result.check is not None:
        print(f'onnxruntime vs PyTorch: {result.check.summary()}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
