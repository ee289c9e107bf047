# The paper's multi-task UPerNet (Xiao et al. 2018, CSAILVision/unifiedparsing, decoder
# 'upernet', encoder 'resnet50') on Broden+: documented, not trained here. Its released
# checkpoint converts with
#   python tools/convert_checkpoint.py csail-to-upertool encoder_epoch_40.pth \
#       decoder_epoch_40.pth checkpoints/upernet-upp_r50_broden-plus.pth \
#       --config configs/upp/upernet-upp_r50_broden-plus.py
# Trunk: ResNet-50 with the 64-64-128 deep stem, a PPM of 512 channels per branch that pools
# with Precise RoI Pooling (ppm_pooling='integral') and upsamples before its 1x1 conv,
# fpn_dim 512. Heads: 336 objects, 365 scenes, 26 materials (label 0 of objects and
# materials is unlabelled: ignore_index=0), and one part softmax per object with parts.
# Training as the paper: SGD, lr 0.02 poly, batches drawn per source in proportion to their
# sizes: ADE20K (objects, parts, scene), Pascal-Context/Part (objects, parts; no scene label),
# OpenSurfaces (materials).
_base_ = ['../_base_/default_runtime.py', '../_base_/schedules/schedule_160k.py']
norm_cfg = dict(type='SyncBN', requires_grad=True)
# (object label, number of parts incl. '-') from meta_file/object_part_hierarchy.csv, in its
# order; BrodenPlusDataset.metainfo['part_groups'] reads the same file
part_groups = [
    (2, 2), (5, 24), (6, 15), (7, 2), (8, 11), (9, 10), (10, 2), (12, 11), (13, 13), (15, 2),
    (16, 8), (18, 6), (19, 9), (21, 10), (28, 9), (29, 10), (32, 4), (33, 3), (39, 2), (42, 5),
    (43, 11), (44, 11), (46, 2), (47, 4), (48, 2), (49, 10), (54, 2), (56, 4), (57, 5),
    (59, 5), (61, 2), (67, 4), (68, 10), (69, 10), (70, 9), (74, 2), (75, 6), (77, 3), (80, 2),
    (81, 8), (82, 6), (83, 3), (85, 6), (87, 3), (89, 5), (91, 3), (95, 2), (98, 3), (104, 4),
    (105, 10), (106, 4), (108, 6), (109, 3), (110, 4), (111, 2), (113, 3), (117, 6), (120, 8),
    (122, 5), (127, 6), (131, 4), (141, 10), (142, 10), (143, 2), (145, 3), (153, 4),
    (154, 3), (160, 3), (161, 2), (170, 8), (180, 2), (184, 2), (204, 3), (213, 3), (214, 2),
    (240, 2), (321, 2)]
model = dict(
    type='MultiTaskEncoderDecoder',
    data_preprocessor=dict(
        type='MultiTaskDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        size_divisor=32,
        pad_val=0,
        seg_pad_val=0),
    backbone=dict(type='ResNetV1c', depth=50, stem_channels=128, norm_cfg=norm_cfg),
    decode_head=dict(
        type='UPPHead',
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=512,
        ppm_channels=512,
        ppm_pooling='integral',
        ppm_order='upsample_first',
        num_classes=336,
        num_scene_classes=365,
        num_material_classes=26,
        part_groups=part_groups,
        ignore_index=0,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0, avg_non_ignore=True),
        loss_part=dict(type='PartLoss', loss_weight=0.5),
        loss_scene=dict(type='CrossEntropyLoss', loss_weight=0.25),
        loss_material=dict(type='CrossEntropyLoss', loss_weight=1.0, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)

meta_root = 'data/broden/meta_file'
broden = dict(type='BrodenPlusDataset', data_root='data/broden/broden_dataset',
              meta_root=meta_root)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadBrodenAnnotations', meta_root=meta_root),
    dict(type='RandomResize', scale=(1024, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackMultiTaskInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadBrodenAnnotations', meta_root=meta_root),
    dict(type='PackMultiTaskInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=dict(type='SourceBatchSampler'),
    dataset=dict(
        type='MultiSourceDataset',
        pipeline=train_pipeline,
        sources=[
            dict(name='ade20k', tasks=['object', 'part', 'scene'],
                 dataset=dict(broden, index_file='broden_ade20k_pascal_train.json',
                              datasets=('ade20k',))),
            dict(name='pascal', tasks=['object', 'part'],
                 dataset=dict(broden, index_file='broden_ade20k_pascal_train.json',
                              datasets=('pascal',))),
            dict(name='opensurfaces', tasks=['material'],
                 dataset=dict(broden, index_file='broden_os_train.json', datasets=('os',))),
        ]))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='MultiSourceDataset',
        pipeline=test_pipeline,
        sources=[
            dict(name='ade20k', tasks=['object', 'part', 'scene'],
                 dataset=dict(broden, index_file='broden_ade20k_pascal_val.json',
                              datasets=('ade20k',))),
            dict(name='pascal', tasks=['object', 'part'],
                 dataset=dict(broden, index_file='broden_ade20k_pascal_val.json',
                              datasets=('pascal',))),
            dict(name='opensurfaces', tasks=['material'],
                 dataset=dict(broden, index_file='broden_os_val.json', datasets=('os',))),
        ]))
test_dataloader = val_dataloader
val_evaluator = dict(type='MultiTaskMetric', ignore_index=0)
test_evaluator = val_evaluator
# the paper's SGD: lr 0.02, weight decay 1e-4, poly 0.9 over 160k iterations
optim_wrapper = dict(optimizer=dict(lr=0.02, weight_decay=1e-4))
