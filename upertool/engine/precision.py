"""Moved to `upertool.models.utils.precision` (models must not import the engine); this old
path keeps working for tools and scripts."""
from upertool.models.utils.precision import PRECISIONS, autocast_context, cpu_supports_bf16

__all__ = ['PRECISIONS', 'autocast_context', 'cpu_supports_bf16']
