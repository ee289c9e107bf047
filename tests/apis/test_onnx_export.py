"""ONNX export: the exact fixed-size pooling, onnxruntime against PyTorch, the onnx backend."""
import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from upertool.apis.onnx_export import FixedSizeAdaptiveAvgPool2d, adaptive_pool_matrix

pytestmark = pytest.mark.usefixtures('one_thread')

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('in_size, out_size', [((7, 5), (3, 2)), ((16, 16), (6, 6)),
                                               ((2, 3), (6, 6)), ((9, 4), (1, 1))])
def test_fixed_size_pooling_equals_adaptive_pooling(in_size, out_size):
    x = torch.randn(2, 3, *in_size)
    pool = FixedSizeAdaptiveAvgPool2d(in_size, out_size)
    torch.testing.assert_close(pool(x), F.adaptive_avg_pool2d(x, out_size), rtol=0, atol=1e-6)
    assert torch.allclose(adaptive_pool_matrix(in_size[0], out_size[0]).sum(1),
                          torch.ones(out_size[0], dtype=torch.float64))


def test_fixed_size_pooling_refuses_other_sizes():
    with pytest.raises(ValueError, match=r'built for inputs of \(4, 4\)'):
        FixedSizeAdaptiveAvgPool2d((4, 4), (2, 2))(torch.randn(1, 1, 5, 4))


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def exported(tiny, tmp_path_factory):
    pytest.importorskip('onnxruntime')
    from upertool.apis.onnx_export import export_onnx
    root = tmp_path_factory.mktemp('onnx')
    model = tiny.tiny_model()
    result = export_onnx(model, root / 'tiny.onnx', (64, 64), dynamic_batch=True)
    return model, root / 'tiny.onnx', result


@pytest.mark.extras
def test_onnxruntime_matches_pytorch(exported):
    _, path, result = exported
    assert path.is_file()
    assert result.route == 'torch.export, plain fpn_bottleneck'
    assert result.check.max_abs_diff < 1e-4
    assert result.check.margin_agreement == 1.0


@pytest.mark.extras
def test_labels_only_and_fallback_route(tiny, tmp_path, monkeypatch, capsys):
    pytest.importorskip('onnxruntime')
    from upertool.apis.onnx_export import export_onnx
    model = tiny.tiny_model()
    labels = export_onnx(model, tmp_path / 'labels.onnx', (64, 96), labels_only=True)
    assert labels.check.margin_agreement == 1.0
    monkeypatch.setitem(sys.modules, 'onnxscript', None)  # as if it were not installed
    plain = export_onnx(model, tmp_path / 'plain.onnx', (64, 96))
    assert plain.route == 'TorchScript exporter, plain fpn_bottleneck'
    assert 'onnxscript is not installed' in capsys.readouterr().out
    assert plain.check.max_abs_diff < 1e-4
    assert model.decode_head.low_res_fusion  # the caller's model is left as it was


@pytest.mark.extras
def test_onnx_inferencer_gives_the_torch_masks(exported, model_dir):
    from upertool.apis import SegInferencer
    _, path, _ = exported
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
    torch_masks = SegInferencer(str(model_dir))(images, batch_size=2)['predictions']
    onnx = SegInferencer(str(path))
    assert list(onnx.classes) == list(SegInferencer(str(model_dir)).classes)
    onnx_masks = onnx(images, batch_size=2)['predictions']
    for got, want in zip(onnx_masks, torch_masks, strict=True):
        np.testing.assert_array_equal(got, want)
    # smaller than the graph: padded to it, prediction cropped back to the original size
    assert onnx(images[0][:37, :45])['predictions'].shape == (37, 45)
    # larger than the graph: resized to it and back, at the original size
    assert onnx(rng.integers(0, 256, (80, 100, 3), dtype=np.uint8))['predictions'].shape == (
        80, 100)


@pytest.mark.extras
@pytest.mark.slow
def test_tools_export_then_infer_with_both_backends(model_dir, tmp_path, capsys):
    pytest.importorskip('onnxruntime')
    export = load(REPO / 'tools' / 'deployment' / 'export_onnx.py', 'tool_export_onnx')
    infer = load(REPO / 'tools' / 'infer.py', 'tool_infer_onnx')
    onnx_file = tmp_path / 'm.onnx'
    assert export.main([str(model_dir), '--out', str(onnx_file), '--shape', '64', '64']) == 0
    assert 'onnxruntime vs PyTorch: max |logit difference|' in capsys.readouterr().out
    rng = np.random.default_rng(3)
    for k in range(3):
        cv2.imwrite(str(tmp_path / f'{k}.png'), rng.integers(0, 256, (64, 64, 3), np.uint8))
    common = [str(tmp_path / '*.png'), '--no-progress', '--batch-size', '2']
    assert infer.main([str(model_dir), *common, '--out-dir', str(tmp_path / 'pt')]) == 0
    assert infer.main([str(onnx_file), *common, '--out-dir', str(tmp_path / 'ort'),
                       '--backend', 'onnxruntime']) == 0
    for k in range(3):
        a = np.array(Image.open(tmp_path / 'pt' / 'pred' / f'{k}.png'))
        b = np.array(Image.open(tmp_path / 'ort' / 'pred' / f'{k}.png'))
        np.testing.assert_array_equal(a, b)
