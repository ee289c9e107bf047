"""Parameters and FLOPs of a config's model, whole and per part, for both UPerHead forms.

    python tools/analysis/get_flops.py configs/upernet/upernet_r50_4xb4-80k_ade20k-512x512.py
    python tools/analysis/get_flops.py CONFIG --shape 512 1024

One 3xHxW image through `mode='tensor'` (backbone, neck, decode head) with random weights,
counted by torch.utils.flop_counter, the counter `benchmarks/bench_inference.py` uses: a
multiply-add is 2 FLOPs (fvcore/mmcv's "FLOPs" count it as 1, so their figures are half).
The auxiliary head runs only in training; its FLOPs are printed apart from the total.
"""
from __future__ import annotations

import argparse
import sys

from upertool.engine.cli import read_config
from upertool.models.utils.flops import PARTS, Complexity, model_complexity

ROWS = (*PARTS, 'other')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Count parameters and FLOPs of a segmentor')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--shape', type=int, nargs='+', default=[512],
                        help='input H W (one value: square); default 512')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.decode_head.num_classes=19')
    args = parser.parse_args(argv)
    if len(args.shape) not in (1, 2) or min(args.shape) < 1:
        parser.error(f'--shape takes H W or one side, positive; got {args.shape}')
    return args


def build_model(config: str, cfg_options: dict | None):
    """The config's model with random weights (no pretrained file is read), in eval mode."""
    import upertool  # noqa: F401  (registers the components)
    from upertool.registry import MODELS
    cfg = read_config(config, cfg_options)
    if 'model' not in cfg:
        raise SystemExit(f'{config}: no `model` in the config')
    model_cfg = cfg.model
    model_cfg.pop('pretrained', None)
    if 'backbone' in model_cfg:
        model_cfg.backbone.pop('init_cfg', None)
        model_cfg.backbone.pop('pretrained', None)
    return MODELS.build(model_cfg).eval()


def _g(value: float) -> str:
    return f'{value / 1e9:.3f}'


def format_report(report: Complexity) -> str:
    """A fixed-layout table: part, parameters (M), GFLOPs default form, GFLOPs plain form."""
    h, w = report.shape
    lines = [f'input 1x3x{h}x{w}; FLOPs = 2 x multiply-adds (torch.utils.flop_counter), '
             "mode='tensor'",
             f'{"part":<16}{"params (M)":>12}{"GFLOPs":>12}{"GFLOPs plain":>14}']
    for part in ROWS:
        if part not in report.params and part not in report.flops:
            continue
        params = report.params.get(part)
        if part == 'auxiliary_head':
            flops = plain = report.aux_flops
        else:
            flops, plain = report.flops.get(part, 0.0), report.plain_flops.get(part, 0.0)
        lines.append(f'{part:<16}{"" if params is None else f"{params / 1e6:.3f}":>12}'
                     f'{_g(flops):>12}{_g(plain):>14}')
    total, plain_total = report.flops['total'], report.plain_flops['total']
    lines.append(f'{"total":<16}{report.params["total"] / 1e6:>12.3f}{_g(total):>12}'
                 f'{_g(plain_total):>14}')
    if report.aux_flops:
        lines.append('(total: inference; the auxiliary head runs in training only and is not '
                     'in it)')
    if plain_total != total:
        lines.append(f'plain form: fpn_bottleneck over the upsampled concatenation '
                     f'(decode_head.low_res_fusion=False); default form does '
                     f'{100 * (1 - total / plain_total):.1f}% fewer FLOPs')
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> Complexity:
    args = parse_args(argv)
    shape = (args.shape[0], args.shape[-1])
    model = build_model(args.config, args.cfg_options)
    report = model_complexity(model, shape)
    print(format_report(report))
    return report


if __name__ == '__main__':
    main(sys.argv[1:])
