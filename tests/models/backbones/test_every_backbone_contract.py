"""Every backbone registered in MODELS reports the `out_channels` and `strides` its outputs have,
for several input sizes including ones not divisible by 32 (DESIGN.md's backbone contract).

The backbones are found in the registry (every class defined under upertool.models.backbones),
so a new backbone without tiny constructor arguments here fails `test_every_backbone_has_cases`.
TIMMBackbone/HFBackbone cases are skipped where timm/transformers are not installed.
"""
import pytest
import torch

from upertool.registry import MODELS

SIZES = [(33, 47), (64, 64), (70, 50)]
RESNET = dict(depth=18, base_channels=4, stem_channels=8, out_indices=(0, 1, 2, 3))
STAGES = ['stage1', 'stage2', 'stage3', 'stage4']

# name -> [(case id, constructor arguments, optional package or None)]
CASES = {
    'ResNet': [('r18', RESNET, None),
               ('r18-d8', dict(RESNET, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)), None)],
    'ResNetV1c': [('r18', RESNET, None)],
    'ResNetV1d': [('r18', RESNET, None)],
    'ConvNeXt': [('tiny', dict(arch=dict(depths=[1, 1, 1, 1], channels=[4, 8, 8, 8]),
                               out_indices=[0, 1, 2, 3], gap_before_final_norm=False), None)],
    'SwinTransformer': [('w7', dict(embed_dims=8, depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1)),
                         None),
                        ('w5-3stages', dict(embed_dims=8, depths=(1, 1, 1), num_heads=(1, 1, 2),
                                            strides=(4, 2, 2), window_size=5,
                                            out_indices=(0, 2)), None)],
    'VisionTransformer': [('p16', dict(img_size=32, embed_dims=8, num_layers=2, num_heads=2,
                                       out_indices=(0, 1)), None),
                          ('p8', dict(img_size=32, patch_size=8, embed_dims=8, num_layers=1,
                                      num_heads=2), None)],
    'MixVisionTransformer': [('b0-narrow', dict(embed_dims=4, num_layers=[1, 1, 1, 1],
                                                num_heads=[1, 2, 2, 2]), None),
                             ('3stages', dict(embed_dims=4, num_stages=3, num_layers=[1, 1, 1],
                                              num_heads=[1, 1, 2], patch_sizes=[7, 3, 3],
                                              strides=[4, 2, 2], sr_ratios=[4, 2, 1],
                                              out_indices=(1, 2)), None)],
    'MSCAN': [('t-narrow', dict(embed_dims=[4, 8, 8, 8], depths=[1, 1, 1, 1],
                                norm_cfg=dict(type='BN')), None)],
    'TIMMBackbone': [('resnet18', dict(model_name='resnet18', out_indices=(1, 2, 3, 4)), 'timm'),
                     ('convnext_atto', dict(model_name='convnext_atto'), 'timm'),
                     ('mobilenetv3', dict(model_name='mobilenetv3_small_050'), 'timm')],
    'HFBackbone': [('resnet', dict(config=dict(model_type='resnet', embedding_size=8,
                                               hidden_sizes=[8, 8, 16, 16], depths=[1, 1, 1, 1],
                                               out_features=STAGES)), 'transformers'),
                   ('dinov2', dict(config=dict(model_type='dinov2', hidden_size=16,
                                               num_hidden_layers=2, num_attention_heads=2,
                                               intermediate_size=16, image_size=28,
                                               out_features=['stage1', 'stage2'])),
                    'transformers')],
}


def registered_backbones() -> list[str]:
    MODELS.import_from_location()
    return sorted(name for name, cls in MODELS.module_dict.items()
                  if cls.__module__.startswith('upertool.models.backbones.'))


def _cases():
    for name in registered_backbones():
        for case_id, kwargs, package in CASES.get(name, []):
            # cases needing timm/transformers run in CI's extras stage (`pytest -m extras`)
            marks = [pytest.mark.extras] if package else []
            yield pytest.param(name, kwargs, package, id=f'{name}-{case_id}', marks=marks)


def test_every_backbone_has_cases():
    names = registered_backbones()
    assert {'ResNet', 'ResNetV1c', 'ResNetV1d', 'ConvNeXt', 'SwinTransformer',
            'VisionTransformer', 'TIMMBackbone', 'HFBackbone'} <= set(names)
    assert [n for n in names if not CASES.get(n)] == []


@pytest.mark.parametrize('name,kwargs,package', list(_cases()))
def test_reported_channels_and_strides_match_outputs(name, kwargs, package):
    if package is not None:
        pytest.importorskip(package)
    model = MODELS.build(dict(type=name, **kwargs)).eval()
    channels, strides = model.out_channels, model.strides
    assert isinstance(channels, tuple) and isinstance(strides, tuple)
    assert len(channels) == len(strides) > 0
    assert all(isinstance(c, int) and c > 0 for c in channels)
    assert all(isinstance(s, int) and s > 0 for s in strides)
    for h, w in SIZES:
        with torch.no_grad():
            outs = model(torch.rand(2, 3, h, w))
        assert isinstance(outs, tuple) and len(outs) == len(channels)
        for out, c, s in zip(outs, channels, strides, strict=True):
            assert out.shape[:2] == (2, c), (h, w)
            # each side is the input side divided by the stride, rounded down or up
            assert out.shape[2] in (h // s, -(-h // s)), (h, w, s, tuple(out.shape))
            assert out.shape[3] in (w // s, -(-w // s)), (h, w, s, tuple(out.shape))
            assert torch.isfinite(out).all()
