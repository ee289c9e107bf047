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


@pytest.mark.extras
def test_hf_backbone_folder_with_a_pickled_file_refuses_code(tmp_path):
    pytest.importorskip('transformers')
    import torch

    import upertool  # noqa: F401
    from upertool.checkpoint import UnsafeCheckpointError
    from upertool.registry import MODELS

    config = dict(
        model_type='resnet',
        embedding_size=8,
        hidden_sizes=[8, 8],
        depths=[1, 1],
        out_features=['stage2'],
    )
    source = MODELS.build(dict(type='HFBackbone', config=config))
    source.model.save_pretrained(str(tmp_path))
    torch.save({'evil': Payload()}, tmp_path / 'pytorch_model.bin')  # beside the safetensors
    with pytest.raises(UnsafeCheckpointError, match=r'pytorch_model.bin: it needs posix.system'):
        MODELS.build(
            dict(type='HFBackbone', config=dict(model_type='resnet'), pretrained_dir=str(tmp_path))
        )
