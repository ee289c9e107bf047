import importlib.util
from pathlib import Path

import pytest


def _helper():
    spec = importlib.util.spec_from_file_location(
        'tiny_segmentor', Path(__file__).with_name('tiny_segmentor.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def tiny():
    """tests/apis/tiny_segmentor.py as a module."""
    return _helper()


@pytest.fixture(scope='session')
def model_dir(tiny, tmp_path_factory):
    """A save_model folder of the tiny UPerNet."""
    return tiny.save_tiny(tmp_path_factory.mktemp('tiny_model'))


@pytest.fixture(scope='module')
def one_thread():
    """Tiny tensors: one torch thread. With two threads on a shared, busy machine the
    threads' synchronisation costs far more than the arithmetic (measured 0.34 s against
    0.03 s per 48x64 image)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
