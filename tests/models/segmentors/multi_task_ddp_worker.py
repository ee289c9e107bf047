"""One rank of a 2-process CPU run of the multi-task quickstart config, started by
test_multi_task_ddp.py through torch.distributed.run: 6 iterations on a tiny synthetic
multi-task set, recording each batch's source and the final parameters."""
import sys

import torch
from mmengine.config import Config
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.runner import Runner

from upertool.compat import install_stack_fixes

install_stack_fixes()
CONFIG = 'configs/upp/upernet-upp_r18-narrow_1xb8-2.4k_synthetic-multitask-96x96.py'


class RecordSources(Hook):
    def __init__(self):
        self.sources = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.sources.append(sorted({s.metainfo['source'] for s in data_batch['data_samples']}))


def main(out_dir: str) -> None:
    cfg = Config.fromfile(CONFIG)
    small = dict(num_train=24, num_parsing=16, num_val=4, image_size=32,
                 cache_dir=f'{out_dir}/data')
    for source in cfg.train_dataloader.dataset.sources:
        source.dataset.update(small)
    cfg.val_dataloader = cfg.test_dataloader = cfg.val_cfg = cfg.test_cfg = None
    cfg.val_evaluator = cfg.test_evaluator = None
    cfg.train_dataloader.batch_size = 2
    cfg.model.data_preprocessor.size = (32, 32)
    cfg.model.decode_head.sampler = None
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=6)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.default_hooks.pop('visualization')
    cfg.custom_hooks = []
    cfg.work_dir = f'{out_dir}/work'
    cfg.launcher = 'pytorch'
    runner = Runner.from_cfg(cfg)
    record = RecordSources()
    runner.register_hook(record)
    runner.train()
    model = runner.model.module
    torch.save(dict(sources=record.sources,
                    wrapper=type(runner.model).__name__,
                    params={k: v.detach().clone() for k, v in model.named_parameters()}),
               f'{out_dir}/rank{get_rank()}.pt')


if __name__ == '__main__':
    main(sys.argv[1])
