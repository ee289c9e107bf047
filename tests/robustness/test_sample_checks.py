"""Case 7: bad samples are found when the dataset is built, all at once, and cheaply again."""

import numpy as np
import pytest
import torch
from PIL import Image

from upertool.datasets import FolderSegDataset, sample_checks


def _tree(root, n=5, size=(6, 8)):
    import cv2

    (root / 'images').mkdir(parents=True, exist_ok=True)
    (root / 'masks').mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(root / 'images' / f'{i}.png'), np.full((*size, 3), 30 * i, np.uint8))
        Image.fromarray(np.full(size, i % 2, np.uint8)).save(root / 'masks' / f'{i}.png')
    return root


META = dict(classes=['a', 'b'])


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))


def test_every_problem_is_reported_at_build_naming_the_files(tmp_path):
    root = _tree(tmp_path / 'data')
    (root / 'images' / '1.png').write_bytes(b'')  # zero bytes
    (root / 'images' / '2.png').write_bytes(b'not an image at all')  # garbage header
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(root / 'masks' / '3.png')  # wrong size
    with pytest.raises(ValueError) as err:
        FolderSegDataset(data_root=str(root), metainfo=META)
    text = str(err.value)
    assert '3 problem(s)' in text
    assert 'images/1.png: empty file' in text
    assert 'images/2.png: unreadable header' in text
    assert 'masks/3.png is 5x5 (WxH) but image' in text and '8x6' in text


def test_second_build_reads_no_header_and_a_changed_file_is_read_again(tmp_path, monkeypatch):
    root = _tree(tmp_path / 'data')
    FolderSegDataset(data_root=str(root), metainfo=META)
    calls = []
    real = sample_checks.read_header
    monkeypatch.setattr(sample_checks, 'read_header', lambda p: calls.append(p) or real(p))
    FolderSegDataset(data_root=str(root), metainfo=META)
    assert calls == []
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(root / 'masks' / '4.png')
    with pytest.raises(ValueError, match=r'masks/4.png is 5x5'):
        FolderSegDataset(data_root=str(root), metainfo=META)
    assert [p.rsplit('/', 2)[-2:] for p in calls] == [['masks', '4.png']]


def test_bad_sample_mid_training_saves_the_finished_iterations_first(robust, tmp_path):
    hooks = [dict(type='DivergenceGuardHook'), dict(type='DataErrorCheckpointHook')]
    runner = robust.toy_runner(tmp_path, max_iters=8, interval=100, hooks=hooks, broken=(5,))
    with pytest.raises(ValueError, match='cannot decode image file') as err:
        runner.train()
    assert any('iter_5.pth' in note for note in err.value.__notes__)
    saved = torch.load(tmp_path / 'iter_5.pth', weights_only=False)
    assert saved['meta']['iter'] == 5
    assert torch.equal(saved['state_dict']['linear.weight'], runner.model.linear.weight)


@pytest.mark.slow
def test_check_dataset_tool_decodes_everything_and_exits_1(robust, tmp_path):
    root = _tree(tmp_path / 'data')
    png = (root / 'images' / '2.png').read_bytes()
    (root / 'images' / '2.png').write_bytes(png[: len(png) // 2])  # header fine, data cut
    config = tmp_path / 'cfg.py'
    config.write_text(
        "default_scope = 'upertool'\n"
        f"train_dataloader = dict(dataset=dict(type='FolderSegDataset', data_root={str(root)!r},"
        " metainfo=dict(classes=['a', 'b'])))\n"
    )
    proc = robust.run_tool(['tools/analysis/check_dataset.py', str(config), '--splits', 'train'])
    assert proc.returncode == 1, proc.output[-2000:]
    assert 'train: 5 samples, 1 problem(s)' in proc.output
    assert 'images/2.png' in proc.output
    (root / 'images' / '2.png').write_bytes(png)
    proc = robust.run_tool(['tools/analysis/check_dataset.py', str(config), '--splits', 'train'])
    assert proc.returncode == 0 and 'no problems found' in proc.output, proc.output[-2000:]
