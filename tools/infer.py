"""Segment images, folders, globs, videos or a camera with a trained model; no dataset config.

    python tools/infer.py CONFIG CKPT photos/ --out-dir out              # pred/ + vis/
    python tools/infer.py MODEL_DIR clip.mp4 --out-dir out --save-masks  # overlay video + masks
    python tools/infer.py model.onnx photos/ --out-dir out --backend onnxruntime
    python tools/infer.py CONFIG CKPT 0 --out-dir out                    # camera 0

MODEL is a config (with WEIGHTS), a folder from save_model or a Hugging Face UperNet folder,
or an .onnx file from tools/deployment/export_onnx.py. An input that cannot be read is
reported and skipped; the exit status is then 1. A missing path, unsupported suffix or
unreadable video stops at once.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('model', help='config file, model folder, or .onnx file')
    parser.add_argument('inputs', nargs='+', metavar='[WEIGHTS] INPUT',
                        help='a checkpoint (after a config), then images, folders, globs, '
                             'videos, or a camera index')
    parser.add_argument('--out-dir', required=True, help='where pred/ and vis/ are written')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--opacity', type=float, default=0.8, help='overlay colour weight')
    parser.add_argument('--no-labels', action='store_true',
                        help='do not write class names inside the regions')
    parser.add_argument('--save-masks', action='store_true',
                        help='videos: also write each frame as a class-index PNG')
    parser.add_argument('--tta', action='store_true',
                        help="merge the config's tta_pipeline views (SegTTAModel)")
    parser.add_argument('--precision', default=None, help='fp32, bf16 or fp16 (autocast)')
    parser.add_argument('--device', default=None, help='cpu, cuda, cuda:1 (default: cuda if any)')
    parser.add_argument('--backend', choices=('torch', 'onnxruntime'), default=None,
                        help='default: onnxruntime for an .onnx model, else torch')
    parser.add_argument('--cfg-options', nargs='+', default=None, metavar='KEY=VALUE',
                        help='overrides merged into the config')
    parser.add_argument('--no-progress', action='store_true')
    return parser.parse_args(argv)


def split_weights(model: str, inputs: list[str]) -> tuple[str | None, list[str]]:
    """The first positional after a config file is its weights when it is a checkpoint."""
    if model.endswith('.py') and inputs and inputs[0].endswith(
            ('.pth', '.pt', '.bin', '.ckpt', '.safetensors')):
        return inputs[0], inputs[1:]
    return None, inputs


def check_backend(model: str, backend: str | None) -> None:
    is_onnx = model.endswith('.onnx')
    if backend == 'onnxruntime' and not is_onnx:
        raise SystemExit(f'--backend onnxruntime needs an .onnx model (export one with '
                         f'tools/deployment/export_onnx.py), got {model}')
    if backend == 'torch' and is_onnx:
        raise SystemExit(f'--backend torch cannot run {model}; give the config and weights')


def cfg_options(pairs: list[str] | None) -> dict | None:
    if not pairs:
        return None
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    return parser.parse_args(['--o', *pairs]).o


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    weights, inputs = split_weights(args.model, args.inputs)
    if not inputs:
        raise SystemExit('no INPUT given (images, folders, globs, videos or a camera index)')
    check_backend(args.model, args.backend)
    from upertool.apis import SegInferencer
    from upertool.apis.inferencer import DrawOptions, RunStats
    from upertool.apis.inputs import collect_inputs
    from upertool.apis.video import segment_video

    videos = [p for p in inputs if p.lower().endswith(VIDEO_SUFFIXES)]
    cameras = [int(p) for p in inputs if p.isdigit() and not osp.exists(p)]
    images = [p for p in inputs if p not in videos and not (p.isdigit() and not osp.exists(p))]
    for video in videos:
        if not osp.isfile(video):
            raise SystemExit(f'input not found: {video}')
    try:  # every input is checked before the model is built
        items, skipped = collect_inputs(images) if images else ([], [])
        inferencer = SegInferencer(args.model, weights, device=args.device, tta=args.tta,
                                   precision=args.precision, cfg_options=cfg_options(
                                       args.cfg_options))
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise SystemExit(f'error: {err}') from None
    draw = DrawOptions(args.opacity, not args.no_labels)
    progress = not args.no_progress
    total = RunStats(skipped=list(skipped))
    if items:
        for _ in inferencer.run(items, args.batch_size, args.out_dir, draw, progress=progress,
                                skipped=skipped):
            pass
        _add(total, inferencer.stats)
    for source in [*videos, *cameras]:
        try:
            frames = segment_video(inferencer, source, args.out_dir, args.batch_size, draw,
                                   args.save_masks, progress)
        except (FileNotFoundError, ValueError) as err:
            raise SystemExit(f'error: {err}') from None
        except RuntimeError as err:
            total.failed.append((str(source), str(err)))
            print(f'failed: {err}', file=sys.stderr)
            continue
        total.done += frames
        total.seconds += inferencer.stats.seconds
    print(f'done: {total.done} images/frames, failed: {len(total.failed)}, skipped (not '
          f'images): {len(total.skipped)}; {total.per_second:.2f} images/s '
          f'({total.seconds:.2f} s); outputs in {os.path.abspath(args.out_dir)}')
    for name, reason in total.failed:
        print(f'  failed: {name}: {reason}')
    return 1 if total.failed else 0


def _add(total, stats) -> None:
    total.done += stats.done
    total.failed.extend(stats.failed)
    total.seconds += stats.seconds


if __name__ == '__main__':
    sys.exit(main())
