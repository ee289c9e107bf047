import torch
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import SelfAttentionBlock, resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, SampleList


@MODELS.register_module()
class AttentionHead(BaseDecodeHead):
    """Fuses two levels with a self-attention block, built from mmcv ConvModules."""

    def __init__(self, attn_channels=8, **kwargs):
        super().__init__(input_transform='multiple_select', **kwargs)
        self.reduce = ConvModule(
            self.in_channels[1], self.channels, 1, conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.attention = SelfAttentionBlock(
            key_in_channels=self.channels, query_in_channels=self.channels,
            channels=attn_channels, out_channels=self.channels, share_key_query=False,
            query_downsample=None, key_downsample=None, key_query_num_convs=1,
            value_out_num_convs=1, key_query_norm=True, value_out_norm=True,
            matmul_norm=True, with_out=True, conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.fuse = ConvModule(
            self.in_channels[0] + self.channels, self.channels, 3, padding=1,
            norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        assert self.fuse.in_channels == self.in_channels[0] + self.channels
        assert self.fuse.with_norm and self.reduce.with_activation

    def forward(self, inputs):
        fine, coarse = self._transform_inputs(inputs)
        coarse = self.reduce(coarse)
        coarse = coarse + self.attention(coarse, coarse)
        coarse = resize(coarse, size=fine.shape[2:], mode='bilinear',
                        align_corners=self.align_corners)
        return self.cls_seg(self.fuse(torch.cat([fine, coarse], dim=1)))

    def loss(self, inputs, batch_data_samples: SampleList, train_cfg: ConfigType):
        return self.loss_by_feat(self.forward(inputs), batch_data_samples)
