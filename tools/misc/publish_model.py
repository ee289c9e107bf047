"""Prepare a checkpoint for release, as mmsegmentation's publish_model.py.

    python tools/misc/publish_model.py work_dirs/x/iter_80000.pth release/upernet_r50

keeps the weights and `meta` (without the config text's training-only state), drops the
optimizer, parameter schedulers and message hub, and writes
`release/upernet_r50-<first 8 hex digits of the file's sha256>.pth` and `.safetensors`
(each named by its own content's hash, so `sha256sum` checks the name).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import os.path as osp
import sys

DROPPED = ('optimizer', 'param_schedulers', 'message_hub', 'optim_wrapper')


def plain_meta(meta: dict) -> dict:
    """The meta without what cannot be read back by the safe loader (only plain values)."""
    def keep(value):
        if isinstance(value, dict):
            return {str(k): keep(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [keep(v) for v in value]
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        return str(value)
    return keep(meta)


def publish(src: str, prefix: str) -> list[str]:
    """Write the two files; returns their paths."""
    import torch
    from safetensors.torch import save as save_safetensors

    from upertool.checkpoint import load_checkpoint_file
    from upertool.checkpoint.atomic_io import atomic_write
    checkpoint = load_checkpoint_file(src)
    state = checkpoint.get('state_dict', checkpoint)
    state = {k: v.contiguous() for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise SystemExit(f'{src} holds no weights')
    meta = plain_meta(dict(checkpoint.get('meta') or {}))
    buffer = io.BytesIO()
    torch.save(dict(meta=meta, state_dict=state), buffer)
    safetensors_meta = dict(format='pt', meta=json.dumps(meta.get('dataset_meta') or {}))
    outputs = []
    for suffix, data in (('.pth', buffer.getvalue()),
                         ('.safetensors', save_safetensors(state, safetensors_meta))):
        path = f'{prefix}-{hashlib.sha256(data).hexdigest()[:8]}{suffix}'
        os.makedirs(osp.dirname(path) or '.', exist_ok=True)
        atomic_write(path, lambda f, data=data: f.write(data))
        outputs.append(path)
    return outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('in_file', help='checkpoint to publish')
    parser.add_argument('out_prefix', help='output path without suffix; -<hash> is appended')
    args = parser.parse_args(argv)
    if not osp.isfile(args.in_file):
        raise SystemExit(f'checkpoint not found: {args.in_file}')
    for path in publish(args.in_file, args.out_prefix):
        print(f'wrote {path} ({osp.getsize(path) / 2 ** 20:.1f} MiB)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
