"""Shared converter helpers: skip-unchanged writes, output-folder guard, parallel progress."""
import os
from functools import partial

import numpy as np
import pytest
from PIL import Image

from upertool.datasets.converters.common import (
    check_output_folder,
    encode_png,
    run_parallel,
    write_if_changed,
)


def test_write_if_changed_leaves_equal_files_alone(tmp_path):
    path = str(tmp_path / 'sub' / 'x.bin')
    assert write_if_changed(path, b'abc') is True
    before = os.stat(path).st_mtime_ns
    assert write_if_changed(path, b'abc') is False
    assert os.stat(path).st_mtime_ns == before
    assert write_if_changed(path, b'abd') is True
    assert open(path, 'rb').read() == b'abd'
    assert os.listdir(tmp_path / 'sub') == ['x.bin']  # no temporary file left


def test_encode_png_keeps_indices_with_or_without_palette(tmp_path):
    mask = np.array([[0, 1], [255, 20]], np.uint8)
    for palette, mode in ((None, 'L'), ([[1, 2, 3]] * 21, 'P')):
        path = tmp_path / f'{mode}.png'
        path.write_bytes(encode_png(mask, palette))
        with Image.open(path) as img:
            assert img.mode == mode
            np.testing.assert_array_equal(np.asarray(img), mask)
    assert encode_png(mask) == encode_png(mask.copy())  # deterministic bytes
    with pytest.raises(ValueError, match='uint8'):
        encode_png(mask.astype(np.int32))


def test_check_output_folder(tmp_path):
    out = tmp_path / 'out'
    check_output_folder(str(out), lambda rel: False, 'tool')  # missing: fine
    out.mkdir()
    (out / 'a_ours.png').write_bytes(b'')
    (out / 'a_ours.png.123.0123abcd.tmp').write_bytes(b'')  # left by a killed run (old name)
    (out / '.a_ours.png.tmp-123-0123abcd').write_bytes(b'')  # and by atomic_open
    check_output_folder(str(out), lambda rel: rel.endswith('_ours.png'), 'tool')
    (out / 'deep').mkdir()
    (out / 'deep' / 'holiday.jpg').write_bytes(b'')
    with pytest.raises(FileExistsError, match=r"tool: .*1 file\(s\).*'deep/holiday.jpg'"):
        check_output_folder(str(out), lambda rel: rel.endswith('_ours.png'), 'tool')
    with pytest.raises(NotADirectoryError):
        check_output_folder(str(out / 'a_ours.png'), lambda rel: True, 'tool')


def _square_and_report(x: int, folder: str) -> bool:
    return write_if_changed(os.path.join(folder, f'{x}.txt'), str(x * x).encode())


@pytest.mark.parametrize('nproc', [1, 2])
def test_run_parallel_reports_progress(tmp_path, nproc):
    lines = []
    summary = run_parallel(partial(_square_and_report, folder=str(tmp_path)), list(range(5)),
                           nproc=nproc, log=lines.append, what='squares', log_every=2)
    assert (summary.total, summary.written, summary.unchanged) == (5, 5, 0)
    assert lines[0] == f'squares: 5 item(s), {nproc} process(es)'
    assert lines[1:] == ['squares: 2/5 (2 written, 0 unchanged)',
                         'squares: 4/5 (4 written, 0 unchanged)',
                         'squares: 5/5 (5 written, 0 unchanged)']
    assert sorted(os.listdir(tmp_path)) == [f'{i}.txt' for i in range(5)]
    again = run_parallel(partial(_square_and_report, folder=str(tmp_path)), list(range(5)),
                         nproc=nproc, log=lines.append, what='squares', log_every=10)
    assert (again.written, again.unchanged) == (0, 5)


def _fail(x: int) -> bool:
    raise ValueError(f'item {x} is bad')


def test_run_parallel_raises_worker_errors():
    with pytest.raises(ValueError, match='item 0 is bad'):
        run_parallel(_fail, [0, 1], nproc=2, log=lambda s: None)
