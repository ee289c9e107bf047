"""tools/analysis: dataset_stats and browse_dataset on the VOC aug config over a tiny tree."""
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import torch

from upertool.models.losses import CrossEntropyLoss

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / 'configs' / 'upernet' / 'upernet_r50_4xb4-20k_voc12aug-512x512.py')


def load_tool(name: str):
    path = ROOT / 'tools' / 'analysis' / f'{name}.py'
    spec = importlib.util.spec_from_file_location(f'tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def voc_tree(root: Path) -> list[str]:
    from PIL import Image
    lists = root / 'ImageSets' / 'Segmentation'
    lists.mkdir(parents=True)
    (lists / 'train.txt').write_text('a\n')
    (lists / 'aug.txt').write_text('b\n')
    for stem, folder, cls in (('a', 'SegmentationClass', 1), ('b', 'SegmentationClassAug', 15)):
        (root / 'JPEGImages').mkdir(exist_ok=True)
        cv2.imwrite(str(root / 'JPEGImages' / f'{stem}.jpg'), np.full((8, 12, 3), 90, np.uint8))
        mask = np.zeros((8, 12), np.uint8)
        mask[:, :3] = cls
        mask[0] = 255
        (root / folder).mkdir(exist_ok=True)
        Image.fromarray(mask).save(root / folder / f'{stem}.png')
    return [f'train_dataloader.dataset.datasets.{i}.data_root={root}' for i in (0, 1)]


def test_dataset_stats(tmp_path, capsys):
    options = voc_tree(tmp_path / 'voc')
    out = tmp_path / 'stats'
    load_tool('dataset_stats').main([CONFIG, '--out-dir', str(out), '--cfg-options', *options])
    printed = capsys.readouterr().out
    assert 'dataset stats: 2/2 samples' in printed and 'aeroplane' in printed
    assert '2 samples; ignored pixels: 24' in printed
    weights = np.load(out / 'class_weights.npy')
    assert weights.shape == (21,) and weights.dtype == np.float32
    # background: 2 x 63 of 2 x 84 labelled px; aeroplane and person: 21 of 84 each
    f_bg, f_obj = 126 / 168, 21 / 84
    median = f_obj
    assert weights[0] == np.float32(median / f_bg) and weights[1] == np.float32(1.0)
    assert weights[15] == np.float32(1.0) and weights[2] == weights.max()
    loss = CrossEntropyLoss(class_weight=str(out / 'class_weights.npy'))
    value = loss(torch.zeros(1, 21, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))
    assert torch.isfinite(value)
    assert (out / 'dataset_stats.json').is_file()


def test_browse_dataset(tmp_path, capsys):
    options = voc_tree(tmp_path / 'voc')
    out = tmp_path / 'vis'
    load_tool('browse_dataset').main([CONFIG, '--output-dir', str(out), '--max-samples', '5',
                                      '--cfg-options', *options])
    files = sorted(p.name for p in out.iterdir())
    assert files == ['00000_a.png', '00001_b.png']  # both parts of the ConcatDataset
    drawing = cv2.imread(str(out / files[1]))
    # after RandomResize to ~512 px and RandomCrop(512): the model's view, not the 8x12 file
    assert drawing.shape[1] >= 2 * 256
    assert '2 drawing(s)' in capsys.readouterr().out
