"""Case 9: each bad input gives one message naming the file and the problem."""

import errno
import os

import numpy as np
import pytest
import torch
from PIL import Image

from upertool.checkpoint import load_checkpoint_file
from upertool.checkpoint.atomic_io import atomic_torch_save
from upertool.checkpoint.safe_load import CheckpointReadError
from upertool.datasets import FolderSegDataset
from upertool.datasets.file_scan import SymlinkLoopError
from upertool.datasets.folder import index_mask_folder
from upertool.datasets.synthetic import remove_stale_temporaries


def test_symlink_loop_under_a_data_folder_is_named(tmp_path):
    root = tmp_path / 'data'
    (root / 'images' / 'sub').mkdir(parents=True)
    (root / 'masks').mkdir()
    os.symlink('..', root / 'images' / 'sub' / 'up')
    with pytest.raises(SymlinkLoopError, match=r"images/sub/up' leads back to"):
        FolderSegDataset(data_root=str(root), metainfo=dict(classes=['a', 'b']))


@pytest.mark.parametrize(
    'name, content, message',
    [
        ('notes.pth', b'e' + b'hello, this is text\n', 'is not a torch checkpoint'),
        ('model.safetensors', b'garbage' * 3, 'is not a valid .safetensors file'),
    ],
)
def test_files_that_are_not_checkpoints(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CheckpointReadError, match=rf'{name} {message}'):
        load_checkpoint_file(path)


def test_pickle_renamed_safetensors(tmp_path):
    path = tmp_path / 'model.safetensors'
    torch.save(dict(w=torch.ones(2)), path)
    with pytest.raises(CheckpointReadError, match='must keep its .pth name'):
        load_checkpoint_file(path)


def test_disk_full_during_a_save_says_so_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'iter_2.pth'
    atomic_torch_save(dict(w=torch.ones(2)), path)
    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        raise RuntimeError('[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0')

    monkeypatch.setattr(torch, 'save', full_disk)
    with pytest.raises(OSError, match=r'no space left while writing .*iter_2.pth.*kept') as err:
        atomic_torch_save(dict(w=torch.zeros(2)), path)
    assert err.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert torch.equal(torch.load(path)['w'], torch.ones(2))
    assert os.listdir(tmp_path) == ['iter_2.pth']


def test_empty_image_array_at_inference():
    from upertool.apis.inference import _check_image
    from upertool.datasets.transforms import LoadImageFromNDArray

    with pytest.raises(ValueError, match=r'empty \(\(0, 5, 3\)\)'):
        _check_image(np.zeros((0, 5, 3), np.uint8))
    with pytest.raises(ValueError, match='empty'):
        LoadImageFromNDArray()(dict(img=np.zeros((4, 0, 3), np.uint8)))


def test_colour_masks_of_a_read_only_folder_go_to_a_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    ann = tmp_path / 'data' / 'masks'
    ann.mkdir(parents=True)
    assert index_mask_folder(str(ann)) == str(ann) + '_index'
    real_access = os.access
    monkeypatch.setattr(
        os,
        'access',
        lambda p, mode: (
            False if str(p).startswith(str(tmp_path / 'data')) else real_access(p, mode)
        ),
    )
    folder = index_mask_folder(str(ann))
    assert folder.startswith(str(tmp_path / 'cache' / 'upertool' / 'index_masks'))

    # end to end: a colour-mask dataset whose folder cannot be written
    (tmp_path / 'data' / 'images').mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / 'data/images/a.png')
    colour = np.zeros((4, 4, 3), np.uint8)
    colour[:2] = (255, 0, 0)
    Image.fromarray(colour).save(ann / 'a.png')
    ds = FolderSegDataset(
        data_root=str(tmp_path / 'data'),
        metainfo=dict(classes=['bg', 'red'], palette=[[0, 0, 0], [255, 0, 0]]),
    )
    assert ds.get_data_info(0)['seg_map_path'].startswith(folder)
    assert not (tmp_path / 'data' / 'masks_index').exists()


def test_killed_generation_leaves_nothing_behind(tmp_path):
    dead = tmp_path / '.abc123.tmp-999999999-xyz'  # no such process
    live = tmp_path / f'.abc123.tmp-{os.getpid()}-xyz'
    dead.mkdir()
    live.mkdir()
    removed = remove_stale_temporaries(str(tmp_path), 'abc123')
    assert removed == [str(dead)] and live.exists() and not dead.exists()
