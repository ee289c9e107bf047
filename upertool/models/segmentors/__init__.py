"""Segmentors: models that turn preprocessed images into losses or predictions."""
from .encoder_decoder import EncoderDecoder, add_prefix
from .head_channels import feature_channels, resolve_head_in_channels
from .inference import restore_logits, slide_inference, slide_windows, whole_inference
from .seg_tta import SegTTAModel

__all__ = ['EncoderDecoder', 'add_prefix', 'feature_channels', 'resolve_head_in_channels',
           'restore_logits', 'SegTTAModel', 'slide_inference', 'slide_windows', 'whole_inference']
