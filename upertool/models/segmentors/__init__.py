"""Segmentors: models that turn preprocessed images into losses or predictions."""
from .encoder_decoder import EncoderDecoder, add_prefix
from .head_channels import feature_channels, resolve_head_in_channels
from .inference import restore_logits, slide_inference, slide_windows, whole_inference
from .multi_task import MultiTaskEncoderDecoder
from .multi_task_preprocessor import MultiTaskDataPreProcessor
from .seg_tta import SegTTAModel

__all__ = ['EncoderDecoder', 'add_prefix', 'feature_channels', 'MultiTaskDataPreProcessor',
           'MultiTaskEncoderDecoder', 'resolve_head_in_channels', 'restore_logits', 'SegTTAModel',
           'slide_inference', 'slide_windows', 'whole_inference']

# mmsegmentation names that upertool leaves out raise an ImportError that says what to use.
from upertool.utils.not_provided import module_getattr  # noqa: E402

__getattr__ = module_getattr(__name__)
