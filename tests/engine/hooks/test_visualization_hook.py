"""SegVisualizationHook: files written through the visualizer, alone and inside a Runner."""
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.visualization import Visualizer

from upertool.engine.hooks import SegVisualizationHook
from upertool.registry import HOOKS
from upertool.structures import PixelData, SegDataSample
from upertool.visualization import SegLocalVisualizer

H, W = 8, 10
META = dict(classes=('a', 'b'), palette=[[255, 0, 0], [0, 0, 255]])


def write_images(folder, n: int) -> list[str]:
    paths = []
    for i in range(n):
        path = folder / f'img{i}.jpg'
        cv2.imwrite(str(path), np.full((H, W, 3), 40 * i, np.uint8))
        paths.append(str(path))
    return paths


def sample(path: str) -> SegDataSample:
    s = SegDataSample(metainfo=dict(img_path=path))
    s.gt_sem_seg = PixelData(data=torch.zeros(1, H, W, dtype=torch.long))
    s.pred_sem_seg = PixelData(data=torch.ones(1, H, W, dtype=torch.long))
    return s


def fake_runner(tmp_path, name: str) -> SimpleNamespace:
    vis = SegLocalVisualizer(name=name, vis_backends=[dict(type='LocalVisBackend')],
                             save_dir=str(tmp_path / 'out'), **META)
    return SimpleNamespace(visualizer=vis, iter=0)


def vis_files(tmp_path) -> list[str]:
    folder = tmp_path / 'out' / 'vis_data' / 'vis_image'
    return sorted(p.name for p in folder.glob('*.png')) if folder.exists() else []


def test_after_test_iter_draws_every_sample(tmp_path):
    paths = write_images(tmp_path, 3)
    runner = fake_runner(tmp_path, 'hook_test_all')
    hook = HOOKS.build(dict(type='SegVisualizationHook', draw=True))
    hook.after_test_iter(runner, 0, {}, [sample(paths[0]), sample(paths[1])])
    hook.after_test_iter(runner, 1, {}, [sample(paths[2])])
    assert vis_files(tmp_path) == ['test_img0.jpg_1.png', 'test_img1.jpg_2.png',
                                   'test_img2.jpg_3.png']
    drawn = cv2.imread(str(tmp_path / 'out/vis_data/vis_image/test_img0.jpg_1.png'))
    assert drawn.shape == (H, 3 * W, 3)


def test_draw_false_writes_nothing(tmp_path):
    paths = write_images(tmp_path, 1)
    runner = fake_runner(tmp_path, 'hook_test_off')
    hook = SegVisualizationHook()
    hook.after_test_iter(runner, 0, {}, [sample(paths[0])])
    hook.after_val_iter(runner, 0, {}, [sample(paths[0])])
    assert vis_files(tmp_path) == []


def test_after_val_iter_draws_first_sample_every_interval(tmp_path):
    paths = write_images(tmp_path, 2)
    runner = fake_runner(tmp_path, 'hook_test_val')
    hook = SegVisualizationHook(draw=True, interval=2)
    for batch_idx in range(4):
        hook.after_val_iter(runner, batch_idx, {}, [sample(paths[0]), sample(paths[1])])
    assert vis_files(tmp_path) == ['val_img0.jpg_0.png', 'val_img0.jpg_2.png']


def test_show_drops_backends(tmp_path, monkeypatch):
    paths = write_images(tmp_path, 1)
    runner = fake_runner(tmp_path, 'hook_test_show')
    shown = []
    monkeypatch.setattr(runner.visualizer, 'show', lambda img, **kw: shown.append(img.shape))
    hook = SegVisualizationHook(draw=True, show=True)
    with pytest.warns(UserWarning, match='show=True'):
        hook.after_test_iter(runner, 0, {}, [sample(paths[0])])
    assert shown == [(H, 3 * W, 3)] and vis_files(tmp_path) == []


def test_clear_errors(tmp_path):
    hook = SegVisualizationHook(draw=True)
    runner = fake_runner(tmp_path, 'hook_test_err')
    with pytest.raises(FileNotFoundError, match='missing.jpg'):
        hook.after_test_iter(runner, 0, {}, [sample(str(tmp_path / 'missing.jpg'))])
    plain = SimpleNamespace(visualizer=Visualizer(name='hook_test_plain'), iter=0)
    with pytest.raises(TypeError, match='SegLocalVisualizer'):
        hook.after_test_iter(plain, 0, {}, [sample(write_images(tmp_path, 1)[0])])
    with pytest.raises(ValueError, match='interval'):
        SegVisualizationHook(interval=0)


class _ListDataset(torch.utils.data.Dataset):
    metainfo = META

    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return dict(inputs=torch.zeros(3, H, W), data_samples=sample(self.paths[i]))


class _PredictGt(BaseModel):
    """Predicts the ground truth: enough to drive mmengine's test loop."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        for s in data_samples:
            s.pred_sem_seg = PixelData(data=s.gt_sem_seg.data.clone())
        return data_samples


def test_runner_test_writes_under_work_dir_timestamp_vis_data(tmp_path):
    paths = write_images(tmp_path, 3)
    runner = Runner(
        model=_PredictGt(), work_dir=str(tmp_path / 'work'), default_scope='upertool',
        test_dataloader=dict(dataset=_ListDataset(paths), batch_size=2, num_workers=0,
                             sampler=dict(type='DefaultSampler', shuffle=False)),
        test_cfg=dict(type='TestLoop'), test_evaluator=dict(type='IoUMetric'),
        default_hooks=dict(visualization=dict(type='SegVisualizationHook', draw=True)),
        visualizer=dict(type='SegLocalVisualizer', name='hook_runner_vis',
                        vis_backends=[dict(type='LocalVisBackend')]),
        env_cfg=dict(dist_cfg=dict(backend='gloo')), log_level='WARNING')
    metrics = runner.test()
    assert metrics['mIoU'] == 100.0
    folder = tmp_path / 'work' / runner.timestamp / 'vis_data' / 'vis_image'
    assert sorted(p.name for p in folder.glob('*.png')) == [
        'test_img0.jpg_1.png', 'test_img1.jpg_2.png', 'test_img2.jpg_3.png']
    # the loop handed the dataset's metainfo to the visualizer: gt panel in class 'a' red
    drawn = cv2.imread(str(folder / 'test_img2.jpg_3.png'))[..., ::-1]
    assert drawn.shape == (H, 3 * W, 3)
    assert drawn[0, W, 0] > drawn[0, W, 2]
