"""One rank of a 2-process CPU run, started by test_cpu_distributed.py via torch.distributed.run.

Trains a real mmengine Runner with launcher='pytorch' (and mmsegmentation's default
dist_cfg backend 'nccl') for 2 iterations on a model with a SyncBN ConvModule, then
saves what the test checks: parameters before/after, backend and wrapper facts.
"""
import os
import sys

import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from upertool.compat import install_stack_fixes
from upertool.models.utils import ConvModule

install_stack_fixes()


class Net(BaseModel):
    def __init__(self):
        super().__init__()
        self.conv = ConvModule(3, 4, 3, padding=1, norm_cfg=dict(type='SyncBN'))
        self.cls = nn.Conv2d(4, 1, 1)

    def forward(self, img, target, mode='tensor'):
        out = self.cls(self.conv(img)).mean(dim=(1, 2, 3))
        if mode == 'loss':
            return dict(loss=((out - target) ** 2).mean())
        return out


class Data(Dataset):
    """Sample i differs from every other, so the two ranks see different batches."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        gen = torch.Generator().manual_seed(i)
        return dict(img=torch.rand(3, 8, 8, generator=gen) + i, target=torch.tensor(0.1 * i))


class Snapshot(Hook):
    def before_train(self, runner):
        self.before = {k: v.detach().clone() for k, v in runner.model.named_parameters()}


def main(out_dir):
    snapshot = Snapshot()
    net = Net()
    built_norm = type(net.conv.bn).__name__
    runner = Runner(
        model=net, work_dir=os.path.join(out_dir, 'work'), launcher='pytorch',
        env_cfg=dict(dist_cfg=dict(backend='nccl')),
        train_dataloader=dict(dataset=Data(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=None), custom_hooks=[snapshot],
        log_level='WARNING')
    runner.train()
    after = {k: v.detach().clone() for k, v in runner.model.named_parameters()}
    torch.save(dict(before=snapshot.before, after=after,
                    backend=torch.distributed.get_backend(),
                    world_size=torch.distributed.get_world_size(),
                    wrapper=type(runner.model).__name__,
                    device_ids=str(runner.model.device_ids),
                    built_norm=built_norm,
                    norm=type(runner.model.module.conv.bn).__name__),
               os.path.join(out_dir, f'rank{runner.rank}.pt'))
    # Shut gloo down before the interpreter does: a rank that exits with the process group
    # alive can abort in gloo's thread teardown ("terminate called without an active exception").
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1])
