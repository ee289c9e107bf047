"""csail-to-upertool: the UPerNet authors' checkpoints (mit-semseg, unifiedparsing layouts).

The key tables are checked here on every run (a upertool model's weights, renamed to the
authors' names with their SyncBN extras, convert back completely and exactly); the logits are
checked against `mit-semseg` itself in the extras stage (`pytest -m extras`).
"""
import copy

import pytest
import torch
from mmengine.config import Config

from upertool.convert.csail import DECODER_RULES, ENCODER_RULES, csail_to_upertool
from upertool.convert.key_rules import ConversionError, KeyMapper
from upertool.registry import MODELS

CONFIGS = {'upernet': 'configs/csail/upernet_r50-csail_ade20k.py',
           'upernet_lite': 'configs/csail/upernet-lite_r50-csail_ade20k.py',
           'ppm_deepsup': 'configs/csail/pspnet-deepsup_r50-csail_ade20k.py'}
UPP_CONFIG = 'configs/upp/upernet-upp_r50_broden-plus.py'


def _model_cfg(path, **decode):
    cfg = Config.fromfile(path).model.to_dict()
    cfg['backbone']['norm_cfg'] = dict(type='BN')
    for head in ('decode_head', 'auxiliary_head'):
        if cfg.get(head):
            cfg[head]['norm_cfg'] = dict(type='BN')
    cfg['decode_head'].update(decode)
    return cfg


def _authors_files(model, rules, tmp_path):
    """The model's weights under the authors' names, with their SyncBN extras, saved as
    encoder/decoder files."""
    state = model.state_dict()
    files = []
    for name, table, prefix in (('encoder', ENCODER_RULES, 'backbone.'),
                                ('decoder', rules, ('decode_head.', 'auxiliary_head.'))):
        part = {k: v for k, v in state.items() if k.startswith(prefix)}
        renamed, unmapped = KeyMapper(table, reverse=True).apply(part)
        assert not unmapped, unmapped[:5]
        for key in [k for k in renamed if k.endswith('.running_mean')]:
            stem = key[:-len('running_mean')]
            renamed[stem + '_tmp_running_mean'] = torch.zeros(1)
            renamed[stem + '_tmp_running_var'] = torch.ones(1)
            renamed[stem + '_running_iter'] = torch.ones(1)
        path = tmp_path / f'{name}_epoch_20.pth'
        torch.save(renamed, path)
        files.append(path)
    return files


@pytest.mark.parametrize('kind', ['upernet', 'ppm_deepsup', 'upp'])
def test_keys_convert_back_completely(kind, tmp_path):
    if kind == 'upp':  # the paper's model, small: 3 scene, 4 material, 2 part groups
        cfg = _model_cfg(UPP_CONFIG, channels=16, ppm_channels=8, num_classes=5,
                         num_scene_classes=3, num_material_classes=4,
                         part_groups=[(1, 2), (3, 3)])
    else:
        cfg = _model_cfg(CONFIGS[kind])
    model = MODELS.build(copy.deepcopy(cfg))
    encoder, decoder = _authors_files(model, DECODER_RULES[kind], tmp_path)
    state, meta, report = csail_to_upertool(encoder, decoder, cfg)
    assert report.complete, report.summary()
    assert meta['csail_decoder'] == kind
    assert any(k.endswith('_tmp_running_mean') for k in report.dropped)
    reference = model.state_dict()
    assert set(state) == set(reference)
    assert all(torch.equal(state[k], reference[k]) for k in state)


def test_unknown_decoder_and_incomplete_files_are_refused(tmp_path):
    torch.save({'conv1.weight': torch.zeros(1)}, tmp_path / 'enc.pth')
    torch.save({'head.weight': torch.zeros(1)}, tmp_path / 'dec.pth')
    with pytest.raises(ConversionError, match='none of the CSAIL decoders'):
        csail_to_upertool(tmp_path / 'enc.pth', tmp_path / 'dec.pth')
    torch.save({'ppm_conv.0.0.weight': torch.zeros(1), 'extra.weight': torch.zeros(1)},
               tmp_path / 'dec.pth')
    with pytest.raises(ConversionError, match=r'dec.pth: extra.weight'):
        csail_to_upertool(tmp_path / 'enc.pth', tmp_path / 'dec.pth')


def _randomise_norms(module, seed=0):
    """Non-trivial BN statistics and affine weights, so that the comparison means something."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


@pytest.mark.extras
@pytest.mark.parametrize('kind', ['upernet', 'upernet_lite', 'ppm_deepsup'])
def test_logits_equal_mit_semseg(kind, tmp_path):
    mit_models = pytest.importorskip('mit_semseg.models.models')
    from mit_semseg.models import resnet

    torch.manual_seed(0)
    encoder = mit_models.Resnet(resnet.resnet50(pretrained=False))
    if kind == 'ppm_deepsup':
        decoder = mit_models.PPMDeepsup(num_class=150, fc_dim=2048)
    else:
        decoder = mit_models.UPerNet(num_class=150, fc_dim=2048,
                                     fpn_dim=512 if kind == 'upernet' else 256)
    for net in (encoder, decoder):
        _randomise_norms(net)
        net.eval()
    torch.save(encoder.state_dict(), tmp_path / 'encoder_epoch_30.pth')
    torch.save(decoder.state_dict(), tmp_path / 'decoder_epoch_30.pth')
    cfg = _model_cfg(CONFIGS[kind])
    state, _, report = csail_to_upertool(tmp_path / 'encoder_epoch_30.pth',
                                         tmp_path / 'decoder_epoch_30.pth', cfg)
    assert report.complete, report.summary()
    model = MODELS.build(cfg)
    model.load_state_dict(state, strict=True)
    model.eval()
    image = torch.randn(1, 3, 96, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        feats = encoder(image, return_feature_maps=True)
        theirs = decoder(feats)
        ours = model(image, mode='tensor')
        if kind == 'ppm_deepsup':
            theirs, theirs_aux = theirs
            ours_aux = model.auxiliary_head(model.extract_feat(image))
            torch.testing.assert_close(torch.log_softmax(ours_aux, 1), theirs_aux,
                                       atol=1e-4, rtol=0)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(torch.log_softmax(ours, 1), theirs, atol=1e-4, rtol=0)
