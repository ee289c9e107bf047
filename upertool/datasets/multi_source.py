"""MultiSourceDataset: datasets that annotate different tasks, trained together (Broden+).

Each source is a dataset plus the tasks it annotates. Samples carry `source` and `tasks`
in their metainfo; annotations of tasks a source does not declare are dropped from its
data infos (never loaded), and a declared task whose annotation a sample lacks is an
error (a part path of None is allowed: that image's parts are not annotated, every
group invalid), so each batch's losses are exactly its source's tasks. Train it with
`SourceBatchSampler`, which keeps every batch within one source.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mmengine.dataset import BaseDataset, Compose

from upertool.registry import DATASETS, TRANSFORMS
from upertool.structures import TASKS

# task -> the data-info keys that hold its annotation
TASK_INFO_KEYS = {'object': ('seg_map_path',), 'part': ('part_seg_map_path', 'part_valid'),
                  'material': ('material_seg_map_path',), 'scene': ('scene_label',)}
_REQUIRED_KEY = {'object': 'seg_map_path', 'part': 'part_seg_map_path',
                 'material': 'material_seg_map_path', 'scene': 'scene_label'}


def _check_source(i: int, source: Any) -> tuple[str, tuple[str, ...], Any]:
    if not isinstance(source, dict) or not {'name', 'tasks', 'dataset'} <= set(source):
        raise ValueError(f'MultiSourceDataset: sources[{i}] must be dict(name=..., tasks=[...], '
                         f'dataset=...), got {source!r}')
    name, tasks = source['name'], tuple(source['tasks'])
    unknown = [t for t in tasks if t not in TASKS]
    if not tasks or unknown:
        raise ValueError(f'MultiSourceDataset: source {name!r} names tasks {list(tasks)}; '
                         f'each must be one of {list(TASKS)} (unknown: {unknown})')
    return str(name), tasks, source['dataset']


@DATASETS.register_module()
class MultiSourceDataset:
    """The concatenation of several sources, each annotating some tasks.

    Args:
        sources: `dict(name=str, tasks=[...], dataset=dataset config or object)` each;
            the tasks are among 'object', 'part', 'scene', 'material'.
        pipeline: transforms applied to every sample (the sources' own pipelines are
            not used), e.g. LoadImageFromFile, LoadMultiTaskAnnotations, RandomFlip,
            PackMultiTaskInputs.
        weights: per-source draw weights for SourceBatchSampler; None: sizes.
        test_mode: mmengine's flag (kept for the Runner).
    """

    def __init__(self, sources: Sequence[dict], pipeline: Sequence[dict | Callable] = (),
                 weights: Sequence[float] | None = None, test_mode: bool = False) -> None:
        if not sources:
            raise ValueError('MultiSourceDataset: sources is empty')
        self.names: list[str] = []
        self.tasks: list[tuple[str, ...]] = []
        self.datasets: list[BaseDataset] = []
        self.source_ranges: list[tuple[int, int]] = []
        start = 0
        for i, source in enumerate(sources):
            name, tasks, dataset = _check_source(i, source)
            if name in self.names:
                raise ValueError(f'MultiSourceDataset: two sources are named {name!r}')
            if isinstance(dataset, dict):
                dataset = DATASETS.build(dict(dataset, pipeline=[]))
            if len(dataset) == 0:
                raise ValueError(f'MultiSourceDataset: source {name!r} has no samples')
            self.names.append(name)
            self.tasks.append(tasks)
            self.datasets.append(dataset)
            self.source_ranges.append((start, start + len(dataset)))
            start += len(dataset)
        if weights is not None and len(weights) != len(self.names):
            raise ValueError(f'MultiSourceDataset: {len(weights)} weights for '
                             f'{len(self.names)} sources {self.names}')
        self.weights = None if weights is None else [float(w) for w in weights]
        self.pipeline = Compose([TRANSFORMS.build(t) if isinstance(t, dict) else t
                                 for t in pipeline])
        self.test_mode = test_mode
        self._metainfo = dict(self.datasets[0].metainfo, sources=list(self.names),
                              source_tasks=dict(zip(self.names, self.tasks, strict=True)))

    @property
    def metainfo(self) -> dict:
        return dict(self._metainfo)

    def __len__(self) -> int:
        return self.source_ranges[-1][1]

    def locate(self, idx: int) -> tuple[int, int]:
        """Global index -> (source index, index within that source)."""
        if not -len(self) <= idx < len(self):
            raise IndexError(f'MultiSourceDataset: index {idx} out of range ({len(self)})')
        idx %= len(self)
        for s, (start, end) in enumerate(self.source_ranges):
            if start <= idx < end:
                return s, idx - start
        raise AssertionError('unreachable')

    def get_data_info(self, idx: int) -> dict:
        """The source's data info with `source` and `tasks`, other tasks' keys removed."""
        s, local = self.locate(idx)
        info = dict(self.datasets[s].get_data_info(local))
        name, tasks = self.names[s], self.tasks[s]
        for task, keys in TASK_INFO_KEYS.items():
            if task not in tasks:
                for key in keys:
                    info.pop(key, None)
            elif _REQUIRED_KEY[task] not in info or (
                    task != 'part' and info[_REQUIRED_KEY[task]] is None):
                raise ValueError(f'MultiSourceDataset: source {name!r} declares task {task!r} '
                                 f'but sample {info.get("img_path")!r} has no '
                                 f'{_REQUIRED_KEY[task]}')
        info['source'], info['tasks'] = name, tasks
        info['seg_fields'] = []
        if 'materials' in self._metainfo:
            info['num_materials'] = len(self._metainfo['materials'])
        return info

    def __getitem__(self, idx: int) -> dict:
        return self.pipeline(self.get_data_info(idx))

    def full_init(self) -> None:
        """mmengine's lazy-init hook: the sources are built in __init__."""
