# mit-semseg's decoder 'ppm_deepsup' on encoder 'resnet50': a PSPNet head (PPM of 512 per
# branch, convolved before upsampling as mmseg does, 3x3 512 bottleneck, Dropout2d(0.1)) and a
# deep-supervision head on stage 3 (3x3 conv to 512, 1x1 classifier), converted with
# tools/convert_checkpoint.py csail-to-upertool (see upernet_r50-csail_ade20k.py).
_base_ = './upernet_r50-csail_ade20k.py'
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
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0, avg_non_ignore=True)),
    auxiliary_head=dict(
        _delete_=True,
        type='FCNHead',
        in_channels=1024,
        in_index=2,
        channels=512,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4, avg_non_ignore=True)))
