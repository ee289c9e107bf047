"""The example plugin package (examples/upertool-plugin-example): what it declares, what it
imports from upertool, and its five components, imported from the source tree."""
import ast
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch

from upertool.registry import DATASETS, MODELS, TRANSFORMS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / 'examples' / 'upertool-plugin-example'
PACKAGE = EXAMPLE / 'upertool_plugin_example'
CONFIG = PACKAGE / 'configs' / 'litefuse_tinyconv_1xb4-200_toyblobs-32x32.py'
# What a plugin may take from upertool: the registries and the documented base classes.
ALLOWED = {'upertool.registry': {'MODELS', 'DATASETS', 'TRANSFORMS'},
           'upertool.models.decode_heads': {'BaseDecodeHead'},
           'upertool.datasets': {'BaseSegDataset'}}


@pytest.fixture
def example(isolated_registries, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    import upertool_plugin_example

    yield upertool_plugin_example
    for name in [m for m in sys.modules if m.startswith('upertool_plugin_example')]:
        del sys.modules[name]


def test_pyproject_declares_the_entry_point():
    meta = tomllib.loads((EXAMPLE / 'pyproject.toml').read_text())
    assert meta['build-system']['build-backend'] == 'setuptools.build_meta'
    assert meta['project']['entry-points']['upertool.plugins'] == {
        'example': 'upertool_plugin_example'}


def test_plugin_uses_only_registries_and_documented_base_classes():
    used = {}
    for path in PACKAGE.rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('upertool'):
                used.setdefault(node.module, set()).update(a.name for a in node.names)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith('upertool') for a in node.names), path
    assert used and all(names <= ALLOWED.get(module, set()) for module, names in used.items()), used


def test_config_inherits_upertool_and_has_no_custom_imports():
    text = CONFIG.read_text()
    tree = ast.parse(text)
    assigned = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    assert 'custom_imports' not in assigned and 'custom_imports' not in text.replace(
        '`custom_imports` line', '')
    bases = ast.literal_eval(assigned['_base_'])
    assert bases and all(b.startswith('upertool::') for b in bases)


def test_backbone_reports_true_channels_and_strides(example):
    net = MODELS.build(dict(type='TinyConvNet', widths=(4, 6, 8)))
    outs = net(torch.randn(2, 3, 32, 24))
    assert net.out_channels == (4, 6, 8) and net.strides == (4, 8, 16)
    # each stride-2 conv (k3, p1) gives ceil(size / 2): 24 -> 12 -> 6 -> 3 -> 2
    assert [tuple(o.shape) for o in outs] == [(2, 4, 8, 6), (2, 6, 4, 3), (2, 8, 2, 2)]


def test_head_gives_logits_at_the_finest_level_and_losses(example):
    from mmengine.structures import PixelData

    from upertool.structures import SegDataSample

    head = MODELS.build(dict(type='LiteFuseHead', in_channels=[4, 6], channels=5,
                             num_classes=3, loss_decode=dict(type='SoftIoULoss')))
    feats = [torch.randn(2, 4, 8, 8), torch.randn(2, 6, 4, 4)]
    assert tuple(head(feats).shape) == (2, 3, 8, 8)
    samples = [SegDataSample(gt_sem_seg=PixelData(data=torch.randint(0, 3, (1, 32, 32))))
               for _ in range(2)]
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_softiou', 'acc_seg'} and losses['loss_softiou'] > 0


def test_soft_iou_loss_against_a_hand_computation(example):
    loss = MODELS.build(dict(type='SoftIoULoss', smooth=0.0))
    logits = torch.zeros(1, 2, 2, 1)  # softmax 0.5 everywhere
    # class 0: p=(.5,.5) t=(1,0): inter .5, union 1.5; class 1 the same -> 1 - 1/3
    assert loss(logits, torch.tensor([[[0], [1]]])).item() == pytest.approx(2 / 3)
    # second pixel ignored: class 0 -> .5/1, class 1 -> 0/.5 -> 1 - mean(.5, 0)
    assert loss(logits, torch.tensor([[[0], [255]]])).item() == pytest.approx(0.75)
    with pytest.raises(ValueError, match="start with 'loss_'"):
        MODELS.build(dict(type='SoftIoULoss', loss_name='iou'))


def test_random_invert(example):
    img = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    out = TRANSFORMS.build(dict(type='RandomInvert', prob=1.0))(dict(img=img.copy()))
    np.testing.assert_array_equal(out['img'], 255 - img)
    out = TRANSFORMS.build(dict(type='RandomInvert', prob=0.0))(dict(img=img.copy()))
    np.testing.assert_array_equal(out['img'], img)
    with pytest.raises(ValueError, match='prob must be in'):
        TRANSFORMS.build(dict(type='RandomInvert', prob=2))


def test_dataset_is_generated_once_and_read_as_folders(example, tmp_path):
    cfg = dict(type='ToyBlobsDataset', split='val', num_images=3, image_size=16,
               data_root=str(tmp_path), pipeline=[dict(type='LoadImageFromFile'),
                                                  dict(type='LoadAnnotations')])
    ds = DATASETS.build(cfg)
    assert len(ds) == 3 and ds.metainfo['classes'] == ('background', 'square', 'disc')
    sample = ds[0]
    assert sample['img'].shape == (16, 16, 3)
    assert set(np.unique(sample['gt_seg_map'])) <= {0, 1, 2}
    first = os.path.getmtime(ds.get_data_info(0)['img_path'])
    again = DATASETS.build(cfg)  # reuses the generated folder
    assert os.path.getmtime(again.get_data_info(0)['img_path']) == first
