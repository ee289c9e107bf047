"""COCO-Stuff 164k from COCO JSONs: polygons, RLE, crowds, overlap order, reruns, errors.

Expected label maps are drawn here without pycocotools: polygons by testing each pixel
centre with cv2.pointPolygonTest, RLE masks are numpy arrays built by hand (compressed
with pycocotools only to write the JSON), the crowd's uncompressed RLE is encoded here.
"""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from upertool.datasets import COCOStuffDataset
from upertool.datasets.converters import (
    category_to_train_id,
    convert_coco_stuff_164k,
    load_coco_json,
)

H, W = 20, 24
UNUSED = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91}
TRAIN_ID = {cid: i for i, cid in enumerate(c for c in range(1, 183) if c not in UNUSED)}
PERSON, CAR, DOG, GRASS, SKY, WOOD, OTHER = 1, 3, 18, 124, 157, 182, 183


def polygon_mask(*polygons) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    for poly in polygons:
        contour = np.array(poly, np.float32).reshape(-1, 1, 2)
        for y in range(H):
            for x in range(W):
                if cv2.pointPolygonTest(contour, (x + 0.5, y + 0.5), False) > 0:
                    mask[y, x] = True
    return mask


def compressed_rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {'size': [H, W], 'counts': rle['counts'].decode('ascii')}


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's crowd format: run lengths over the column-major pixels, zeros first."""
    flat = mask.astype(np.uint8).flatten(order='F')
    counts, current, run = [], 0, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    return {'size': [H, W], 'counts': counts}


def rect(x0, y0, x1, y1) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


# Stuff (RLE, as the official stuff files): sky on top, grass below, 'other' in a corner.
SKY_MASK, GRASS_MASK, OTHER_MASK = rect(0, 0, 24, 9), rect(0, 9, 24, 20), rect(20, 16, 24, 20)
GRASS_MASK &= ~OTHER_MASK
# Things: a person (polygon), a car (triangle polygon) overlapping it, a dog in two parts,
# two equal-size boxes overlapping (tie), and a crowd (uncompressed RLE) across sky and person.
PERSON_POLY = [3, 2, 12, 2, 12, 18, 3, 18]
CAR_POLY = [8, 10, 20, 10, 8, 16]  # edges pass 0.2 px or more from pixel centres
DOG_POLYS = ([14, 2, 17, 2, 17, 5, 14, 5], [18, 2, 21, 2, 21, 5, 18, 5])
TIE_A, TIE_B = [1, 18, 4, 18, 4, 20, 1, 20], [2, 18, 5, 18, 5, 20, 2, 20]
CROWD_MASK = rect(0, 5, 6, 8)


def write_jsons(folder, extra_image=False, drop=()):
    images = [dict(id=7, file_name='000000000007.jpg', height=H, width=W),
              dict(id=9, file_name='000000000009.jpg', height=H, width=W)]
    if extra_image:
        images.append(dict(id=11, file_name='000000000011.jpg', height=H, width=W))
    stuff_anns = [
        dict(id=1, image_id=7, category_id=SKY, segmentation=compressed_rle(SKY_MASK)),
        dict(id=2, image_id=7, category_id=GRASS, segmentation=compressed_rle(GRASS_MASK)),
        dict(id=3, image_id=7, category_id=OTHER, segmentation=compressed_rle(OTHER_MASK)),
        dict(id=4, image_id=9, category_id=WOOD, segmentation=compressed_rle(rect(0, 0, 24, 20))),
    ]
    thing_anns = [
        dict(id=20, image_id=7, category_id=PERSON, iscrowd=0, segmentation=[PERSON_POLY]),
        dict(id=21, image_id=7, category_id=CAR, iscrowd=0, segmentation=[CAR_POLY]),
        dict(id=22, image_id=7, category_id=DOG, iscrowd=0, segmentation=list(DOG_POLYS)),
        dict(id=23, image_id=7, category_id=PERSON, iscrowd=1,
             segmentation=uncompressed_rle(CROWD_MASK)),
        dict(id=30, image_id=7, category_id=CAR, iscrowd=0, segmentation=[TIE_B]),
        dict(id=31, image_id=7, category_id=DOG, iscrowd=0, segmentation=[TIE_A]),
    ]
    stuff_anns = [a for a in stuff_anns if a['id'] not in drop]
    cats = [dict(id=c, name=str(c)) for c in range(1, 184)]
    stuff = dict(images=images, annotations=stuff_anns, categories=cats[91:])
    things = dict(images=images, annotations=thing_anns, categories=cats[:90])
    paths = str(folder / 'stuff_train2017.json'), str(folder / 'instances_train2017.json')
    for path, data in zip(paths, (stuff, things), strict=True):
        with open(path, 'w') as f:
            json.dump(data, f)
    return paths


def expected_label_7() -> np.ndarray:
    """Stuff, then the crowd as 255, then things by decreasing area (ties: higher id on top)."""
    label = np.full((H, W), 255, np.uint8)
    label[SKY_MASK] = TRAIN_ID[SKY]
    label[GRASS_MASK] = TRAIN_ID[GRASS]
    label[OTHER_MASK] = 255
    label[CROWD_MASK] = 255
    person, car, dog = polygon_mask(PERSON_POLY), polygon_mask(CAR_POLY), polygon_mask(*DOG_POLYS)
    assert person.sum() > car.sum() > dog.sum() > polygon_mask(TIE_A).sum()
    for mask, cid in ((person, PERSON), (car, CAR), (dog, DOG),
                      (polygon_mask(TIE_B), CAR), (polygon_mask(TIE_A), DOG)):
        label[mask] = TRAIN_ID[cid]
    return label


def test_id_mapping_matches_mmsegmentation():
    assert category_to_train_id(1) == 0 and category_to_train_id(13) == 11
    assert category_to_train_id(92) == 80 and category_to_train_id(182) == 170
    assert category_to_train_id(183) == 255 and category_to_train_id(12) == 255
    assert all(category_to_train_id(c) == t for c, t in TRAIN_ID.items())


def test_label_png_pixel_by_pixel(tmp_path):
    stuff_json, thing_json = write_jsons(tmp_path)
    out = tmp_path / 'annotations' / 'train2017'
    lines = []
    summary = convert_coco_stuff_164k(stuff_json, thing_json, str(out), log=lines.append,
                                      log_every=1)
    assert (summary.total, summary.written) == (2, 2)
    assert sorted(os.listdir(out)) == ['000000000007_labelTrainIds.png',
                                       '000000000009_labelTrainIds.png']
    label = np.asarray(Image.open(out / '000000000007_labelTrainIds.png'))
    expected = expected_label_7()
    np.testing.assert_array_equal(label, expected)
    # the documented rules, spelled out on single pixels
    assert label[12, 10] == TRAIN_ID[CAR]  # car (smaller) over person
    assert label[6, 1] == 255  # crowd hides the sky
    assert label[6, 4] == TRAIN_ID[PERSON]  # a person inside the crowd keeps its class
    assert label[19, 3] == TRAIN_ID[DOG]  # equal areas: the higher id (31) is on top
    assert label[19, 1] == TRAIN_ID[DOG] and label[19, 4] == TRAIN_ID[CAR]
    assert label[18, 22] == 255  # 'other'
    np.testing.assert_array_equal(
        np.asarray(Image.open(out / '000000000009_labelTrainIds.png')), TRAIN_ID[WOOD])
    assert '2/2' in lines[-2] and 'COCO-Stuff 164k' in lines[0]


def test_parallel_run_is_idempotent_and_feeds_the_dataset(tmp_path, seg_io):
    stuff_json, thing_json = write_jsons(tmp_path)
    root = tmp_path / 'coco_stuff164k'
    out = root / 'annotations' / 'train2017'
    convert_coco_stuff_164k(stuff_json, thing_json, str(out), nproc=2, log=lambda s: None)
    files = sorted(out.iterdir())
    stamps = [(p.stat().st_mtime_ns, p.read_bytes()) for p in files]
    again = convert_coco_stuff_164k(stuff_json, thing_json, str(out), nproc=2,
                                    log=lambda s: None)
    assert (again.written, again.unchanged) == (0, 2)
    assert stamps == [(p.stat().st_mtime_ns, p.read_bytes()) for p in files]
    for i, stem in enumerate(['000000000007', '000000000009']):
        seg_io.write_image(str(root / 'images' / 'train2017' / f'{stem}.jpg'), H, W, seed=i)
    ds = COCOStuffDataset(data_root=str(root), pipeline=[dict(type='LoadImageFromFile'),
                                                         dict(type='LoadAnnotations')],
                          data_prefix=dict(img_path='images/train2017',
                                           seg_map_path='annotations/train2017'))
    np.testing.assert_array_equal(ds[0]['gt_seg_map'], expected_label_7())


def test_refuses_an_output_folder_with_unrelated_files(tmp_path):
    stuff_json, thing_json = write_jsons(tmp_path)
    out = tmp_path / 'out'
    out.mkdir()
    (out / '000000000007.png').write_bytes(b'')  # the official pixel map: related, allowed
    (out / 'vacation.jpg').write_bytes(b'')
    with pytest.raises(FileExistsError, match='vacation.jpg'):
        convert_coco_stuff_164k(stuff_json, thing_json, str(out), log=lambda s: None)
    assert sorted(os.listdir(out)) == ['000000000007.png', 'vacation.jpg']


def test_missing_annotation_file_is_named(tmp_path):
    stuff_json, _ = write_jsons(tmp_path)
    missing = str(tmp_path / 'instances_val2017.json')
    with pytest.raises(FileNotFoundError, match='instances_val2017.json'):
        convert_coco_stuff_164k(stuff_json, missing, str(tmp_path / 'out'))


@pytest.mark.parametrize('content, match', [
    ('[1, 2, 3]', 'is not a COCO annotation file'),
    ('{"images": [], "annotations": []}', r"is not a COCO annotation file: \['categories'\]"),
    ('{"images": [{"id": 1}], "annotations": [], "categories": []}', r'images\[0\] lacks'),
    ('not json at all', 'is not valid JSON'),
])
def test_non_coco_json_is_named(tmp_path, content, match):
    path = tmp_path / 'panoptic_train2017.json'
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_coco_json(str(path), 'stuff')
    with pytest.raises(ValueError, match='panoptic_train2017.json'):
        load_coco_json(str(path), 'stuff')


def test_swapped_files_are_reported(tmp_path):
    stuff_json, thing_json = write_jsons(tmp_path)
    with pytest.raises(ValueError, match=r'instances_train2017.json.*not a COCO stuff id'):
        convert_coco_stuff_164k(thing_json, stuff_json, str(tmp_path / 'out'))


def test_image_without_any_annotation_is_named(tmp_path):
    stuff_json, thing_json = write_jsons(tmp_path, extra_image=True)
    with pytest.raises(ValueError, match=r"'000000000011.jpg' \(id 11\) has neither stuff.*"
                                         r'stuff_train2017.json.*instances_train2017.json'):
        convert_coco_stuff_164k(stuff_json, thing_json, str(tmp_path / 'out'))
    assert not osp.exists(tmp_path / 'out')  # checked before anything is written


def test_rle_of_the_wrong_size_is_named(tmp_path):
    stuff_json, thing_json = write_jsons(tmp_path)
    data = json.loads(open(stuff_json).read())
    data['annotations'][0]['segmentation']['size'] = [H + 1, W]
    with open(stuff_json, 'w') as f:
        json.dump(data, f)
    with pytest.raises(ValueError, match=r"'000000000007.jpg' \(id 7\), annotation id 1: RLE"):
        convert_coco_stuff_164k(stuff_json, thing_json, str(tmp_path / 'out'),
                                log=lambda s: None)
