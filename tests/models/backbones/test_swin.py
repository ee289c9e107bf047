"""SwinTransformer: reported contract, mmseg key layout, shifted-window attention against a
per-token reference, drop path, freezing, pretrained loading, argument errors, UPerNet."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

from upertool.models.backbones import SwinTransformer
from upertool.models.backbones.swin import ShiftWindowMSA
from upertool.models.backbones.transformer_utils import DropPath, PatchMerging
from upertool.registry import MODELS
from upertool.structures import SegDataSample

TINY = dict(embed_dims=16, num_heads=(1, 2, 2, 4))
SIZES = [(33, 47), (64, 64), (70, 50)]


def _ceil_div(size, stride):
    return -(-size // stride)


def _swin_t_keys():
    """mmseg's Swin-T (depths 2,2,6,2) state-dict keys, written from its module layout."""
    keys = ['patch_embed.projection.weight', 'patch_embed.projection.bias',
            'patch_embed.norm.weight', 'patch_embed.norm.bias']
    for i, depth in enumerate((2, 2, 6, 2)):
        for j in range(depth):
            p = f'stages.{i}.blocks.{j}'
            keys += [f'{p}.norm1.weight', f'{p}.norm1.bias',
                     f'{p}.attn.w_msa.relative_position_bias_table',
                     f'{p}.attn.w_msa.relative_position_index',
                     f'{p}.attn.w_msa.qkv.weight', f'{p}.attn.w_msa.qkv.bias',
                     f'{p}.attn.w_msa.proj.weight', f'{p}.attn.w_msa.proj.bias',
                     f'{p}.norm2.weight', f'{p}.norm2.bias',
                     f'{p}.ffn.layers.0.0.weight', f'{p}.ffn.layers.0.0.bias',
                     f'{p}.ffn.layers.1.weight', f'{p}.ffn.layers.1.bias']
        if i < 3:
            keys += [f'stages.{i}.downsample.norm.weight', f'stages.{i}.downsample.norm.bias',
                     f'stages.{i}.downsample.reduction.weight']
    for i in range(4):
        keys += [f'norm{i}.weight', f'norm{i}.bias']
    return keys


@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('window_size,depths', [(7, (2, 2, 2, 2)), (12, (1, 1, 1, 1))])
def test_shapes_match_reported_contract(window_size, depths, size):
    model = MODELS.build(dict(type='SwinTransformer', window_size=window_size, depths=depths,
                              **TINY)).eval()
    h, w = size
    with torch.no_grad():
        outs = model(torch.rand(2, 3, h, w))
    assert model.out_channels == (16, 32, 64, 128)
    assert model.strides == (4, 8, 16, 32)
    assert [tuple(o.shape) for o in outs] == [
        (2, c, _ceil_div(h, s), _ceil_div(w, s)) for c, s in zip(
            (16, 32, 64, 128), (4, 8, 16, 32), strict=True)]


def test_subset_of_stages_and_other_strides():
    model = SwinTransformer(out_indices=(2, 0), strides=(4, 2, 1, 2), depths=(1, 1, 1, 1),
                            **TINY).eval()
    assert model.out_channels == (16, 64) and model.strides == (4, 8)
    assert {'norm0.weight', 'norm2.weight'} <= set(model.state_dict())
    assert 'norm1.weight' not in model.state_dict()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 33, 47))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 9, 12), (1, 64, 5, 6)]


def test_swin_t_state_dict_keys_equal_mmseg_layout():
    with torch.device('meta'):
        model = SwinTransformer()
    sd = model.state_dict()
    expected = _swin_t_keys()
    assert len(expected) == 189
    assert list(sd) == expected
    shapes = {'patch_embed.projection.weight': (96, 3, 4, 4),
              'stages.0.blocks.1.attn.w_msa.relative_position_bias_table': (169, 3),
              'stages.2.blocks.5.attn.w_msa.relative_position_index': (49, 49),
              'stages.3.blocks.0.attn.w_msa.qkv.weight': (2304, 768),
              'stages.1.blocks.0.ffn.layers.0.0.weight': (768, 192),
              'stages.0.downsample.norm.weight': (384,),
              'stages.2.downsample.reduction.weight': (768, 1536),
              'norm3.bias': (768,)}
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key


def test_relative_position_index_buffer():
    model = SwinTransformer(window_size=3, depths=(1, 1, 1, 1), **TINY)
    index = model.state_dict()['stages.0.blocks.0.attn.w_msa.relative_position_index']
    pos = [(y, x) for y in range(3) for x in range(3)]
    expected = torch.tensor([[(yi - yj + 2) * 5 + (xi - xj + 2) for (yj, xj) in pos]
                             for (yi, xi) in pos])
    assert index.dtype == torch.int64 and torch.equal(index, expected)


def test_patch_merging_groups_2x2_channel_major_with_corner_padding():
    """Feature order (c, dy, dx) is nn.Unfold's, which mmseg's reduction weights expect."""
    merge = PatchMerging(2, 3, norm_cfg=None)
    x = torch.randn(1, 2, 3, 5)  # odd size: padded with zeros at the bottom/right
    out, hw = merge(x.flatten(2).transpose(1, 2), (3, 5))
    assert hw == (2, 3)
    padded = F.pad(x, (0, 1, 0, 1))
    grouped = torch.stack([
        torch.cat([padded[0, c, 2 * i + dy, 2 * j + dx].reshape(1)
                   for c in range(2) for dy in (0, 1) for dx in (0, 1)])
        for i in range(2) for j in range(3)])
    torch.testing.assert_close(out[0], merge.reduction(grouped))


def _reference_window_attention(attn, x, hw, window, shift):
    """Per-query loop: a token attends to the tokens of its (shifted) window that come from
    the same image region, with the relative position bias of their window coordinates."""
    msa = attn.w_msa
    b, _, c = x.shape
    h, w = hw
    heads = msa.num_heads
    hp, wp = _ceil_div(h, window) * window, _ceil_div(w, window) * window
    grid = torch.zeros(b, hp, wp, c)
    grid[:, :h, :w] = x.view(b, h, w, c)  # zero tokens pad the map to whole windows
    q, k, v = msa.qkv(grid.view(b, -1, c)).view(b, hp * wp, 3, heads, c // heads).unbind(2)

    def place(i, j):  # position after the cyclic shift by -shift
        return (i - shift) % hp, (j - shift) % wp

    def region(coord, size):
        if shift == 0:
            return 0
        return 0 if coord < size - window else (1 if coord < size - shift else 2)

    info = []
    for i in range(hp):
        for j in range(wp):
            si, sj = place(i, j)
            info.append(((si // window, sj // window), (region(si, hp), region(sj, wp)),
                         (si % window, sj % window)))
    table = msa.relative_position_bias_table
    out = torch.zeros(b, hp * wp, heads, c // heads)
    for n, (win, reg, (yi, xi)) in enumerate(info):
        keys = [m for m, (w2, r2, _) in enumerate(info) if w2 == win and r2 == reg]
        bias = torch.stack([table[(yi - info[m][2][0] + window - 1) * (2 * window - 1)
                                  + (xi - info[m][2][1] + window - 1)] for m in keys])
        logits = torch.einsum('bhd,bkhd->bhk', q[:, n], k[:, keys]) * msa.scale + bias.T
        out[:, n] = torch.einsum('bhk,bkhd->bhd', logits.softmax(-1), v[:, keys])
    out = msa.proj(out.view(b, hp * wp, c)).view(b, hp, wp, c)
    return out[:, :h, :w].reshape(b, h * w, c)


@pytest.mark.parametrize('batch', [1, 2])  # one image: the windows are SDPA's batch
@pytest.mark.parametrize('window,shift,hw', [(4, 0, (5, 7)), (4, 2, (5, 7)), (7, 3, (9, 6)),
                                             (12, 6, (8, 8))])
def test_shifted_window_attention_matches_per_token_reference(window, shift, hw, batch):
    torch.manual_seed(0)
    attn = ShiftWindowMSA(8, 2, window, shift, qk_scale=0.3).eval()
    with torch.no_grad():
        attn.w_msa.relative_position_bias_table.normal_()
        x = torch.randn(batch, hw[0] * hw[1], 8)
        got = attn(x, hw)
        expected = _reference_window_attention(attn, x, hw, window, shift)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('batch', [1, 2])
@pytest.mark.parametrize('shift', [0, 3])
def test_window_attention_at_inference_runs_torchs_fused_cpu_kernel(shift, batch):
    """A 3-d mask sends scaled_dot_product_attention to its unfused math path (4.6x slower on
    a 2-core host); the (1, heads, N, N) mask keeps the fused kernel. (Training still takes
    the math path: the fused CPU kernel has no gradient for the mask, the learned bias.)"""
    from torch.profiler import ProfilerActivity, profile
    attn = ShiftWindowMSA(8, 2, 7, shift).eval()
    x = torch.randn(batch, 14 * 14, 8)
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
        attn(x, (14, 14))
    names = {event.key for event in prof.key_averages()}
    assert 'aten::_scaled_dot_product_flash_attention_for_cpu' in names, sorted(names)
    assert 'aten::_scaled_dot_product_attention_math' not in names


def test_drop_path_is_identity_in_eval_and_random_in_training():
    torch.manual_seed(0)
    dropping = SwinTransformer(depths=(2, 2, 2, 2), drop_path_rate=0.5, **TINY)
    plain = SwinTransformer(depths=(2, 2, 2, 2), drop_path_rate=0.0, **TINY)
    plain.load_state_dict(dropping.state_dict())
    x = torch.rand(2, 3, 32, 32)
    dropping.eval()
    plain.eval()
    with torch.no_grad():
        for a, b in zip(dropping(x), plain(x), strict=True):
            torch.testing.assert_close(a, b)
        dropping.train()
        first, second = dropping(x)[3], dropping(x)[3]
    assert not torch.allclose(first, second)
    layer = DropPath(0.5).train()
    kept = layer(torch.ones(4000, 3))
    assert set(kept.unique().tolist()) == {0.0, 2.0}  # whole samples dropped, rest rescaled
    assert torch.all(kept == kept[:, :1])
    assert abs(kept.mean().item() - 1) < 0.1


def test_frozen_stages_stay_frozen_through_train():
    model = SwinTransformer(depths=(1, 1, 1, 1), frozen_stages=1, use_abs_pos_embed=True,
                            pretrain_img_size=32, **TINY)
    model.train()
    frozen = [model.patch_embed, model.stages[0], model.norm0]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert not model.absolute_pos_embed.requires_grad
    assert all(not m.training for m in frozen)
    assert all(p.requires_grad for p in model.stages[1].parameters())
    assert model.stages[1].training and model.norm1.weight.requires_grad
    sum(o.mean() for o in model(torch.rand(1, 3, 32, 32))).backward()
    assert model.stages[0].blocks[0].attn.w_msa.qkv.weight.grad is None
    assert model.stages[1].blocks[0].attn.w_msa.qkv.weight.grad is not None


def test_with_cp_matches_plain_forward_and_grads():
    torch.manual_seed(0)
    plain = SwinTransformer(depths=(2, 1, 1, 1), **TINY)
    cp = SwinTransformer(depths=(2, 1, 1, 1), with_cp=True, **TINY)
    cp.load_state_dict(plain.state_dict())
    x = torch.rand(1, 3, 32, 32)
    grads = []
    for m in (plain.eval(), cp.eval()):
        outs = m(x)
        sum(o.square().mean() for o in outs).backward()
        grads.append((outs, m.stages[0].blocks[1].attn.w_msa.qkv.weight.grad.clone()))
    for a, b in zip(grads[0][0], grads[1][0], strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(grads[0][1], grads[1][1])


def test_absolute_pos_embed_is_interpolated_for_other_sizes():
    """A constant position embedding equals a shifted patch-norm bias, at any input size."""
    torch.manual_seed(0)
    with_pos = SwinTransformer(depths=(1, 1, 1, 1), use_abs_pos_embed=True,
                               pretrain_img_size=32, **TINY).eval()
    without = SwinTransformer(depths=(1, 1, 1, 1), **TINY).eval()
    assert with_pos.absolute_pos_embed.shape == (1, 64, 16)
    state = {k: v for k, v in with_pos.state_dict().items() if k != 'absolute_pos_embed'}
    without.load_state_dict(state)
    with torch.no_grad():
        with_pos.absolute_pos_embed.fill_(0.3)
        without.patch_embed.norm.bias += 0.3
        for size in ((32, 32), (40, 52)):
            x = torch.rand(1, 3, *size)
            for a, b in zip(with_pos(x), without(x), strict=True):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_default_init():
    model = SwinTransformer(depths=(1, 1, 1, 2), **TINY)
    model.init_weights()
    qkv = model.stages[3].blocks[1].attn.w_msa.qkv
    assert abs(qkv.weight.std().item() - 0.02) < 0.003
    assert torch.all(qkv.bias == 0)
    assert torch.all(model.norm2.weight == 1) and torch.all(model.norm2.bias == 0)
    table = model.stages[3].blocks[1].attn.w_msa.relative_position_bias_table
    assert 0.01 < table.std().item() < 0.03


def test_pretrained_checkpoint_is_loaded_as_mmseg_does(tmp_path):
    """'backbone.' keys of a segmentor file load; bias tables are resized to the window."""
    torch.manual_seed(0)
    src = SwinTransformer(window_size=7, depths=(1, 1, 1, 1), **TINY)
    with torch.no_grad():
        for p in src.parameters():
            p.normal_()
    state = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    state['decode_head.conv_seg.weight'] = torch.zeros(1)
    path = tmp_path / 'seg.pth'
    torch.save({'state_dict': state, 'meta': {}}, path)
    dst = MODELS.build(dict(type='SwinTransformer', window_size=12, depths=(1, 1, 1, 1),
                            init_cfg=dict(type='Pretrained', checkpoint=str(path)), **TINY))
    dst.init_weights()
    for key, value in src.state_dict().items():
        if 'relative_position' not in key:
            assert torch.equal(dst.state_dict()[key], value), key
    table = dst.stages[1].blocks[0].attn.w_msa.relative_position_bias_table
    assert table.shape == (23 * 23, 2)
    old = src.stages[1].blocks[0].attn.w_msa.relative_position_bias_table
    expected = F.interpolate(old.T.reshape(1, 2, 13, 13), size=(23, 23), mode='bicubic')
    torch.testing.assert_close(table, expected.reshape(2, -1).T)
    index = dst.stages[1].blocks[0].attn.w_msa.relative_position_index
    assert index.shape == (144, 144) and index.max() == 23 * 23 - 1


@pytest.mark.parametrize('kwargs,exc,match', [
    (dict(strides=(2, 2, 2, 2)), ValueError, 'strides.0. must equal patch_size'),
    (dict(num_heads=(3, 2, 2, 4)), ValueError, r'num_heads\[0\]=3 does not divide .*16'),
    (dict(depths=(2, 2, 2)), ValueError, 'one entry per stage'),
    (dict(depths=(2, 0, 2, 2)), ValueError, 'depths must be a non-empty sequence'),
    (dict(out_indices=(0, 4)), ValueError, r'out_indices .* -4\.\.3'),
    (dict(out_indices=(1, 1)), ValueError, 'out_indices name a stage twice'),
    (dict(frozen_stages=5), ValueError, r'frozen_stages must be an int in -1\.\.4'),
    (dict(norm_cfg=dict(type='BN')), ValueError, "norm_cfg must be dict.type='LN'"),
    (dict(drop_path_rate=1.0), ValueError, r'drop_path_rate must be a number in \[0, 1\)'),
    (dict(attn_drop_rate=-0.1), ValueError, 'attn_drop_rate'),
    (dict(window_size=0), ValueError, 'window_size must be a positive int'),
    (dict(mlp_ratio=0), ValueError, 'mlp_ratio must be a positive number'),
    (dict(qk_scale=-1.0), ValueError, 'qk_scale must be None or a positive number'),
    (dict(pretrain_img_size=(224, 224, 3)), ValueError, 'pretrain_img_size'),
    (dict(pretrained='a.pth', init_cfg=dict(type='Pretrained', checkpoint='b.pth')),
     ValueError, 'either pretrained or init_cfg'),
    (dict(pretrained=3), TypeError, 'pretrained must be a str'),
    (dict(act_cfg=dict(type='Swishy')), KeyError, 'Unknown activation type'),
])
def test_bad_arguments_raise_naming_the_argument(kwargs, exc, match):
    args = dict(TINY)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        SwinTransformer(**args)


def test_pretrained_path_becomes_init_cfg():
    with pytest.warns(DeprecationWarning, match='pretrained'):
        model = SwinTransformer(pretrained='w.pth', depths=(1, 1, 1, 1), **TINY)
    assert model.init_cfg == dict(type='Pretrained', checkpoint='w.pth')


def test_wrong_input_channels_raise_before_torch():
    model = SwinTransformer(depths=(1, 1, 1, 1), **TINY)
    with pytest.raises(ValueError, match=r'expects input \(B, 3, H, W\), got \(1, 4, 32, 32\)'):
        model(torch.rand(1, 4, 32, 32))


def test_upernet_with_swin_trains_and_predicts():
    model = MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='SwinTransformer', depths=(2, 1, 1, 1), **TINY),
        decode_head=dict(type='UPerHead', in_index=[0, 1, 2, 3], channels=8, num_classes=3,
                         pool_scales=(1, 2)),
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0] * 3, std=[1] * 3)))
    assert model.decode_head.in_channels == [16, 32, 64, 128]
    sample = SegDataSample(metainfo=dict(img_shape=(40, 44), ori_shape=(40, 44)))
    sample.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 40, 44)))
    model.train()
    losses = model(torch.rand(2, 3, 40, 44), [sample, sample], mode='loss')
    losses['decode.loss_ce'].backward()
    assert math.isfinite(losses['decode.loss_ce'].item())
    assert model.backbone.stages[0].blocks[1].attn.w_msa.qkv.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        pred = model.predict(torch.rand(1, 3, 40, 44))[0]
    assert pred.pred_sem_seg.data.shape == (1, 40, 44)
