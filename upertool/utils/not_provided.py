"""mmsegmentation 1.x names that upertool deliberately leaves out, and the ImportError they raise.

`from upertool.models.decode_heads import CCHead` would otherwise fail with a bare "cannot
import name"; the packages that mirror mmsegmentation's install `module_getattr(__name__)` as
their module `__getattr__` (PEP 562), which raises `NotProvidedError` (an ImportError, so
`from ... import` passes it on unchanged) saying why the name is missing and what to use.
Names not in these tables get the usual AttributeError, so `hasattr` keeps working for them.
`tools/misc/port_mmseg_code.py` reads the same tables through the imports it checks.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


class NotProvidedError(ImportError):
    """An mmsegmentation name that upertool does not provide; the message says what to use."""


_OPS = ('it needs compiled mmcv ops ({op}), and upertool depends on mmcv-lite, which has none')
_HEADS = ('use one of upertool\'s heads (UPerHead, FCNHead, PSPHead, ASPPHead, '
          'DepthwiseSeparableASPPHead, SegformerHead, LightHamHead), or port the head: it '
          'subclasses upertool.models.decode_heads.decode_head.BaseDecodeHead unchanged '
          '(docs/migration.md, "Porting your mmsegmentation project")')
_BACKBONES = ("use TIMMBackbone (any timm model with features_only, e.g. "
              "dict(type='TIMMBackbone', model_name='mobilenetv2_100')), or one of ResNet, "
              'ResNetV1c, ResNetV1d, SwinTransformer, ConvNeXt, VisionTransformer, '
              'MixVisionTransformer, MSCAN')
_DATASETS = ("use FolderSegDataset (images and masks with matching stems, classes from the "
             'config), or subclass upertool.datasets.basesegdataset.BaseSegDataset')
_TRANSFORMS = ('write it as an mmcv BaseTransform registered in upertool.registry.TRANSFORMS, '
               'or use mmcv.transforms\' own transforms')

# package -> {name: (why it is missing, what to use instead)}
_TABLES: dict[str, dict[str, tuple[str, str]]] = {
    'upertool.models.decode_heads': {
        **{n: ('it is not ported to upertool', _HEADS) for n in (
            'ANNHead', 'APCHead', 'DAHead', 'DDRHead', 'DMHead', 'DPTHead', 'EMAHead',
            'EncHead', 'FPNHead', 'GCHead', 'ISAHead', 'IterativeDecodeHead', 'KernelUpdateHead',
            'KernelUpdator', 'LRASPPHead', 'Mask2FormerHead', 'MaskFormerHead', 'NLHead',
            'OCRHead', 'PIDHead', 'STDCHead', 'SETRMLAHead', 'SETRUPHead',
            'SegmenterMaskTransformerHead', 'SideAdapterCLIPHead', 'VPDDepthHead',
            'DepthwiseSeparableFCNHead', 'DNLHead', 'PointHead')},
        'CCHead': (_OPS.format(op='mmcv.ops.CrissCrossAttention'), _HEADS),
        'PSAHead': (_OPS.format(op='mmcv.ops.PSAMask'), _HEADS),
    },
    'upertool.models.backbones': {n: ('it is not ported to upertool', _BACKBONES) for n in (
        'BEiT', 'BiSeNetV1', 'BiSeNetV2', 'CGNet', 'DDRNet', 'ERFNet', 'FastSCNN', 'HRNet',
        'ICNet', 'MAE', 'MobileNetV2', 'MobileNetV3', 'PCPVT', 'PIDNet', 'ResNeSt', 'ResNeXt',
        'STDCContextPathNet', 'STDCNet', 'SVT', 'UNet', 'VPD')},
    'upertool.models.necks': {n: ('it is not ported to upertool', (
        'use MultiLevelNeck, or let UPerHead build its own FPN from the backbone levels'))
        for n in ('FPN', 'Feature2Pyramid', 'ICNeck', 'JPU', 'MLANeck')},
    'upertool.models.segmentors': {
        'BaseSegmentor': ('upertool has one segmentor class', 'subclass EncoderDecoder'),
        **{n: ('it is not ported to upertool', 'use EncoderDecoder') for n in (
            'CascadeEncoderDecoder', 'DepthEstimator', 'MultimodalEncoderDecoder')}},
    'upertool.models.utils': {
        **{n: ('it is not ported to upertool', 'write it in your project from torch and '
               'upertool.models.utils.ConvModule') for n in (
            'BasicBlock', 'Bottleneck', 'Encoding', 'InvertedResidualV3', 'SELayer', 'DAPPM',
            'PAPPM', 'cross_attn_layer', 'LayerNorm2d', 'MLP')},
        'get_uncertain_point_coords_with_randomness': (
            'PointHead is not ported to upertool', 'use mmcv.ops.point_sample in your code'),
    },
    'upertool.models.losses': {
        'OhemCrossEntropy': ('OHEM is a pixel sampler in upertool', "use CrossEntropyLoss with "
                             "the head's sampler=dict(type='OHEMPixelSampler', thresh=0.7)"),
        'TverskyLoss': ('it is not ported to upertool', 'use DiceLoss or FocalLoss'),
        **{n: ('it is not ported to upertool', 'use CrossEntropyLoss, DiceLoss, FocalLoss or '
               'LovaszLoss') for n in ('BoundaryLoss', 'HuasdorffDisstanceLoss', 'SiLogLoss',
                                       'mask_cross_entropy')},
    },
    'upertool.datasets': {
        **{n: ('upertool does not ship this dataset class', _DATASETS) for n in (
            'BDD100KDataset', 'BaseCDDataset', 'ChaseDB1Dataset', 'DRIVEDataset',
            'DSDLSegDataset', 'DarkZurichDataset', 'DecathlonDataset', 'HRFDataset',
            'ISPRSDataset', 'LEVIRCDDataset', 'LIPDataset', 'LoveDADataset',
            'MapillaryDataset_v1', 'MapillaryDataset_v2', 'NYUDataset', 'NightDrivingDataset',
            'PascalContextDataset', 'PascalContextDataset59', 'PotsdamDataset', 'REFUGEDataset',
            'STAREDataset', 'SynapseDataset', 'iSAIDDataset')},
        'MultiImageMixDataset': ('it is not ported to upertool',
                                 "use mmengine's ConcatDataset / RepeatDataset"),
    },
    'upertool.datasets.transforms': {n: ('it is not ported to upertool', _TRANSFORMS) for n in (
        'AdjustGamma', 'Albu', 'BioMedical3DPad', 'BioMedical3DRandomCrop',
        'BioMedical3DRandomFlip', 'BioMedicalGaussianBlur', 'BioMedicalGaussianNoise',
        'BioMedicalRandomGamma', 'CLAHE', 'ConcatCDInput', 'GenerateEdge',
        'LoadBiomedicalAnnotation', 'LoadBiomedicalData', 'LoadBiomedicalImageFromFile',
        'LoadDepthAnnotation', 'LoadMultipleRSImageFromFile', 'LoadSingleRSImageFromFile',
        'RGB2Gray', 'RandomCutOut', 'RandomDepthMix', 'RandomMosaic', 'RandomRotFlip',
        'RandomRotate', 'Rerange', 'ResizeShortestEdge', 'SegRescale')},
    'upertool.structures': {
        'OHEMPixelSampler': ('pixel samplers live in upertool.models.samplers',
                             "import it from there, or set the head's "
                             "sampler=dict(type='OHEMPixelSampler', thresh=0.7)"),
        **{n: ('pixel samplers are built from TASK_UTILS in upertool',
               "use upertool.registry.TASK_UTILS.build(dict(type='OHEMPixelSampler', ...)) or "
               'subclass upertool.models.samplers.OHEMPixelSampler')
           for n in ('BasePixelSampler', 'build_pixel_sampler')},
    },
    'upertool.evaluation': {n: ('it is not ported to upertool', 'use IoUMetric') for n in (
        'CityscapesMetric', 'DepthMetric')},
    'upertool.apis': {n: ('remote-sensing inference is not ported to upertool',
                          'use upertool.apis.SegInferencer (MMSegInferencer) on image tiles')
                      for n in ('RSImage', 'RSInferencer')},
    'upertool.utils': {
        **{f'{d}_{kind}': ('upertool does not ship this dataset', 'state classes and palette in '
                           "the dataset config's metainfo (FolderSegDataset)")
           for d in ('bdd100k', 'isaid', 'loveda', 'potsdam', 'stare', 'synapse', 'vaihingen',
                     'pcontext', 'lip') for kind in ('classes', 'palette')},
        **{n: ('it belongs to mmsegmentation\'s CLIP / mask-classification models, which are '
               'not ported', 'keep that code on mmsegmentation') for n in (
            'tokenize', 'get_predefined_templates', 'MatchMasks', 'seg_data_to_instance_data')},
        'datafrombytes': ('it is not ported to upertool', 'use mmcv.imfrombytes'),
    },
}
_TABLES['upertool.datasets.transforms.transforms'] = _TABLES['upertool.datasets.transforms']
_TABLES['upertool.datasets'].update(_TABLES['upertool.datasets.transforms'])
_TABLES['upertool.evaluation.metrics'] = _TABLES['upertool.evaluation']
# mmseg.models re-exports its subpackages' names with `import *`
_TABLES['upertool.models'] = {
    name: entry for pkg in ('backbones', 'decode_heads', 'necks', 'segmentors', 'losses')
    for name, entry in _TABLES[f'upertool.models.{pkg}'].items()}


def not_provided_message(package: str, name: str) -> str | None:
    """Why `package.name` (an mmsegmentation name) is missing and what to use; None if unknown."""
    entry = _TABLES.get(package, {}).get(name)
    if entry is None:
        return None
    mmseg_path = 'mmseg' + package[len('upertool'):]
    why, instead = entry
    return (f'upertool does not provide {name} (mmsegmentation\'s {mmseg_path}.{name}): {why}; '
            f'{instead}.')


def module_getattr(package: str) -> Callable[[str], Any]:
    """A module `__getattr__` for `package` that raises NotProvidedError for the names above."""

    def __getattr__(name: str) -> Any:
        message = not_provided_message(package, name)
        if message is None:
            raise AttributeError(f'module {package!r} has no attribute {name!r}')
        raise NotProvidedError(message)

    return __getattr__


def subpackage_getattr(package: str, subpackages: tuple[str, ...]) -> Callable[[str], Any]:
    """A module `__getattr__` for a package whose mmsegmentation twin star-imports its
    subpackages (`mmseg.models`): names come from those, else as `module_getattr`."""
    import importlib

    fallback = module_getattr(package)

    def __getattr__(name: str) -> Any:
        if not name.startswith('__'):
            for sub in subpackages:
                module = importlib.import_module(f'{package}.{sub}')
                if name in vars(module):
                    return vars(module)[name]
        return fallback(name)

    return __getattr__
