"""COCO-Stuff 164k: the official stuff and thing annotation JSONs -> train-id label PNGs.

Ids. COCO category ids 1-182 (things 1-91, stuff 92-182; 183 is the stuff JSON's 'other')
give raw ids ``category_id - 1`` (0-181, the "182-id space" of the official pixel maps).
Eleven thing ids were never used; dropping them maps the remaining 171 raw ids in order
to train ids 0-170 (mmsegmentation's ``clsID_to_trID``). 'other' and unlabelled pixels
are 255.

Overlaps, resolved the same way on every run:

1. layers are painted bottom to top: stuff, then crowd regions (``iscrowd=1``, written
   as 255 = ignore), then thing instances. Things thus win over stuff (their outlines
   are the precise ones), a crowd region hides the stuff below it, and an instance
   annotated inside a crowd keeps its class;
2. within a layer, larger masks are painted first, so where two masks overlap the
   smaller one is on top (a cup on a table, a person on a couch); equal areas go by
   annotation id, lower first (so the higher id wins).
"""
from __future__ import annotations

import json
import os.path as osp
from collections import defaultdict
from collections.abc import Sequence
from functools import partial

import numpy as np
from pycocotools import mask as mask_utils

from .common import (
    ConversionSummary,
    Log,
    check_output_folder,
    encode_png,
    run_parallel,
    write_if_changed,
)

NUM_RAW_IDS = 182
# 1-based COCO thing ids that no annotation uses; they have no train id.
UNUSED_COCO_IDS = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91)
THING_IDS = range(1, 92)
STUFF_IDS = range(92, 184)  # 183 = 'other'
OUT_SUFFIX = '_labelTrainIds.png'
_LAYER_STUFF, _LAYER_CROWD, _LAYER_THING = 0, 1, 2


def raw_to_train_id() -> np.ndarray:
    """(256,) uint8 lookup table raw id (``category_id - 1``) -> train id, 255 elsewhere."""
    lut = np.full(256, 255, np.uint8)
    used = [raw for raw in range(NUM_RAW_IDS) if raw + 1 not in UNUSED_COCO_IDS]
    lut[used] = np.arange(len(used), dtype=np.uint8)
    return lut


def category_to_train_id(category_id: int) -> int:
    """Train id (0-170) of a COCO category id, 255 for 'other' (183) and unused ids."""
    return int(raw_to_train_id()[category_id - 1]) if 1 <= category_id <= NUM_RAW_IDS else 255


def load_coco_json(path: str, role: str) -> dict:
    """Read and check a COCO annotation file.

    Args:
        path: the JSON file.
        role: 'stuff' or 'thing', for messages and the category-id check.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming the file, when it is not JSON, not in COCO format (an object
            with 'images', 'annotations' and 'categories' lists), or an entry lacks a
            field, refers to an unknown image or has a category id outside the role's.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'COCO {role} annotation file {path!r} does not exist')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f'COCO {role} annotation file {path!r} is not valid JSON: {err}'
                         ) from err
    keys = ('images', 'annotations', 'categories')
    missing = [k for k in keys if not isinstance(data, dict) or not isinstance(data.get(k), list)]
    if missing:
        raise ValueError(f'{path!r} is not a COCO annotation file: {missing} missing or not '
                         'lists (COCO format is a JSON object with "images", "annotations" '
                         'and "categories" lists)')
    for i, img in enumerate(data['images']):
        lacking = [k for k in ('id', 'file_name', 'height', 'width')
                   if not isinstance(img, dict) or k not in img]
        if lacking:
            raise ValueError(f'{path!r}: images[{i}] lacks {lacking}')
    image_ids = {img['id'] for img in data['images']}
    allowed = STUFF_IDS if role == 'stuff' else THING_IDS
    for i, ann in enumerate(data['annotations']):
        lacking = [k for k in ('image_id', 'category_id', 'segmentation')
                   if not isinstance(ann, dict) or k not in ann]
        if lacking:
            raise ValueError(f'{path!r}: annotations[{i}] lacks {lacking}')
        if ann['image_id'] not in image_ids:
            raise ValueError(f'{path!r}: annotations[{i}] (id {ann.get("id")}) refers to image '
                             f'id {ann["image_id"]}, which is not in "images"')
        if ann['category_id'] not in allowed:
            raise ValueError(
                f'{path!r}: annotations[{i}] has category id {ann["category_id"]}, not a COCO '
                f'{role} id ({allowed.start}-{allowed.stop - 1}); are the stuff and thing '
                'files swapped?')
    return data


def annotation_mask(segm: object, height: int, width: int, where: str) -> np.ndarray:
    """(H, W) bool mask of a COCO segmentation: polygons, uncompressed or compressed RLE.

    Raises:
        ValueError: naming ``where`` for a malformed segmentation or a size mismatch.
    """
    if isinstance(segm, list):
        polys = [p for p in segm if isinstance(p, list)]
        if len(polys) != len(segm) or any(len(p) < 6 or len(p) % 2 for p in polys):
            raise ValueError(f'{where}: polygons must be lists of x, y numbers with at least '
                             'three points')
        if not polys:
            return np.zeros((height, width), bool)
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    elif isinstance(segm, dict) and 'counts' in segm and 'size' in segm:
        if [int(v) for v in segm['size']] != [height, width]:
            raise ValueError(f'{where}: RLE size {segm["size"]} differs from the image '
                             f'size [{height}, {width}]')
        if isinstance(segm['counts'], list):  # uncompressed RLE (crowd annotations)
            rle = mask_utils.frPyObjects(segm, height, width)
        else:
            counts = segm['counts']
            rle = {'size': [height, width],
                   'counts': counts.encode('ascii') if isinstance(counts, str) else counts}
    else:
        raise ValueError(f'{where}: segmentation is neither a polygon list nor an RLE dict')
    return mask_utils.decode(rle).astype(bool)


def rasterize(height: int, width: int, anns: Sequence[dict], where: str = '') -> np.ndarray:
    """Paint one image's annotations into an (H, W) uint8 train-id map (module docstring).

    Args:
        height, width: image size.
        anns: dicts with ``segmentation``, ``category_id``, ``layer`` (0 stuff, 1 crowd,
            2 thing), ``id`` and optionally ``source`` (0 stuff file, 1 thing file).
        where: file and image named in error messages.
    """
    painted = []
    for ann in anns:
        mask = annotation_mask(ann['segmentation'], height, width,
                               f'{where}, annotation id {ann["id"]}')
        value = 255 if ann['layer'] == _LAYER_CROWD else category_to_train_id(ann['category_id'])
        key = (ann['layer'], -int(mask.sum()), ann.get('source', 0), ann['id'])
        painted.append((key, mask, value))
    label = np.full((height, width), 255, np.uint8)
    for _, mask, value in sorted(painted, key=lambda p: p[0]):
        label[mask] = value
    return label


def _convert_one(task: tuple, out_dir: str) -> bool:
    stem, height, width, anns, where = task
    label = rasterize(height, width, anns, where)
    return write_if_changed(osp.join(out_dir, stem + OUT_SUFFIX), encode_png(label))


def _collect(stuff: dict, things: dict, stuff_json: str, thing_json: str) -> list[tuple]:
    """One task per image: (stem, height, width, annotations with layer and id, where)."""
    images = {}
    for data, path in ((stuff, stuff_json), (things, thing_json)):
        for img in data['images']:
            seen = images.setdefault(img['id'], img)
            if (seen['file_name'], seen['height'], seen['width']) != (
                    img['file_name'], img['height'], img['width']):
                raise ValueError(f'{path!r}: image id {img["id"]} is {img["file_name"]!r} '
                                 f'{img["width"]}x{img["height"]}, but the other file says '
                                 f'{seen["file_name"]!r} {seen["width"]}x{seen["height"]}')
    per_image = defaultdict(list)
    for data, is_stuff in ((stuff, True), (things, False)):
        for n, ann in enumerate(data['annotations']):
            layer = (_LAYER_CROWD if ann.get('iscrowd', 0) else
                     _LAYER_STUFF if is_stuff else _LAYER_THING)
            # Stuff and thing files number their annotations independently: the file
            # goes first in the tie-break key, so it stays total when both use an id.
            ann_id = ann.get('id', n)
            per_image[ann['image_id']].append(dict(
                segmentation=ann['segmentation'], category_id=ann['category_id'],
                layer=layer, source=0 if is_stuff else 1, id=ann_id))
    tasks = []
    for image_id in sorted(images, key=lambda i: images[i]['file_name']):
        img = images[image_id]
        anns = per_image.get(image_id, [])
        if not anns:
            raise ValueError(f'image {img["file_name"]!r} (id {image_id}) has neither stuff '
                             f'annotations in {stuff_json!r} nor thing annotations in '
                             f'{thing_json!r}')
        where = f'{img["file_name"]!r} (id {image_id})'
        tasks.append((osp.splitext(img['file_name'])[0], int(img['height']),
                      int(img['width']), anns, where))
    return tasks


def convert_coco_stuff_164k(stuff_json: str, thing_json: str, out_dir: str, *,
                            nproc: int = 1, log: Log = print, log_every: int = 500
                            ) -> ConversionSummary:
    """Write ``out_dir/<image stem>_labelTrainIds.png`` for every image of the JSONs.

    Both files are read and checked first (missing file, not JSON, not COCO format,
    an image with no annotation at all: an error naming the file, before anything is
    written). ``out_dir`` may hold only what this converter writes or the official
    pixel maps of the same images (``<stem>.png``). Unchanged outputs are not rewritten.

    Args:
        stuff_json: e.g. ``stuff_train2017.json`` (stuff ids 92-183, RLE).
        thing_json: e.g. ``instances_train2017.json`` (thing ids 1-90, polygons and RLE).
        out_dir: e.g. ``data/coco_stuff164k/annotations/train2017``.
        nproc: worker processes.
        log: receives progress lines.
        log_every: progress line interval, in images.
    """
    stuff = load_coco_json(stuff_json, 'stuff')
    things = load_coco_json(thing_json, 'thing')
    tasks = _collect(stuff, things, stuff_json, thing_json)
    stems = {t[0] for t in tasks}
    check_output_folder(
        out_dir, lambda rel: (rel.endswith(OUT_SUFFIX) and rel[:-len(OUT_SUFFIX)] in stems) or
        (rel.endswith('.png') and rel[:-4] in stems), 'coco_stuff converter')
    summary = run_parallel(partial(_convert_one, out_dir=out_dir), tasks, nproc=nproc,
                           log=log, what='COCO-Stuff 164k JSON -> PNG', log_every=log_every)
    log(f'coco_stuff 164k: {summary.total} images ({summary.written} written, '
        f'{summary.unchanged} unchanged) in {out_dir}')
    return summary
