"""Every mmsegmentation 1.x public name of issue 17 imports from upertool at mmseg's module path
(`mmseg` -> `upertool`), each with a one-line check of mmsegmentation's documented behaviour."""
import importlib
import warnings

import numpy as np
import pytest
import torch
from mmengine.registry import Registry
from mmengine.structures import PixelData
from torch import nn


@pytest.fixture(autouse=True)
def upertool_scope():
    """Build from upertool's registries whatever default scope an earlier test left behind."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('upertool'):
        yield

T = torch.tensor


def _warns(fn, *args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        out = fn(*args)
    return out, [str(w.message) for w in caught]


def _sample(h=2, w=3):
    from upertool.structures import SegDataSample
    s = SegDataSample()
    s.gt_sem_seg = PixelData(data=torch.zeros(1, h, w, dtype=torch.long))
    return s


REGISTRIES = ['RUNNERS', 'RUNNER_CONSTRUCTORS', 'HOOKS', 'DATASETS', 'DATA_SAMPLERS',
              'TRANSFORMS', 'MODELS', 'WEIGHT_INITIALIZERS', 'OPTIMIZERS',
              'OPTIM_WRAPPER_CONSTRUCTORS', 'OPTIM_WRAPPERS', 'PARAM_SCHEDULERS', 'METRICS',
              'EVALUATOR', 'TASK_UTILS', 'VISUALIZERS', 'VISBACKENDS', 'LOG_PROCESSORS',
              'INFERENCERS', 'LOOPS', 'MODEL_WRAPPERS']

CHECKS = {
    **{('upertool.registry', r): lambda reg: isinstance(reg, Registry) and reg.scope == 'upertool'
       for r in REGISTRIES},
    ('upertool.models', 'BACKBONES'): lambda x: x is importlib.import_module(
        'upertool.registry').MODELS,
    ('upertool.models', 'NECKS'): lambda x: x.get('MultiLevelNeck') is not None,
    ('upertool.models', 'HEADS'): lambda x: x.get('UPerHead') is not None,
    ('upertool.models', 'LOSSES'): lambda x: x.get('CrossEntropyLoss') is not None,
    ('upertool.models', 'SEGMENTORS'): lambda x: x.get('EncoderDecoder') is not None,
    ('upertool.models.builder', 'build_loss'): lambda f: (
        lambda out: type(out[0]).__name__ == 'CrossEntropyLoss'
        and 'deprecated' in out[1][0])(_warns(f, dict(type='CrossEntropyLoss'))),
    ('upertool.models', 'build_backbone'): lambda f: _warns(
        f, dict(type='ResNetV1c', depth=18))[0].out_channels == (64, 128, 256, 512),
    ('upertool.models', 'build_neck'): lambda f: _warns(f, dict(
        type='MultiLevelNeck', in_channels=[4], out_channels=2, scales=[1]))[0].num_outs == 1,
    ('upertool.models', 'build_head'): lambda f: _warns(f, dict(
        type='FCNHead', in_channels=4, channels=2, num_classes=3))[0].num_classes == 3,
    ('upertool.models', 'build_segmentor'): lambda f: 'deprecated' in _warns(f, dict(
        type='EncoderDecoder', backbone=dict(type='ResNetV1c', depth=18, base_channels=4,
                                             stem_channels=4),
        decode_head=dict(type='FCNHead', channels=2, num_classes=3)), None, {})[1][0],
    ('upertool.models', 'UPerHead'): lambda c: c.__name__ == 'UPerHead',
    ('upertool.models.decode_heads.decode_head', 'BaseDecodeHead'): lambda c: (
        'in_index' in c.__init__.__code__.co_varnames and c.__abstractmethods__ == {'forward'}),
    ('upertool.models.utils', 'resize'): lambda f: f(torch.ones(1, 1, 2, 2), size=(4, 4),
                                                     mode='bilinear').shape == (1, 1, 4, 4),
    ('upertool.models.utils.wrappers', 'resize'): lambda f: len(_warns(
        f, torch.ones(1, 1, 3, 3), (6, 6), None, 'bilinear', True)[1]) == 1,
    ('upertool.models.utils.wrappers', 'Upsample'): lambda c: c(scale_factor=2)(
        torch.ones(1, 1, 3, 5)).shape == (1, 1, 6, 10),
    ('upertool.models.utils', 'Upsample'): lambda c: c(size=(4, 4))(
        torch.ones(1, 1, 2, 2)).shape == (1, 1, 4, 4),
    ('upertool.models.utils', 'ResLayer'): lambda c: (lambda layer: len(layer) == 2 and
        layer(torch.ones(1, 8, 8, 8)).shape == (1, 16, 4, 4))(c(
            importlib.import_module('upertool.models.backbones').BasicBlock, 8, 16, 2,
            stride=2)),
    ('upertool.models.utils', 'SelfAttentionBlock'): lambda c: c(
        4, 4, 2, 6, False, None, None, 1, 1, True, True, True, True, None, None,
        dict(type='ReLU'))(torch.ones(1, 4, 3, 3), torch.ones(1, 4, 2, 2)).shape == (1, 6, 3, 3),
    ('upertool.models.utils', 'UpConvBlock'): lambda c: c(
        _TwoConvs, in_channels=8, skip_channels=4, out_channels=2)(
        torch.ones(1, 4, 8, 8), torch.ones(1, 8, 4, 4)).shape == (1, 2, 8, 8),
    ('upertool.models.utils', 'InvertedResidual'): lambda c: (
        lambda m: m.use_res_connect and len(m.conv) == 3
        and m(torch.ones(1, 8, 4, 4)).shape == (1, 8, 4, 4))(c(8, 8, 1, 6)),
    ('upertool.models.utils', 'make_divisible'): lambda f: (f(30, 8), f(10, 8)) == (32, 16),
    ('upertool.models.utils', 'nlc_to_nchw'): lambda f: f(
        torch.arange(12.).reshape(1, 6, 2), (2, 3))[0, 1, 0, 2].item() == 5,
    ('upertool.models.utils', 'nchw_to_nlc'): lambda f: f(torch.ones(2, 3, 4, 5)).shape
    == (2, 20, 3),
    ('upertool.models.utils', 'PatchEmbed'): lambda c: (lambda out: out[0].shape == (1, 4, 8)
        and out[1] == (2, 2))(c(3, 8, kernel_size=4)(torch.ones(1, 3, 7, 7))),
    ('upertool.models.utils', 'AdaptivePadding'): lambda c: c(4, 4)(
        torch.ones(1, 1, 7, 9)).shape == (1, 1, 8, 12),
    ('upertool.models.losses', 'accuracy'): lambda f: f(
        T([[[0.9, 0.1]], [[0.1, 0.9]]]).permute(1, 0, 2), T([[0, 0]])).item() == pytest.approx(
        50.0),
    ('upertool.models.losses', 'Accuracy'): lambda c: c(topk=(1,))(
        T([[1., 0.]]), T([0]))[0].item() == pytest.approx(100.0),
    ('upertool.models.losses', 'cross_entropy'): lambda f: f(
        T([[0., 0.]]), T([1]), reduction='none').item() == pytest.approx(np.log(2)),
    ('upertool.models.losses.cross_entropy_loss', 'cross_entropy'): lambda f: f(
        T([[0., 0.], [0., 0.]]), T([1, 255]), ignore_index=255,
        avg_non_ignore=True).item() == pytest.approx(np.log(2)),
    ('upertool.models.losses', 'weight_reduce_loss'): lambda f: f(
        T([1., 2., 3.]), T([1., 0., 1.]), avg_factor=2).item() == pytest.approx(2.0),
    ('upertool.models.losses', 'reduce_loss'): lambda f: f(T([1., 3.]), 'sum').item() == 4,
    ('upertool.models.losses', 'weighted_loss'): lambda f: f(lambda p, t: (p - t).abs())(
        T([0., 2., 3.]), T([1., 1., 1.]), T([1., 0., 1.])).item() == pytest.approx(1.0),
    ('upertool.utils', 'ConfigType'): lambda t: dict in t.__args__,
    ('upertool.utils', 'OptConfigType'): lambda t: type(None) in t.__args__,
    ('upertool.utils', 'MultiConfig'): lambda t: len(t.__args__) == 3,
    ('upertool.utils', 'OptMultiConfig'): lambda t: type(None) in t.__args__,
    ('upertool.utils', 'SampleList'): lambda t: t.__args__[0].__name__ == 'SegDataSample',
    ('upertool.utils', 'OptSampleList'): lambda t: type(None) in t.__args__,
    ('upertool.utils', 'ForwardResults'): lambda t: torch.Tensor in t.__args__,
    ('upertool.utils', 'TensorDict'): lambda t: t.__args__ == (str, torch.Tensor),
    ('upertool.utils', 'TensorList'): lambda t: t.__args__ == (torch.Tensor,),
    ('upertool.utils', 'add_prefix'): lambda f: f({'loss': 1}, 'decode') == {'decode.loss': 1},
    ('upertool.utils', 'stack_batch'): lambda f: (lambda out: out[0].shape == (2, 3, 4, 8)
        and out[1][0].gt_sem_seg.shape == (4, 8) and out[1][0].gt_sem_seg.data[0, 3, 7] == 255)(
        f([torch.ones(3, 2, 3), torch.ones(3, 4, 5)], [_sample(2, 3), _sample(4, 5)],
          size_divisor=4)),
    ('upertool.utils', 'get_classes'): lambda f: len(f('ade20k')) == 150 and f('voc')[0]
    == 'background' and f('cityscapes')[0] == 'road',
    ('upertool.utils', 'get_palette'): lambda f: len(f('cityscapes')) == 19 and f('voc')[1]
    == [128, 0, 0],
    ('upertool.utils', 'dataset_aliases'): lambda d: 'ade20k' in d['ade'],
    ('upertool.utils', 'register_all_modules'): lambda f: f() is None and importlib.import_module(
        'mmengine').DefaultScope.get_current_instance().scope_name == 'upertool',
    ('upertool.structures', 'SegDataSample'): lambda c: _sample().gt_sem_seg.shape == (2, 3),
    ('upertool.datasets', 'BaseSegDataset'): lambda c: c.METAINFO == {} and hasattr(
        c, 'get_label_map'),
    ('upertool.datasets.basesegdataset', 'BaseSegDataset'): lambda c: c.__name__ ==
    'BaseSegDataset',
    **{('upertool.datasets.transforms', n): lambda c: callable(getattr(c, 'transform', None))
       for n in ('LoadAnnotations', 'LoadImageFromNDArray', 'PackSegInputs', 'RandomCrop',
                 'RandomResize', 'Resize', 'RandomFlip', 'PhotoMetricDistortion',
                 'ResizeToMultiple')},
    ('upertool.datasets.transforms.transforms', 'RandomCrop'): lambda c: c(crop_size=(2, 2))
    .transform(dict(img=np.zeros((4, 4, 3), np.uint8), gt_seg_map=np.zeros((4, 4), np.uint8),
                    seg_fields=['gt_seg_map']))['img'].shape == (2, 2, 3),
    ('upertool.evaluation', 'IoUMetric'): lambda c: c(iou_metrics=['mIoU']).metrics
    == ['mIoU'],
    ('upertool.evaluation.metrics.iou_metric', 'IoUMetric'): lambda c: c.__name__
    == 'IoUMetric',
    ('upertool.apis', 'init_model'): lambda f: 'checkpoint' in f.__code__.co_varnames,
    ('upertool.apis', 'inference_model'): lambda f: f.__code__.co_varnames[:2]
    == ('model', 'img'),
    ('upertool.apis', 'show_result_pyplot'): lambda f: 'out_file' in f.__code__.co_varnames,
}


class _TwoConvs(nn.Sequential):
    """mmseg's BasicConvBlock signature, for UpConvBlock."""

    def __init__(self, in_channels, out_channels, num_convs, stride, dilation, with_cp,
                 conv_cfg, norm_cfg, act_cfg, dcn, plugins):
        super().__init__(nn.Conv2d(in_channels, out_channels, 3, padding=1))


@pytest.mark.parametrize('module,name', sorted(CHECKS))
def test_mmseg_name_imports_and_behaves(module, name):
    obj = getattr(importlib.import_module(module), name)
    assert CHECKS[module, name](obj)


@pytest.mark.parametrize('module,name', [
    ('upertool.models.decode_heads', 'CCHead'), ('upertool.models', 'PSAHead'),
    ('upertool.models.backbones', 'HRNet'), ('upertool.models.utils', 'Encoding'),
    ('upertool.models.losses', 'OhemCrossEntropy'), ('upertool.utils', 'tokenize'),
    ('upertool.datasets', 'LoveDADataset'), ('upertool.datasets.transforms', 'CLAHE'),
    ('upertool.apis', 'RSInferencer'), ('upertool.models.segmentors', 'BaseSegmentor'),
    ('upertool.structures', 'build_pixel_sampler')])
def test_name_left_out_raises_import_error_saying_what_to_use(module, name):
    with pytest.raises(ImportError, match=rf'upertool does not provide {name} .*; (use|write|'
                                          'keep|subclass)'):
        exec(f'from {module} import {name}', {})


def test_unknown_attribute_is_still_an_attribute_error():
    import upertool.models.utils as utils
    assert not hasattr(utils, 'NoSuchName')


@pytest.mark.parametrize('attr,value', [
    ('in_channels', 4), ('out_channels', 8), ('kernel_size', (3, 3)), ('stride', (2, 2)),
    ('padding', 1), ('dilation', (1, 1)), ('groups', 1), ('with_norm', True),
    ('with_activation', True), ('with_bias', False), ('norm_name', 'bn'),
    ('order', ('conv', 'norm', 'act'))])
def test_conv_module_has_mmcv_attributes(attr, value):
    from upertool.models.utils import ConvModule
    module = ConvModule(4, 8, 3, stride=2, padding=1, norm_cfg=dict(type='BN'))
    assert getattr(module, attr) == value
    assert isinstance(module.norm, nn.BatchNorm2d)


def test_ffn_has_mmcv_attributes():
    from upertool.models.backbones.transformer_utils import FFN
    ffn = FFN(embed_dims=8, feedforward_channels=32)
    assert (ffn.embed_dims, ffn.feedforward_channels, ffn.num_fcs, ffn.add_identity) == (
        8, 32, 2, True)
