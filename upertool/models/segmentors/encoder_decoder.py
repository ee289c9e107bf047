"""EncoderDecoder: backbone -> [neck] -> decode head (+ auxiliary heads), as mmsegmentation 1.x.

    loss():    extract_feat() -> decode_head.loss() [+ auxiliary_head.loss()]   -> dict of losses
    predict(): inference() (whole | slide) -> postprocess_result()              -> SegDataSamples
    tensor:    extract_feat() -> decode_head.forward()                           -> raw logits
"""
from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from mmengine.config import ConfigDict
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from torch import Tensor, nn

from upertool.models.utils import channel_argmax, resized_argmax
from upertool.models.utils.arg_checks import BINARY_THRESHOLD
from upertool.models.utils.folded_conv import release_folded_convs
from upertool.models.utils.precision import autocast_context
from upertool.registry import MODELS
from upertool.structures import SegDataSample

from .head_channels import build_head, feature_channels, resolve_neck_in_channels
from .inference import (
    needs_resize,
    restore_logits,
    slide_inference,
    slide_labels,
    slide_settings,
    unpad_unflip,
    whole_inference,
)
from .large_inputs import auto_slide_settings


def add_prefix(inputs: dict, prefix: str) -> dict:
    """{'loss_ce': x} -> {'<prefix>.loss_ce': x}, as mmsegmentation's `add_prefix`."""
    return {f'{prefix}.{name}': value for name, value in inputs.items()}


def _build(cfg: dict | nn.Module) -> nn.Module:
    return cfg if isinstance(cfg, nn.Module) else MODELS.build(cfg)


@MODELS.register_module()
class EncoderDecoder(BaseModel):
    """The UPerNet/FCN segmentor: an encoder (backbone, optional neck) and decode heads.

    Heads whose config omits `in_channels` get them from the backbone's (or neck's)
    `out_channels`, picked by the head's `in_index`; stated ones are checked against them, and
    so are those a head sets itself. A neck's `in_channels` come from the backbone likewise.

    Args:
        backbone: MODELS config of the backbone; it returns a tuple of feature maps.
        decode_head: MODELS config of the head that makes the predictions.
        neck: optional MODELS config between backbone and heads.
        auxiliary_head: a head config, or a list of them, used for extra losses in training.
        train_cfg: passed to the heads' `loss`.
        test_cfg: dict(mode='whole' | 'slide', crop_size=(h, w), stride=(h, w),
            batch_size=1 (slide windows run at once), return_logits=True (keep `seg_logits`
            in the predictions), precision='fp32' | 'bf16' | 'fp16' (autocast of the forward
            passes; see upertool.models.utils.precision)). None means whole-image inference.
        data_preprocessor: config of the data preprocessor (usually SegDataPreProcessor).
        pretrained: checkpoint for the backbone; becomes its init_cfg
            `dict(type='Pretrained', checkpoint=pretrained)`, as mmsegmentation.
        init_cfg: mmengine initialisation config of the whole model.
        channels_last: keep weights and activations in channels-last memory order, which
            oneDNN (CPU) and cuDNN run faster for most convolutions (R-50 UPerNet's backbone
            ~25% on CPU), and which ConvNeXt's and Swin's token layouts read without copies;
            the results are the same up to fp32 rounding. Outputs are channels-last tensors
            too (call `.contiguous()` where code needs NCHW strides).
    """

    def __init__(self, backbone: dict, decode_head: dict, neck: dict | None = None,
                 auxiliary_head: dict | Sequence[dict] | None = None,
                 train_cfg: dict | None = None, test_cfg: dict | None = None,
                 data_preprocessor: dict | nn.Module | None = None,
                 pretrained: str | None = None, init_cfg: dict | list | None = None,
                 channels_last: bool = True) -> None:
        # mmengine's BaseModel builds a config from its own root registry, which does not see
        # upertool's components unless a default scope is set; building here always works.
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if pretrained is not None:
            backbone = self._with_pretrained(backbone, pretrained)
        self.backbone = _build(backbone)
        if neck is not None:
            self.neck = _build(resolve_neck_in_channels(
                neck, *feature_channels(self.backbone, None)))
        channels, source = feature_channels(self.backbone, getattr(self, 'neck', None))

        self.decode_head = self._build_head(decode_head, channels, source, 'decode_head')
        self.align_corners = self.decode_head.align_corners
        self.num_classes = self.decode_head.num_classes
        self.out_channels = self.decode_head.out_channels
        if auxiliary_head is not None:
            if isinstance(auxiliary_head, (list, tuple)):
                self.auxiliary_head = nn.ModuleList(
                    self._build_head(cfg, channels, source, f'auxiliary_head[{i}]')
                    for i, cfg in enumerate(auxiliary_head))
            else:
                self.auxiliary_head = self._build_head(auxiliary_head, channels, source,
                                                       'auxiliary_head')

        self.train_cfg = train_cfg
        self.test_cfg = ConfigDict(test_cfg) if isinstance(test_cfg, dict) else test_cfg
        self._slide_settings()  # bad test_cfg fails at build time, not after training
        self.channels_last = channels_last
        if channels_last:
            # in place: later init_weights() and checkpoint loading keep the layout
            self.to(memory_format=torch.channels_last)

    def train(self, mode: bool = True) -> EncoderDecoder:
        """Switch mode; entering training frees the eval-time folded conv weights (a copy of
        the conv weights, rebuilt on the next eval pass, see folded_conv.py)."""
        if mode:
            release_folded_convs(self)
        return super().train(mode)

    @staticmethod
    def _with_pretrained(backbone: dict, pretrained: str) -> dict:
        if isinstance(backbone, nn.Module):
            raise ValueError('pretrained= needs a backbone config, not a built module')
        init_cfg = backbone.get('init_cfg') or {}
        if backbone.get('pretrained') is not None or (
                isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'):
            raise ValueError('both the backbone and the segmentor set pretrained weights; '
                             'keep only one of them')
        backbone = copy.deepcopy(backbone)
        backbone['init_cfg'] = dict(type='Pretrained', checkpoint=pretrained)
        return backbone

    @staticmethod
    def _build_head(cfg: dict | nn.Module, channels: tuple[int, ...] | int | None, source: str,
                    name: str) -> nn.Module:
        return build_head(cfg, channels, source, name)

    @property
    def with_neck(self) -> bool:
        return getattr(self, 'neck', None) is not None

    @property
    def with_auxiliary_head(self) -> bool:
        return getattr(self, 'auxiliary_head', None) is not None

    @property
    def with_decode_head(self) -> bool:
        return getattr(self, 'decode_head', None) is not None

    def extract_feat(self, inputs: Tensor) -> tuple[Tensor, ...]:
        """(B, C, H, W) images -> the backbone's (or neck's) tuple of feature maps."""
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        x = self.backbone(inputs)
        if self.with_neck:
            x = self.neck(x)
        return x

    def encode_decode(self, inputs: Tensor, batch_img_metas: list[dict]) -> Tensor:
        """(B, C, H, W) images -> logits (B, K, h, w) at the size the metas give the head."""
        return self.decode_head.predict(self.extract_feat(inputs), batch_img_metas,
                                        self.test_cfg)

    def forward(self, inputs: Tensor, data_samples: list[SegDataSample] | None = None,
                mode: str = 'tensor'):
        """mmengine's single entry point.

        Args:
            inputs: (B, C, H, W) preprocessed images.
            data_samples: SegDataSamples with `gt_sem_seg` (loss) or metainfo (predict).
            mode: 'loss' -> dict of losses; 'predict' -> list of SegDataSample;
                'tensor' -> the decode head's raw logits (B, K, h, w).
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'invalid mode {mode!r}; EncoderDecoder supports loss, predict and '
                           'tensor')

    def loss(self, inputs: Tensor, data_samples: list[SegDataSample]) -> dict[str, Tensor]:
        """Losses of the decode head (`decode.*`) and auxiliary heads (`aux.*` / `aux_i.*`)."""
        if data_samples is None:
            raise ValueError("mode='loss' needs data_samples with gt_sem_seg")
        x = self.extract_feat(inputs)
        losses = self._decode_head_forward_train(x, data_samples)
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, data_samples))
        return losses

    def _decode_head_forward_train(self, inputs: Sequence[Tensor],
                                   data_samples: list[SegDataSample]) -> dict[str, Tensor]:
        """The decode head's losses as `decode.*` (mmsegmentation's hook; subclasses of it
        override this method)."""
        return add_prefix(self.decode_head.loss(inputs, data_samples, self.train_cfg), 'decode')

    def _auxiliary_head_forward_train(self, inputs: Sequence[Tensor],
                                      data_samples: list[SegDataSample]) -> dict[str, Tensor]:
        """The auxiliary heads' losses as `aux.*` (`aux_i.*` for a list), mmsegmentation's hook."""
        if isinstance(self.auxiliary_head, nn.ModuleList):
            losses = {}
            for i, head in enumerate(self.auxiliary_head):
                losses.update(add_prefix(head.loss(inputs, data_samples, self.train_cfg),
                                         f'aux_{i}'))
            return losses
        return add_prefix(self.auxiliary_head.loss(inputs, data_samples, self.train_cfg), 'aux')

    def predict(self, inputs: Tensor,
                data_samples: list[SegDataSample] | None = None) -> list[SegDataSample]:
        """Predictions at each image's `ori_shape`, written into (new or given) SegDataSamples.

        Without data_samples, every input is taken as an unpadded, unflipped original image.
        """
        if data_samples is None:
            shape = tuple(inputs.shape[2:])
            data_samples = [SegDataSample(metainfo=dict(
                ori_shape=shape, img_shape=shape, pad_shape=shape, padding_size=(0, 0, 0, 0)))
                for _ in range(inputs.shape[0])]
        batch_img_metas = [sample.metainfo for sample in data_samples]
        cfg = self.test_cfg or {}
        settings = self._slide_settings(inputs.shape[2:])
        labels_only = (settings is not None and not cfg.get('return_logits', True)
                       and not any(needs_resize(inputs.shape[2:], m) for m in batch_img_metas))
        with autocast_context(cfg.get('precision'), inputs.device):
            if labels_only:  # bounded memory: never the whole image's logits
                crop, stride, batch_size = settings
                labels = slide_labels(self.encode_decode, inputs, batch_img_metas, crop, stride,
                                      lambda logits: self._labels(logits, dim=1), batch_size)
            else:
                seg_logits = self.inference(inputs, batch_img_metas)
        if not labels_only:
            return self.postprocess_result(seg_logits.float(), data_samples)
        for sample, label in zip(data_samples, labels, strict=True):
            sample.set_data(dict(pred_sem_seg=PixelData(data=unpad_unflip(label[None],
                                                                          sample.metainfo))))
        return data_samples

    def _labels(self, logits: Tensor, dim: int) -> Tensor:
        """Labels from logits along `dim`: argmax, or sigmoid > threshold for one channel."""
        if logits.shape[dim] > 1:
            return channel_argmax(logits, dim)
        threshold = getattr(self.decode_head, 'threshold', None)
        threshold = BINARY_THRESHOLD if threshold is None else threshold
        return (logits.sigmoid() > threshold).to(torch.int64).squeeze(dim)

    def _forward(self, inputs: Tensor, data_samples: list[SegDataSample] | None = None) -> Tensor:
        """Backbone, neck and decode head only: logits (B, K, h, w) at the head's resolution."""
        return self.decode_head.forward(self.extract_feat(inputs))

    def _slide_settings(self, shape: Sequence[int] | None = None
                        ) -> tuple[tuple[int, int], tuple[int, int], int] | None:
        """Checks test_cfg; (crop_size, stride, batch_size) in slide mode, else None; an input
        `shape` far larger than the training crop gets windows too (see large_inputs.py)."""
        settings = slide_settings(self.test_cfg)
        if settings is None and shape is not None:
            settings = auto_slide_settings(self, self.test_cfg, shape)
        return settings

    def whole_inference(self, inputs: Tensor, batch_img_metas: list[dict]) -> Tensor:
        """Logits (N, K, H, W) for the whole batch (N, C, H, W) in one pass."""
        return whole_inference(self.encode_decode, inputs, batch_img_metas)

    def slide_inference(self, inputs: Tensor, batch_img_metas: list[dict]) -> Tensor:
        """Logits (N, K, H, W) averaged over test_cfg's overlapping crop_size/stride windows."""
        settings = self._slide_settings(inputs.shape[2:])
        if settings is None:
            raise ValueError("slide_inference needs test_cfg with mode='slide', crop_size and "
                             'stride')
        crop, stride, batch_size = settings
        return slide_inference(self.encode_decode, inputs, batch_img_metas, crop, stride,
                               batch_size)

    def inference(self, inputs: Tensor, batch_img_metas: list[dict]) -> Tensor:
        """Logits (N, K, H, W) on the padded inputs, by test_cfg.mode ('whole' or 'slide')."""
        if self._slide_settings(inputs.shape[2:]) is None:
            return self.whole_inference(inputs, batch_img_metas)
        return self.slide_inference(inputs, batch_img_metas)

    def postprocess_result(self, seg_logits: Tensor,
                           data_samples: list[SegDataSample] | None = None
                           ) -> list[SegDataSample]:
        """Crop padding, undo flips, resize to `ori_shape`, then argmax (or sigmoid > threshold).

        Args:
            seg_logits: (N, K, H, W) logits on the padded inputs.
            data_samples: one per image, whose metainfo says how to restore it (None: the
                logits are taken as they are).

        Returns:
            The data samples with `pred_sem_seg` (1, h, w) int64 and, unless
            test_cfg.return_logits is False, `seg_logits` (K, h, w): logits when K > 1, the
            sigmoid probabilities for a one-channel (binary) head, as mmsegmentation.
        """
        num_images, channels = seg_logits.shape[:2]
        if data_samples is None:
            data_samples = [SegDataSample() for _ in range(num_images)]
        if len(data_samples) != num_images:
            raise ValueError(f'{num_images} logits but {len(data_samples)} data_samples')
        return_logits = (self.test_cfg or {}).get('return_logits', True)
        for i, sample in enumerate(data_samples):
            if not return_logits and channels > 1:
                # labels only: resize and argmax a band of rows at a time (K x H x W never
                # exists at the original size)
                logits = unpad_unflip(seg_logits[i], sample.metainfo)
                size = tuple(sample.metainfo.get('ori_shape', logits.shape[1:]))[:2]
                pred = resized_argmax(logits, size, self.align_corners)[None]
                sample.set_data(dict(pred_sem_seg=PixelData(data=pred)))
                continue
            logits = restore_logits(seg_logits[i], sample.metainfo, self.align_corners)
            pred = self._labels(logits, dim=0)[None]
            if channels == 1:
                logits = logits.sigmoid()
            sample.set_data(dict(pred_sem_seg=PixelData(data=pred)))
            if return_logits:
                sample.set_data(dict(seg_logits=PixelData(data=logits)))
        return data_samples
