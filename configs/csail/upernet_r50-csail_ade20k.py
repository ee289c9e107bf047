# The UPerNet authors' single-task ADE20K model (CSAILVision/semantic-segmentation-pytorch,
# `mit-semseg`: encoder 'resnet50', decoder 'upernet'), converted with
#   python tools/convert_checkpoint.py csail-to-upertool encoder_epoch_N.pth \
#       decoder_epoch_N.pth checkpoints/upernet_r50-csail_ade20k.pth \
#       --config configs/csail/upernet_r50-csail_ade20k.py
# Their ResNet has a 64-64-128 deep stem (ResNetV1c with stem_channels=128); their PPM is
# 512 channels wide and upsamples each pooled map before its 1x1 conv-BN-ReLU; no dropout and
# no auxiliary head. Their 150 classes are ADE20K's without 'other', as reduce_zero_label.
_base_ = ['../upernet/upernet_r50_4xb4-80k_ade20k-512x512.py']
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(stem_channels=128),
    decode_head=dict(channels=512, ppm_channels=512, ppm_order='upsample_first',
                     dropout_ratio=0.0, num_classes=150),
    auxiliary_head=None)
