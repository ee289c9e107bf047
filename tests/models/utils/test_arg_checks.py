"""The shared argument checks: one behaviour for every component that takes these arguments."""
import numpy as np
import pytest

from upertool.models.utils.arg_checks import (
    check_out_indices,
    resolve_pretrained,
    resolve_stage_strides,
    to_2tuple,
)


@pytest.mark.parametrize('value,expected', [(5, (5, 5)), ([3, 4], (3, 4)), ((7,), (7, 7)),
                                            (np.int64(2), (2, 2))])
def test_to_2tuple(value, expected):
    assert to_2tuple(value, 'kernel_size') == expected
    assert all(type(v) is int for v in to_2tuple(value, 'kernel_size'))


@pytest.mark.parametrize('value', [0, (1, 0), 2.5, True, 'ab', (1, 2, 3), None])
def test_to_2tuple_refuses_naming_the_argument(value):
    with pytest.raises(ValueError, match=r'^crop_size must be a positive int or a pair of ints'):
        to_2tuple(value, 'crop_size')


def test_to_2tuple_minimum_zero_for_paddings():
    assert to_2tuple(0, 'padding', minimum=0) == (0, 0)
    with pytest.raises(ValueError, match='each >= 0'):
        to_2tuple(-1, 'padding', minimum=0)


def test_out_indices_count_from_the_end_and_come_out_sorted():
    assert check_out_indices(-1, 4, 'stage') == (3,)
    assert check_out_indices((3, 0, -3), 4, 'stage') == (0, 1, 3)
    assert check_out_indices((np.int64(-1),), 4, 'stage') == (3,)


@pytest.mark.parametrize('value,match', [
    ((0, 4), r'0\.\.3 \(or -4\.\.3 counting from the end; 4 stages\)'),
    ((-5,), r'-4\.\.3'), ((), 'non-empty'), ('last', 'an int or a non-empty sequence'),
    ((1, -3), 'out_indices has duplicates: out_indices name a stage twice'),
    ((1.0,), r'0\.\.3')])
def test_out_indices_errors(value, match):
    with pytest.raises(ValueError, match=match):
        check_out_indices(value, 4, 'stage')


def test_pretrained_becomes_init_cfg_with_a_deprecation_warning():
    assert resolve_pretrained('X', None, dict(type='Kaiming')) == dict(type='Kaiming')
    with pytest.warns(DeprecationWarning, match="X: `pretrained` is deprecated"):
        assert resolve_pretrained('X', 'w.pth', None) == dict(type='Pretrained',
                                                              checkpoint='w.pth')
    with pytest.raises(ValueError, match='X: give either pretrained or init_cfg, not both'):
        resolve_pretrained('X', 'w.pth', dict(type='Pretrained', checkpoint='v.pth'))
    with pytest.raises(TypeError, match='X: pretrained must be a str'):
        resolve_pretrained('X', 3, None)


def test_stage_strides_under_either_name_once():
    assert resolve_stage_strides('X', (1, 2), None, (1, 2)) == (1, 2)
    assert resolve_stage_strides('X', (2, 2), None, (1, 2)) == (2, 2)
    assert resolve_stage_strides('X', (1, 2), (1, 1), (1, 2)) == (1, 1)  # mmsegmentation's name
    with pytest.raises(ValueError, match='X: give the per-stage strides once'):
        resolve_stage_strides('X', (2, 2), (1, 1), (1, 2))
