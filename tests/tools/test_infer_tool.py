"""tools/infer.py and tools/misc/publish_model.py end to end on a tiny model folder."""
import hashlib
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tiny = load(REPO / 'tests' / 'apis' / 'tiny_segmentor.py', 'tiny_segmentor_tools')
infer = load(REPO / 'tools' / 'infer.py', 'tool_infer')
publish = load(REPO / 'tools' / 'misc' / 'publish_model.py', 'tool_publish_model')


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """Tiny tensors: one torch thread (two cost more in synchronisation on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    return tiny.save_tiny(tmp_path_factory.mktemp('model'))


def write_images(folder, count=3):
    rng = np.random.default_rng(0)
    for k in range(count):
        (folder / f'd{k % 2}').mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f'd{k % 2}' / f'{k}.png'),
                    rng.integers(0, 256, (31 + k, 40, 3), dtype=np.uint8))


@pytest.mark.slow
def test_folder_with_a_corrupt_image_exits_1_and_writes_the_rest(model_dir, tmp_path, capsys):
    write_images(tmp_path / 'in')
    (tmp_path / 'in' / 'd1' / 'bad.jpg').write_bytes(b'\xff\xd8 truncated')
    rc = infer.main([str(model_dir), str(tmp_path / 'in'), '--out-dir', str(tmp_path / 'out'),
                     '--batch-size', '2', '--no-progress'])
    out = capsys.readouterr()
    assert rc == 1
    assert 'done: 3 images/frames, failed: 1' in out.out
    assert 'bad.jpg' in out.out and 'bad.jpg' in out.err
    assert sorted(p.name for p in (tmp_path / 'out' / 'pred').rglob('*.png')) == [
        '0.png', '1.png', '2.png']
    assert not list((tmp_path / 'out').rglob('bad*'))


@pytest.mark.parametrize('args, message', [
    (['missing_dir'], 'input not found: missing_dir'),
    (['clip.avi'], 'input not found: clip.avi'),
])
def test_missing_inputs_stop_before_anything_runs(model_dir, tmp_path, args, message, capsys):
    with pytest.raises(SystemExit, match=message):
        infer.main([str(model_dir), *args, '--out-dir', str(tmp_path / 'out')])
    assert not (tmp_path / 'out').exists()


def test_onnx_backend_needs_an_onnx_file(model_dir, tmp_path):
    with pytest.raises(SystemExit, match='needs an .onnx model'):
        infer.main([str(model_dir), 'x.png', '--out-dir', str(tmp_path), '--backend',
                    'onnxruntime'])


def test_publish_model_strips_state_and_names_its_hash(tmp_path, capsys):
    model = tiny.tiny_model()
    ckpt = tmp_path / 'iter_10.pth'
    torch.save(dict(state_dict=model.state_dict(), optimizer=dict(state={}, lr=0.1),
                    message_hub=dict(log_scalars={}), param_schedulers=[dict(last_step=3)],
                    meta=dict(iter=10, dataset_meta=dict(classes=list(tiny.CLASSES)))), ckpt)
    assert publish.main([str(ckpt), str(tmp_path / 'release' / 'tiny')]) == 0
    # by suffix: the names differ by their hashes, which order them at random
    files = sorted((tmp_path / 'release').iterdir(), key=lambda f: f.suffix)
    assert [f.suffix for f in files] == ['.pth', '.safetensors']
    for f in files:
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        assert f.stem == f'tiny-{digest[:8]}'
    from upertool.apis import init_model
    from upertool.checkpoint import load_checkpoint_file
    saved = load_checkpoint_file(files[0])
    assert sorted(saved) == ['meta', 'state_dict']
    assert saved['meta']['iter'] == 10
    x = torch.randn(1, 3, 64, 64)
    for f in files:
        loaded = init_model(tiny.tiny_config(), str(f))
        with torch.no_grad():
            assert torch.equal(loaded(x, mode='tensor'), model(x, mode='tensor'))


def test_pred_png_reads_back_as_labels(model_dir, tmp_path):
    write_images(tmp_path / 'in', 1)
    assert infer.main([str(model_dir), str(tmp_path / 'in' / 'd0' / '0.png'), '--out-dir',
                       str(tmp_path / 'out'), '--no-progress']) == 0
    labels = np.array(Image.open(tmp_path / 'out' / 'pred' / '0.png'))
    assert labels.shape == (31, 40) and labels.max() < tiny.NUM_CLASSES
