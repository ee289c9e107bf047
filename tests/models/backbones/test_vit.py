"""VisionTransformer: reported contract, mmseg key layout, an encoder layer against a by-hand
computation, position-embedding resizing and padding, options, drop path, freezing,
pretrained loading, argument errors, UPerNet with MultiLevelNeck."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

from upertool.models.backbones import VisionTransformer
from upertool.models.backbones import vit as vit_module
from upertool.registry import MODELS
from upertool.structures import SegDataSample

TINY = dict(img_size=32, patch_size=16, embed_dims=32, num_layers=4, num_heads=4,
            out_indices=(0, 1, 2, 3))
SIZES = [(33, 47), (64, 64), (70, 50)]


def _ceil_div(size, stride):
    return -(-size // stride)


def _vit_b_keys(patch_bias=False, pre_norm=False, final_norm=False):
    """mmseg 1.x's ViT-B/16 state-dict keys, written from its module layout."""
    keys = ['cls_token', 'pos_embed', 'patch_embed.projection.weight']
    keys += ['patch_embed.projection.bias'] if patch_bias else []
    keys += ['ln_pre.weight', 'ln_pre.bias'] if pre_norm else []
    for i in range(12):
        p = f'layers.{i}'
        keys += [f'{p}.ln1.weight', f'{p}.ln1.bias', f'{p}.attn.attn.in_proj_weight',
                 f'{p}.attn.attn.in_proj_bias', f'{p}.attn.attn.out_proj.weight',
                 f'{p}.attn.attn.out_proj.bias', f'{p}.ln2.weight', f'{p}.ln2.bias',
                 f'{p}.ffn.layers.0.0.weight', f'{p}.ffn.layers.0.0.bias',
                 f'{p}.ffn.layers.1.weight', f'{p}.ffn.layers.1.bias']
    return keys + (['ln1.weight', 'ln1.bias'] if final_norm else [])


@pytest.mark.parametrize('size', SIZES)
def test_shapes_match_reported_contract(size):
    model = MODELS.build(dict(type='VisionTransformer', **TINY)).eval()
    h, w = size
    with torch.no_grad():
        outs = model(torch.rand(2, 3, h, w))
    assert model.out_channels == (32,) * 4 and model.strides == (16,) * 4
    assert [tuple(o.shape) for o in outs] == [(2, 32, _ceil_div(h, 16), _ceil_div(w, 16))] * 4


def test_vit_b_state_dict_keys_equal_mmseg_layout():
    with torch.device('meta'):
        default = VisionTransformer()
        mln = VisionTransformer(img_size=(512, 512), out_indices=(2, 5, 8, 11), final_norm=True,
                                patch_bias=True, pre_norm=True)
    sd = default.state_dict()
    assert len(_vit_b_keys()) == 147
    assert list(sd) == _vit_b_keys()
    assert list(mln.state_dict()) == _vit_b_keys(True, True, True)
    shapes = {'cls_token': (1, 1, 768), 'pos_embed': (1, 197, 768),
              'patch_embed.projection.weight': (768, 3, 16, 16),
              'layers.3.attn.attn.in_proj_weight': (2304, 768),
              'layers.11.attn.attn.out_proj.weight': (768, 768),
              'layers.0.ffn.layers.0.0.weight': (3072, 768),
              'layers.0.ffn.layers.1.weight': (768, 3072)}
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key
    assert tuple(mln.state_dict()['pos_embed'].shape) == (1, 1025, 768)
    assert default.out_indices == (11,) and mln.out_channels == (768,) * 4


def _reference_layer(layer, x, heads):
    """Pre-norm encoder layer by hand: multi-head softmax attention, then a GELU MLP."""
    b, n, c = x.shape
    h = F.layer_norm(x, (c,), layer.ln1.weight, layer.ln1.bias, layer.ln1.eps)
    mha = layer.attn.attn
    q, k, v = (h @ mha.in_proj_weight.T + mha.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (t.view(b, n, heads, c // heads).transpose(1, 2) for t in (q, k, v))
    weights = (q @ k.transpose(-1, -2) / math.sqrt(c // heads)).softmax(-1)
    attn = (weights @ v).transpose(1, 2).reshape(b, n, c)
    x = x + attn @ mha.out_proj.weight.T + mha.out_proj.bias
    h = F.layer_norm(x, (c,), layer.ln2.weight, layer.ln2.bias, layer.ln2.eps)
    fc1, fc2 = layer.ffn.layers[0][0], layer.ffn.layers[1]
    return x + F.linear(F.gelu(F.linear(h, fc1.weight, fc1.bias)), fc2.weight, fc2.bias)


def test_encoder_layer_matches_by_hand_computation():
    torch.manual_seed(0)
    model = VisionTransformer(**TINY).eval()
    layer = model.layers[2]
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_(0, 0.3)
        x = torch.randn(2, 7, 32)
        torch.testing.assert_close(layer(x), _reference_layer(layer, x, 4), rtol=1e-4,
                                   atol=1e-5)


def _embedding_only(**kwargs):
    """out_origin gives the tokens right after the position embedding; a zero patch conv
    makes them the position embedding itself."""
    model = VisionTransformer(**dict(TINY, out_origin=True, **kwargs)).eval()
    with torch.no_grad():
        model.patch_embed.projection.weight.zero_()
        model.pos_embed.normal_()
    return model


def test_position_embedding_is_used_as_is_at_the_training_size():
    model = _embedding_only(patch_size=8)  # 4x4 grid for 32x32
    with torch.no_grad():
        origin = model(torch.rand(1, 3, 32, 32))[0]
    grid = model.pos_embed[0, 1:].T.reshape(1, 32, 4, 4)
    torch.testing.assert_close(origin, grid)


def test_position_embedding_is_resized_for_other_sizes():
    model = _embedding_only(patch_size=8, interpolate_mode='nearest')
    with torch.no_grad():
        origin = model(torch.rand(1, 3, 64, 56))[0]  # 8x7 tokens from the 4x4 grid
    grid = model.pos_embed[0, 1:].T.reshape(32, 4, 4)
    rows = torch.tensor([i * 4 // 8 for i in range(8)])
    cols = torch.tensor([j * 4 // 7 for j in range(7)])
    torch.testing.assert_close(origin[0], grid[:, rows][:, :, cols])
    resized = VisionTransformer.resize_pos_embed(model.pos_embed, (8, 7), (4, 4), 'nearest')
    assert resized.shape == (1, 57, 32)
    torch.testing.assert_close(resized[:, 0], model.pos_embed[:, 0])  # class token kept


def test_border_pixels_reach_the_last_tokens_through_corner_padding():
    model = VisionTransformer(**dict(TINY, out_origin=True, patch_bias=True)).eval()
    x = torch.rand(1, 3, 33, 47)
    y = x.clone()
    y[:, :, 32, 46] += 5.0  # the only pixel of the last row/column of patches
    with torch.no_grad():
        a, b = model(x)[0], model(y)[0]
    changed = (a - b).abs().sum(1)[0] > 0
    expected = torch.zeros(3, 3, dtype=torch.bool)
    expected[2, 2] = True
    assert torch.equal(changed, expected)


def test_cls_token_options_and_out_origin():
    model = VisionTransformer(**dict(TINY, output_cls_token=True, out_origin=True)).eval()
    assert model.out_channels == (32,) * 5 and model.strides == (16,) * 5
    with torch.no_grad():
        outs = model(torch.rand(2, 3, 32, 48))
    assert len(outs) == 5
    assert all(len(o) == 2 and o[0].shape == (2, 32, 2, 3) and o[1].shape == (2, 32)
               for o in outs)
    no_cls = VisionTransformer(**dict(TINY, with_cls_token=False))
    no_cls.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert no_cls.eval()(torch.rand(2, 3, 32, 48))[3].shape == (2, 32, 2, 3)


def test_final_norm_and_pre_norm():
    model = VisionTransformer(**dict(TINY, final_norm=True, pre_norm=True,
                                     out_origin=True)).eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, 32, 32) * 10)
    for idx in (0, 4):  # the pre-normed embedding and the final-normed last layer
        torch.testing.assert_close(outs[idx].mean(1), torch.zeros(2, 2, 2), atol=1e-5,
                                   rtol=0)
        torch.testing.assert_close(outs[idx].var(1, unbiased=False), torch.ones(2, 2, 2),
                                   atol=1e-3, rtol=0)
    assert outs[2].mean(1).abs().max() > 1e-3  # an intermediate layer is not normalised


def test_drop_path_on_both_branches_and_only_in_training():
    torch.manual_seed(0)
    dropping = VisionTransformer(**dict(TINY, drop_path_rate=0.6))
    plain = VisionTransformer(**TINY)
    plain.load_state_dict(dropping.state_dict())
    assert dropping.layers[3].attn.drop_path.drop_prob == pytest.approx(0.6)
    assert dropping.layers[3].ffn.drop_path.drop_prob == pytest.approx(0.6)
    assert dropping.layers[0].ffn.drop_path.drop_prob == 0.0
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        for a, b in zip(dropping.eval()(x), plain.eval()(x), strict=True):
            torch.testing.assert_close(a, b)
        dropping.train()
        assert not torch.allclose(dropping(x)[3], dropping(x)[3])


def test_frozen_exclude_and_norm_eval():
    model = VisionTransformer(**dict(TINY, frozen_exclude=['pos_embed', 'layers.3']))
    trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
    assert trainable[0] == 'layers.3.attn.attn.in_proj_bias' and 'pos_embed' in trainable
    assert all(n.startswith('layers.3.') or n == 'pos_embed' for n in trainable)
    assert all(p.requires_grad for p in VisionTransformer(**TINY).parameters())
    model = VisionTransformer(**dict(TINY, norm_eval=True)).train()
    assert model.training and model.layers[0].attn.training
    assert not model.layers[0].ln1.training and not model.layers[3].ln2.training


def test_with_cp_matches_plain_forward_and_grads():
    torch.manual_seed(0)
    plain = VisionTransformer(**TINY)
    cp = VisionTransformer(**dict(TINY, with_cp=True))
    cp.load_state_dict(plain.state_dict())
    x = torch.rand(1, 3, 32, 32)
    results = []
    for m in (plain.eval(), cp.eval()):
        outs = m(x)
        sum(o.square().mean() for o in outs).backward()
        results.append((outs, m.layers[1].ffn.layers[0][0].weight.grad.clone()))
    for a, b in zip(results[0][0], results[1][0], strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(results[0][1], results[1][1])


def test_default_init():
    model = VisionTransformer(**dict(TINY, embed_dims=64, patch_bias=True))
    model.init_weights()
    assert abs(model.pos_embed.std().item() - 0.02) < 0.004
    fc1 = model.layers[0].ffn.layers[0][0]
    assert abs(fc1.weight.std().item() - 0.02) < 0.004
    assert 0 < fc1.bias.abs().max().item() < 1e-4  # tiny random FFN biases
    assert torch.all(model.layers[0].attn.attn.out_proj.bias == 0)
    conv = model.patch_embed.projection.weight  # Kaiming normal, fan_in = 3 * 16 * 16
    assert abs(conv.std().item() / math.sqrt(2 / 768) - 1) < 0.1
    assert torch.all(model.patch_embed.projection.bias == 0)


def test_pretrained_resizes_pos_embed_and_flags_a_patch_bias(tmp_path, monkeypatch):
    torch.manual_seed(0)
    src = VisionTransformer(**dict(TINY, patch_size=8, patch_bias=True))  # 4x4 grid
    with torch.no_grad():
        for p in src.parameters():
            p.normal_()
    path = tmp_path / 'vit.pth'
    torch.save({'state_dict': src.state_dict()}, path)
    logged = []
    monkeypatch.setattr(vit_module, 'print_log', lambda msg, **kw: logged.append(msg))
    dst = VisionTransformer(**dict(TINY, patch_size=8, img_size=48,
                                   init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    dst.init_weights()
    assert dst.pos_embed.shape == (1, 37, 32)
    expected = VisionTransformer.resize_pos_embed(src.pos_embed, (6, 6), (4, 4), 'bicubic')
    torch.testing.assert_close(dst.pos_embed, expected)
    torch.testing.assert_close(dst.layers[2].attn.attn.in_proj_weight,
                               src.layers[2].attn.attn.in_proj_weight)
    assert any('patch_bias=True' in msg for msg in logged)


@pytest.mark.parametrize('kwargs,exc,match', [
    (dict(num_heads=5), ValueError, 'num_heads=5 must divide embed_dims=32'),
    (dict(output_cls_token=True, with_cls_token=False), ValueError, 'needs with_cls_token'),
    (dict(interpolate_mode='cubic'), ValueError, 'interpolate_mode must be one of'),
    (dict(norm_cfg=dict(type='BN')), ValueError, "norm_cfg must be dict.type='LN'"),
    (dict(out_indices=(0, 4)), ValueError, r'out_indices .* -4\.\.3'),
    (dict(out_indices=(3, -1)), ValueError, 'out_indices name a layer twice'),
    (dict(out_indices='last'), ValueError, 'out_indices must be an int or'),
    (dict(frozen_exclude='pos_embed'), ValueError, 'frozen_exclude must be a list'),
    (dict(patch_pad='valid'), ValueError, "padding must be 'corner', 'same' or an int"),
    (dict(img_size=(32, 0)), ValueError, 'img_size must be a positive int'),
    (dict(drop_rate=1.0), ValueError, 'drop_rate'),
    (dict(num_fcs=1), ValueError, 'num_fcs must be an int >= 2'),
    (dict(pretrained='a.pth', init_cfg=dict(type='Pretrained', checkpoint='b.pth')),
     ValueError, 'either pretrained or init_cfg'),
])
def test_bad_arguments_raise_naming_the_argument(kwargs, exc, match):
    args = dict(TINY)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        VisionTransformer(**args)


def test_wrong_input_channels_raise_before_torch():
    with pytest.raises(ValueError, match=r'expects input \(B, 3, H, W\), got \(2, 3, 32\)'):
        VisionTransformer(**TINY)(torch.rand(2, 3, 32))


def test_upernet_with_vit_and_multilevel_neck_trains_and_predicts():
    model = MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='VisionTransformer', **dict(TINY, patch_size=8, embed_dims=16)),
        neck=dict(type='MultiLevelNeck', in_channels=[16] * 4, out_channels=8,
                  scales=[4, 2, 1, 0.5]),
        decode_head=dict(type='UPerHead', in_index=[0, 1, 2, 3], channels=8, num_classes=3,
                         pool_scales=(1, 2)),
        auxiliary_head=dict(type='FCNHead', in_index=3, channels=4, num_convs=1,
                            num_classes=3, concat_input=False),
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0] * 3, std=[1] * 3)))
    assert model.decode_head.in_channels == [8, 8, 8, 8]
    x = torch.rand(2, 3, 48, 40)
    with torch.no_grad():
        feats = model.extract_feat(x)
    assert [tuple(f.shape[-2:]) for f in feats] == [(24, 20), (12, 10), (6, 5), (3, 2)]
    sample = SegDataSample(metainfo=dict(img_shape=(48, 40), ori_shape=(48, 40)))
    sample.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 48, 40)))
    model.train()
    losses = model(x, [sample, sample], mode='loss')
    (losses['decode.loss_ce'] + losses['aux.loss_ce']).backward()
    assert math.isfinite(losses['decode.loss_ce'].item())
    assert model.backbone.layers[0].attn.attn.in_proj_weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        pred = model.predict(torch.rand(1, 3, 48, 40))[0]
    assert pred.pred_sem_seg.data.shape == (1, 48, 40)
