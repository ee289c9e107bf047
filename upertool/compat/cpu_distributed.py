"""`--launcher pytorch` on machines without CUDA.

mmengine 0.10.x assumes a GPU per process: `init_dist('pytorch')` ->
`_init_dist_pytorch` calls `torch.cuda.set_device(LOCAL_RANK)` (an error on a
CPU-only torch) and `init_dist`'s default backend, like mmsegmentation's
`env_cfg.dist_cfg`, is 'nccl', which needs CUDA. `Runner.wrap_model` then passes
`device_ids=[LOCAL_RANK]` to `MMDistributedDataParallel`, which torch's
DistributedDataParallel refuses for a CPU module ("device_ids ... only work with
single-device/multiple-device GPU modules"), in every torch 2.x.

Patch points (CUDA, MLU, NPU and MUSA behaviour is unchanged):
- `mmengine.dist.utils._init_dist_pytorch`, looked up by `init_dist`: without any
  accelerator, no `set_device`, and 'nccl' becomes 'gloo'.
- `MMDistributedDataParallel.__init__`, built by `wrap_model` in both its branches
  (and per submodule by `MMSeparateDistributedDataParallel`): for a module that lives
  on the CPU, the one case torch refuses them, `device_ids` are dropped and SyncBN
  layers become BatchNorm (torch's DDP also refuses SyncBatchNorm on CPU, and
  `wrap_model` reverts SyncBN only for non-distributed runs).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._patching import replace_function


def _has_accelerator(dist_utils: Any) -> bool:
    return bool(torch.cuda.is_available() or dist_utils.is_mlu_available()
                or dist_utils.is_npu_available() or dist_utils.is_musa_available())


def _make_init_dist_pytorch(original: Any) -> Any:
    import mmengine.dist.utils as dist_utils
    from mmengine.logging import print_log

    def _init_dist_pytorch(backend: str, init_backend: str = 'torch', **kwargs: Any) -> None:
        """mmengine's `_init_dist_pytorch`; on CPU-only machines gloo, no set_device."""
        if _has_accelerator(dist_utils) or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':
            print_log("No CUDA device: using the 'gloo' backend instead of 'nccl' for "
                      'distributed training on CPU.', logger='current')
            backend = 'gloo'
        torch.distributed.init_process_group(backend=backend, **kwargs)
    return _init_dist_pytorch


def _on_cpu(module: Any) -> bool:
    tensors = [*module.parameters(), *module.buffers()] if isinstance(module, nn.Module) else []
    return bool(tensors) and all(t.device.type == 'cpu' for t in tensors)


def _make_ddp_init(original: Any) -> Any:
    from mmengine.logging import print_log
    from mmengine.model.utils import revert_sync_batchnorm

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if 'module' in kwargs:
            module = kwargs.pop('module')
        else:
            module, *args = args
        if _on_cpu(module):
            # torch's DDP takes device_ids for GPU modules only; CPU needs None.
            kwargs['device_ids'] = None
            kwargs.pop('output_device', None)
            if any(isinstance(m, nn.SyncBatchNorm) for m in module.modules()):
                # DDP refuses SyncBatchNorm on CPU ("only work with GPU modules"), and
                # it could not sync there anyway: BN with per-process statistics.
                print_log('SyncBN cannot sync CPU tensors: training it as BatchNorm with '
                          'per-process statistics under CPU DistributedDataParallel.',
                          logger='current')
                module = revert_sync_batchnorm(module)
        original(self, module, *args, **kwargs)
    return __init__


def install_launcher() -> None:
    """Patch mmengine's PyTorch-launcher init only (light: no mmengine.model import)."""
    import mmengine.dist.utils as dist_utils

    replace_function(dist_utils, '_init_dist_pytorch', _make_init_dist_pytorch)


def install() -> None:
    """Patch mmengine's PyTorch-launcher init and its DDP wrapper (idempotent)."""
    from mmengine.model.wrappers.distributed import MMDistributedDataParallel

    install_launcher()
    replace_function(MMDistributedDataParallel, '__init__', _make_ddp_init)
