"""RunChecksHook: model/data mismatches found before the first step, not at iteration N.

- The decode and auxiliary heads' `num_classes` against the dataset's classes (train, val and
  test sets): a 6-class model on 8 dataset classes otherwise crashes mid-training with a torch
  index error in the loss or the OHEM sampler, and evaluation scores the wrong classes.
- Training with batch size 1 on one process with BatchNorm in training mode: BatchNorm over
  one image is noisy, and over a 1x1 map (UPerHead's PPM pool scale 1) torch stops with
  "Expected more than 1 value per channel" at the first step.
"""

from __future__ import annotations

from typing import Any

from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from torch import nn

from upertool.registry import HOOKS


def unwrap_model(model: nn.Module) -> nn.Module:
    """The segmentor inside DDP / TTA wrappers (what a checkpoint's keys describe)."""
    from mmengine.model import BaseTTAModel, is_model_wrapper

    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def _heads(model: nn.Module) -> list[tuple[str, nn.Module]]:
    heads = []
    for name in ('decode_head', 'auxiliary_head'):
        head = getattr(model, name, None)
        if isinstance(head, nn.ModuleList):
            heads += [(f'{name}[{i}]', h) for i, h in enumerate(head)]
        elif head is not None:
            heads.append((name, head))
    return heads


def check_num_classes(model: nn.Module, dataset: Any, split: str) -> None:
    """Every head's `num_classes` equals the number of the dataset's classes."""
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    if not classes:
        return
    for name, head in _heads(unwrap_model(model)):
        num = getattr(head, 'num_classes', None)
        if num is not None and num != len(classes):
            raise ValueError(
                f'model.{name}.num_classes={num} but the {split} dataset '
                f'({type(dataset).__name__}) has {len(classes)} classes {list(classes)[:10]}; '
                f"set model.{name}.num_classes={len(classes)} (or the dataset's "
                "metainfo.classes to the model's classes)"
            )


def check_batchnorm_batch_size(model: nn.Module, batch_size: int | None) -> None:
    if batch_size != 1 or get_world_size() > 1:
        return
    model = unwrap_model(model)
    model.train()  # as the loop will: backbones with norm_eval=True put their BN in eval here
    bn = [
        name
        for name, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        and m.training
        and any(p.requires_grad for p in m.parameters(recurse=False))
    ]
    if bn:
        raise ValueError(
            f'train_dataloader.batch_size=1 on one process with {len(bn)} BatchNorm layers in '
            f'training mode (e.g. {bn[0]}): BatchNorm cannot normalise over one image '
            '(pooled 1x1 features give "Expected more than 1 value per channel"). Use '
            "batch_size >= 2, or norm_cfg=dict(type='GN', num_groups=...) in the model."
        )


@HOOKS.register_module()
class RunChecksHook(Hook):
    """Check the model against the datasets before training, validation or testing starts."""

    priority = 'VERY_HIGH'

    def before_train(self, runner: Any) -> None:
        loader = runner.train_dataloader
        check_num_classes(runner.model, loader.dataset, 'train')
        check_batchnorm_batch_size(runner.model, getattr(loader, 'batch_size', None))

    def before_val(self, runner: Any) -> None:
        check_num_classes(runner.model, runner.val_dataloader.dataset, 'val')

    def before_test(self, runner: Any) -> None:
        check_num_classes(runner.model, runner.test_dataloader.dataset, 'test')
