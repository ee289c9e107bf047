"""upertool: UPerNet semantic segmentation on mmengine.

Importing the package installs the fixes for the mmengine/torch stack (through
`upertool.registry`, which imports torch and mmengine's runner); components themselves
are imported on first use by the registries' `locations`.
"""
import upertool.registry  # noqa: F401  (installs the stack fixes)

__version__ = '0.1.0'
