"""Hugging Face UperNet (ConvNeXt-T, Swin-T, ResNet-50) <-> upertool, against transformers.

Random-weight HF models (widened away from HF's tiny init so every layer matters) are saved
with `save_pretrained`, converted with the converter's folder commands, and compared:
upertool logits resized to the input equal HF's within 1e-4; upertool -> HF -> upertool is
bit-exact, and HF's `from_pretrained` loads the upertool export with nothing missing.
"""
import math

import numpy as np
import pytest
import torch
from mmengine.config import Config

from upertool.apis import init_model
from upertool.convert import commands
from upertool.convert.weights_io import read_weights, write_checkpoint
from upertool.models.utils import resize

pytestmark = pytest.mark.extras
transformers = pytest.importorskip('transformers')
pytest.importorskip('safetensors')

STAGES = ['stage1', 'stage2', 'stage3', 'stage4']
# Swin-T with window 7 at 256 px: every stage (64, 32, 16, 8) is larger than the window, where
# all transformers versions keep mmseg's shifted windows (see docs/migration.md).
SIZES = {'convnext': (64, 96), 'swin': (256, 256), 'resnet': (64, 96)}


def hf_backbone(kind):
    # Lists, not the tuples transformers 5 defaults to (ConvNextBackbone adds a list to them).
    if kind == 'convnext':  # ConvNeXt-T
        cfg = transformers.ConvNextConfig(out_features=STAGES, depths=[3, 3, 9, 3],
                                          hidden_sizes=[96, 192, 384, 768])
        assert (list(cfg.depths), list(cfg.hidden_sizes)) == ([3, 3, 9, 3], [96, 192, 384, 768])
        return cfg, list(cfg.hidden_sizes)
    if kind == 'swin':  # Swin-T, window 7
        cfg = transformers.SwinConfig(out_features=STAGES, embed_dim=96, depths=[2, 2, 6, 2],
                                      num_heads=[3, 6, 12, 24], window_size=7)
        assert (cfg.embed_dim, list(cfg.depths), cfg.window_size) == (96, [2, 2, 6, 2], 7)
        return cfg, [96 * 2**i for i in range(4)]
    cfg = transformers.ResNetConfig(out_features=STAGES, depths=[3, 4, 6, 3],  # ResNet-50
                                    hidden_sizes=[256, 512, 1024, 2048], layer_type='bottleneck')
    assert (list(cfg.depths), cfg.layer_type, cfg.hidden_sizes[-1]) == (
        [3, 4, 6, 3], 'bottleneck', 2048)
    return cfg, list(cfg.hidden_sizes)


def randomize(model, seed):
    """Every parameter and BN statistic random at a scale that keeps activations O(1)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if p.dim() > 1:  # conv / linear weights: variance-preserving
                p.copy_(noise / math.sqrt(p[0].numel()))
            elif name.endswith(('layer_scale_parameter', 'gamma')):
                p.copy_(0.3 + 0.1 * noise)  # layer scale: blocks must contribute
            elif 'norm' in name and name.endswith('weight'):
                p.copy_(1 + 0.2 * noise)
            else:
                p.copy_(0.2 * noise)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.2 * torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=gen))
    return model.eval()


@pytest.fixture(scope='module', params=['convnext', 'swin', 'resnet'])
def hf_folder(request, tmp_path_factory):
    kind = request.param
    backbone, channels = hf_backbone(kind)
    config = transformers.UperNetConfig(
        backbone_config=backbone, hidden_size=32, auxiliary_channels=16, num_labels=5,
        auxiliary_in_channels=channels[2], use_auxiliary_head=True,
        id2label={i: f'class{i}' for i in range(5)}, label2id={f'class{i}': i for i in range(5)})
    model = randomize(transformers.UperNetForSemanticSegmentation(config), seed=1)
    folder = tmp_path_factory.mktemp(f'hf_{kind}')
    model.save_pretrained(folder)
    transformers.SegformerImageProcessor(
        do_resize=False, image_mean=[0.5, 0.4, 0.3], image_std=[0.2, 0.25, 0.3]
    ).save_pretrained(folder)
    return kind, model, folder


def hf_logits(model, x):
    with torch.no_grad():
        out = model(pixel_values=x)
        feats = model.backbone(x).feature_maps
        aux = model.auxiliary_head(feats)
    return out.logits, aux


def upertool_logits(model, x):
    with torch.no_grad():
        feats = model.extract_feat(x)
        logits = resize(model.decode_head(feats), size=x.shape[2:], mode='bilinear',
                        align_corners=False)
        return logits, model.auxiliary_head(feats)


def test_hf_to_upertool_gives_hf_logits(hf_folder, tmp_path):
    kind, hf_model, folder = hf_folder
    report = commands.hf_to_upertool_folder(str(folder), str(tmp_path))
    assert report.complete, report.summary()

    model = init_model(str(tmp_path / 'config.py'), str(tmp_path / 'model.pth'))
    x = torch.randn(1, 3, *SIZES[kind], generator=torch.Generator().manual_seed(2))
    ref, ref_aux = hf_logits(hf_model, x)
    out, aux = upertool_logits(model, x)

    assert ref.shape == out.shape == (1, 5, *SIZES[kind])
    assert ref.abs().mean() > 0.1  # the comparison is not between near-zero maps
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-4)
    torch.testing.assert_close(aux, ref_aux, rtol=0, atol=1e-4)
    assert list(model.dataset_meta['classes']) == [f'class{i}' for i in range(5)]


def test_upertool_to_hf_to_upertool_is_bit_exact(hf_folder, tmp_path):
    kind, _, folder = hf_folder
    commands.hf_to_upertool_folder(str(folder), str(tmp_path / 'converted'))
    config = str(tmp_path / 'converted' / 'config.py')
    # A upertool model with weights of its own (not HF's), saved as a upertool checkpoint.
    model = init_model(config)
    randomize(model, seed=3)
    original = {k: v.clone() for k, v in model.state_dict().items()}
    write_checkpoint(tmp_path / 'mine.pth', original,
                     dict(dataset_meta=dict(classes=[f'c{i}' for i in range(5)])))

    report = commands.upertool_to_hf_folder(config, str(tmp_path / 'mine.pth'),
                                            str(tmp_path / 'hf'))
    assert report.complete, report.summary()
    hf_model, info = transformers.UperNetForSemanticSegmentation.from_pretrained(
        tmp_path / 'hf', output_loading_info=True)
    assert not info['missing_keys'] and not info['unexpected_keys'], info
    assert not info['mismatched_keys'], info
    assert hf_model.config.id2label[4] == 'c4'
    x = torch.randn(1, 3, *SIZES[kind], generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(upertool_logits(model.eval(), x)[0], hf_logits(hf_model.eval(),
                                                                              x)[0],
                               rtol=0, atol=1e-4)

    hf_model.save_pretrained(tmp_path / 'hf_again')  # what HF itself writes back
    transformers.AutoImageProcessor.from_pretrained(tmp_path / 'hf').save_pretrained(
        tmp_path / 'hf_again')
    for source in ('hf', 'hf_again'):
        out = tmp_path / f'back_{source}'
        commands.hf_to_upertool_folder(str(tmp_path / source), str(out))
        back, meta = read_weights(out / 'model.pth')
        assert set(back) == set(original)
        for key, value in original.items():
            assert torch.equal(back[key], value), key
        assert meta['dataset_meta']['classes'] == [f'c{i}' for i in range(5)]
        assert Config.fromfile(str(out / 'config.py')).model == Config.fromfile(config).model


def test_normalisation_matches_the_hf_image_processor(hf_folder, tmp_path):
    _, _, folder = hf_folder
    commands.hf_to_upertool_folder(str(folder), str(tmp_path))
    model = init_model(str(tmp_path / 'config.py'))
    rgb = np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    processor = transformers.AutoImageProcessor.from_pretrained(folder)
    expected = processor(images=rgb, return_tensors='pt')['pixel_values']

    bgr = torch.from_numpy(np.ascontiguousarray(rgb[..., ::-1])).permute(2, 0, 1)
    got = model.data_preprocessor(dict(inputs=[bgr]), training=False)['inputs']

    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
