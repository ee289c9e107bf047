# PSPNet with a dilated ResNet-50-V1c (output stride 8), as mmsegmentation's pspnet_r50-d8.
# Backbone, auxiliary FCN head and data preprocessor are fcn_r50-d8's; the decode head differs.
_base_ = ['./fcn_r50-d8.py']
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    decode_head=dict(
        _delete_=True,
        type='PSPHead',
        in_channels=2048,
        in_index=3,
        channels=512,
        pool_scales=(1, 2, 3, 6),
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)))
