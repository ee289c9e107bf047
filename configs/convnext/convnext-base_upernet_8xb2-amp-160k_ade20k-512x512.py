# UPerNet ConvNeXt-B on ADE20K: the base model of _base_/models/upernet_convnext.py (drop path
# 0.4) with ConvNeXt-T's recipe and stage-wise decay over 12 layers, as mmsegmentation 1.x.
_base_ = ['./convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py']
checkpoint_file = 'https://download.openmmlab.com/mmclassification/v0/convnext/downstream/convnext-base_3rdparty_32xb128-noema_in1k_20220301-2a0ee547.pth'  # noqa
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    decode_head=dict(in_channels=[128, 256, 512, 1024], num_classes=150),
    auxiliary_head=dict(in_channels=512, num_classes=150))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=12))
