"""Every decode head registered in MODELS keeps the decode-head contract (DESIGN.md).

The heads are found in the registry (every class defined under upertool.models.decode_heads),
so a new head without a case here fails `test_every_head_has_cases`. For each case, on four
feature levels of a 64x64 image (strides 4, 8, 16, 32):
- `forward(features)` gives logits (B, out_channels, h, w) at the finest selected level;
- `loss(features, samples)` gives finite scalars named 'loss_*' (plus 'acc_seg') whose
  backward reaches the classifier;
- `predict(features, metas)` gives logits at the padded input size;
- `in_channels` that disagree with the features fail with an error naming the level.
A head with another contract (multi-task) names the test file that covers it instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from mmengine.structures import PixelData

from upertool.registry import MODELS
from upertool.structures import SegDataSample

CHANNELS = [4, 6, 8, 10]
SIZES = [(16, 16), (8, 8), (4, 4), (2, 2)]
IMAGE = (64, 64)
BN = dict(type='BN')
# CrossEntropyLoss warns once about mmsegmentation's avg_non_ignore=False default.
pytestmark = pytest.mark.filterwarnings('ignore:loss_ce. avg_non_ignore=False')

# name -> {case id: (constructor arguments, index of the finest selected level)}
CASES: dict[str, dict[str, tuple[dict[str, Any], int]]] = {
    'UPerHead': {'all-levels': (dict(in_channels=CHANNELS, channels=4, pool_scales=(1, 2)), 0)},
    'FCNHead': {'level-2': (dict(in_channels=8, in_index=2, channels=4, num_convs=1), 2),
                'binary': (dict(in_channels=10, in_index=3, channels=4, out_channels=1,
                                num_classes=2, threshold=0.4,
                                loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=True)),
                           3)},
    'PSPHead': {'level-3': (dict(in_channels=10, in_index=3, channels=4, pool_scales=(1, 2)),
                            3)},
    'ASPPHead': {'level-3': (dict(in_channels=10, in_index=3, channels=4, dilations=(1, 2)), 3)},
    'DepthwiseSeparableASPPHead': {
        'level-3+c1': (dict(in_channels=10, in_index=3, channels=4, dilations=(1, 2),
                            c1_in_channels=4, c1_channels=2), 0)},
    'SegformerHead': {'all-levels': (dict(in_channels=CHANNELS, in_index=[0, 1, 2, 3],
                                          channels=4), 0)},
    'LightHamHead': {'levels-1-3': (dict(in_channels=[6, 8, 10], in_index=[1, 2, 3],
                                         channels=4, ham_channels=8,
                                         norm_cfg=dict(type='GN', num_groups=2),
                                         ham_kwargs=dict(MD_R=3)), 1)},
}
# Heads with another contract, and the test file (under tests/) that checks theirs.
OTHER_CONTRACTS = {
    'UPPHead': 'models/segmentors/test_multi_task.py',  # per-task logits and losses
}


def registered_heads() -> list[str]:
    MODELS.import_from_location()
    return sorted(name for name, cls in MODELS.module_dict.items()
                  if cls.__module__.startswith('upertool.models.decode_heads.'))


def _cases():
    for name in registered_heads():
        for case_id, (kwargs, finest) in CASES.get(name, {}).items():
            yield pytest.param(name, kwargs, finest, id=f'{name}-{case_id}')


def _features(batch: int = 2) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(batch, c, *s, generator=gen) for c, s in zip(CHANNELS, SIZES,
                                                                     strict=True)]


def _head(name: str, kwargs: dict[str, Any]) -> torch.nn.Module:
    args = dict(num_classes=3, norm_cfg=BN, dropout_ratio=0.0)
    args.update(kwargs)
    head = MODELS.build(dict(type=name, **args))
    head.init_weights()
    return head


def _samples(num_classes: int, batch: int = 2) -> list[SegDataSample]:
    gen = torch.Generator().manual_seed(1)
    samples = []
    for _ in range(batch):
        sample = SegDataSample(metainfo=dict(img_shape=IMAGE, pad_shape=IMAGE))
        label = torch.randint(0, num_classes, (1, *IMAGE), generator=gen)
        label[:, :8, :8] = 255
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    return samples


def test_every_head_has_cases():
    names = registered_heads()
    assert {'UPerHead', 'FCNHead'} <= set(names)
    assert [n for n in names if not CASES.get(n) and n not in OTHER_CONTRACTS] == []
    tests = Path(__file__).resolve().parents[2]
    assert [f for f in OTHER_CONTRACTS.values() if not (tests / f).is_file()] == []


@pytest.mark.parametrize('name,kwargs,finest', list(_cases()))
def test_forward_gives_logits_at_the_finest_selected_level(name, kwargs, finest):
    head = _head(name, kwargs).eval()
    logits = head(_features())
    assert logits.shape == (2, head.out_channels, *SIZES[finest])
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize('name,kwargs,finest', list(_cases()))
def test_loss_is_named_finite_and_reaches_the_classifier(name, kwargs, finest):
    head = _head(name, kwargs).train()
    losses = head.loss(_features(), _samples(head.num_classes), {})
    assert losses and all(k.startswith('loss_') or k == 'acc_seg' for k in losses), losses
    assert all(torch.isfinite(v).all() for v in losses.values())
    total = sum(v for k, v in losses.items() if k.startswith('loss_'))
    total.backward()
    grad = head.conv_seg.weight.grad
    assert grad is not None and grad.abs().sum() > 0


@pytest.mark.parametrize('name,kwargs,finest', list(_cases()))
def test_predict_gives_logits_at_the_input_size(name, kwargs, finest):
    head = _head(name, kwargs).eval()
    metas = [dict(img_shape=IMAGE, pad_shape=IMAGE)] * 2
    with torch.no_grad():
        logits = head.predict(_features(), metas, {})
    assert logits.shape == (2, head.out_channels, *IMAGE)


@pytest.mark.parametrize('name,kwargs,finest', list(_cases()))
def test_wrong_feature_channels_fail_naming_them(name, kwargs, finest):
    head = _head(name, kwargs).eval()
    features = _features()
    features[finest] = features[finest][:, :1]  # one channel where the head expects more
    with pytest.raises((ValueError, RuntimeError), match=r'channel|expected'):
        head(features)
