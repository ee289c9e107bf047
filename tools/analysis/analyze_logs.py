"""Training curves and iteration times from mmengine's `vis_data/scalars.json`.

    python tools/analysis/analyze_logs.py plot_curve work_dirs/run_a work_dirs/run_b \\
        --keys loss decode.loss_ce mIoU --legend A B --out curves.png
    python tools/analysis/analyze_logs.py cal_train_time work_dirs/run_a

A run is a work dir (every `<timestamp>/vis_data/scalars.json` under it is read in time order,
so a resumed run is one curve), a log folder or a `scalars.json` file. Lines holding `lr` are
training records (plotted against their iteration); the others are validation records
(plotted against the iteration they were measured at, with markers). Validation loss, when
`ValLossHook` logged it, is the key `val/loss` (and `val/decode.loss_ce`, ...).
"""
from __future__ import annotations

import argparse
import glob
import json
import os.path as osp
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass

TRAIN_MARK = 'lr'  # mmengine logs the learning rate with every training record
NOT_CURVES = {'step', 'iter', 'epoch'}


@dataclass
class Run:
    """The scalar records of one run, split into training and validation lines."""

    source: str
    train: list[dict]
    val: list[dict]

    def keys(self, records: list[dict]) -> list[str]:
        return sorted({k for r in records for k in r} - NOT_CURVES)


def scalar_files(path: str) -> list[str]:
    """The scalars.json files that make up the run at `path`, oldest first."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise SystemExit(f'analyze_logs: {path} is neither a scalars.json file nor a folder')
    for pattern in ('scalars.json', osp.join('vis_data', 'scalars.json'),
                    osp.join('*', 'vis_data', 'scalars.json')):
        found = sorted(glob.glob(osp.join(glob.escape(path), pattern)))
        if found:
            return found
    raise SystemExit(f'analyze_logs: no scalars.json in {path} (looked for scalars.json, '
                     'vis_data/scalars.json and <timestamp>/vis_data/scalars.json; mmengine '
                     "writes it when the visualizer has a LocalVisBackend)")


def load_run(path: str) -> Run:
    """Read every record of a run; a later file's record replaces an earlier one's step."""
    train: dict[int, dict] = {}
    val: dict[int, dict] = {}
    for file in scalar_files(path):
        with open(file, encoding='utf-8') as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise SystemExit(f'analyze_logs: {file} line {number} is not JSON: '
                                     f'{err}') from err
                step = int(record.get('step', record.get('iter', 0)))
                target = train if TRAIN_MARK in record else val
                target.setdefault(step, {}).update(record)
    if not train and not val:
        raise SystemExit(f'analyze_logs: {path} holds no records')
    return Run(path, [train[s] | {'step': s} for s in sorted(train)],
               [val[s] | {'step': s} for s in sorted(val)])


def series(run: Run, key: str) -> tuple[str, list[int], list[float]]:
    """('train' or 'val', steps, values) of `key`; training records are looked at first."""
    for kind, records in (('train', run.train), ('val', run.val)):
        points = [(r['step'], float(r[key])) for r in records if key in r]
        if points:
            steps, values = zip(*points, strict=True)
            return kind, list(steps), list(values)
    raise SystemExit(
        f'analyze_logs: no record of {run.source} has the key {key!r}. Training keys: '
        f'{", ".join(run.keys(run.train)) or "none"}; validation keys: '
        f'{", ".join(run.keys(run.val)) or "none"}')


def plot_curve(runs: Sequence[Run], keys: Sequence[str], legend: Sequence[str], out: str,
               title: str | None = None):
    """One panel per key, one line per run, written to `out` (PNG) only once all is read.

    Returns the matplotlib Figure (its axes hold the lines and legends drawn).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from upertool.checkpoint.atomic_io import atomic_open
    data = {key: [series(run, key) for run in runs] for key in keys}  # fails before drawing
    fig = Figure(figsize=(7.5, 2.6 * len(keys) + 0.6), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(keys), 1, sharex=True, squeeze=False)[:, 0]
    for ax, key in zip(axes, keys, strict=True):
        for (kind, steps, values), label in zip(data[key], legend, strict=True):
            style = dict(marker='o', markersize=4) if kind == 'val' else dict(linewidth=1.2)
            ax.plot(steps, values, label=label, **style)
        kinds = {kind for kind, _, _ in data[key]}
        ax.set_ylabel(key)
        ax.set_title(f'{key} ({" / ".join(sorted(kinds)).replace("val", "validation")})',
                     fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[-1].set_xlabel('iteration')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_open(out, 'wb', durable=False) as f:
        fig.savefig(f, format='png')
    return fig


def train_time(run: Run) -> dict[str, float]:
    """Mean, slowest and fastest of the logged `time` values (each a window mean)."""
    records = [r for r in run.train if 'time' in r]
    if not records:
        raise SystemExit(f'analyze_logs: {run.source} has no training record with "time"')
    times = [float(r['time']) for r in records]
    slowest = max(records, key=lambda r: r['time'])
    fastest = min(records, key=lambda r: r['time'])
    return {'mean': statistics.fmean(times), 'slowest': float(slowest['time']),
            'slowest_step': slowest['step'], 'fastest': float(fastest['time']),
            'fastest_step': fastest['step'],
            'std': statistics.pstdev(times), 'records': len(times)}


def cal_train_time(runs: Sequence[Run]) -> None:
    for run in runs:
        t = train_time(run)
        print(f'-----Analyze train time of {run.source}-----')
        print(f'average time per iteration: {t["mean"]:.4f} s over {t["records"]} logged '
              'intervals (each value is the mean of its logging interval)')
        print(f'slowest: {t["slowest"]:.4f} s (interval ending at iteration '
              f'{t["slowest_step"]}); fastest: {t["fastest"]:.4f} s (iteration '
              f'{t["fastest_step"]}); std over intervals: {t["std"]:.4f} s')


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Analyze mmengine scalars.json logs')
    sub = parser.add_subparsers(dest='task', required=True)
    plot = sub.add_parser('plot_curve', help='plot keys of one or several runs')
    plot.add_argument('runs', nargs='+', help='work dirs, log folders or scalars.json files')
    plot.add_argument('--keys', nargs='+', default=['loss'], help='keys to plot')
    plot.add_argument('--legend', nargs='+', help='one label per run (default: the paths)')
    plot.add_argument('--title', help='figure title')
    plot.add_argument('--out', required=True, help='PNG file to write')
    timing = sub.add_parser('cal_train_time', help='average and slowest iteration times')
    timing.add_argument('runs', nargs='+', help='work dirs, log folders or scalars.json files')
    args = parser.parse_args(argv)
    if args.task == 'plot_curve':
        args.legend = args.legend or list(args.runs)
        if len(args.legend) != len(args.runs):
            parser.error(f'--legend has {len(args.legend)} labels for {len(args.runs)} runs')
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    runs = [load_run(path) for path in args.runs]
    if args.task == 'plot_curve':
        plot_curve(runs, args.keys, args.legend, args.out, args.title)
        print(f'analyze_logs: wrote {args.out}')
    else:
        cal_train_time(runs)


if __name__ == '__main__':
    main(sys.argv[1:])
