"""Kill a training run again and again, resume it each time, and compare with an unbroken run.

    python benchmarks/fault_injection_resume.py --iters 200 --kills 10

Trains the quickstart config (its 6000-image synthetic set, generated on first use) for
`--iters` iterations with a checkpoint every `--interval`, once without interruption and once
killed `--kills` times: SIGKILL and SIGINT alternate, after a random number of iterations;
half of the kills are aimed at a checkpoint write (fired the moment the atomic writer's
temporary file appears in the work dir, polled every 0.2 ms). After each kill the run is
restarted with `--resume`.
At the end the final checkpoints' weights (and optimizer state) must be equal bit for bit.

Determinism: both runs use the same fixed thread count (`--threads`, OMP_NUM_THREADS and
torch's intra-op threads) and seed; mmengine replays the sampler and the random flips of the
iterations a resumed run skips, so the batches are the same.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'configs/quickstart/upernet_r18-narrow_1xb8-2.4k_synthetic-96x96.py'


def train_command(work_dir: Path, iters: int, interval: int, resume: bool) -> list[str]:
    cmd = [sys.executable, str(REPO / 'tools/train.py'), str(CONFIG), '--work-dir', str(work_dir)]
    if resume:
        cmd.append('--resume')
    return cmd + [
        '--cfg-options',
        f'train_cfg.max_iters={iters}',
        f'train_cfg.val_interval={iters + 1}',
        f'default_hooks.checkpoint.interval={interval}',
        'default_hooks.checkpoint.max_keep_ckpts=2',
        'default_hooks.logger.interval=1',
    ]


def env(threads: int) -> dict[str, str]:
    return dict(
        os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED='1'
    )


def default_sigint() -> None:
    """A shell starts background jobs with SIGINT ignored, and Python then never raises
    KeyboardInterrupt: give the trainee the default disposition, as in a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def writing(work_dir: Path) -> bool:
    """Whether a checkpoint (or the pointer) is being written right now."""
    try:
        return any('.tmp-' in name for name in os.listdir(work_dir))
    except OSError:
        return False


class LogCounter:
    """Counts training iterations in the growing log, reading only what was appended."""

    def __init__(self, log: Path) -> None:
        self.log, self.offset, self.iters = log, 0, 0

    def update(self) -> int:
        try:
            with open(self.log, 'rb') as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            return self.iters
        cut = chunk.rfind(b'\n') + 1  # count whole lines only
        self.iters += chunk[:cut].count(b'Iter(train) [')
        self.offset += cut
        return self.iters


def one_killed_run(
    work_dir: Path, log: Path, args: argparse.Namespace, rng: random.Random, kill_no: int
) -> dict:
    sig = signal.SIGKILL if kill_no % 2 == 0 else signal.SIGINT
    aim_write = kill_no % 4 in (1, 2)  # half of the kills, both signals, at a checkpoint write
    counter = LogCounter(log)
    start_iters = counter.update()
    with open(log, 'a') as out:
        proc = subprocess.Popen(
            train_command(work_dir, args.iters, args.interval, True),
            cwd=REPO,
            env=env(args.threads),
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=default_sigint,
        )
    # train a random number of iterations, then fire at once, or the moment the atomic
    # writer's temporary file appears in the work dir (the next checkpoint write)
    target = rng.randint(3, 2 * args.interval)
    while proc.poll() is None and counter.update() - start_iters < target:
        time.sleep(0.02)
    during_write = False
    if aim_write:
        while proc.poll() is None and not during_write:
            during_write = writing(work_dir)
            if not during_write:
                time.sleep(0.0002)
    if proc.poll() is not None:
        return dict(signal=sig.name, fired=False, returncode=proc.returncode)
    proc.send_signal(sig)
    proc.wait()
    if proc.returncode == 0:
        raise SystemExit(f'the run ignored {sig.name} and finished; see {log}')
    return dict(
        signal=sig.name,
        fired=True,
        aimed_at_write=aim_write,
        during_write=during_write,
        iters_this_run=counter.update() - start_iters,
        returncode=proc.returncode,
    )


def load_final(path: Path) -> dict:
    import torch

    return torch.load(path, map_location='cpu', weights_only=False)


def compare(a: dict, b: dict) -> list[str]:
    import torch

    diffs = []
    for key in a['state_dict']:
        if not torch.equal(a['state_dict'][key], b['state_dict'][key]):
            diffs.append(key)
    for i, (sa, sb) in enumerate(
        zip(a['optimizer']['state'].values(), b['optimizer']['state'].values(), strict=True)
    ):
        for name in sa:
            if not torch.equal(torch.as_tensor(sa[name]), torch.as_tensor(sb[name])):
                diffs.append(f'optimizer.state[{i}].{name}')
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--iters', type=int, default=200)
    parser.add_argument('--kills', type=int, default=10)
    parser.add_argument('--interval', type=int, default=10, help='checkpoint interval')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0, help='seed of the kill schedule')
    parser.add_argument('--out', default='work_dirs/fault_injection')
    args = parser.parse_args()
    root = (REPO / args.out).resolve()
    if root.exists():
        import shutil

        shutil.rmtree(root)
    root.mkdir(parents=True)
    rng = random.Random(args.seed)

    t0 = time.perf_counter()
    ref_dir, ref_log = root / 'uninterrupted', root / 'uninterrupted.log'
    with open(ref_log, 'w') as out:
        code = subprocess.call(
            train_command(ref_dir, args.iters, args.interval, False),
            cwd=REPO,
            env=env(args.threads),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if code != 0:
        raise SystemExit(f'uninterrupted run failed ({code}); see {ref_log}')
    t_ref = time.perf_counter() - t0

    work, log = root / 'killed', root / 'killed.log'
    work.mkdir()
    t1 = time.perf_counter()
    kills = []
    while len([k for k in kills if k['fired']]) < args.kills:
        result = one_killed_run(work, log, args, rng, len(kills))
        kills.append(result)
        where = (
            ' during a checkpoint write (its temporary file was there)'
            if result.get('during_write')
            else ' at a random moment'
        )
        status = (
            f'{result["signal"]:7s} after {result.get("iters_this_run", "-"):>3} '
            f'logged iterations{where}'
            if result['fired']
            else f'run finished before the kill ({result["returncode"]})'
        )
        print(f'kill {len(kills):2d}: {status}', flush=True)
        if not result['fired']:
            break
    with open(log, 'a') as out:
        code = subprocess.call(
            train_command(work, args.iters, args.interval, True),
            cwd=REPO,
            env=env(args.threads),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if code != 0:
        raise SystemExit(f'final resumed run failed ({code}); see {log}')
    t_killed = time.perf_counter() - t1

    name = f'iter_{args.iters}.pth'
    diffs = compare(load_final(ref_dir / name), load_final(work / name))
    fired = [k for k in kills if k['fired']]
    print(
        f'\n{len(fired)} kills ({sum(k["signal"] == "SIGKILL" for k in fired)} SIGKILL, '
        f'{sum(k["signal"] == "SIGINT" for k in fired)} SIGINT; '
        f'{sum(bool(k.get("during_write")) for k in fired)} during a checkpoint write), '
        f'{args.iters} iterations, checkpoint every {args.interval}, {args.threads} threads'
    )
    print(f'uninterrupted run {t_ref:.0f} s; killed-and-resumed runs {t_killed:.0f} s in all')
    print(f'leftover temporaries: {[n for n in os.listdir(work) if ".tmp-" in n]}')
    if diffs:
        print(f'FINAL WEIGHTS DIFFER in {len(diffs)} tensors, e.g. {diffs[:5]}')
        raise SystemExit(1)
    print(f'final {name}: every weight and optimizer-state tensor equal bit for bit')


if __name__ == '__main__':
    main()
