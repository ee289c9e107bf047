"""tools/analysis/analyze_logs.py on hand-written scalars.json files (mmengine's layout)."""
import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    'analysis_helpers', Path(__file__).with_name('analysis_helpers.py'))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)
tool = helpers.load_tool('tools/analysis/analyze_logs.py')


def write_run(work: Path, stamp: str, steps: range, offset: float, val_every: int) -> None:
    folder = work / stamp / 'vis_data'
    folder.mkdir(parents=True)
    lines = []
    for step in steps:
        lines.append(dict(lr=0.01, loss=2.0 / step + offset, **{'decode.loss_ce': 1.0 / step},
                          time=0.1 + (step == 30) * 0.4, data_time=0.01, iter=step, step=step))
        if step % val_every == 0:
            lines.append({'aAcc': 80.0, 'mIoU': 50.0 + step / 10 + offset, 'val/loss': 0.5,
                          'data_time': 0.01, 'time': 0.05, 'step': step})
    (folder / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in lines) + '\n')


@pytest.fixture
def runs(tmp_path):
    a, b = tmp_path / 'seed0', tmp_path / 'seed1'
    write_run(a, '20260101_000000', range(10, 60, 10), 0.0, 20)
    # seed1 was resumed: two timestamp folders make one run
    write_run(b, '20260101_000000', range(10, 40, 10), 0.1, 20)
    write_run(b, '20260101_010000', range(40, 60, 10), 0.1, 20)
    return a, b


def test_load_run_splits_train_and_validation_and_joins_resumed_parts(runs):
    run = tool.load_run(str(runs[1]))
    assert [r['step'] for r in run.train] == [10, 20, 30, 40, 50]
    assert [r['step'] for r in run.val] == [20, 40]
    kind, steps, values = tool.series(run, 'mIoU')
    assert kind == 'val' and steps == [20, 40] and values == pytest.approx([52.1, 54.1])
    assert tool.series(run, 'val/loss')[0] == 'val'
    assert tool.series(run, 'loss')[0] == 'train'


def test_plot_curve_draws_each_run_with_its_legend(runs, tmp_path):
    out = tmp_path / 'curves.png'
    tool.main(['plot_curve', *map(str, runs), '--keys', 'loss', 'mIoU', '--legend', 'A', 'B',
               '--out', str(out)])
    helpers.check_png(out, (600, 500), (900, 700), min_coloured=0.002)
    fig = tool.plot_curve([tool.load_run(str(r)) for r in runs], ['loss', 'mIoU'], ['A', 'B'],
                          str(tmp_path / 'again.png'))
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ['A', 'B']
        assert len(ax.get_lines()) == 2
    mIoU_lines = fig.axes[1].get_lines()
    assert list(mIoU_lines[0].get_xdata()) == [20, 40]


def test_unknown_key_lists_the_logged_keys_and_writes_nothing(runs, tmp_path):
    out = tmp_path / 'curves.png'
    with pytest.raises(SystemExit, match=r"no record of .*seed0 has the key 'mIou'. "
                                         r'Training keys: .*decode.loss_ce.*validation keys: '
                                         r'aAcc, data_time, mIoU, time, val/loss'):
        tool.main(['plot_curve', str(runs[0]), '--keys', 'loss', 'mIou', '--out', str(out)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ['seed0', 'seed1']  # no PNG, no temp


def test_folder_without_scalars_and_legend_mismatch(tmp_path, runs):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(SystemExit, match='no scalars.json in .*empty'):
        tool.main(['cal_train_time', str(tmp_path / 'empty')])
    with pytest.raises(SystemExit):  # argparse: 1 label for 2 runs
        tool.main(['plot_curve', *map(str, runs), '--legend', 'A', '--out', 'x.png'])


def test_cal_train_time_reports_mean_and_slowest(runs, capsys):
    tool.main(['cal_train_time', str(runs[0])])
    printed = capsys.readouterr().out
    assert 'average time per iteration: 0.1800 s over 5 logged intervals' in printed
    assert 'slowest: 0.5000 s (interval ending at iteration 30)' in printed
