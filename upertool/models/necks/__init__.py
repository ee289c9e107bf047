"""Necks between a backbone and the decode heads; importing this package registers them."""
from .multilevel_neck import MultiLevelNeck

__all__ = ['MultiLevelNeck']

# mmsegmentation names that upertool leaves out raise an ImportError that says what to use.
from upertool.utils.not_provided import module_getattr  # noqa: E402

__getattr__ = module_getattr(__name__)
