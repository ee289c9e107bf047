"""The synthetic multi-task set, MultiSourceDataset and the multi-task transforms."""
import os.path as osp

import numpy as np
import pytest

from upertool.datasets import MultiSourceDataset, SyntheticMultiTaskDataset
from upertool.datasets.synthetic_multitask import PART_GROUPS, MultiTaskSceneGenerator

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadMultiTaskAnnotations'),
            dict(type='PackMultiTaskInputs')]


@pytest.fixture(scope='module')
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp('upp'))


def _sources(cache, **extra):
    common = dict(type='SyntheticMultiTaskDataset', num_train=12, num_parsing=8, num_val=4,
                  image_size=48, cache_dir=cache)
    return [dict(name='parsing', tasks=['object', 'part', 'scene'],
                 dataset=dict(common, split='train', subset='parsing')),
            dict(name='materials', tasks=['material'],
                 dataset=dict(common, split='train', subset='materials', **extra))]


def test_generator_annotations_follow_their_rules():
    gen = MultiTaskSceneGenerator(image_size=64)
    with_parts = {obj for obj, _ in PART_GROUPS}
    for i in range(20):
        out = gen.render_multi_task(np.random.default_rng([0, 0, i]))
        obj, part, mat = out['object'], out['part'], out['material']
        assert set(np.unique(mat)) <= {0, 1, 2, 3}
        inside = np.isin(obj, list(with_parts))
        assert (part[~inside] == 255).all()
        assert set(np.unique(part[inside])) <= {0, 1}
        areas = np.bincount(obj.ravel(), minlength=6)[1:]
        assert out['scene'] == int(areas.argmax())


def test_sources_write_and_read_only_their_annotations(cache):
    ds = MultiSourceDataset(_sources(cache), pipeline=PIPELINE)
    assert ds.source_ranges == [(0, 8), (8, 12)]
    parsing, materials = ds[0]['data_samples'], ds[9]['data_samples']
    assert parsing.metainfo['source'] == 'parsing'
    assert set(parsing.keys()) == {'gt_sem_seg', 'gt_part_seg', 'gt_scene_label'}
    assert set(materials.keys()) == {'gt_material_seg'}
    assert materials.metainfo['tasks'] == ('material',)
    root = osp.dirname(osp.dirname(osp.dirname(ds.get_data_info(9)['material_seg_map_path'])))
    assert not osp.exists(osp.join(root, 'object', 'train', '00009.png'))
    val = SyntheticMultiTaskDataset(split='val', num_val=4, image_size=48, cache_dir=cache,
                                    num_train=12, num_parsing=8)
    assert {'seg_map_path', 'part_seg_map_path', 'material_seg_map_path',
            'scene_label'} <= set(val.get_data_info(0))


def test_undeclared_annotations_are_dropped_and_missing_ones_named(cache):
    sources = _sources(cache)
    sources[0]['tasks'] = ['object']  # parts and scene exist on disk but are not declared
    ds = MultiSourceDataset(sources, pipeline=PIPELINE)
    assert set(ds[0]['data_samples'].keys()) == {'gt_sem_seg'}
    sources[1]['tasks'] = ['material', 'scene']
    with pytest.raises(ValueError, match=r"source 'materials' declares task 'scene' but "
                                         r"sample '.*00008.png' has no scene_label"):
        MultiSourceDataset(sources, pipeline=PIPELINE).get_data_info(8)


def test_bad_sources_are_named(cache):
    sources = _sources(cache)
    sources[1]['tasks'] = ['materials']
    with pytest.raises(ValueError, match=r"source 'materials' names tasks \['materials'\]"):
        MultiSourceDataset(sources)
    with pytest.raises(ValueError, match='2 sources'):
        MultiSourceDataset(_sources(cache), weights=[1.0])
    with pytest.raises(ValueError, match="subsets 'parsing' and 'materials'"):
        SyntheticMultiTaskDataset(split='train', subset='all', cache_dir=cache)
