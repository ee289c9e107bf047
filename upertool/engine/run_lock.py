"""One run per work dir / output folder, and one log folder per run.

- `RunLock(folder)`: a lock file `<folder>/.upertool.lock` naming the holder (pid, host,
  command, start time), created with O_EXCL. A second run on the same work dir (or `--out`
  folder) stops naming the first; a lock left by a killed process (no such pid on this host)
  is taken over, saying so.
- `install_unique_log_dir()`: mmengine names the log folder `<work_dir>/<YYYYmmdd_HHMMSS>`, so
  two runs started in the same second share it and one's log and metrics are lost; here the
  folder is claimed with `mkdir` and, if taken, `_2`, `_3`, ... is appended (single-process
  runs; distributed ranks must agree on the name, so they keep mmengine's).
"""

from __future__ import annotations

import json
import os
import os.path as osp
import socket
import sys
import time
from typing import Any

from upertool.datasets.synthetic import pid_alive

LOCK_NAME = '.upertool.lock'


class RunLockedError(RuntimeError):
    """Another live process holds the folder."""


class RunLock:
    """Hold `<folder>/.upertool.lock` while a run writes into `folder`.

    Args:
        folder: work dir or output folder (created if missing).
        purpose: what the run does there, for the message of a refused second run.
    """

    def __init__(self, folder: str, purpose: str) -> None:
        self.folder = osp.abspath(folder)
        self.path = osp.join(self.folder, LOCK_NAME)
        self.purpose = purpose
        self.held = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _holder(self) -> dict:
        try:
            with open(self.path, encoding='utf-8') as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def acquire(self) -> None:
        os.makedirs(self.folder, exist_ok=True)
        me = dict(
            pid=os.getpid(),
            host=socket.gethostname(),
            purpose=self.purpose,
            command=' '.join(sys.argv)[:300],
            started=time.strftime('%Y-%m-%d %H:%M:%S'),
        )
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self._holder()
                pid, host = holder.get('pid'), holder.get('host')
                if (isinstance(pid, int) and host == me['host'] and not pid_alive(pid)) or (
                    not holder and time.time() - _mtime(self.path) > 5
                ):
                    from mmengine.logging import print_log

                    print_log(
                        f'{self.path}: taking over the lock of process {pid}, which no '
                        'longer runs (killed?)',
                        logger='current',
                        level=30,
                    )
                    _remove(self.path)
                    continue
                if not holder:  # being written right now by its owner
                    time.sleep(0.2)
                    continue
                raise RunLockedError(
                    f'{self.folder} is in use: process {pid} on {host} ({holder.get("purpose")},'
                    f' started {holder.get("started")}: {holder.get("command")}) holds '
                    f'{self.path}. Wait for it, or use another folder; if that process is gone '
                    'for good, delete the lock file.'
                ) from None
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                json.dump(me, f)
            self.held = True
            return
        raise RunLockedError(f'could not take {self.path}; another run keeps taking it')

    def release(self) -> None:
        if self.held and self._holder().get('pid') == os.getpid():
            _remove(self.path)
        self.held = False


def _mtime(path: str) -> float:
    try:
        return osp.getmtime(path)
    except OSError:
        return time.time()


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def claim_log_dir(work_dir: str, timestamp: str) -> str:
    """A timestamp whose folder under `work_dir` this process created (`ts`, `ts_2`, ...)."""
    os.makedirs(work_dir, exist_ok=True)
    name, k = timestamp, 1
    while True:
        try:
            os.mkdir(osp.join(work_dir, name))
            return name
        except FileExistsError:
            k += 1
            name = f'{timestamp}_{k}'


def install_unique_log_dir() -> None:
    """Make every single-process Runner claim its own log folder (idempotent)."""
    from mmengine.dist import get_world_size
    from mmengine.runner import Runner

    from upertool.compat._patching import replace_function

    def make(original: Any) -> Any:
        def setup_env(self: Any, env_cfg: dict) -> None:
            original(self, env_cfg)
            if get_world_size() == 1:
                self._timestamp = claim_log_dir(self._work_dir, self._timestamp)

        return setup_env

    replace_function(Runner, 'setup_env', make)
