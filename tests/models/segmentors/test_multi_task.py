"""MultiTaskEncoderDecoder + UPPHead: task routing, gradients, predictions, bad batches."""
import pytest
import torch
from mmengine.structures import LabelData, PixelData

from upertool.registry import MODELS
from upertool.structures import MultiTaskSegDataSample

PART_GROUPS = [(2, 2), (4, 3)]
BRANCHES = {'object': ('object_conv', 'conv_seg'), 'part': ('part_conv', 'part_cls'),
            'scene': ('scene_conv', 'scene_cls'), 'material': ('material_conv', 'material_cls')}


def _model(**head):
    cfg = dict(in_channels=[8, 16, 32, 64], channels=8, num_classes=5, num_scene_classes=3,
               num_material_classes=4, part_groups=PART_GROUPS, norm_cfg=dict(type='BN'))
    cfg.update(head)
    model = MODELS.build(dict(
        type='MultiTaskEncoderDecoder',
        data_preprocessor=dict(type='MultiTaskDataPreProcessor'),
        backbone=dict(type='ResNetV1c', depth=18, base_channels=8, stem_channels=8),
        decode_head=dict(type='UPPHead', **cfg)))
    model.init_weights()
    return model


def _sample(tasks, source='a', size=32, seed=0, part=None, scene=None):
    gen = torch.Generator().manual_seed(seed)
    sample = MultiTaskSegDataSample(metainfo=dict(source=source, tasks=tuple(tasks),
                                                  img_path=f'{source}/{seed}.png',
                                                  ori_shape=(size, size), img_shape=(size, size)))
    objects = torch.randint(0, 5, (1, size, size), generator=gen)
    if 'object' in tasks:
        sample.gt_sem_seg = PixelData(data=objects)
    if 'part' in tasks:
        parts = torch.randint(0, 2, (1, size, size), generator=gen)
        if part is not None:
            parts[objects == 2] = part
        sample.gt_part_seg = PixelData(data=parts)
        sample.gt_part_valid = torch.tensor([True, seed % 2 == 0])
    if 'material' in tasks:
        sample.gt_material_seg = PixelData(data=torch.randint(0, 4, (1, size, size),
                                                              generator=gen))
    if 'scene' in tasks:
        sample.gt_scene_label = LabelData(label=torch.tensor([seed % 3 if scene is None
                                                              else scene]))
    return sample


def _loss(model, samples):
    inputs = torch.randn(len(samples), 3, 32, 32, generator=torch.Generator().manual_seed(1))
    return model(inputs, samples, mode='loss')


@pytest.mark.parametrize('tasks', [('object', 'part', 'scene'), ('material',), ('scene',),
                                   ('object',), ('part', 'object', 'material', 'scene')])
def test_batch_trains_exactly_its_tasks(tasks):
    model = _model()
    model.train()
    losses = _loss(model, [_sample(tasks, seed=i) for i in range(2)])
    assert {k.split('.')[0] for k in losses} == set(tasks)
    assert all(torch.isfinite(v).all() for v in losses.values())
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    head = model.decode_head
    for task, names in BRANCHES.items():
        grads = [p.grad for n in names for p in getattr(head, n).parameters()]
        if task in tasks:
            assert all(g is not None and g.abs().sum() > 0 for g in grads), task
        else:
            assert all(g is None for g in grads), task
    assert all(p.grad is not None for p in model.backbone.parameters())
    # the FPN runs for dense tasks only, the fusion for objects and parts only
    fpn_used = bool({'object', 'part', 'material'} & set(tasks))
    assert (head.lateral_convs[0].conv.weight.grad is not None) == fpn_used
    fused = bool({'object', 'part'} & set(tasks))
    assert (head.fpn_bottleneck.conv.weight.grad is not None) == fused


def test_predict_returns_every_task_at_the_original_size():
    model = _model().eval()
    samples = [MultiTaskSegDataSample(metainfo=dict(ori_shape=(40, 36), img_shape=(32, 32),
                                                    pad_shape=(32, 32)))]
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32), samples, mode='predict')[0]
        logits = model(torch.randn(1, 3, 32, 32), mode='tensor')
    assert out.pred_sem_seg.data.shape == (1, 40, 36)
    assert out.seg_logits.data.shape == (5, 40, 36)
    assert out.pred_part_seg.data.shape == (2, 40, 36)
    assert out.pred_part_seg.data[0].max() < 2 and out.pred_part_seg.data[1].max() < 3
    assert out.pred_material_seg.data.shape == (1, 40, 36)
    assert out.pred_scene_label.score.shape == (3,)
    assert out.pred_scene_label.score.sum().item() == pytest.approx(1, abs=1e-5)
    assert set(logits) == {'object', 'part', 'scene', 'material'}
    assert logits['scene'].shape == (1, 3) and logits['object'].shape == (1, 5, 8, 8)


def test_material_only_source_without_object_maps_goes_through_the_preprocessor():
    model = _model()
    samples = [_sample(('material',), seed=i) for i in range(2)]
    data = model.data_preprocessor(dict(inputs=[torch.zeros(3, 32, 32, dtype=torch.uint8)] * 2,
                                        data_samples=samples), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'material.loss_ce', 'material.acc_seg'}


def test_source_with_a_task_the_model_lacks():
    model = _model(num_material_classes=None)
    with pytest.raises(ValueError, match=r"source 'os' annotates \['material'\].*os/0.png"):
        _loss(model, [_sample(('material',), source='os')])


def test_part_label_outside_its_group():
    model = _model()
    with pytest.raises(ValueError, match=r"a/0.png: part labels \[2\] inside object 2.*\[0, 2\)"):
        _loss(model, [_sample(('object', 'part'), part=2)])


def test_scene_label_outside_the_scene_classes():
    model = _model()
    with pytest.raises(ValueError, match=r"a/0.png: scene label 7 is outside \[0, 3\)"):
        _loss(model, [_sample(('scene',), scene=7)])


def test_batch_mixing_sources():
    model = _model()
    with pytest.raises(ValueError, match=r"mixes sources.*'a': 'a/0.png'.*'b': 'b/1.png'"):
        _loss(model, [_sample(('object',), source='a', seed=0),
                      _sample(('object',), source='b', seed=1)])


def test_unknown_part_group_and_non_multi_task_head():
    with pytest.raises(ValueError, match='object class in'):
        _model(part_groups=[(9, 2)])
    with pytest.raises(TypeError, match='multi-task head'):
        MODELS.build(dict(type='MultiTaskEncoderDecoder',
                          backbone=dict(type='ResNetV1c', depth=18, base_channels=8,
                                        stem_channels=8),
                          decode_head=dict(type='UPerHead', in_channels=[8, 16, 32, 64],
                                           channels=8, num_classes=5)))


def test_object_branch_switched_off():
    from upertool.visualization.multi_task_overlay import draw_multi_task

    model = _model(object_branch=False, part_groups=None)
    head = model.decode_head
    assert head.tasks == ('scene', 'material')
    assert not hasattr(head, 'object_conv') and not hasattr(head, 'conv_seg')
    model.train()
    losses = _loss(model, [_sample(('scene', 'material'), seed=i) for i in range(2)])
    assert {k.split('.')[0] for k in losses} == {'scene', 'material'}
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert all(p.grad is not None for p in head.material_cls.parameters())
    with pytest.raises(ValueError, match=r"source 'ade' annotates \['object'\].*no head"):
        _loss(model, [_sample(('object', 'scene'), source='ade')])
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32), [MultiTaskSegDataSample(metainfo=dict(
            ori_shape=(32, 32), img_shape=(32, 32), pad_shape=(32, 32)))], mode='predict')[0]
    assert 'pred_sem_seg' not in out and out.pred_material_seg.data.shape == (1, 32, 32)
    meta = dict(classes=[f'c{i}' for i in range(5)], palette=[[0, 0, 0]] * 5,
                materials=['m0', 'm1', 'm2', 'm3'], scenes=['s0', 's1', 's2'])
    drawn = draw_multi_task(torch.zeros(32, 32, 3, dtype=torch.uint8).numpy(), out, meta)
    assert drawn.shape[1] == 2 * 32 + 4  # image and materials panels, no objects panel


def test_object_branch_off_refused_where_another_branch_needs_it():
    with pytest.raises(ValueError, match='object_branch=False with part_groups.*needs the '
                                         'object branch'):
        _model(object_branch=False)
    with pytest.raises(ValueError, match='every branch is off'):
        _model(object_branch=False, part_groups=None, num_scene_classes=None,
               num_material_classes=None)
    with pytest.raises(ValueError, match='auxiliary head supervises objects.*object_branch'):
        MODELS.build(dict(
            type='MultiTaskEncoderDecoder',
            backbone=dict(type='ResNetV1c', depth=18, base_channels=8, stem_channels=8),
            decode_head=dict(type='UPPHead', in_channels=[8, 16, 32, 64], channels=8,
                             num_classes=5, object_branch=False, num_scene_classes=3),
            auxiliary_head=dict(type='FCNHead', in_channels=32, in_index=2, channels=8,
                                num_classes=5)))
