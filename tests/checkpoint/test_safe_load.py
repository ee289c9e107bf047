"""upertool.checkpoint.load_checkpoint_file: allowlisted weights_only loading, offline."""
import builtins
import os
import pickle
import shlex
import socket
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from upertool.checkpoint import (
    SAFE_GLOBALS,
    TRUST_ENV_VAR,
    OfflineCheckpointError,
    UnsafeCheckpointError,
    load_checkpoint_file,
    trusted_checkpoints,
)


class _ShellPayload:
    """Unpickling this runs a shell command (how a hostile checkpoint runs code)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {shlex.quote(str(self.marker))}',)


class _ExecPayload:
    """Unpickling this runs Python source through builtins.exec."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f'open({str(self.marker)!r}, "w").write("pwned")',)


class _GetattrPayload:
    """Abuses getattr (which mmengine's HistoryBuffer pickles need) to reach internals."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError('checkpoint loading tried the network')
    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(socket, 'create_connection', refuse)
    monkeypatch.setattr(socket, 'getaddrinfo', refuse)


def _hostile(tmp_path, payload_cls, zip_format=True):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'hostile.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': payload_cls(marker)}, path,
               _use_new_zipfile_serialization=zip_format)
    return path, marker


def test_loads_weights_and_numpy_metadata(tmp_path):
    path = tmp_path / 'ckpt.pth'
    state = OrderedDict(w=torch.arange(6.).reshape(2, 3), b=torch.ones(2, dtype=torch.int64))
    meta = dict(classes=('a', 'b'), palette=np.array([[1, 2, 3]], dtype=np.uint8),
                eta=np.float64(2.5), mask=np.array([True, False]), dtype=np.dtype('float32'))
    torch.save(dict(state_dict=state, meta=meta), path)

    loaded = load_checkpoint_file(path)

    assert list(loaded['state_dict']) == ['w', 'b']
    assert torch.equal(loaded['state_dict']['w'], state['w'])
    assert loaded['state_dict']['b'].dtype == torch.int64
    assert loaded['meta']['classes'] == ('a', 'b')
    np.testing.assert_array_equal(loaded['meta']['palette'], meta['palette'])
    assert loaded['meta']['palette'].dtype == np.uint8
    assert loaded['meta']['eta'] == 2.5 and isinstance(loaded['meta']['eta'], np.float64)
    np.testing.assert_array_equal(loaded['meta']['mask'], [True, False])
    assert loaded['meta']['dtype'] == np.dtype('float32')


def test_history_buffer_round_trip(tmp_path):
    buffer = HistoryBuffer()
    for value in (1.0, 2.0, 4.0):
        buffer.update(value)
    path = tmp_path / 'hub.pth'
    torch.save({'message_hub': {'log_scalars': {'train/loss': buffer}}}, path)

    loaded = load_checkpoint_file(path)['message_hub']['log_scalars']['train/loss']

    assert isinstance(loaded, HistoryBuffer)
    assert loaded.mean() == pytest.approx(7 / 3)
    assert loaded.current() == 4.0


def test_numpy1_spelling_in_legacy_format_loads(tmp_path):
    """Checkpoints written under numpy 1.x name numpy.core.multiarray, not numpy._core."""
    path = tmp_path / 'legacy.pth'
    torch.save({'eta': np.float64(3.0), 'hist': np.arange(3)}, path,
               _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    assert b'numpy._core.multiarray' in data
    path.write_bytes(data.replace(b'numpy._core.multiarray', b'numpy.core.multiarray'))

    loaded = load_checkpoint_file(path)

    assert loaded['eta'] == 3.0
    np.testing.assert_array_equal(loaded['hist'], [0, 1, 2])


@pytest.mark.parametrize('zip_format', [True, False], ids=['zip', 'legacy'])
@pytest.mark.parametrize('payload_cls, named', [(_ShellPayload, 'posix.system (os.system)'),
                                                (_ExecPayload, 'builtins.exec')])
def test_code_running_pickle_is_refused_without_running(tmp_path, payload_cls, named,
                                                        zip_format):
    path, marker = _hostile(tmp_path, payload_cls, zip_format)

    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(path)

    message = str(info.value)
    assert str(path) in message
    assert named in message
    assert f'{TRUST_ENV_VAR}=1' in message and 'trusted_checkpoints()' in message
    assert not marker.exists()


def test_getattr_beyond_history_buffer_methods_is_refused(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save({'meta': _GetattrPayload()}, path)

    refused = r"builtins\.getattr\(HistoryBuffer,'__init__'\)"
    with pytest.raises(UnsafeCheckpointError, match=refused):
        load_checkpoint_file(path)


def test_trusted_checkpoints_context_allows_full_pickle(tmp_path):
    path, marker = _hostile(tmp_path, _ExecPayload)

    with trusted_checkpoints():
        loaded = load_checkpoint_file(path)

    assert marker.read_text() == 'pwned'
    assert torch.equal(loaded['state_dict']['w'], torch.zeros(1))
    with pytest.raises(UnsafeCheckpointError):  # only inside the block
        load_checkpoint_file(path)


def test_trust_env_var_allows_full_pickle_in_subprocess(tmp_path):
    path, marker = _hostile(tmp_path, _ShellPayload)
    code = ('import sys; from upertool.checkpoint import load_checkpoint_file; '
            'print(sorted(load_checkpoint_file(sys.argv[1])))')
    env = {**os.environ, TRUST_ENV_VAR: '1'}

    result = subprocess.run([sys.executable, '-c', code, str(path)], env=env,
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert "['meta', 'state_dict']" in result.stdout
    assert marker.exists()


@pytest.mark.parametrize('url', [
    'https://download.openmmlab.com/x/upernet_r50-123.pth', 'http://host/weights.bin',
    'open-mmlab://resnet50_v1c', 'openmmlab://resnet50_v1c', 'torchvision://resnet50',
    'modelzoo://resnet50', 'mmcls://resnet50', 'pavi://model/1', 's3://bucket/w.pth',
    'open-mmlab:s3://bucket/w.pth', 'hf://org/model'])
def test_urls_fail_offline_with_instructions(url, no_network):
    with pytest.raises(OfflineCheckpointError) as info:
        load_checkpoint_file(url)

    message = str(info.value)
    assert url in message and 'cannot download' in message
    assert "init_cfg=dict(type='Pretrained', checkpoint='checkpoints/" in message
    assert "load_from='checkpoints/" in message


def test_zoo_names_resolve_to_their_download_url(no_network):
    with pytest.raises(OfflineCheckpointError) as info:
        load_checkpoint_file('open-mmlab://resnet50_v1c')

    message = str(info.value)
    url = 'https://download.openmmlab.com/pretrain/third_party/resnet50_v1c-2cccc1ad.pth'
    assert url in message
    assert "checkpoint='checkpoints/resnet50_v1c-2cccc1ad.pth'" in message


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / 'nope.pth'
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint_file(missing)
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        load_checkpoint_file(tmp_path)


@pytest.mark.parametrize('damage', ['text', 'empty', 'truncated'])
def test_not_a_checkpoint_names_the_file(tmp_path, damage):
    path = tmp_path / 'broken.pth'
    if damage == 'text':
        path.write_text('not a checkpoint')
    elif damage == 'empty':
        path.write_bytes(b'')
    else:
        torch.save({'w': torch.zeros(64)}, path)
        path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(RuntimeError, match='broken.pth could not be read as a torch checkpoint'):
        load_checkpoint_file(path)


def test_non_dict_content_is_refused(tmp_path):
    path = tmp_path / 'tensor.pth'
    torch.save(torch.zeros(2), path)
    with pytest.raises(TypeError, match='holds a Tensor, not a dict'):
        load_checkpoint_file(path)


def test_safetensors_without_the_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'safetensors', None)
    monkeypatch.setitem(sys.modules, 'safetensors.torch', None)
    path = tmp_path / 'model.safetensors'
    path.write_bytes(b'\x00' * 8)

    with pytest.raises(ImportError, match='pip install safetensors') as info:
        load_checkpoint_file(path)
    assert 'model.safetensors' in str(info.value)


@pytest.mark.extras  # safetensors is an optional package, installed in CI's extras stage
def test_safetensors_loads(tmp_path):
    safetensors_torch = pytest.importorskip('safetensors.torch')
    path = tmp_path / 'model.safetensors'
    safetensors_torch.save_file({'w': torch.arange(4.)}, str(path))

    loaded = load_checkpoint_file(path, map_location=None)

    assert torch.equal(loaded['w'], torch.arange(4.))


def test_allowlist_holds_no_code_runners():
    objects = [entry[0] if isinstance(entry, tuple) else entry for entry in SAFE_GLOBALS]
    names = [entry[1] for entry in SAFE_GLOBALS if isinstance(entry, tuple)]
    dangerous = {builtins.getattr, builtins.eval, builtins.exec, builtins.__import__,
                 os.system, pickle.loads, subprocess.Popen}
    assert not dangerous & set(objects)
    assert not any(obj.__module__ in ('os', 'posix', 'sys', 'subprocess', 'builtins')
                   for obj in objects)
    assert 'builtins.getattr' in names  # served by the restricted stand-in
