"""Building blocks shared by backbones, heads and segmentors.

Also mmsegmentation 1.x's `mmseg.models.utils` names (ResLayer, SelfAttentionBlock, ...), at
its module paths (`wrappers`, `embed`, `res_layer`, ...), for code ported from it; the names
of it that upertool leaves out raise an ImportError saying what to use.
"""
from upertool.utils.not_provided import module_getattr

from .conv_module import ConvModule
from .embed import AdaptivePadding, PatchEmbed
from .fuse_conv_bn import fold_batch_norm, fuse_conv_bn
from .inverted_residual import InvertedResidual
from .make_divisible import make_divisible
from .norm import FallbackSyncBatchNorm, build_activation_layer, build_norm_layer, is_norm
from .res_layer import ResLayer
from .resize import bilinear_resize_matrix, channel_argmax, resize, resized_argmax
from .self_attention_block import SelfAttentionBlock
from .shape_convert import nchw2nlc2nchw, nchw_to_nlc, nlc2nchw2nlc, nlc_to_nchw
from .up_conv_block import InterpConv, UpConvBlock
from .wrappers import Upsample

__all__ = ['AdaptivePadding', 'ConvModule', 'FallbackSyncBatchNorm', 'InterpConv',
           'InvertedResidual', 'PatchEmbed', 'ResLayer', 'SelfAttentionBlock', 'UpConvBlock',
           'Upsample', 'bilinear_resize_matrix', 'build_activation_layer', 'build_norm_layer',
           'channel_argmax', 'fold_batch_norm', 'fuse_conv_bn', 'is_norm', 'make_divisible',
           'nchw2nlc2nchw', 'nchw_to_nlc', 'nlc2nchw2nlc', 'nlc_to_nchw', 'resize',
           'resized_argmax']
__getattr__ = module_getattr(__name__)
