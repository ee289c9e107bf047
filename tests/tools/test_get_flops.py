"""tools/analysis/get_flops.py: the benchmarks' counter, per-part split, both UPerHead forms."""
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

_spec = importlib.util.spec_from_file_location(
    'analysis_helpers', Path(__file__).with_name('analysis_helpers.py'))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


@pytest.fixture(scope='module')
def report():
    tool = helpers.load_tool('tools/analysis/get_flops.py')
    return tool.main([helpers.CONFIG, '--shape', '64'])


def test_total_equals_the_benchmarks_count(report):
    sys.path.insert(0, str(helpers.ROOT / 'benchmarks'))
    try:
        common = helpers.load_tool('benchmarks/common.py')
    finally:
        sys.path.pop(0)
    from upertool.registry import MODELS
    model = MODELS.build(common.load_model_config('quickstart')).eval()
    image = torch.randn(1, 3, 64, 64)

    def call():
        with torch.inference_mode():
            return model(image, mode='tensor')

    assert report.flops['total'] == common.count_flops(call)
    assert report.plain_flops['total'] == common.plain_form_flops(model, call)
    assert report.plain_flops['total'] > report.flops['total']


def test_parts_add_up_and_match_hand_counts(report):
    assert set(report.flops) == {'total', 'backbone', 'decode_head'}
    assert report.flops['backbone'] + report.flops['decode_head'] == report.flops['total']
    assert report.plain_flops['backbone'] == report.flops['backbone']
    # auxiliary FCNHead on layer3 (128 channels at 64/16 = 4x4): 3x3 conv to 32, 1x1 to 6
    assert report.aux_flops == 2 * 9 * 128 * 32 * 16 + 2 * 32 * 6 * 16
    parts = report.params['backbone'] + report.params['decode_head'] + \
        report.params['auxiliary_head']
    assert parts == report.params['total']


def test_printed_table(report):
    printed = helpers.load_tool('tools/analysis/get_flops.py').format_report(report)
    for row in ('backbone', 'decode_head', 'auxiliary_head', 'total'):
        assert f'\n{row} ' in printed
    assert 'fewer FLOPs' in printed


def test_bad_shape_is_refused():
    tool = helpers.load_tool('tools/analysis/get_flops.py')
    with pytest.raises(SystemExit):
        tool.main([helpers.CONFIG, '--shape', '1', '2', '3'])
