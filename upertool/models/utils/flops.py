"""FLOPs and parameters of a segmentor, whole and per part, with one counter for everything.

`tools/analysis/get_flops.py` and `benchmarks/` both count with `count_flops` /
`flops_by_part` below (torch.utils.flop_counter: matmuls and convolutions, 2 FLOPs per
multiply-add), so the figures the tool prints and the ones the benchmarks divide by time agree.
The model is counted as `mode='tensor'` runs it: backbone, neck and decode head; the auxiliary
heads, which only train, are counted separately on the backbone's features.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

PARTS = ('backbone', 'neck', 'decode_head', 'auxiliary_head')


def count_flops(fn: Callable[[], object]) -> float:
    """FLOPs of one call of `fn` as torch.utils.flop_counter counts them."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return float(counter.get_total_flops())


def flops_by_part(model: nn.Module, fn: Callable[[], object],
                  rest: str = 'other') -> tuple[float, dict[str, float]]:
    """Total FLOPs of `fn` and the share of each direct child of `model` called as a module.

    The counter attributes work to a module only when it is called (`module(x)`, which fires
    the hooks it tracks with); work outside those calls is put under `rest`. A segmentor's
    `mode='tensor'` calls `decode_head.forward` directly, so with rest='decode_head' the head
    gets what the backbone and neck did not do.
    """
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    counts = counter.get_flop_counts()
    root = type(model).__name__
    total = float(counter.get_total_flops())
    parts = {}
    for name, _ in model.named_children():
        ops = counts.get(f'{root}.{name}')
        if ops and name != rest:
            parts[name] = float(sum(ops.values()))
    remainder = total - sum(parts.values())
    if remainder:
        parts[rest] = remainder
    return total, parts


@contextlib.contextmanager
def plain_form(model: nn.Module) -> Iterator[bool]:
    """Run a UPerHead with the plain upsample-concat `fpn_bottleneck` inside the block.

    Yields whether anything was switched (False for heads without the low-resolution form).
    The switch is a runtime flag, so no copy of the model is made.
    """
    head = getattr(model, 'decode_head', None)
    switched = bool(getattr(head, 'low_res_fusion', False))
    if switched:
        head.low_res_fusion = False
    try:
        yield switched
    finally:
        if switched:
            head.low_res_fusion = True


def count_params(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


@dataclass
class Complexity:
    """What `model_complexity` measured; FLOPs per image, parameters per part."""

    shape: tuple[int, int]
    params: dict[str, int]
    flops: dict[str, float]  # 'total' plus one entry per part, the fast (default) form
    plain_flops: dict[str, float] = field(default_factory=dict)  # same for the plain form
    aux_flops: float = 0.0  # training only, not in 'total'


def _aux_flops(model: nn.Module, image: torch.Tensor) -> float:
    aux = getattr(model, 'auxiliary_head', None)
    if aux is None:
        return 0.0
    feats = model.extract_feat(image)
    heads = aux if isinstance(aux, nn.ModuleList) else [aux]
    return sum(count_flops(lambda h=h: h(feats)) for h in heads)


def model_complexity(model: nn.Module, shape: tuple[int, int]) -> Complexity:
    """Count a segmentor's FLOPs for one 3xHxW image, in both forms, and its parameters.

    Args:
        model: an `EncoderDecoder`-like segmentor (children backbone / neck / decode_head /
            auxiliary_head), in eval mode.
        shape: (H, W) of the input.
    """
    image = torch.randn(1, 3, *shape)
    if getattr(model, 'channels_last', False):
        image = image.contiguous(memory_format=torch.channels_last)

    def run() -> object:
        return model(image, mode='tensor')

    params = {part: count_params(getattr(model, part, None)) for part in PARTS
              if getattr(model, part, None) is not None}
    params['total'] = count_params(model)
    with torch.inference_mode():
        total, parts = flops_by_part(model, run, rest='decode_head')
        with plain_form(model) as switched:
            plain_total, plain_parts = (flops_by_part(model, run, rest='decode_head')
                                        if switched else (total, parts))
        aux = _aux_flops(model, image)
    return Complexity(shape=tuple(shape), params=params, flops={'total': total, **parts},
                      plain_flops={'total': plain_total, **plain_parts}, aux_flops=aux)
