import numpy as np
import torch

from upertool.datasets.transforms import PackSegInputs, Resize
from upertool.datasets.transforms import TestTimeAug as TTA
from upertool.structures import PixelData, SegDataSample


def _results(h=5, w=6):
    rng = np.random.default_rng(0)
    return dict(img=rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
                gt_seg_map=rng.integers(0, 4, (h, w)).astype(np.uint8),
                seg_fields=['gt_seg_map'], img_path='a.jpg', seg_map_path='a.png',
                ori_shape=(h, w), img_shape=(h, w), scale_factor=(1., 1.), flip=False,
                flip_direction=None, reduce_zero_label=False, sample_idx=3, label_map=None)


def test_pack_types_shapes_and_values():
    res = _results()
    img, seg = res['img'].copy(), res['gt_seg_map'].copy()
    out = PackSegInputs()(res)
    assert set(out) == {'inputs', 'data_samples'}
    inputs = out['inputs']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 5, 6)
    assert torch.equal(inputs, torch.from_numpy(img).permute(2, 0, 1))
    sample = out['data_samples']
    assert isinstance(sample, SegDataSample) and isinstance(sample.gt_sem_seg, PixelData)
    gt = sample.gt_sem_seg.data
    assert gt.dtype == torch.int64 and gt.shape == (1, 5, 6)
    assert torch.equal(gt[0], torch.from_numpy(seg.astype(np.int64)))


def test_pack_metainfo_holds_exactly_the_present_meta_keys():
    res = _results()
    del res['scale_factor']
    sample = PackSegInputs()(res)['data_samples']
    assert set(sample.metainfo) == {'img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                                    'flip', 'flip_direction', 'reduce_zero_label'}
    assert sample.img_path == 'a.jpg' and sample.ori_shape == (5, 6)
    custom = PackSegInputs(meta_keys=('sample_idx',))(_results())['data_samples']
    assert set(custom.metainfo) == {'sample_idx'}


def test_pack_contiguous_after_flip_and_grey_and_no_mask():
    res = _results()
    res['img'] = res['img'][:, ::-1]
    out = PackSegInputs()(res)
    assert out['inputs'].is_contiguous()
    grey = dict(img=np.zeros((4, 3), np.uint8))
    out = PackSegInputs()(grey)
    assert out['inputs'].shape == (1, 4, 3) and 'gt_sem_seg' not in out['data_samples']


def test_tta_builds_upertool_transforms_without_default_scope():
    # mmcv's own TestTimeAug would build 'Resize' from mmengine's root registry (mmcv's)
    tta = TTA(transforms=[
        [dict(type='Resize', scale_factor=0.5, keep_ratio=True),
         dict(type='Resize', scale_factor=1.0, keep_ratio=True)],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='PackSegInputs')]])
    assert all(isinstance(s.transforms[0], Resize) for s in tta.subroutines)
    res = _results(8, 10)
    img = res['img'].copy()
    out = tta(res)
    assert len(out['inputs']) == 4 and len(out['data_samples']) == 4
    shapes = [tuple(x.shape) for x in out['inputs']]
    assert shapes == [(3, 4, 5), (3, 4, 5), (3, 8, 10), (3, 8, 10)]
    flips = [s.flip for s in out['data_samples']]
    assert flips == [False, True, False, True]
    assert torch.equal(out['inputs'][3], torch.from_numpy(img[:, ::-1].copy()).permute(2, 0, 1))
