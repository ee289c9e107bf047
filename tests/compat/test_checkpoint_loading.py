"""mmengine's checkpoint load paths go through upertool's safe loader on torch >= 2.6."""
import os

import pytest
import torch
from mmengine.model import BaseModel, BaseModule
from mmengine.runner import Runner, load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
from torch import nn
from torch.utils.data import Dataset

from upertool.checkpoint import OfflineCheckpointError, UnsafeCheckpointError
from upertool.compat import checkpoint_loading, install_stack_fixes


class TinyNet(BaseModel):
    """A 1-layer regression model, enough for mmengine to save a full checkpoint."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, x, y, mode='tensor'):
        out = self.lin(x)
        if mode == 'loss':
            return dict(loss=((out - y) ** 2).mean())
        return out


class TinyData(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return dict(x=torch.tensor([float(i), 1.0]), y=torch.tensor([0.5 * i]))


def make_runner(work_dir, name, max_iters, **kwargs):
    return Runner(
        model=TinyNet(), work_dir=str(work_dir), experiment_name=name,
        train_dataloader=dict(dataset=TinyData(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        param_scheduler=dict(type='LinearLR', by_epoch=False, begin=0, end=4),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        log_level='WARNING', **kwargs)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Work dir of a real Runner trained 2 iterations with a checkpoint per iteration."""
    install_stack_fixes()
    work_dir = tmp_path_factory.mktemp('runner')
    runner = make_runner(work_dir, 'ckpt_source', max_iters=2)
    runner.train()
    return work_dir, runner.model.state_dict()


def test_stack_fixes_install_the_loader_once_the_runner_is_loaded():
    install_stack_fixes()  # what `import upertool` runs; mmengine.runner is loaded here
    get = CheckpointLoader._get_checkpoint_loader
    assert get('work_dirs/iter_2.pth') is checkpoint_loading.load_from_local_safe
    for url in ('https://x/y.pth', 'open-mmlab://resnet50_v1c', 'open-mmlab:s3://b/w.pth',
                'torchvision://resnet50', 'mmcls://x', 'pavi://x', 'hf://org/model'):
        assert get(url) is checkpoint_loading.load_from_url_offline, url


def test_installing_twice_changes_nothing():
    schemes = dict(CheckpointLoader._schemes)
    install_stack_fixes()
    checkpoint_loading.install()
    assert dict(CheckpointLoader._schemes) == schemes


def test_runner_checkpoint_needs_only_the_allowlist(trained):
    work_dir, _ = trained
    checkpoint = _load_checkpoint(str(work_dir / 'iter_2.pth'))
    assert {'meta', 'state_dict', 'message_hub', 'optimizer', 'param_schedulers'} <= set(checkpoint)
    loss = checkpoint['message_hub']['log_scalars']['train/loss']
    assert len(loss.data[0]) == 2  # the two logged losses came back as a HistoryBuffer


def test_runner_resumes(trained, tmp_path):
    work_dir, _ = trained
    runner = make_runner(tmp_path, 'resumed', max_iters=3,
                         load_from=str(work_dir / 'iter_2.pth'), resume=True)
    runner.train()

    assert runner.iter == 3
    assert sorted(p.name for p in tmp_path.glob('iter_*.pth')) == ['iter_3.pth']
    # 2 losses restored from the checkpoint's message hub + 1 from the resumed iteration.
    assert len(runner.message_hub.get_scalar('train/loss').data[0]) == 3
    assert runner.optim_wrapper.optimizer.state  # momentum buffers came back


def test_runner_load_from_loads_weights(trained, tmp_path):
    work_dir, weights = trained
    runner = make_runner(tmp_path, 'load_from', max_iters=2,
                         load_from=str(work_dir / 'iter_2.pth'))
    runner.load_or_resume()

    for key, value in runner.model.state_dict().items():
        assert torch.equal(value, weights[key]), key


def test_load_checkpoint_and_pretrained_init_cfg(trained):
    work_dir, weights = trained
    path = str(work_dir / 'iter_2.pth')

    model = TinyNet()
    load_checkpoint(model, path, map_location='cpu')
    assert torch.equal(model.lin.weight, weights['lin.weight'])

    class Pretrained(BaseModule):
        def __init__(self):
            super().__init__(init_cfg=dict(type='Pretrained', checkpoint=path))
            self.lin = nn.Linear(2, 1)

    module = Pretrained()
    module.init_weights()
    assert torch.equal(module.lin.bias, weights['lin.bias'])


def test_mmengine_paths_refuse_hostile_files(tmp_path):
    marker = tmp_path / 'pwned'

    class Payload:
        def __reduce__(self):
            return os.system, (f'touch {marker}',)

    path = tmp_path / 'hostile.pth'
    torch.save({'state_dict': {}, 'meta': Payload()}, path)

    with pytest.raises(UnsafeCheckpointError, match='hostile.pth'):
        load_checkpoint(TinyNet(), str(path))
    assert not marker.exists()


@pytest.mark.parametrize('url', ['open-mmlab://resnet50_v1c', 'https://host/r50.pth',
                                 'open-mmlab:s3://bucket/r50.pth'])
def test_mmengine_paths_fail_offline(url):
    with pytest.raises(OfflineCheckpointError, match='cannot download'):
        load_checkpoint(TinyNet(), url)


def test_missing_file_named_through_mmengine(tmp_path):
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        _load_checkpoint(str(tmp_path / 'absent.pth'))
