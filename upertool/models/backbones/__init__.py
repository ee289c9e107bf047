"""Backbones: each returns a tuple of multi-scale features and reports `out_channels` and
`strides` (see DESIGN.md). Importing this package registers them in MODELS."""
from .resnet import ResNet, ResNetV1c, ResNetV1d
from .resnet_blocks import BasicBlock, Bottleneck

__all__ = ['BasicBlock', 'Bottleneck', 'ResNet', 'ResNetV1c', 'ResNetV1d']
from .convnext import ConvNeXt  # noqa: E402
from .swin import SwinTransformer  # noqa: E402
from .vit import VisionTransformer  # noqa: E402

__all__ += ['ConvNeXt', 'SwinTransformer', 'VisionTransformer']
from .timm_backbone import TIMMBackbone  # noqa: E402  (timm itself is imported when built)

__all__ += ['TIMMBackbone']
from .hf_backbone import HFBackbone  # noqa: E402  (transformers itself is imported when built)

__all__ += ['HFBackbone']

from .mit import MixVisionTransformer  # noqa: E402
from .mscan import MSCAN  # noqa: E402

__all__ += ['MSCAN', 'MixVisionTransformer']

# mmsegmentation names that upertool leaves out raise an ImportError that says what to use.
from upertool.utils.not_provided import module_getattr  # noqa: E402

__getattr__ = module_getattr(__name__)
