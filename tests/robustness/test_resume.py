"""Case 5: --resume without (or with a stale) last_checkpoint never restarts from zero."""

import shutil

import pytest
import torch

from upertool.checkpoint.resume import ResumeError, find_resume_checkpoint


def _ckpt(path, iteration):
    torch.save(dict(meta=dict(iter=iteration), state_dict=dict(w=torch.ones(1))), path)


def test_missing_pointer_falls_back_to_the_newest_readable(tmp_path):
    _ckpt(tmp_path / 'iter_10.pth', 10)
    _ckpt(tmp_path / 'iter_20.pth', 20)
    (tmp_path / 'iter_30.pth').write_bytes(b'PK\x03\x04 truncated')  # not a whole checkpoint
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_20.pth')


def test_a_newer_checkpoint_than_the_pointer_wins(tmp_path):
    """SIGINT between the checkpoint's rename and the pointer's write."""
    _ckpt(tmp_path / 'iter_10.pth', 10)
    _ckpt(tmp_path / 'iter_20.pth', 20)
    (tmp_path / 'last_checkpoint').write_text('iter_10.pth')
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_20.pth')


def test_a_moved_work_dir_resumes_from_its_own_files(tmp_path):
    old = tmp_path / 'old'
    old.mkdir()
    _ckpt(old / 'iter_10.pth', 10)
    (old / 'last_checkpoint').write_text(str(old / 'iter_10.pth'))  # as mmengine wrote it
    new = tmp_path / 'new'
    shutil.move(str(old), str(new))
    assert find_resume_checkpoint(str(new)) == str(new / 'iter_10.pth')


def test_only_unreadable_checkpoints_refuse_to_start_over(tmp_path):
    (tmp_path / 'iter_20.pth').write_bytes(b'')
    with pytest.raises(ResumeError, match=r'iter_20.pth: empty file.*Refusing'):
        find_resume_checkpoint(str(tmp_path))


def test_empty_work_dir_starts_from_zero(tmp_path):
    assert find_resume_checkpoint(str(tmp_path)) is None


def test_pointer_is_written_relative_and_mmengine_uses_the_fallback(robust, tmp_path):
    from mmengine.runner import checkpoint as mm_checkpoint

    runner = robust.toy_runner(tmp_path, max_iters=2)
    runner.train()
    assert (tmp_path / 'last_checkpoint').read_text() == 'iter_2.pth'
    (tmp_path / 'last_checkpoint').unlink()
    assert mm_checkpoint.find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')
