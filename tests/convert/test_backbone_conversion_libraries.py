"""Classification checkpoints of timm and torchvision -> upertool backbones give the library's
own features; .safetensors files load through every upertool/mmengine path."""
import importlib.util
import warnings
from pathlib import Path

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from upertool.apis import init_model
from upertool.convert.backbone_convert import convert_backbone_weights
from upertool.convert.config_writer import write_config
from upertool.registry import MODELS

pytestmark = pytest.mark.extras
timm = pytest.importorskip('timm')
torchvision = pytest.importorskip('torchvision')
safetensors_torch = pytest.importorskip('safetensors.torch')

TOOL = Path(__file__).parents[2] / 'tools' / 'convert_checkpoint.py'


def randomize(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)
    return model.eval()


def make(cfg):
    # Another test's Runner may have left mmengine's default scope current.
    with DefaultScope.overwrite_default_scope('upertool'), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # ConvNeXt's classification-layout warning
        return MODELS.build(cfg)


def build(cfg, state):
    model = make(dict(cfg, init_cfg=None)).eval()
    model.load_state_dict(state, strict=True)
    return model


def run_tool(*args):
    spec = importlib.util.spec_from_file_location('convert_checkpoint_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main([str(a) for a in args])


@pytest.mark.parametrize('name,target', [('resnet18', 'ResNet/18'),
                                         ('resnet50c', 'ResNetV1c/50'),
                                         ('resnet50d', 'ResNetV1d/50')])
def test_timm_resnets(name, target):
    model = randomize(timm.create_model(name, pretrained=False))
    state, report = convert_backbone_weights(model.state_dict(), 'timm', target)
    assert report.complete and report.dropped == ['fc.weight', 'fc.bias']
    kind, depth = target.split('/')
    ours = build(dict(type=kind, depth=int(depth)), state)
    features = timm.create_model(name, pretrained=False, features_only=True,
                                 out_indices=(1, 2, 3, 4)).eval()
    features.load_state_dict(model.state_dict(), strict=False)
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        for theirs, mine in zip(features(x), ours(x), strict=True):
            torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-4)


def test_timm_convnext_with_conv_mlp():
    model = randomize(timm.create_model('convnext_atto', pretrained=False))  # 1x1-conv MLPs
    state, report = convert_backbone_weights(model.state_dict(), 'timm', 'ConvNeXt/atto')
    assert report.complete
    ours = build(dict(type='ConvNeXt', arch='atto', out_indices=(3,),
                      gap_before_final_norm=True), state)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        theirs = model.forward_head(model.forward_features(x), pre_logits=True)
        torch.testing.assert_close(ours(x)[0], theirs, rtol=1e-5, atol=1e-4)


def test_timm_swin_through_the_cli(tmp_path):
    from timm.models.swin_transformer import SwinTransformer
    # A narrow Swin at 224x2: every stage is a multiple of the window, where timm (which pads
    # after the cyclic shift) and mmseg (before it) agree.
    model = randomize(SwinTransformer(img_size=448, embed_dim=16, depths=(2, 2, 2, 2),
                                      num_heads=(1, 2, 2, 4), window_size=7))
    safetensors_torch.save_file(model.state_dict(), str(tmp_path / 'swin.safetensors'))
    assert run_tool('backbone', tmp_path / 'swin.safetensors', tmp_path / 'swin.pth',
                    '--from', 'timm', '--to', 'SwinTransformer') == 0
    cfg = dict(type='SwinTransformer', embed_dims=16, depths=(2, 2, 2, 2),
               num_heads=(1, 2, 2, 4), out_indices=(3,),
               init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'swin.pth')))
    ours = make(cfg)
    ours.init_weights()  # the Pretrained path a config would take
    x = torch.randn(1, 3, 448, 448)
    with torch.no_grad():
        theirs = model.forward_features(x).permute(0, 3, 1, 2)
        torch.testing.assert_close(ours.eval()(x)[0], theirs, rtol=1e-5, atol=1e-4)


def test_torchvision_resnet_convnext_swin():
    x = torch.randn(1, 3, 64, 96)
    resnet = randomize(torchvision.models.resnet18())
    state, report = convert_backbone_weights(resnet.state_dict(), 'torchvision', 'ResNet/18')
    assert report.complete
    ours = build(dict(type='ResNet', depth=18), state)
    with torch.no_grad():
        y = resnet.maxpool(resnet.relu(resnet.bn1(resnet.conv1(x))))
        y = resnet.layer4(resnet.layer3(resnet.layer2(resnet.layer1(y))))
        torch.testing.assert_close(ours(x)[-1], y, rtol=1e-5, atol=1e-4)

    convnext = randomize(torchvision.models.convnext_tiny())
    state, report = convert_backbone_weights(convnext.state_dict(), 'torchvision',
                                             'ConvNeXt/tiny')
    assert report.complete
    ours = build(dict(type='ConvNeXt', arch='tiny', out_indices=(3,),
                      gap_before_final_norm=True), state)
    with torch.no_grad():
        pooled = convnext.classifier[0](convnext.avgpool(convnext.features(x))).flatten(1)
        torch.testing.assert_close(ours(x)[0], pooled, rtol=1e-5, atol=1e-4)

    from torchvision.models.swin_transformer import SwinTransformer
    swin = randomize(SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2, 2, 2],
                                     num_heads=[1, 2, 2, 4], window_size=[7, 7]))
    state, report = convert_backbone_weights(swin.state_dict(), 'torchvision', 'SwinTransformer')
    assert report.complete
    ours = build(dict(type='SwinTransformer', embed_dims=16, depths=(2, 2, 2, 2),
                      num_heads=(1, 2, 2, 4), out_indices=(3,)), state)
    x = torch.randn(1, 3, 256, 256)  # every stage larger than the window (no shift dropped)
    with torch.no_grad():
        theirs = swin.norm(swin.features(x)).permute(0, 3, 1, 2)
        torch.testing.assert_close(ours(x)[0], theirs, rtol=1e-5, atol=1e-4)


# --- .safetensors wherever a checkpoint is accepted ----------------------------------------------


class TinyNet(BaseModel):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, x, y, mode='tensor'):
        out = self.lin(x)
        return dict(loss=((out - y) ** 2).mean()) if mode == 'loss' else out


class TinyData(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return dict(x=torch.tensor([float(i), 1.0]), y=torch.tensor([0.5]))


def test_safetensors_through_every_load_path(tmp_path):
    bn = dict(type='BN', requires_grad=True)
    cfg = dict(type='EncoderDecoder',
               backbone=dict(type='ResNet', depth=18, base_channels=4, stem_channels=8,
                             norm_cfg=bn),
               decode_head=dict(type='FCNHead', in_channels=32, channels=4, num_classes=2,
                                norm_cfg=bn),
               test_cfg=dict(mode='whole'))
    source = randomize(make(cfg))
    whole = {k: v.contiguous() for k, v in source.state_dict().items()}
    safetensors_torch.save_file(whole, str(tmp_path / 'whole.safetensors'))
    backbone = {k[len('backbone.'):]: v for k, v in whole.items() if k.startswith('backbone.')}
    safetensors_torch.save_file(backbone, str(tmp_path / 'backbone.safetensors'))

    # init_cfg=dict(type='Pretrained'), with and without a prefix
    for checkpoint, prefix in (('backbone.safetensors', None), ('whole.safetensors',
                                                                 'backbone.')):
        init = dict(type='Pretrained', checkpoint=str(tmp_path / checkpoint))
        if prefix:
            init['prefix'] = prefix
        model = make(dict(cfg, backbone=dict(cfg['backbone'], init_cfg=init)))
        model.init_weights()
        assert torch.equal(model.backbone.conv1.weight, whole['backbone.conv1.weight'])

    # init_model (apis) and a Runner's load_from
    write_config(tmp_path / 'cfg.py', dict(model=cfg))
    model = init_model(str(tmp_path / 'cfg.py'), str(tmp_path / 'whole.safetensors'))
    assert torch.equal(model.decode_head.conv_seg.weight, whole['decode_head.conv_seg.weight'])

    tiny = TinyNet()
    safetensors_torch.save_file(tiny.state_dict(), str(tmp_path / 'tiny.safetensors'))
    runner = Runner(model=TinyNet(), work_dir=str(tmp_path / 'work'),
                    load_from=str(tmp_path / 'tiny.safetensors'),
                    experiment_name='safetensors_load_from', log_level='WARNING')
    runner.load_or_resume()
    assert torch.equal(runner.model.lin.weight, tiny.lin.weight)

    # converters take .safetensors sources too (mmseg-to-upertool here, backbone above)
    assert run_tool('mmseg-to-upertool', tmp_path / 'whole.safetensors',
                    tmp_path / 'clean.pth', '--config', tmp_path / 'cfg.py') == 0
