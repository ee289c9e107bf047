"""Python inference API: build a segmentor, run it on images, draw the results."""
from .inference import inference_model, init_model, show_result_pyplot

__all__ = ['inference_model', 'init_model', 'show_result_pyplot']
