"""Python inference API: build a segmentor, run it on images, folders and videos, save it."""
from .inference import inference_model, init_model, show_result_pyplot
from .inferencer import SegInferencer
from .model_folder import save_model

MMSegInferencer = SegInferencer  # mmsegmentation's name, for code written against it

__all__ = ['MMSegInferencer', 'SegInferencer', 'inference_model', 'init_model', 'save_model',
           'show_result_pyplot']

# mmsegmentation names that upertool leaves out raise an ImportError that says what to use.
from upertool.utils.not_provided import module_getattr  # noqa: E402

__getattr__ = module_getattr(__name__)
