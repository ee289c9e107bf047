"""save_model -> init_model round trips; Hugging Face folders; checkpoint class checks."""
import os

import pytest
import torch

from upertool.apis import SegInferencer, init_model, save_model

pytestmark = pytest.mark.usefixtures('one_thread')

BN = dict(type='BN', requires_grad=True)


def logits(model, seed=0):
    x = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model(x, mode='tensor')


def test_save_model_round_trip_is_bit_identical(tiny, tmp_path):
    model = tiny.tiny_model()
    folder = save_model(model, tmp_path / 'folder', metrics={'mIoU': 12.5})
    assert sorted(os.listdir(folder)) == ['README.md', 'config.py', 'model.safetensors']
    loaded = init_model(str(folder))
    assert torch.equal(logits(model), logits(loaded))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert list(loaded.dataset_meta['classes']) == list(tiny.CLASSES)
    assert [list(c) for c in loaded.dataset_meta['palette']] == tiny.PALETTE
    readme = (tmp_path / 'folder' / 'README.md').read_text()
    assert 'class4' in readme and '| mIoU | 12.5 |' in readme and '(145, 30, 180)' in readme
    # the inferencer reads the same folder
    assert list(SegInferencer(str(folder)).classes) == list(tiny.CLASSES)


def test_checkpoint_classes_that_disagree_stop(tiny, tmp_path):
    model = tiny.tiny_model()
    meta = dict(dataset_meta=dict(classes=['a', 'b', 'c'], palette=[[0, 0, 0]] * 3))
    path = tmp_path / 'three_classes.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    with pytest.raises(ValueError, match=r'three_classes\.pth.*3 class names.*5 classes'):
        init_model(tiny.tiny_config(), str(path))


def hf_model_cfg():
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[120.0, 110.0, 100.0],
                               std=[60.0, 55.0, 50.0], bgr_to_rgb=True),
        backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=4, norm_cfg=BN),
        decode_head=dict(type='UPerHead', channels=8, num_classes=3, norm_cfg=BN),
        test_cfg=dict(mode='whole'))


def test_hugging_face_folder_gives_the_logits_of_hf_to_upertool(tmp_path):
    from upertool.convert import commands
    from upertool.convert.config_writer import write_config
    from upertool.registry import MODELS
    cfg = hf_model_cfg()
    gen = torch.Generator().manual_seed(3)
    state = {k: (torch.randn(v.shape, generator=gen) if v.is_floating_point() else v)
             for k, v in MODELS.build(cfg).state_dict().items()}
    for key in state:
        if key.endswith('running_var'):
            state[key] = state[key].abs() + 0.5
    write_config(tmp_path / 'cfg.py', dict(default_scope='upertool', model=cfg))
    torch.save(dict(state_dict=state, meta=dict(dataset_meta=dict(classes=['x', 'y', 'z']))),
               tmp_path / 'model.pth')
    commands.upertool_to_hf_folder(str(tmp_path / 'cfg.py'), str(tmp_path / 'model.pth'),
                                   str(tmp_path / 'hf'))
    commands.hf_to_upertool_folder(str(tmp_path / 'hf'), str(tmp_path / 'converted'))
    direct = init_model(str(tmp_path / 'hf'))
    converted = init_model(str(tmp_path / 'converted' / 'config.py'),
                           str(tmp_path / 'converted' / 'model.pth'))
    assert torch.equal(logits(direct), logits(converted))
    assert list(direct.dataset_meta['classes']) == ['x', 'y', 'z']
    # and the inferencer takes the folder as it is
    assert list(SegInferencer(str(tmp_path / 'hf')).classes) == ['x', 'y', 'z']
