"""HFBackbone: a Hugging Face transformers backbone (ResNet, ConvNeXt, Swin, DINOv2, ...).

Built from a config dict as in the Hugging Face UperNet docs (`ConvNextConfig(out_features=
[...])` and the like), optionally with weights from a local `save_pretrained` folder.
transformers is optional (requirements/optional.txt) and imported only when one is built.
"""
from __future__ import annotations

import os.path as osp
from typing import Any

import torch
from mmengine.model import BaseModule

from upertool.registry import MODELS

# Side of the square input with which strides are measured at build time: 224 = 2^5 * 7 is
# a multiple of the usual strides (4..32) and of ViT patch sizes 7, 8, 14, 16, 28, 32.
STRIDE_PROBE_SIZE = 224


def import_transformers() -> Any:
    """transformers, or an ImportError that says how to install it."""
    try:
        import transformers
    except ImportError as err:
        raise ImportError(
            f'HFBackbone needs transformers, which could not be imported ({err}). Install it '
            'with `pip install transformers` (or `pip install -r requirements/optional.txt`)'
        ) from err
    return transformers


@MODELS.register_module()
class HFBackbone(BaseModule):
    """A transformers `AutoBackbone` whose feature maps feed a decode head.

    Args:
        config: The backbone's transformers config as a dict: `model_type` ('resnet',
            'convnext', 'convnextv2', 'swin', 'swinv2', 'dinov2', ... any type with a
            backbone class) plus that config class's arguments, e.g.
            dict(model_type='convnext', out_features=['stage1', 'stage2', 'stage3',
            'stage4']). Without `out_features`/`out_indices` transformers returns the last
            stage only.
        pretrained_dir: Optional local folder written by `save_pretrained` (config.json and
            weights) of that model type; `config`'s other keys override its config. Nothing
            is downloaded.
        init_cfg: mmengine init config, e.g. dict(type='Pretrained', checkpoint=...) of a
            whole HFBackbone state dict (keys `model.*`).

    Attributes:
        out_channels: Channels of each returned level (`backbone.channels`).
        strides: Stride of each returned level, measured once at build time: one forward
            pass of a (1, C, 224, 224) zero image in eval mode, stride = 224 / map height
            (transformers states no strides, and measuring covers every model type the same
            way). Maps are floor or ceil of input / stride, depending on the model.
        in_channels: Channels of the input image (`config.num_channels`).

    Shapes:
        (B, in_channels, H, W) -> tuple of (B, out_channels[k], ~H / strides[k],
        ~W / strides[k]).
    """

    def __init__(self, config: dict, pretrained_dir: str | None = None,
                 init_cfg: dict | list | None = None) -> None:
        transformers = import_transformers()
        super().__init__(init_cfg=init_cfg)
        if not isinstance(config, dict) or not config.get('model_type'):
            raise ValueError("HFBackbone: config must be a dict with a 'model_type' (e.g. "
                             f"dict(model_type='convnext', out_features=[...])), got {config!r}")
        options = {k: v for k, v in config.items() if k != 'model_type'}
        model_type = config['model_type']
        if pretrained_dir is not None and not osp.isdir(pretrained_dir):
            raise FileNotFoundError(f'HFBackbone: pretrained_dir {pretrained_dir!r} is not a '
                                    'folder (the output of save_pretrained is needed)')
        try:
            if pretrained_dir is None:
                hf_config = transformers.AutoConfig.for_model(model_type, **options)
            else:
                hf_config = transformers.AutoConfig.from_pretrained(
                    pretrained_dir, local_files_only=True, **options)
        except ValueError as err:
            raise ValueError(f'HFBackbone: no transformers config for model_type '
                             f'{model_type!r}: {err}') from err
        if hf_config.model_type != model_type:
            raise ValueError(f'HFBackbone: {pretrained_dir} holds a {hf_config.model_type!r} '
                             f'model, config says {model_type!r}')
        backbone_cls = self._backbone_class(hf_config)
        if pretrained_dir is None:
            self.model = backbone_cls(hf_config)
        else:
            _check_pickled_weights(pretrained_dir)
            # the concrete class, not AutoBackbone.from_pretrained, which asks the hub
            # whether the folder's name is a repository before reading the folder
            self.model = backbone_cls.from_pretrained(pretrained_dir, config=hf_config,
                                                      local_files_only=True)
        # transformers initialised (or loaded) the weights; mmengine's init_weights() would
        # otherwise call the model's own init_weights() and draw them again.
        self.model.is_init = True
        self.in_channels = int(getattr(hf_config, 'num_channels', 3))
        self.out_channels = tuple(int(c) for c in self.model.channels)
        self.strides = self._measure_strides()

    @staticmethod
    def _backbone_class(hf_config: Any) -> type:
        from transformers.models.auto import modeling_auto

        try:
            return modeling_auto.MODEL_FOR_BACKBONE_MAPPING[type(hf_config)]
        except KeyError:
            known = sorted(modeling_auto.MODEL_FOR_BACKBONE_MAPPING_NAMES)
            raise ValueError(f'HFBackbone: transformers has no backbone for model_type '
                             f'{hf_config.model_type!r}; model types with one: {known}') from None

    @torch.no_grad()
    def _measure_strides(self) -> tuple[int, ...]:
        was_training = self.model.training
        param = next(self.model.parameters())
        probe = torch.zeros(1, self.in_channels, STRIDE_PROBE_SIZE, STRIDE_PROBE_SIZE,
                            device=param.device, dtype=param.dtype)
        try:
            maps = self.model.eval()(probe).feature_maps
        finally:
            self.model.train(was_training)
        strides = []
        for i, (feat, channels) in enumerate(zip(maps, self.out_channels, strict=True)):
            self._check_map(feat, channels, i)
            height, width = feat.shape[-2:]
            if STRIDE_PROBE_SIZE % height or height != width:
                raise ValueError(f'HFBackbone: cannot measure the stride of level {i}: a '
                                 f'{STRIDE_PROBE_SIZE}px square input gave a {height}x{width} '
                                 'map')
            strides.append(STRIDE_PROBE_SIZE // height)
        return tuple(strides)

    def _check_map(self, feat: torch.Tensor, channels: int, level: int) -> None:
        if feat.dim() != 4 or feat.shape[1] != channels:
            raise RuntimeError(
                f'HFBackbone({type(self.model).__name__}): level {level} has shape '
                f'{tuple(feat.shape)}, expected (B, {channels}, H, W) (for ViT-like models '
                'keep reshape_hidden_states=True)')

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Args: x (B, in_channels, H, W). Returns the `out_features` maps, (B, C, h, w)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'HFBackbone({type(self.model).__name__}) expects input '
                             f'(B, {self.in_channels}, H, W), got {tuple(x.shape)}')
        maps = tuple(self.model(x).feature_maps)
        for i, (feat, channels) in enumerate(zip(maps, self.out_channels, strict=True)):
            self._check_map(feat, channels, i)
        return maps


def _check_pickled_weights(folder: str) -> None:
    """Pickled weight files of a folder go through upertool's safe loader before transformers
    reads them: a file that would run code is refused naming it (safetensors run none)."""
    import os

    from upertool.checkpoint import load_checkpoint_file

    for name in sorted(os.listdir(folder)):
        if name.endswith(('.bin', '.pth', '.pt')):
            load_checkpoint_file(osp.join(folder, name))
