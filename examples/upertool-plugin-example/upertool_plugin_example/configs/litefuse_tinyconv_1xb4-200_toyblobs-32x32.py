# LiteFuseHead on TinyConvNet, trained on the generated ToyBlobs set: about half a minute on
# two CPU cores, val mIoU around 40 (squares learnt, discs barely).
# Every component type below that upertool does not ship comes from this plugin; upertool
# finds them through the plugin's entry point, so there is no `custom_imports` line.
# The bases are upertool's own configs, found in the installed upertool package.
_base_ = [
    'upertool::_base_/models/upernet_r50.py',
    'upertool::_base_/default_runtime.py',
    'upertool::_base_/schedules/schedule_20k.py',
]
num_classes = 3
max_iters = 200
crop = 32
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(crop, crop)),
    # in_channels of the head are filled in from TinyConvNet's out_channels.
    backbone=dict(_delete_=True, type='TinyConvNet', stem_channels=8, widths=(8, 16, 32, 64)),
    decode_head=dict(
        _delete_=True,
        type='LiteFuseHead',
        channels=16,
        num_classes=num_classes,
        dropout_ratio=0.0,
        loss_decode=[
            dict(type='CrossEntropyLoss', loss_weight=1.0, avg_non_ignore=True),
            dict(type='SoftIoULoss', loss_weight=0.5),
        ]),
    auxiliary_head=None)

dataset_type = 'ToyBlobsDataset'
data_root = 'data/toy_blobs'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomInvert', prob=0.5),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, split='train', num_images=32, image_size=crop,
                 data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, split='val', num_images=8, image_size=crop,
                 data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=1e-2, weight_decay=1e-4))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=100))
randomness = dict(seed=0)
