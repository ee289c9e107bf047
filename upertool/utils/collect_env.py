"""`collect_env` of mmsegmentation 1.x: mmengine's environment report plus upertool's version."""
from __future__ import annotations


def collect_env() -> dict:
    """Versions of Python, torch, CUDA, compilers, mmengine, mmcv and upertool, as a dict."""
    from mmengine.utils.dl_utils import collect_env as collect_base_env

    import upertool

    env = collect_base_env()
    env['upertool'] = upertool.__version__
    return env
