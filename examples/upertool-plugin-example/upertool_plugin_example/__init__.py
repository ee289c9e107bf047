"""upertool-plugin-example: importing this package registers its components in upertool.

upertool imports it through the entry point `example` of the group `upertool.plugins` the
first time a config names a type upertool does not know, so configs need no
`custom_imports` line.
"""
from .backbone import TinyConvNet
from .dataset import ToyBlobsDataset
from .decode_head import LiteFuseHead
from .loss import SoftIoULoss
from .transform import RandomInvert

__all__ = ['LiteFuseHead', 'RandomInvert', 'SoftIoULoss', 'TinyConvNet', 'ToyBlobsDataset']
