"""BrodenPlusDataset + LoadBrodenAnnotations on a tiny tree in the unifiedparsing layout."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from upertool.datasets import MultiSourceDataset

scipy_io = pytest.importorskip('scipy.io')


def _csv(path, header, rows):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(header + '\n' + ''.join(','.join(map(str, r)) + '\n' for r in rows))


def _ade_png(path, classes):
    """ADE20K's encoding: R = class // 256 * 10, G = class % 256."""
    rgb = np.zeros((*classes.shape, 3), np.uint8)
    rgb[..., 0], rgb[..., 1] = classes // 256 * 10, classes % 256
    Image.fromarray(rgb).save(path)


@pytest.fixture()
def tree(tmp_path):
    meta, data = str(tmp_path / 'meta_file'), str(tmp_path / 'broden_dataset')
    _csv(f'{meta}/object.csv', 'label,name', [(0, '-'), (1, 'wall'), (2, 'x'), (3, 'y'),
                                               (4, 'z'), (5, 'building'), (6, 'person')])
    _csv(f'{meta}/part.csv', 'label,name', [(0, '-'), (1, 'leg'), (2, 'head'), (5, 'window')])
    _csv(f'{meta}/scene.csv', 'label,name', [(i, f's{i}') for i in range(4)])
    _csv(f'{meta}/material.csv', 'label,name', [(i, f'm{i}') for i in range(5)])
    _csv(f'{meta}/label_assignment.csv',
         'dataset,category,raw_label,raw_name,broden_label,broden_name',
         [('ade20k', 'object', 1, 'b', 5, 'building'), ('ade20k', 'object', 300, 'p', 6, 'p'),
          ('ade20k', 'object', 3, 'junk', 0, '-'), ('ade20k', 'part', 10, 'leg', 1, 'leg'),
          ('ade20k', 'part', 11, 'head', 2, 'head'), ('ade20k', 'part', 12, 'w', 5, 'w'),
          ('ade20k', 'scene', 1, 'bedroom', 3, 'bedroom'), ('os', 'material', 2, 'wood', 4, 'w')])
    _csv(f'{meta}/object_part_hierarchy.csv', 'object_label,object_name,part_labels,part_names',
         [(5, 'building', '0;5', '-;window'), (6, 'person', '0;1;2', '-;leg;head')])
    with open(f'{meta}/train.json', 'w') as f:
        for rec in ({'dataset': 'ade20k', 'file_index': 0}, {'dataset': 'pascal', 'file_index': 7},
                    {'dataset': 'ade20k', 'file_index': 1}, {'dataset': 'os', 'file_index': 0}):
            f.write(json.dumps(dict(rec, height=4, width=6)) + '\n')
    os.makedirs(f'{meta}/ade20k')
    index = {'filename': np.array(['a.jpg', 'b.jpg'], dtype=object),
             'folder': np.array(['images/training/x', 'images/training/y'], dtype=object)}
    scipy_io.savemat(f'{meta}/ade20k/index_ade20k.mat', {'index': index})
    with open(f'{meta}/ade20k/scene_categories.txt', 'w') as f:
        f.write('a bedroom\nb misc\n')
    objects = np.array([[1, 1, 300, 300, 300, 3]] * 4)
    parts = np.array([[0, 0, 10, 10, 11, 12]] * 4)  # window (12) outside the building
    for folder, stem in (('x', 'a'), ('y', 'b')):
        d = f'{data}/ade20k/images/training/{folder}'
        os.makedirs(d)
        Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(f'{d}/{stem}.jpg')
        _ade_png(f'{d}/{stem}_seg.png', objects)
    _ade_png(f'{data}/ade20k/images/training/x/a_parts_1.png', parts)
    _csv(f'{data}/opensurfaces/photos.csv', 'photo_id,scene_category_name', [(42, 'k')])
    os.makedirs(f'{data}/opensurfaces/photos')
    os.makedirs(f'{data}/opensurfaces/photos-labels')
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(f'{data}/opensurfaces/photos/42.jpg')
    mat = np.zeros((4, 6, 3), np.uint8)
    mat[:, :3, 0] = 2
    Image.fromarray(mat).save(f'{data}/opensurfaces/photos-labels/42.png')
    return meta, data


def _build(meta, data):
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadBrodenAnnotations', meta_root=meta),
                dict(type='PackMultiTaskInputs')]
    common = dict(type='BrodenPlusDataset', data_root=data, meta_root=meta, index_file='train.json')
    return MultiSourceDataset(pipeline=pipeline, sources=[
        dict(name='ade20k', tasks=['object', 'part', 'scene'],
             dataset=dict(common, datasets=('ade20k',))),
        dict(name='opensurfaces', tasks=['material'], dataset=dict(common, datasets=('os',)))])


def test_records_decode_as_the_reference_does(tree):
    ds = _build(*tree)
    assert ds.source_ranges == [(0, 2), (2, 3)]  # the pascal record is skipped
    a = ds[0]['data_samples']
    assert a.gt_sem_seg.data[0, 0].tolist() == [5, 5, 6, 6, 6, 0]
    # person parts: leg, leg, head -> indices 1, 1, 2 of (-, leg, head); the building shows
    # only '-' (0), so its group is not annotated
    assert a.gt_part_seg.data[0, 0, 2:5].tolist() == [1, 1, 2]
    assert a.gt_part_valid.tolist() == [False, True]
    assert int(a.gt_scene_label.label) == 3  # 'bedroom': raw 1 after '-' -> Broden 3
    b = ds[1]['data_samples']  # no parts file: no group annotated
    assert b.gt_part_valid.tolist() == [False, False]
    assert (b.gt_part_seg.data == 255).all()
    assert int(b.gt_scene_label.label) == 0  # misc -> '-' (raw 0), unassigned -> 0
    os_sample = ds[2]['data_samples']
    assert os_sample.gt_material_seg.data[0, 0].tolist() == [4, 4, 4, 0, 0, 0]
    assert set(os_sample.keys()) == {'gt_material_seg'}
    assert ds.metainfo['part_groups'] == [(5, ['-', 'window']), (6, ['-', 'leg', 'head'])]


def test_bad_trees_are_named(tree):
    meta, data = tree
    with open(f'{meta}/train.json', 'a') as f:
        f.write(json.dumps({'dataset': 'ade20k', 'file_index': 9}) + '\n')
    with pytest.raises(ValueError, match=r'train.json line 5 \(ade20k file_index 9\): outside'):
        _build(meta, data)
    os.remove(f'{meta}/label_assignment.csv')
    with pytest.raises(FileNotFoundError, match='label_assignment.csv'):
        _build(meta, data)


PART2IND = """function pimap = part2ind()
pimap = cell(4, 1);
for ii = 1:4
    pimap{ii} = containers.Map('KeyType','char','ValueType','int32');
end

% [aeroplane]
pimap{1}('body')        = 1;
pimap{1}('lwing')       = 3;                % left wing
pimap{1}('rwing')       = 4;                % right wing
for ii = 1:2
    pimap{1}(sprintf('engine_%d', ii)) = 10+ii; % multiple engines
end

% [boat]
% only has silhouette mask

% [person]
pimap{3}('head')        = 1;
pimap{3}('lhand')       = 15;               % left hand

% [robot]
keySet = keys(pimap{3});
valueSet = values(pimap{3});
pimap{4} = containers.Map(keySet, valueSet);         % robot has the parts of person
"""
# sorted (object, short name) keys -> distinct readable names from 1: body 1, engine 2 (both
# engines), wing 3 (left/right dropped), silhouette 4 (boat = the object after aeroplane),
# head 5, hand 6; robot copies person's
PART_CODES = {(1, 'body'): 1, (1, 'engine_1'): 2, (1, 'engine_2'): 2, (1, 'lwing'): 3,
              (1, 'rwing'): 3, (2, 'silhouette'): 4, (3, 'head'): 5, (3, 'lhand'): 6,
              (4, 'head'): 5, (4, 'lhand'): 6}


def _pascal_anno(path, objects):
    """Pascal-Part's `anno.objects(i)` struct array: class_ind, mask, parts(j).part_name/mask."""
    arr = np.empty((1, len(objects)), dtype=[('class_ind', 'O'), ('mask', 'O'), ('parts', 'O')])
    for i, (cls, mask, parts) in enumerate(objects):
        p = np.empty((1, len(parts)), dtype=[('part_name', 'O'), ('mask', 'O')])
        for j, (name, pmask) in enumerate(parts):
            p[0, j] = (name, pmask.astype(np.uint8))
        arr[0, i] = (np.array([[cls]]), mask.astype(np.uint8), p)
    scipy_io.savemat(path, {'anno': {'objects': arr}})


def _cols(*cols):
    m = np.zeros((4, 6), bool)
    m[:, list(cols)] = True
    return m


@pytest.fixture()
def pascal_tree(tree):
    meta, data = tree
    with open(f'{meta}/label_assignment.csv', 'a') as f:
        f.write('pascal,object,2,airplane,5,building\npascal,object,15,person,6,person\n'
                'pascal,part,5,head,2,head\npascal,part,6,hand,1,leg\n'
                'pascal,part,3,wing,5,window\n')
    root = f'{data}/pascal'
    os.makedirs(f'{root}/part/Annotations_Part')
    os.makedirs(f'{root}/context/trainval')
    os.makedirs(f'{root}/VOC2008')  # the last VOC* folder holds the images
    os.makedirs(f'{root}/VOC2010/JPEGImages')
    with open(f'{root}/part/part2ind.m', 'w') as f:
        f.write(PART2IND)
    for stem in ('2008_000002', '2008_000010'):
        Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(f'{root}/VOC2010/JPEGImages/{stem}.jpg')
        scipy_io.savemat(f'{root}/context/trainval/{stem}.mat',
                         {'LabelMap': np.array([[2, 2, 15, 15, 15, 0]] * 4, np.uint16)})
    _pascal_anno(f'{root}/part/Annotations_Part/2008_000010.mat', [
        (3, _cols(2, 3, 4), [('head', _cols(2)), ('lhand', _cols(3, 4))]),
        (1, _cols(0, 1), [('lwing', _cols(0))])])
    _pascal_anno(f'{root}/part/Annotations_Part/2008_000002.mat', [])  # no instance
    with open(f'{meta}/pascal.json', 'w') as f:
        for i in (1, 0):
            f.write(json.dumps({'dataset': 'pascal', 'file_index': i}) + '\n')
    return meta, data


def test_part2ind_codes_as_the_reference_numbers_them(pascal_tree):
    from upertool.datasets.broden_pascal import part_codes

    assert part_codes(f'{pascal_tree[1]}/pascal/part/part2ind.m') == PART_CODES


def test_pascal_records_give_objects_and_parts(pascal_tree):
    meta, data = pascal_tree
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadBrodenAnnotations', meta_root=meta),
                dict(type='PackMultiTaskInputs')]
    ds = MultiSourceDataset(pipeline=pipeline, sources=[dict(
        name='pascal', tasks=['object', 'part'],
        dataset=dict(type='BrodenPlusDataset', data_root=data, meta_root=meta,
                     index_file='pascal.json', datasets=('pascal',)))])
    first = ds.datasets[0].get_data_info(0)
    assert first['img_path'].endswith('pascal/VOC2010/JPEGImages/2008_000010.jpg')
    a = ds[0]['data_samples']
    # Context LabelMap 2 (airplane) -> 5, 15 (person) -> 6
    assert a.gt_sem_seg.data[0, 0].tolist() == [5, 5, 6, 6, 6, 0]
    # person (group 1, parts -;leg;head): head code 5 -> Broden 2 -> index 2, hand 6 -> leg 1;
    # airplane as building (group 0, -;window): wing 3 -> window 5 -> index 1, rest '-' 0
    assert a.gt_part_seg.data[0, 0].tolist() == [1, 0, 2, 1, 1, 255]
    assert a.gt_part_valid.tolist() == [True, True]
    assert 'gt_scene_label' not in a and 'gt_material_seg' not in a
    b = ds[1]['data_samples']  # no Pascal-Part instance: objects only
    assert b.gt_sem_seg.data[0, 0].tolist() == [5, 5, 6, 6, 6, 0]
    assert b.gt_part_valid.tolist() == [False, False]
    assert (b.gt_part_seg.data == 255).all()


def test_pascal_part_unknown_to_part2ind_is_named(pascal_tree):
    meta, data = pascal_tree
    path = f'{data}/pascal/part/Annotations_Part/2008_000010.mat'
    _pascal_anno(path, [(3, _cols(2), [('tail', _cols(2))])])
    from upertool.datasets.broden import LoadBrodenAnnotations
    from upertool.datasets.broden_pascal import PascalLayout

    info = PascalLayout(f'{data}/pascal').record(1, 'pascal.json line 1')
    with pytest.raises(ValueError, match=r"line 1: .*2008_000010.mat has part 'tail' of object 3"):
        LoadBrodenAnnotations(meta)(dict(info, broden_source='pascal', record='pascal.json line 1'))
