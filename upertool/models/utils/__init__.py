"""Building blocks shared by backbones, heads and segmentors."""
from .conv_module import ConvModule
from .fuse_conv_bn import fold_batch_norm, fuse_conv_bn
from .norm import FallbackSyncBatchNorm, build_activation_layer, build_norm_layer, is_norm
from .resize import bilinear_resize_matrix, resize, resized_argmax

__all__ = ['ConvModule', 'FallbackSyncBatchNorm', 'build_activation_layer',
           'bilinear_resize_matrix', 'build_norm_layer', 'fold_batch_norm', 'fuse_conv_bn',
           'is_norm', 'resize', 'resized_argmax']
