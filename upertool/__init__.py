"""upertool: UPerNet semantic segmentation on mmengine.

Importing the package installs the fixes for the mmengine/torch stack that need only light
mmengine modules (`upertool.compat`) and defines the registries; it imports neither
mmengine's runner nor any optional library (transformers, timm, torchvision) nor the
checkpoint converters. It also raises glibc's malloc thresholds
(`upertool.utils.cpu_allocator`; `UPERTOOL_MALLOC_TUNING=0` turns that off). Components are
imported on first use by the registries' `locations`.
"""
from upertool.compat import install_stack_fixes
from upertool.utils.cpu_allocator import tune_glibc_malloc

install_stack_fixes()
tune_glibc_malloc()  # large tensors reuse heap memory instead of page-faulting it back in

import upertool.registry  # noqa: E402, F401  (mmengine finds scope upertool through it)

__version__ = '0.1.0'
