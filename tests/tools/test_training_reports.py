"""Train a tiny quickstart with save-best, early stopping, EMA and --val-loss through
tools/train.py, then draw what it learned with tools/analysis/{confusion_matrix,analyze_logs}.
"""
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from upertool.evaluation.metric_reports import read_confusion_csv

_spec = importlib.util.spec_from_file_location(
    'analysis_helpers', Path(__file__).with_name('analysis_helpers.py'))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

pytestmark = pytest.mark.slow
CLASSES = ['background', 'circle', 'square', 'triangle', 'star', 'ring']
# the README's three config lines, on top of the quickstart
WATCHED = """_base_ = [{base!r}]
default_hooks = dict(checkpoint=dict(save_best='mIoU', rule='greater'))
custom_hooks = [
    dict(type='EMAHook', momentum=0.5),
    dict(type='EarlyStoppingHook', monitor='mIoU', patience=1, min_delta=100),
]
"""


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    """A run of up to 8 iterations validated every 2; early stopping ends it at 4."""
    base = tmp_path_factory.mktemp('watched')
    config = base / 'watched.py'
    config.write_text(WATCHED.format(base=helpers.CONFIG))
    cache, work = base / 'cache', base / 'work'
    options = helpers.tiny_options(cache, 8, val_interval=2)
    output = helpers.run_tool(['tools/train.py', str(config), '--work-dir', str(work),
                               '--val-loss', '--cfg-options', *options])
    return dict(config=str(config), work=work, options=options, output=output, base=base)


def val_records(work: Path) -> list[dict]:
    (scalars,) = work.glob('*/vis_data/scalars.json')
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    return [r for r in records if 'mIoU' in r]


def test_early_stopping_stops_after_no_improvement(run):
    work = run['work']
    assert 'monitored metric did not improve' in run['output']
    assert 'Iter(train) [4/8]' in run['output'] and 'Iter(train) [5/8]' not in run['output']
    assert [r['step'] for r in val_records(work)] == [2, 4]
    assert not (work / 'iter_6.pth').exists()


def test_save_best_keeps_the_best_validation(run):
    records = val_records(run['work'])
    best = max(records, key=lambda r: (r['mIoU'], -r['step']))
    saved = sorted(p.name for p in run['work'].glob('best_mIoU_iter_*.pth'))
    assert saved == [f'best_mIoU_iter_{best["step"]}.pth']


def test_ema_weights_are_saved_beside_the_model(run):
    ckpt = torch.load(run['work'] / 'iter_4.pth', map_location='cpu', weights_only=False)
    ema = ckpt['ema_state_dict']
    name = 'decode_head.conv_seg.weight'
    # the checkpoint's state_dict holds the EMA weights (mmengine swaps them for saving);
    # ema_state_dict holds the raw ones under 'module.', and after 4 steps they differ
    assert ckpt['state_dict'][name].shape == ema[f'module.{name}'].shape
    assert not torch.equal(ckpt['state_dict'][name], ema[f'module.{name}'])


def test_validation_loss_is_logged_and_plotted(run, tmp_path):
    records = val_records(run['work'])
    for record in records:
        assert {'val/loss', 'val/decode.loss_ce', 'val/aux.loss_ce'} <= set(record)
        assert record['val/loss'] == pytest.approx(
            record['val/decode.loss_ce'] + record['val/aux.loss_ce'], rel=1e-5)
    assert 'val/loss: ' in run['output']
    out = tmp_path / 'curves.png'
    helpers.load_tool('tools/analysis/analyze_logs.py').main([
        'plot_curve', str(run['work']), '--keys', 'loss', 'val/loss', 'mIoU', '--legend', 'tiny',
        '--out', str(out)])
    helpers.check_png(out, (500, 700), (900, 1000), min_coloured=0.001)


def test_confusion_matrix_matches_test_tool_and_pred_dir(run, tmp_path):
    ckpt = str(run['work'] / 'iter_4.pth')
    out, masks = tmp_path / 'cm', tmp_path / 'masks'
    # the masks are what tools/test.py --out writes (the same IoUMetric output_dir switch)
    printed = helpers.run_tool(['tools/analysis/confusion_matrix.py', run['config'], ckpt,
                                '--out-dir', str(out), '--cfg-options', *run['options'],
                                f'test_evaluator.output_dir={masks}'])
    matrix, classes = read_confusion_csv(str(out / 'confusion_matrix.csv'))
    assert classes == CLASSES and matrix.sum() == 4 * 32 * 32
    table = helpers.printed_per_class(printed, CLASSES)
    rows, cols, diag = matrix.sum(1), matrix.sum(0), np.diag(matrix)
    for i, name in enumerate(CLASSES):
        if rows[i]:
            assert abs(100 * diag[i] / rows[i] - table['Acc'][name]) <= 0.01
            assert abs(100 * diag[i] / (rows[i] + cols[i] - diag[i]) - table['IoU'][name]) <= 0.01
    csv_rows = (out / 'per_class_results.csv').read_text().splitlines()
    assert csv_rows[0] == 'Class,IoU,Acc' and len(csv_rows) == 7
    for name in ('confusion_matrix.png', 'per_class_iou.png'):
        helpers.check_png(out / name, (300, 200), (1200, 1000))

    # the same matrix from the written masks, without the model
    from_masks = tmp_path / 'from_masks'
    tool = helpers.load_tool('tools/analysis/confusion_matrix.py')
    tool.main([run['config'], '--pred-dir', str(masks), '--out-dir', str(from_masks),
               '--normalize', '--top-k', '3', '--cfg-options', *run['options']])
    again, _ = read_confusion_csv(str(from_masks / 'confusion_matrix.csv'))
    np.testing.assert_array_equal(again, matrix)
    helpers.check_png(from_masks / 'confusion_matrix.png', (250, 200), (900, 900))

    # a missing and a resized prediction: named, and nothing written
    broken = tmp_path / 'broken'
    shutil.copytree(masks, broken)
    first, second = sorted(broken.glob('*.png'))[:2]
    first.unlink()
    bad_out = tmp_path / 'bad_out'
    args = [run['config'], '--pred-dir', str(broken), '--out-dir', str(bad_out),
            '--cfg-options', *run['options']]
    with pytest.raises(SystemExit, match=f'1 of 4 test images have no prediction: {first.name}'):
        tool.main(args)
    from PIL import Image
    shutil.copy(second, first)
    Image.new('L', (16, 32)).save(second)
    with pytest.raises(SystemExit, match=f'{second.name} 16x32 vs ground truth 32x32'):
        tool.main(args)
    assert not bad_out.exists() or not any(bad_out.iterdir())


def test_confusion_matrix_needs_an_evaluator(run, tmp_path):
    config = tmp_path / 'no_eval.py'
    config.write_text(f'_base_ = [{run["config"]!r}]\ntest_evaluator = None\n')
    tool = helpers.load_tool('tools/analysis/confusion_matrix.py')
    with pytest.raises(SystemExit, match='no test_evaluator in the config'):
        tool.main([str(config), str(run['work'] / 'iter_4.pth'), '--out-dir',
                   str(tmp_path / 'o')])
    assert not (tmp_path / 'o').exists()
