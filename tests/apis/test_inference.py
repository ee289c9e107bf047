"""init_model / inference_model / show_result_pyplot on a tiny random UPerNet."""
import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from upertool.apis import inference_model, init_model, show_result_pyplot
from upertool.registry import DATASETS
from upertool.structures import SegDataSample

NUM_CLASSES = 150  # ADE20K's, so the config's dataset metainfo fits the head
CKPT_META = dict(classes=tuple(f'c{i}' for i in range(NUM_CLASSES)),
                 palette=[[i, 255 - i, (7 * i) % 256] for i in range(NUM_CLASSES)])


def tiny_config() -> Config:
    norm_cfg = dict(type='BN', requires_grad=True)
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(64, 48), keep_ratio=True),
        dict(type='LoadAnnotations', reduce_zero_label=True),
        dict(type='PackSegInputs'),
    ]
    return Config(dict(
        default_scope='upertool',
        model=dict(
            type='EncoderDecoder',
            data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                                   std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                                   seg_pad_val=255, size_divisor=32),
            pretrained='open-mmlab://resnet18_v1c',  # must not be fetched
            backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=4,
                          norm_cfg=norm_cfg,
                          init_cfg=dict(type='Pretrained', checkpoint='nowhere.pth')),
            decode_head=dict(type='UPerHead', in_channels=[4, 8, 16, 32], in_index=[0, 1, 2, 3],
                             channels=8, pool_scales=(1, 2), num_classes=NUM_CLASSES,
                             norm_cfg=norm_cfg, align_corners=False,
                             loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
            train_cfg=dict(),
            test_cfg=dict()),  # no mode: init_model makes it 'whole'
        test_pipeline=test_pipeline,
        test_dataloader=dict(batch_size=1, dataset=dict(
            type='ADE20KDataset', data_root='does/not/exist', pipeline=test_pipeline,
            data_prefix=dict(img_path='images/validation',
                             seg_map_path='annotations/validation'))),
    ))


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """A checkpoint with dataset meta, one without, and two images of different sizes."""
    root = tmp_path_factory.mktemp('apis')
    torch.manual_seed(0)
    model = init_model(tiny_config())
    # Non-trivial BN statistics, so a load that skipped buffers would show.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(dict(state_dict=state, meta=dict(dataset_meta=CKPT_META)), root / 'with_meta.pth')
    torch.save(dict(state_dict=state, meta=dict()), root / 'no_meta.pth')
    rng = np.random.default_rng(0)
    cv2.imwrite(str(root / 'a.png'), rng.integers(0, 256, (37, 45, 3), dtype=np.uint8))
    cv2.imwrite(str(root / 'b.png'), rng.integers(0, 256, (50, 30, 3), dtype=np.uint8))
    return dict(root=root, state=state, ckpt=str(root / 'with_meta.pth'),
                ckpt_no_meta=str(root / 'no_meta.pth'), a=str(root / 'a.png'),
                b=str(root / 'b.png'))


@pytest.fixture(scope='module')
def model(files):
    return init_model(tiny_config(), files['ckpt'], device='cpu')


def test_init_model_round_trips_checkpoint_and_meta(files, model):
    loaded = model.state_dict()
    assert loaded.keys() == files['state'].keys()
    for key, value in files['state'].items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0, msg=key)
    assert model.dataset_meta['classes'] == CKPT_META['classes']
    assert [list(c) for c in model.dataset_meta['palette']] == CKPT_META['palette']
    assert not model.training
    assert model.cfg.model.test_cfg.mode == 'whole'
    assert model.cfg.model.backbone.init_cfg is None and 'pretrained' not in model.cfg.model


def test_dataset_meta_from_config_when_checkpoint_has_none(files):
    ade = DATASETS.get('ADE20KDataset').METAINFO
    for ckpt in (files['ckpt_no_meta'], None):
        m = init_model(tiny_config(), ckpt)
        assert tuple(m.dataset_meta['classes']) == tuple(ade['classes'])
        assert len(m.dataset_meta['palette']) == NUM_CLASSES
    names = tuple(f'x{i}' for i in range(NUM_CLASSES))
    m = init_model(tiny_config(), files['ckpt_no_meta'],
                   cfg_options={'test_dataloader.dataset.metainfo': dict(classes=names)})
    assert tuple(m.dataset_meta['classes']) == names


def test_init_model_leaves_the_callers_config_alone():
    cfg = tiny_config()
    init_model(cfg)
    assert cfg.model.test_cfg == {} and cfg.model.backbone.init_cfg is not None


def test_inference_on_path_array_and_list(files, model):
    from_path = inference_model(model, files['a'])
    assert isinstance(from_path, SegDataSample)
    assert from_path.pred_sem_seg.data.shape == (1, 37, 45)
    assert from_path.seg_logits.data.shape == (NUM_CLASSES, 37, 45)
    # the prediction is the argmax of the logits, at the image's own size
    torch.testing.assert_close(from_path.pred_sem_seg.data[0],
                               from_path.seg_logits.data.argmax(0))

    array = cv2.imread(files['a'])
    from_array = inference_model(model, array)
    torch.testing.assert_close(from_array.seg_logits.data, from_path.seg_logits.data)

    batch = inference_model(model, [files['a'], array, files['b']])
    assert isinstance(batch, list) and len(batch) == 3
    assert [tuple(r.pred_sem_seg.data.shape) for r in batch] == [(1, 37, 45), (1, 37, 45),
                                                                 (1, 50, 30)]
    torch.testing.assert_close(batch[1].seg_logits.data, from_path.seg_logits.data)
    # the model's config is untouched (mmseg edits it in place)
    assert [t['type'] for t in model.cfg.test_pipeline][0] == 'LoadImageFromFile'
    assert 'LoadAnnotations' in [t['type'] for t in model.cfg.test_pipeline]


def test_inference_errors_name_the_problem(model, tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.png'):
        inference_model(model, str(tmp_path / 'nope.png'))
    with pytest.raises(ValueError, match='uint8 BGR'):
        inference_model(model, np.zeros((8, 8), np.float32))
    with pytest.raises(FileNotFoundError, match='missing_cfg.py'):
        init_model(str(tmp_path / 'missing_cfg.py'))


def test_show_result_pyplot_writes_overlay(files, model, tmp_path):
    result = inference_model(model, files['a'])
    out_file = tmp_path / 'drawn.png'
    drawn = show_result_pyplot(model, files['a'], result, opacity=1.0, out_file=str(out_file),
                               with_labels=False)
    assert drawn.shape == (37, 2 * 45, 3)  # image | prediction (no ground truth)
    written = cv2.imread(str(out_file))
    np.testing.assert_array_equal(written[..., ::-1], drawn)
    np.testing.assert_array_equal(written[:, :45], cv2.imread(files['a']))
    # opacity 1: the prediction panel is the palette colour (RGB) of each label
    pred = result.pred_sem_seg.data[0].numpy()
    palette = np.asarray(CKPT_META['palette'])
    np.testing.assert_array_equal(drawn[:, 45:], palette[pred])

    show_result_pyplot(model, cv2.imread(files['a']), result, title='demo',
                       save_dir=str(tmp_path / 'vis'))
    saved = cv2.imread(str(tmp_path / 'vis' / 'vis_data' / 'vis_image' / 'demo_0.png'))
    assert saved.shape == (37, 90, 3)
    np.testing.assert_array_equal(saved[:, :45], cv2.imread(files['a']))
