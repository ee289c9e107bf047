"""Python inference API: build a segmentor, run it on images, draw the results."""
from .inference import inference_model, init_model, show_result_pyplot

__all__ = ['inference_model', 'init_model', 'show_result_pyplot']

# mmsegmentation names that upertool leaves out raise an ImportError that says what to use.
from upertool.utils.not_provided import module_getattr  # noqa: E402

__getattr__ = module_getattr(__name__)
