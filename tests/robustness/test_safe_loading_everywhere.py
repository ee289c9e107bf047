"""Case 12: backbones that read weights themselves never run code from the file."""
import os

import pytest


class Payload:
    """Unpickling this runs `os.system` (what a malicious checkpoint does)."""

    def __reduce__(self):
        return os.system, ('echo pwned > /dev/null',)


@pytest.mark.extras
def test_timm_backbone_checkpoint_path_refuses_code(tmp_path):
    pytest.importorskip('timm')
    import torch

    import upertool  # noqa: F401
    from upertool.registry import MODELS

    path = tmp_path / 'evil.pth'
    torch.save({'conv1.weight': torch.zeros(1), 'evil': Payload()}, path)
    from upertool.checkpoint import UnsafeCheckpointError

    with pytest.raises(UnsafeCheckpointError, match=r'evil.pth: it needs posix.system'):
        MODELS.build(dict(type='TIMMBackbone', model_name='resnet18', checkpoint_path=str(path)))
