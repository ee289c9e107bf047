"""Side-by-side overlays of a multi-task (Unified Perceptual Parsing) prediction.

    [ image | objects | parts | materials ]     with the scene label above and a legend
                                                 of the classes present under each map

Parts are drawn where the predicted object has parts: each pixel shows the part that its
predicted object's group predicts there (`pred_part_seg` holds every group's answer).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from .overlay import draw_legend, overlay_mask, random_palette

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _labels(pixel_data: Any) -> np.ndarray:
    data = pixel_data.data
    return np.asarray(data.cpu() if hasattr(data, 'cpu') else data).astype(np.int64)


def part_map(objects: np.ndarray, parts: np.ndarray,
             groups: Sequence[tuple[int, Sequence[str]]]) -> np.ndarray:
    """(H, W) global part ids (group offset + part index) where the object has parts, else -1.

    Args:
        objects: (H, W) object labels.
        parts: (G, H, W) each group's part index at every pixel.
        groups: (object class, part names) per group, in the model's order.
    """
    out = np.full(objects.shape, -1, np.int64)
    offset = 0
    for g, (obj, names) in enumerate(groups):
        mask = objects == obj
        out[mask] = offset + parts[g][mask]
        offset += len(names)
    return out


def _panel(image: np.ndarray, title: str, scale: int) -> np.ndarray:
    big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    bar = np.full((22, big.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, title, (4, 16), _FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, big], axis=0)


def draw_multi_task(image_bgr: np.ndarray, sample: Any, meta: dict, alpha: float = 0.6,
                    scale: int = 1) -> np.ndarray:
    """One BGR picture of every task a MultiTaskSegDataSample predicts.

    Args:
        image_bgr: (H, W, 3) uint8 at the prediction's size.
        sample: with `pred_sem_seg` and any of `pred_part_seg`, `pred_material_seg`,
            `pred_scene_label`.
        meta: the dataset's metainfo: `classes`, `palette` and, for the other tasks,
            `part_groups`, `materials`, `scenes`.
        alpha: weight of the colours over the image.
        scale: integer upscaling of the maps (nearest), for small images.

    Returns:
        (h, w, 3) uint8 BGR.
    """
    classes, palette = list(meta['classes']), list(meta['palette'])
    columns = [(_panel(image_bgr, 'image', scale), None)]
    if 'pred_sem_seg' in sample:  # absent for a head built with object_branch=False
        objects = _labels(sample.pred_sem_seg)[0]
        columns.append((_panel(overlay_mask(image_bgr, objects, palette, alpha), 'objects',
                               scale), (np.unique(objects), classes, palette)))
    if 'pred_part_seg' in sample and 'pred_sem_seg' in sample and meta.get('part_groups'):
        groups = meta['part_groups']
        parts = part_map(objects, _labels(sample.pred_part_seg), groups)
        names = [f'{classes[obj]} {part}' for obj, group in groups for part in group]
        part_palette = random_palette(len(names), seed=7)
        columns.append((_panel(overlay_mask(image_bgr, parts, part_palette, alpha), 'parts',
                               scale), (np.unique(parts[parts >= 0]), names, part_palette)))
    if 'pred_material_seg' in sample and meta.get('materials'):
        materials = _labels(sample.pred_material_seg)[0]
        mat_palette = random_palette(len(meta['materials']), seed=11)
        columns.append((_panel(overlay_mask(image_bgr, materials, mat_palette, alpha),
                               'materials', scale),
                        (np.unique(materials), list(meta['materials']), mat_palette)))
    width = columns[0][0].shape[1]
    stacked = []
    for panel, legend in columns:
        strip = (draw_legend(width, [int(v) for v in legend[0]], legend[1], legend[2])
                 if legend is not None else np.zeros((0, width, 3), np.uint8))
        stacked.append(np.concatenate([panel, strip], axis=0))
    height = max(p.shape[0] for p in stacked)
    stacked = [np.concatenate([p, np.full((height - p.shape[0], width, 3), 255, np.uint8)])
               for p in stacked]
    body = np.concatenate([c for p in stacked for c in (p, np.full((height, 4, 3), 255,
                                                                   np.uint8))][:-1], axis=1)
    title = 'scene: -'
    if 'pred_scene_label' in sample:
        label = int(np.asarray(sample.pred_scene_label.label).reshape(-1)[0])
        scenes = meta.get('scenes') or []
        name = scenes[label] if label < len(scenes) else str(label)
        score = getattr(sample.pred_scene_label, 'score', None)
        title = f'scene: {name}' + (f' ({100 * float(score[label]):.0f}%)'
                                    if score is not None else '')
    banner = np.full((28, body.shape[1], 3), 255, np.uint8)
    cv2.putText(banner, title, (6, 20), _FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([banner, body], axis=0)
