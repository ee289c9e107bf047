"""UPPHead: the multi-task head of Unified Perceptual Parsing (Xiao et al. 2018).

One trunk, UPerHead's (PPM on the last level, FPN, fusion of all levels), and a branch
per task, each a 3x3 conv-norm-act and a 1x1 classifier, as the authors' code
(CSAILVision/unifiedparsing, models/models.py):

    PPM output (P5) -> scene_conv -> global average pool -> scene_cls   (B, S)
    P2              -> material_conv -> material_cls                    (B, M, h2, w2)
    fused P2..P5    -> object_conv -> conv_seg (the object classifier)  (B, K, h2, w2)
    fused P2..P5    -> part_conv -> part_cls                            (B, sum parts, ..)

A forward pass computes only the branches asked for (and the trunk parts they need),
so a batch from a source that annotates materials only never runs the fusion.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from upertool.models.losses import accuracy
from upertool.models.losses.part_loss import part_groups_slices
from upertool.models.utils import ConvModule, resize
from upertool.registry import MODELS
from upertool.structures import TASKS

from .uper_head import UPerHead


def _check_part_groups(part_groups: Any, num_classes: int) -> tuple[list[int], list[int]]:
    """[(object class, number of parts), ...] -> (objects, sizes), checked."""
    objects, sizes = [], []
    for entry in part_groups:
        if (not isinstance(entry, (list, tuple)) or len(entry) != 2
                or not all(isinstance(v, int) for v in entry)):
            raise ValueError(f'UPPHead: part_groups entries must be (object class, number of '
                             f'parts) pairs of ints, got {entry!r}')
        obj, size = entry
        if not 0 <= obj < num_classes or size < 1:
            raise ValueError(f'UPPHead: part group {entry!r} needs an object class in '
                             f'[0, {num_classes}) and at least one part')
        if obj in objects:
            raise ValueError(f'UPPHead: object class {obj} has two part groups')
        objects.append(obj)
        sizes.append(size)
    return objects, sizes


@MODELS.register_module()
class UPPHead(UPerHead):
    """UPerNet's multi-task head: object, part, scene and material branches.

    Args:
        in_channels: channels of each selected level, finest first.
        channels: width of the trunk and of every branch (the reference's `fpn_dim`).
        num_classes: object classes (the object branch's classifier is `conv_seg`; the part
            groups name them too).
        object_branch: False: no object branch (no `object_conv` / `conv_seg`). Refused with
            a part branch, which needs it: its loss reads ground-truth objects, which only
            sources declaring 'object' keep, and its per-object groups become a part map
            only through the predicted objects (inference, overlays).
        num_scene_classes: scene classes; None: no scene branch.
        num_material_classes: material classes; None: no material branch.
        part_groups: (object class, number of parts) per object that has parts; each
            group is a separate softmax. None or empty: no part branch.
        loss_scene: loss config of the scene branch (its `loss_weight` is the task's).
        loss_material: loss config of the material branch.
        loss_part: loss config of the part branch (`PartLoss`).
        scene_ignore_index: scene label that is not annotated.
        part_ignore_index: part label of object pixels without a part annotation.
        in_index: the backbone levels used; all of them when omitted (as UPerHead).
        **head_args: UPerHead's arguments (pool_scales, ppm_channels, ppm_pooling,
            ppm_order, low_res_fusion, norm_cfg, loss_decode (the object loss),
            ignore_index (objects and materials), align_corners, ...).
    """

    def __init__(self, *, in_channels: Sequence[int], channels: int, num_classes: int,
                 object_branch: bool = True, num_scene_classes: int | None = None,
                 num_material_classes: int | None = None,
                 part_groups: Sequence[Sequence[int]] | None = None,
                 loss_scene: dict = dict(type='CrossEntropyLoss', loss_weight=0.25),
                 loss_material: dict = dict(type='CrossEntropyLoss', loss_weight=1.0,
                                            avg_non_ignore=True),
                 loss_part: dict = dict(type='PartLoss', loss_weight=0.5),
                 scene_ignore_index: int = -1, part_ignore_index: int = 255,
                 in_index: Sequence[int] | None = None, **head_args: Any) -> None:
        head_args.setdefault('dropout_ratio', 0.0)  # the reference has no dropout
        super().__init__(in_channels=in_channels, channels=channels, num_classes=num_classes,
                         in_index=in_index, **head_args)
        convs = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.tasks: tuple[str, ...] = ()
        self.part_objects, self.part_sizes = _check_part_groups(part_groups or (), num_classes)
        if object_branch:
            self.object_conv = ConvModule(channels, channels, 3, padding=1, **convs)
            self.tasks += ('object',)
        else:
            self._drop_object_classifier(bool(self.part_sizes))
        self.num_scene_classes = num_scene_classes
        self.num_material_classes = num_material_classes
        for task, out_channels, loss in (
                ('part', sum(self.part_sizes) or None, loss_part),
                ('scene', num_scene_classes, loss_scene),
                ('material', num_material_classes, loss_material)):
            if out_channels is not None:
                self._add_branch(task, out_channels, loss, convs)
        if not self.tasks:
            raise ValueError('UPPHead: every branch is off (object_branch=False and no '
                             'part_groups, num_scene_classes or num_material_classes)')
        self.scene_ignore_index = scene_ignore_index
        self.part_ignore_index = part_ignore_index

    def _drop_object_classifier(self, has_parts: bool) -> None:
        """object_branch=False: remove `conv_seg` (and its init override)."""
        if has_parts:
            raise ValueError(
                'UPPHead: object_branch=False with part_groups is not supported: the part '
                "branch needs the object branch (its loss reads ground-truth objects, which "
                "only sources that declare 'object' keep, and a model without an object head "
                'refuses such sources; its per-object part groups become a part map only '
                'through the predicted objects). Drop part_groups or keep the object branch.')
        del self.conv_seg
        cfg = self.init_cfg if isinstance(self.init_cfg, dict) else {}
        if (cfg.get('override') or {}).get('name') == 'conv_seg':
            self.init_cfg = None  # the default init only targets conv_seg

    def _add_branch(self, task: str, out_channels: int, loss: dict, convs: dict) -> None:
        """`<task>_conv` (3x3 conv-norm-act), `<task>_cls` (1x1) and `loss_<task>`."""
        setattr(self, f'{task}_conv', ConvModule(self.channels, self.channels, 3, padding=1,
                                                 **convs))
        setattr(self, f'{task}_cls', nn.Conv2d(self.channels, out_channels, 1))
        setattr(self, f'loss_{task}', MODELS.build(loss))
        self.tasks += (task,)

    def check_tasks(self, tasks: Iterable[str]) -> tuple[str, ...]:
        """`tasks` as a tuple, or a ValueError naming a task this head has no branch for."""
        tasks = tuple(tasks)
        unknown = [t for t in tasks if t not in self.tasks]
        if unknown:
            kind = 'unknown task' if any(t not in TASKS for t in unknown) else 'no branch for'
            raise ValueError(f'UPPHead: {kind} {unknown}; this head has {list(self.tasks)}')
        return tasks

    def forward(self, inputs: Sequence[Tensor],
                tasks: Iterable[str] | None = None) -> dict[str, Tensor]:
        """Backbone levels -> {task: logits} for `tasks` (default: all of this head's).

        Returns:
            'object' (B, K, h2, w2), 'part' (B, sum parts, h2, w2), 'material'
            (B, M, h2, w2), 'scene' (B, S), at the finest level's resolution.
        """
        tasks = self.check_tasks(self.tasks if tasks is None else tasks)
        inputs = self._transform_inputs(inputs)
        top = self.psp_forward(inputs)
        out: dict[str, Tensor] = {}
        if 'scene' in tasks:
            out['scene'] = self.scene_cls(self.scene_conv(top).mean((2, 3), keepdim=True))
            out['scene'] = out['scene'].flatten(1)
        if not {'object', 'part', 'material'} & set(tasks):
            return out
        fpn_outs = self._fpn_levels(inputs, top)
        if 'material' in tasks:
            out['material'] = self.material_cls(self.material_conv(fpn_outs[0]))
        if 'object' in tasks or 'part' in tasks:
            fused = self._fuse_levels(fpn_outs)
            if 'object' in tasks:
                out['object'] = self.cls_seg(self.object_conv(fused))
            if 'part' in tasks:
                out['part'] = self.part_cls(self.part_conv(fused))
        return out

    def part_log_probs(self, part_logits: Tensor) -> list[Tensor]:
        """(B, sum parts, ...) -> per group log-softmax over its own channels."""
        return [torch.log_softmax(part_logits[:, sl], dim=1)
                for sl in part_groups_slices(self.part_sizes)]

    # ------------------------------------------------------------------------- loss
    def loss(self, inputs: Sequence[Tensor], batch_data_samples: Sequence[Any],
             train_cfg: dict | None = None, tasks: Iterable[str] | None = None
             ) -> dict[str, Tensor]:
        """Losses `<task>.loss_*` (and accuracies) of `tasks` only."""
        tasks = self.check_tasks(self.tasks if tasks is None else tasks)
        logits = self.forward(inputs, tasks)
        losses: dict[str, Tensor] = {}
        if 'object' in tasks:
            for name, value in self.loss_by_feat(logits['object'], batch_data_samples).items():
                losses[f'object.{name}'] = value
        if 'material' in tasks:
            losses.update(self._dense_loss('material', logits['material'], batch_data_samples,
                                           self.loss_material))
        if 'scene' in tasks:
            label = torch.cat([s.gt_scene_label.label for s in batch_data_samples]).long()
            label = label.to(logits['scene'].device)
            losses[f'scene.{self.loss_scene.loss_name}'] = self.loss_scene(
                logits['scene'].float(), label, ignore_index=self.scene_ignore_index)
            losses['scene.acc'] = accuracy(logits['scene'], label,
                                           ignore_index=self.scene_ignore_index)
        if 'part' in tasks:
            losses.update(self._part_loss(logits['part'], batch_data_samples))
        return losses

    def _stack(self, batch_data_samples: Sequence[Any], field: str) -> Tensor:
        maps = [getattr(s, field).data for s in batch_data_samples]
        shapes = {tuple(m.shape) for m in maps}
        if len(shapes) != 1:
            raise ValueError(f'UPPHead: {field} shapes differ within the batch '
                             f'{sorted(shapes)}; pad them to one size')
        return torch.stack(maps).squeeze(1).long()

    def _dense_loss(self, task: str, logits: Tensor, batch_data_samples: Sequence[Any],
                    loss_fn: nn.Module) -> dict[str, Tensor]:
        label = self._stack(batch_data_samples, f'gt_{task}_seg').to(logits.device)
        logits = resize(logits.float(), size=label.shape[1:], mode='bilinear',
                        align_corners=self.align_corners)
        return {f'{task}.{loss_fn.loss_name}': loss_fn(logits, label,
                                                       ignore_index=self.ignore_index),
                f'{task}.acc_seg': accuracy(logits, label, ignore_index=self.ignore_index)}

    def _part_loss(self, logits: Tensor, batch_data_samples: Sequence[Any]
                   ) -> dict[str, Tensor]:
        part = self._stack(batch_data_samples, 'gt_part_seg').to(logits.device)
        objects = self._stack(batch_data_samples, 'gt_sem_seg').to(logits.device)
        valid = torch.stack([s.gt_part_valid if 'gt_part_valid' in s
                             else torch.ones(len(self.part_objects), dtype=torch.bool)
                             for s in batch_data_samples]).to(logits.device)
        if valid.shape[1] != len(self.part_objects):
            raise ValueError(f'UPPHead: gt_part_valid has {valid.shape[1]} groups, the head '
                             f'{len(self.part_objects)}')
        logits = resize(logits.float(), size=part.shape[1:], mode='bilinear',
                        align_corners=self.align_corners)
        loss = self.loss_part(logits, part, objects, valid, self.part_objects,
                              self.part_sizes, ignore_index=self.part_ignore_index)
        return {f'part.{self.loss_part.loss_name}': loss}

    # ---------------------------------------------------------------------- predict
    def predict(self, inputs: Sequence[Tensor], batch_img_metas: Sequence[dict],
                test_cfg: dict | None = None) -> dict[str, Tensor]:
        """Every task's logits, the dense ones resized to the (padded) input size."""
        logits = self.forward(inputs)
        return {task: value if task == 'scene' else self.predict_by_feat(value, batch_img_metas)
                for task, value in logits.items()}
