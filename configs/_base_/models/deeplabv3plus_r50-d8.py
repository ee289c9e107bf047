# DeepLabV3+ (depthwise-separable ASPP + stage-1 decoder) with a dilated ResNet-50-V1c
# (output stride 8), as mmsegmentation's deeplabv3plus_r50-d8.
# Backbone, auxiliary FCN head and data preprocessor are fcn_r50-d8's; the decode head differs.
_base_ = ['./fcn_r50-d8.py']
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    decode_head=dict(
        _delete_=True,
        type='DepthwiseSeparableASPPHead',
        in_channels=2048,
        in_index=3,
        channels=512,
        dilations=(1, 12, 24, 36),
        c1_in_channels=256,
        c1_channels=48,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)))
