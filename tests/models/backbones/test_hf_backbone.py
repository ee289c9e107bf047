"""HFBackbone with tiny ResNet, ConvNeXt, Swin and DINOv2 configs: UPerNet loss step and
prediction, measured strides against outputs, a local save_pretrained folder, init_weights
keeping transformers' weights, argument errors."""
import pytest
import torch
from mmengine.structures import PixelData

from upertool.registry import MODELS
from upertool.structures import SegDataSample

pytestmark = pytest.mark.extras
pytest.importorskip('transformers')

STAGES = ['stage1', 'stage2', 'stage3', 'stage4']
# model_type -> (config, expected out_channels, expected strides, neck or None)
CONFIGS = {
    'resnet': (dict(model_type='resnet', embedding_size=8, hidden_sizes=[8, 16, 16, 24],
                    depths=[1, 1, 1, 1], out_features=STAGES), (8, 16, 16, 24), (4, 8, 16, 32),
               None),
    'convnext': (dict(model_type='convnext', hidden_sizes=[8, 16, 16, 24], depths=[1, 1, 1, 1],
                      out_features=STAGES), (8, 16, 16, 24), (4, 8, 16, 32), None),
    'swin': (dict(model_type='swin', embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],
                  window_size=7, out_features=STAGES), (8, 16, 32, 64), (4, 8, 16, 32), None),
    # a plain ViT: four layers at stride 14, made a pyramid by MultiLevelNeck as for ViT-B
    'dinov2': (dict(model_type='dinov2', hidden_size=16, num_hidden_layers=4,
                    num_attention_heads=2, intermediate_size=32, patch_size=14, image_size=56,
                    out_features=STAGES), (16, 16, 16, 16), (14, 14, 14, 14),
               dict(type='MultiLevelNeck', in_channels=[16] * 4, out_channels=16,
                    scales=[4, 2, 1, 0.5])),
}
SIZES = [(64, 64), (70, 50), (45, 61)]


def _sample(h, w):
    sample = SegDataSample(gt_sem_seg=PixelData(data=torch.randint(0, 3, (1, h, w))))
    sample.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
    return sample


@pytest.mark.parametrize('model_type', list(CONFIGS))
def test_upernet_on_hf_backbone_trains_and_predicts(model_type):
    torch.manual_seed(0)
    config, channels, strides, neck = CONFIGS[model_type]
    cfg = dict(
        type='EncoderDecoder', backbone=dict(type='HFBackbone', config=config),
        decode_head=dict(type='UPerHead', in_index=[0, 1, 2, 3], pool_scales=(1, 2),
                         channels=16, num_classes=3, norm_cfg=dict(type='BN'),
                         loss_decode=dict(type='CrossEntropyLoss')),
        test_cfg=dict(mode='whole'))
    if neck is not None:
        cfg['neck'] = neck
    model = MODELS.build(cfg)
    backbone = model.backbone
    assert backbone.out_channels == channels and backbone.strides == strides
    assert backbone.model.training  # measuring the strides left the mode as it was

    model.train()
    losses = model(torch.randn(2, 3, 64, 64), [_sample(64, 64), _sample(64, 64)], mode='loss')
    losses['decode.loss_ce'].backward()
    assert torch.isfinite(losses['decode.loss_ce'])
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone.parameters())

    model.eval()
    for h, w in SIZES:
        with torch.no_grad():
            outs = backbone(torch.rand(1, 3, h, w))
            (pred,) = model.predict(torch.rand(1, 3, h, w), [_sample(h, w)])
        for out, c, s in zip(outs, channels, strides, strict=True):
            assert out.shape[1] == c
            assert out.shape[2] in (h // s, -(-h // s)) and out.shape[3] in (w // s, -(-w // s))
        assert pred.pred_sem_seg.data.shape == (1, h, w)


def test_pretrained_dir_loads_weights_and_init_weights_keeps_them(tmp_path):
    config = CONFIGS['dinov2'][0]
    source = MODELS.build(dict(type='HFBackbone', config=config))
    with torch.no_grad():
        source.model.embeddings.cls_token.fill_(0.5)
    source.model.save_pretrained(str(tmp_path))
    # the folder's config gives the architecture; the dict's keys override it
    loaded = MODELS.build(dict(type='HFBackbone', config=dict(model_type='dinov2',
                                                              out_features=['stage4']),
                               pretrained_dir=str(tmp_path)))
    assert loaded.out_channels == (16,) and loaded.strides == (14,)
    for name, param in loaded.model.named_parameters():
        assert torch.equal(param, dict(source.model.named_parameters())[name]), name
    before = {k: v.clone() for k, v in loaded.state_dict().items()}
    loaded.init_weights()
    assert all(torch.equal(v, before[k]) for k, v in loaded.state_dict().items())
    assert next(iter(before)).startswith('model.')


@pytest.mark.parametrize('args,error,match', [
    (dict(config=dict(out_features=STAGES)), ValueError, "with a 'model_type'"),
    (dict(config=dict(model_type='bert')), ValueError,
     "transformers has no backbone for model_type 'bert'; model types with one: .*'swin'"),
    (dict(config=dict(model_type='no_such_model')), ValueError,
     "no transformers config for model_type 'no_such_model'"),
    (dict(config=dict(model_type='resnet'), pretrained_dir='no/such/folder'), FileNotFoundError,
     "pretrained_dir 'no/such/folder' is not a folder"),
])
def test_bad_arguments_are_named(args, error, match):
    with pytest.raises(error, match=match):
        MODELS.build(dict(type='HFBackbone', **args))


def test_pretrained_dir_of_another_model_type_is_named(tmp_path):
    source = MODELS.build(dict(type='HFBackbone', config=CONFIGS['resnet'][0]))
    source.model.save_pretrained(str(tmp_path))
    with pytest.raises(ValueError, match="holds a 'resnet' model, config says 'convnext'"):
        MODELS.build(dict(type='HFBackbone', config=dict(model_type='convnext'),
                          pretrained_dir=str(tmp_path)))


def test_token_maps_are_refused_with_a_hint():
    config = dict(CONFIGS['dinov2'][0], reshape_hidden_states=False)
    with pytest.raises(RuntimeError, match='keep reshape_hidden_states=True'):
        MODELS.build(dict(type='HFBackbone', config=config))
