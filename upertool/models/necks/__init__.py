"""Necks between a backbone and the decode heads; importing this package registers them."""
from .multilevel_neck import MultiLevelNeck

__all__ = ['MultiLevelNeck']
