# UPerNet with timm's ConvNeXt-T on ADE20K (needs `pip install timm`), 160k iterations of
# 8 GPUs x 2 images with fp16 AMP: the recipe of convnext/convnext-tiny_upernet_8xb2-amp-160k
# (AdamW 1e-4, weight decay 0.05, drop path 0.4, warm-up + poly, slide inference), without its
# stage-wise learning-rate decay, whose layer ids name mmpretrain's keys; norms, biases and
# layer scales (every 1-d parameter) get no weight decay instead.
# ImageNet weights: set checkpoint_path to timm's convnext_tiny weights on disk (the hub's
# model.safetensors or a .pth state dict), or pretrained=True to let timm download them.
_base_ = [
    '../_base_/models/upernet_convnext.py', '../_base_/datasets/ade20k.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_160k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _delete_=True,
        type='TIMMBackbone',
        model_name='convnext_tiny',
        pretrained=False,
        checkpoint_path='',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.4),
    # None: filled in from the backbone's feature_info.channels() when the model is built
    decode_head=dict(in_channels=None, num_classes=150),
    auxiliary_head=dict(in_channels=None, num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)),
)

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0001, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(flat_decay_mult=0.0),
    loss_scale='dynamic')

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, begin=1500, end=160000, eta_min=0.0, by_epoch=False)
]

# 8 GPUs with 2 images per GPU
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
