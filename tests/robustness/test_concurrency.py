"""Case 10: two runs never share a log folder, a work dir or an --out folder."""

import multiprocessing as mp

import pytest

from upertool.engine.run_lock import RunLock, RunLockedError, claim_log_dir


def test_same_second_runs_get_their_own_log_folders(tmp_path):
    names = [claim_log_dir(str(tmp_path), '20261204_213000') for _ in range(3)]
    assert names == ['20261204_213000', '20261204_213000_2', '20261204_213000_3']


def test_two_runners_started_together_log_apart(robust, tmp_path):
    from upertool.engine.run_lock import install_unique_log_dir

    install_unique_log_dir()
    first = robust.toy_runner(tmp_path, max_iters=1)
    second = robust.toy_runner(tmp_path, max_iters=1)
    assert first.log_dir != second.log_dir


def _hold(folder, ready, done):
    with RunLock(folder, 'training'):
        ready.set()
        done.wait(30)


def test_a_second_run_on_a_held_folder_stops_naming_the_first(tmp_path):
    ctx = mp.get_context('fork')
    ready, done = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(tmp_path), ready, done))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(RunLockedError, match=rf'in use: process {holder.pid} .*training'):
            RunLock(str(tmp_path), 'training').acquire()
    finally:
        done.set()
        holder.join(30)
    with RunLock(str(tmp_path), 'training'):  # released at exit
        pass


def test_a_killed_holder_s_lock_is_taken_over(tmp_path):
    ctx = mp.get_context('fork')
    ready, done = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(tmp_path), ready, done))
    holder.start()
    assert ready.wait(30)
    holder.kill()
    holder.join(30)
    assert (tmp_path / '.upertool.lock').exists()
    with RunLock(str(tmp_path), 'training') as lock:
        assert lock.held
    assert not (tmp_path / '.upertool.lock').exists()
