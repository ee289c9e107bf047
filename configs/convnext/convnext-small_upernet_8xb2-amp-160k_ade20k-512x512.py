# UPerNet ConvNeXt-S on ADE20K: ConvNeXt-T's recipe with drop path 0.3 and stage-wise decay
# over 12 layers, as mmsegmentation 1.x.
_base_ = ['./convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py']
checkpoint_file = 'https://download.openmmlab.com/mmclassification/v0/convnext/downstream/convnext-small_3rdparty_32xb128-noema_in1k_20220301-303e75e3.pth'  # noqa
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    decode_head=dict(in_channels=[96, 192, 384, 768], num_classes=150),
    auxiliary_head=dict(in_channels=384, num_classes=150))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=12))
