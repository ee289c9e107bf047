"""MultiTaskEncoderDecoder: Unified Perceptual Parsing's segmentor (Xiao et al. 2018).

Training batches come from one data source each (see `SourceBatchSampler`); the source
says which tasks it annotates (`metainfo['tasks']`), and only those heads run and only
their losses are computed, so a material-only batch never touches the object branch and
no task gets fake labels:

    loss():    check the batch -> extract_feat() -> decode_head.loss(tasks)   `<task>.loss_*`
    predict(): every task -> MultiTaskSegDataSample with pred_sem_seg (objects),
               pred_part_seg, pred_material_seg, pred_scene_label
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.structures import LabelData, PixelData
from torch import Tensor

from upertool.models.losses.part_loss import part_groups_slices
from upertool.registry import MODELS
from upertool.structures import TASK_GT_FIELDS, MultiTaskSegDataSample

from .encoder_decoder import EncoderDecoder, add_prefix
from .inference import restore_logits


def _where(sample) -> str:
    """The files a sample came from, for error messages."""
    meta = sample.metainfo
    return str(meta.get('img_path') or meta.get('seg_map_path') or '<no file name>')


@MODELS.register_module()
class MultiTaskEncoderDecoder(EncoderDecoder):
    """Backbone + `UPPHead`; each batch trains the tasks its source annotates.

    Args: EncoderDecoder's; `decode_head` must be a multi-task head (`UPPHead`), and
    `test_cfg.mode` must be 'whole'. An auxiliary head, if any, supervises objects and
    runs only on batches that annotate objects (so it needs the object branch).
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if not hasattr(self.decode_head, 'check_tasks'):
            raise TypeError(f'MultiTaskEncoderDecoder: decode_head must be a multi-task head '
                            f'(UPPHead), got {type(self.decode_head).__name__}')
        if self._slide_settings() is not None:
            raise ValueError("MultiTaskEncoderDecoder: test_cfg.mode must be 'whole'")
        if self.with_auxiliary_head and 'object' not in self.decode_head.tasks:
            raise ValueError('MultiTaskEncoderDecoder: the auxiliary head supervises objects '
                             'and runs only on object batches, but decode_head has no object '
                             'branch (object_branch=False); drop auxiliary_head')

    # ----------------------------------------------------------------------- checks
    def batch_tasks(self, data_samples: Sequence[MultiTaskSegDataSample]) -> tuple[str, ...]:
        """The tasks of the batch's one source, with errors naming source, file and value."""
        sources = {s.metainfo.get('source') for s in data_samples}
        if len(sources) != 1:
            firsts = {}
            for s in data_samples:
                firsts.setdefault(s.metainfo.get('source'), _where(s))
            raise ValueError(f'MultiTaskEncoderDecoder: a training batch mixes sources '
                             f'{firsts} (source: first file); use SourceBatchSampler so that '
                             'each batch comes from one source')
        source = sources.pop()
        tasks = data_samples[0].metainfo.get('tasks')
        if not tasks:
            raise ValueError(f'MultiTaskEncoderDecoder: sample {_where(data_samples[0])} (source '
                             f'{source!r}) has no metainfo "tasks"; multi-task datasets set it')
        head_tasks = self.decode_head.tasks
        missing = [t for t in tasks if t not in head_tasks]
        if missing:
            raise ValueError(f'MultiTaskEncoderDecoder: source {source!r} annotates {missing}, '
                             f'for which the model has no head (it has {list(head_tasks)}); '
                             f'first file {_where(data_samples[0])}')
        for sample in data_samples:
            for task in tasks:
                if TASK_GT_FIELDS[task] not in sample:
                    raise ValueError(f'source {source!r} annotates {task!r} but sample '
                                     f'{_where(sample)} has no {TASK_GT_FIELDS[task]}')
            self._check_labels(sample, tasks, source)
        return tuple(tasks)

    def _check_labels(self, sample: MultiTaskSegDataSample, tasks: Sequence[str],
                      source: str) -> None:
        head = self.decode_head
        if 'scene' in tasks:
            label = int(sample.gt_scene_label.label.flatten()[0])
            if label != head.scene_ignore_index and not 0 <= label < head.num_scene_classes:
                raise ValueError(f'source {source!r}, {_where(sample)}: scene label {label} is '
                                 f'outside [0, {head.num_scene_classes}) and is not '
                                 f'{head.scene_ignore_index} (unlabelled)')
        if 'part' in tasks:
            parts, objects = sample.gt_part_seg.data[0], sample.gt_sem_seg.data[0]
            for obj, size in zip(head.part_objects, head.part_sizes, strict=True):
                values = parts[(objects == obj) & (parts != head.part_ignore_index)]
                if values.numel() and (values.min() < 0 or values.max() >= size):
                    bad = values[(values < 0) | (values >= size)].unique().tolist()[:5]
                    raise ValueError(f'source {source!r}, {_where(sample)}: part labels {bad} '
                                     f'inside object {obj} are outside its part group '
                                     f'[0, {size})')

    @staticmethod
    def _pad_gt(inputs: Tensor, data_samples: Sequence[MultiTaskSegDataSample],
                pad_val: int = 255) -> None:
        """Pads part and material maps to the input size (bottom/right, as the images)."""
        height, width = inputs.shape[2:]
        for sample in data_samples:
            for field in ('gt_part_seg', 'gt_material_seg', 'gt_sem_seg'):
                if field not in sample:
                    continue
                data = getattr(sample, field).data
                pad = (0, width - data.shape[-1], 0, height - data.shape[-2])
                if any(pad):
                    setattr(sample, field, PixelData(
                        data=torch.nn.functional.pad(data, pad, value=pad_val)))

    # ------------------------------------------------------------------------- loss
    def loss(self, inputs: Tensor, data_samples: list[MultiTaskSegDataSample]
             ) -> dict[str, Tensor]:
        """Losses `<task>.loss_*` of the batch's tasks (`aux.*` with objects)."""
        if data_samples is None:
            raise ValueError("mode='loss' needs data_samples")
        tasks = self.batch_tasks(data_samples)
        self._pad_gt(inputs, data_samples)
        x = self.extract_feat(inputs)
        losses = self.decode_head.loss(x, data_samples, self.train_cfg, tasks=tasks)
        if self.with_auxiliary_head and 'object' in tasks:
            losses.update(add_prefix(
                self.auxiliary_head.loss(x, data_samples, self.train_cfg), 'aux'))
        return losses

    # ---------------------------------------------------------------------- predict
    def _forward(self, inputs: Tensor, data_samples=None) -> dict[str, Tensor]:
        """{task: logits} at the head's resolution (scene: (B, S))."""
        return self.decode_head.forward(self.extract_feat(inputs))

    def predict(self, inputs: Tensor, data_samples: list | None = None
                ) -> list[MultiTaskSegDataSample]:
        """Every task's prediction at each image's `ori_shape`."""
        if data_samples is None:
            shape = tuple(inputs.shape[2:])
            data_samples = [MultiTaskSegDataSample(metainfo=dict(
                ori_shape=shape, img_shape=shape, pad_shape=shape, padding_size=(0, 0, 0, 0)))
                for _ in range(inputs.shape[0])]
        metas = [sample.metainfo for sample in data_samples]
        metas = [dict(m, img_shape=torch.Size(inputs.shape[2:]),
                      pad_shape=tuple(inputs.shape[2:])) for m in metas]
        logits = self.decode_head.predict(self.extract_feat(inputs), metas, self.test_cfg)
        return self.postprocess_multi_task(logits, data_samples)

    def postprocess_multi_task(self, logits: dict[str, Tensor], data_samples: list
                               ) -> list[MultiTaskSegDataSample]:
        """Crop padding, undo flips, resize each task's logits; labels by argmax."""
        return_logits = (self.test_cfg or {}).get('return_logits', True)
        slices = part_groups_slices(getattr(self.decode_head, 'part_sizes', ()))
        out = []
        for i, sample in enumerate(data_samples):
            if not isinstance(sample, MultiTaskSegDataSample):
                new = MultiTaskSegDataSample(metainfo=sample.metainfo)
                for key in sample.keys():
                    setattr(new, key, getattr(sample, key))
                sample = new
            meta = sample.metainfo
            if 'object' in logits:
                obj = restore_logits(logits['object'][i].float(), meta, self.align_corners)
                sample.pred_sem_seg = PixelData(data=obj.argmax(0, keepdim=True))
                if return_logits:
                    sample.seg_logits = PixelData(data=obj)
            if 'part' in logits:
                part = restore_logits(logits['part'][i].float(), meta, self.align_corners)
                sample.pred_part_seg = PixelData(
                    data=torch.stack([part[sl].argmax(0) for sl in slices]))
            if 'material' in logits:
                mat = restore_logits(logits['material'][i].float(), meta, self.align_corners)
                sample.pred_material_seg = PixelData(data=mat.argmax(0, keepdim=True))
            if 'scene' in logits:
                score = logits['scene'][i].float().softmax(0)
                sample.pred_scene_label = LabelData(label=score.argmax(0, keepdim=True),
                                                    score=score)
            out.append(sample)
        return out
