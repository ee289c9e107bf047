"""upertool: UPerNet semantic segmentation on mmengine.

Importing the package is cheap: components are imported lazily by the registries
(`upertool.registry`), which also install the fixes for the mmengine/torch stack.
"""
import upertool.registry  # noqa: F401  (installs the stack fixes)

__version__ = '0.1.0'
