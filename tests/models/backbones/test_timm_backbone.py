"""TIMMBackbone over six timm families (ResNet, ConvNeXt, EfficientNet, RegNet, MobileNetV3,
Swin): UPerNet loss step and prediction, reported channels/strides against outputs for several
sizes, NHWC -> NCHW, a local checkpoint, mmcv norm names, argument errors."""
import pytest
import torch
from mmengine.structures import PixelData

from upertool.models.utils.norm import FallbackSyncBatchNorm
from upertool.registry import MODELS
from upertool.structures import SegDataSample

pytestmark = pytest.mark.extras
timm = pytest.importorskip('timm')

# Swin: a narrow, one-block-per-stage variant (architecture overrides go to timm unchanged);
# strict_img_size=False lets any multiple of the patch size (4) in.
SWIN = dict(model_name='swin_tiny_patch4_window7_224', strict_img_size=False, embed_dim=16,
            depths=(1, 1, 1, 1), num_heads=(1, 1, 2, 2))
ANY_SIZE = [(64, 64), (70, 50), (33, 47)]
# family -> (TIMMBackbone arguments, expected out_channels, input sizes the family takes)
FAMILIES = {
    'resnet': (dict(model_name='resnet18', out_indices=(1, 2, 3, 4)), (64, 128, 256, 512),
               ANY_SIZE),
    'convnext': (dict(model_name='convnext_atto'), (40, 80, 160, 320), ANY_SIZE),
    'efficientnet': (dict(model_name='efficientnet_b0', out_indices=(1, 2, 3, 4)),
                     (24, 40, 112, 320), ANY_SIZE),
    'regnet': (dict(model_name='regnetx_002', out_indices=(1, 2, 3, 4)), (24, 56, 152, 368),
               ANY_SIZE),
    'mobilenetv3': (dict(model_name='mobilenetv3_small_050', out_indices=(1, 2, 3, 4)),
                    (8, 16, 24, 288), ANY_SIZE),
    'swin': (SWIN, (16, 32, 64, 128), [(64, 64), (72, 52), (100, 36)]),
}


def _upernet(backbone):
    return MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='TIMMBackbone', **backbone),
        decode_head=dict(type='UPerHead', in_index=[0, 1, 2, 3], pool_scales=(1, 2), channels=16,
                         num_classes=3, norm_cfg=dict(type='BN'),
                         loss_decode=dict(type='CrossEntropyLoss')),
        auxiliary_head=dict(type='FCNHead', in_index=2, channels=8, num_convs=1,
                            num_classes=3, norm_cfg=dict(type='BN'),
                            loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4)),
        test_cfg=dict(mode='whole')))


def _sample(h, w):
    sample = SegDataSample(gt_sem_seg=PixelData(data=torch.randint(0, 3, (1, h, w))))
    sample.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
    return sample


@pytest.mark.parametrize('family', list(FAMILIES))
def test_family_builds_upernet_trains_and_predicts(family):
    torch.manual_seed(0)
    args, channels, sizes = FAMILIES[family]
    model = _upernet(args)
    backbone = model.backbone
    assert backbone.out_channels == channels and backbone.strides == (4, 8, 16, 32)
    assert backbone.channels_last_output == (family == 'swin')
    # in_channels of both heads came from the backbone
    assert list(model.decode_head.in_channels) == list(channels)
    assert model.auxiliary_head.in_channels == channels[2]

    h, w = sizes[0]
    model.train()
    losses = model(torch.randn(2, 3, h, w), [_sample(h, w), _sample(h, w)], mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    grads = [p.grad for p in backbone.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads[:3])
    assert torch.isfinite(total)

    model.eval()
    for h, w in sizes:
        with torch.no_grad():
            outs = backbone(torch.rand(1, 3, h, w))
            (pred,) = model.predict(torch.rand(1, 3, h, w), [_sample(h, w)])
        assert [o.shape[1] for o in outs] == list(channels)
        for out, s in zip(outs, backbone.strides, strict=True):
            assert out.shape[2] in (h // s, -(-h // s)) and out.shape[3] in (w // s, -(-w // s))
        assert pred.pred_sem_seg.data.shape == (1, h, w)
        assert pred.seg_logits.data.shape == (3, h, w)


def test_channels_last_maps_are_permuted_not_reshaped():
    backbone = MODELS.build(dict(type='TIMMBackbone', **SWIN)).eval()
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        raw = backbone.timm_model(x)
        outs = backbone(x)
    for r, o in zip(raw, outs, strict=True):
        assert r.shape[-1] == o.shape[1]  # timm gave (B, H, W, C)
        assert torch.equal(o, r.permute(0, 3, 1, 2))
        assert o.is_contiguous()
    assert outs[0].shape == (1, 16, 16, 24)


def test_checkpoint_path_loads_the_timm_models_own_weights(tmp_path):
    full = timm.create_model('mobilenetv3_small_050', pretrained=False)
    with torch.no_grad():
        full.conv_stem.weight.fill_(0.25)
    path = tmp_path / 'mobilenetv3_small_050.pth'
    torch.save(full.state_dict(), path)  # classifier keys included, as checkpoints ship
    backbone = MODELS.build(dict(type='TIMMBackbone', model_name='mobilenetv3_small_050',
                                 checkpoint_path=str(path)))
    loaded = backbone.timm_model.conv_stem.weight
    assert torch.equal(loaded, torch.full_like(loaded, 0.25))
    assert torch.equal(backbone.timm_model.blocks[0][0].conv_dw.weight,
                       full.blocks[0][0].conv_dw.weight)
    backbone.init_weights()  # mmengine's init keeps what was loaded
    assert torch.equal(backbone.timm_model.conv_stem.weight, loaded)
    assert list(backbone.state_dict())[0].startswith('timm_model.')


def test_mmcv_norm_name_is_mapped():
    backbone = MODELS.build(dict(type='TIMMBackbone', model_name='resnet18', norm_layer='SyncBN'))
    assert isinstance(backbone.timm_model.bn1, FallbackSyncBatchNorm)


@pytest.mark.parametrize('args,error,match', [
    (dict(model_name='resnet_does_not_exist'), ValueError, "timm has no model "
                                                           "'resnet_does_not_exist'"),
    (dict(model_name='resnet18', features_only=False), ValueError, 'features_only must be True'),
    (dict(model_name='resnet18', checkpoint_path='no/such/file.pth'), FileNotFoundError,
     "checkpoint_path 'no/such/file.pth' is not a file"),
    (dict(model_name='resnet18', norm_layer='GN'), ValueError, 'needs a group count'),
])
def test_bad_arguments_are_named(args, error, match):
    with pytest.raises(error, match=match):
        MODELS.build(dict(type='TIMMBackbone', **args))


def test_wrong_input_channels_are_named():
    backbone = MODELS.build(dict(type='TIMMBackbone', model_name='resnet18', in_channels=1))
    with pytest.raises(ValueError, match=r'expects input \(B, 1, H, W\), got \(1, 3, 32, 32\)'):
        backbone(torch.rand(1, 3, 32, 32))
