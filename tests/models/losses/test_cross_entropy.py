"""CrossEntropyLoss against references written with plain loops on a 1x3x2x2 case."""
import math
import pickle
import warnings

import numpy as np
import pytest
import torch

from upertool.models.losses import CrossEntropyLoss
from upertool.registry import MODELS

EPS = torch.finfo(torch.float32).eps
# logits (1, 3, 2, 2): channel c at pixel (h, w)
LOGITS = torch.tensor([[[[1.0, -0.5], [0.3, 2.0]],
                        [[0.2, 0.8], [-1.0, 0.1]],
                        [[-0.7, 0.4], [1.5, -0.3]]]])
LABEL = torch.tensor([[[0, 2], [1, 255]]])  # one ignored pixel


def ref_ce_terms(logits, label, class_weight=None, ignore=255):
    """Per-pixel -w[y] * log softmax(x)[y] with loops; ignored pixels give 0."""
    terms = []
    _, c, h, w = logits.shape
    for i in range(h):
        for j in range(w):
            y = int(label[0, i, j])
            if y == ignore:
                terms.append(0.0)
                continue
            xs = [float(logits[0, k, i, j]) for k in range(c)]
            lse = math.log(sum(math.exp(v) for v in xs))
            cw = 1.0 if class_weight is None else class_weight[y]
            terms.append(-(xs[y] - lse) * cw)
    return terms


def test_registered_and_defaults():
    loss = MODELS.build(dict(type='CrossEntropyLoss'))
    assert isinstance(loss, CrossEntropyLoss)
    assert loss.loss_name == 'loss_ce'
    assert (loss.use_sigmoid, loss.reduction, loss.loss_weight, loss.avg_non_ignore) == (
        False, 'mean', 1.0, False)
    assert MODELS.build(dict(type='CrossEntropyLoss', loss_name='loss_x')).loss_name == 'loss_x'


def test_mean_over_all_pixels_when_avg_non_ignore_false():
    terms = ref_ce_terms(LOGITS, LABEL)
    with pytest.warns(UserWarning, match='avg_non_ignore=False'):
        value = CrossEntropyLoss()(LOGITS, LABEL)
    assert value.item() == pytest.approx(sum(terms) / 4, rel=1e-6)  # 4 pixels, 1 ignored


def test_mean_over_labelled_pixels_when_avg_non_ignore_true():
    terms = ref_ce_terms(LOGITS, LABEL)
    loss = CrossEntropyLoss(avg_non_ignore=True, loss_weight=0.4)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no averaging warning with avg_non_ignore=True
        value = loss(LOGITS, LABEL)
    assert value.item() == pytest.approx(0.4 * sum(terms) / (3 + EPS), rel=1e-6)


def test_warns_once_and_only_when_pixels_are_ignored():
    loss = CrossEntropyLoss()
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        loss(LOGITS, torch.tensor([[[0, 2], [1, 1]]]))  # nothing ignored: no warning
    with pytest.warns(UserWarning):
        loss(LOGITS, LABEL)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        loss(LOGITS, LABEL)  # already warned


@pytest.mark.parametrize('avg_non_ignore', [False, True])
def test_class_weight_list_uses_mmseg_averaging(avg_non_ignore):
    cw = [0.5, 2.0, 1.0]  # labelled pixels' weights sum to 3.5: neither 3 nor 4
    terms = ref_ce_terms(LOGITS, LABEL, class_weight=cw)
    loss = CrossEntropyLoss(class_weight=cw, avg_non_ignore=avg_non_ignore)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        value = loss(LOGITS, LABEL).item()
    # mmseg divides the weighted sum by a pixel count, not by the sum of weights (torch).
    expected = sum(terms) / (3 + EPS) if avg_non_ignore else sum(terms) / 4
    assert value == pytest.approx(expected, rel=1e-6)
    torch_mean = torch.nn.functional.cross_entropy(
        LOGITS, LABEL, weight=torch.tensor(cw), ignore_index=255).item()
    assert value != pytest.approx(torch_mean, rel=1e-3)


def test_class_weight_from_npy_file(tmp_path):
    cw = [0.5, 2.0, 1.5]
    path = tmp_path / 'weights.npy'
    np.save(path, np.array(cw, dtype=np.float32))
    loss = CrossEntropyLoss(class_weight=str(path), avg_non_ignore=True)
    assert loss.class_weight == pytest.approx(cw)
    expected = sum(ref_ce_terms(LOGITS, LABEL, class_weight=cw)) / (3 + EPS)
    assert loss(LOGITS, LABEL).item() == pytest.approx(expected, rel=1e-6)


def test_class_weight_pickle_and_other_suffixes_refused(tmp_path):
    pkl = tmp_path / 'weights.pkl'
    pkl.write_bytes(pickle.dumps([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=r"weights\.pkl.*only \.npy"):
        CrossEntropyLoss(class_weight=str(pkl))
    with pytest.raises(ValueError, match=r"weights\.json"):
        CrossEntropyLoss(class_weight=str(tmp_path / 'weights.json'))
    obj = tmp_path / 'objects.npy'
    np.save(obj, np.array([1.0, 'a', None], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"objects\.npy"):
        CrossEntropyLoss(class_weight=str(obj))
    with pytest.raises(FileNotFoundError, match=r"missing\.npy"):
        CrossEntropyLoss(class_weight=str(tmp_path / 'missing.npy'))


def test_class_weight_length_must_match_channels():
    loss = CrossEntropyLoss(class_weight=[1.0, 2.0], avg_non_ignore=True)
    with pytest.raises(ValueError, match='class_weight has 2 values.*3 channels'):
        loss(LOGITS, LABEL)


def test_reductions_and_override():
    loss = CrossEntropyLoss(avg_non_ignore=True)
    terms = torch.tensor(ref_ce_terms(LOGITS, LABEL)).view(1, 2, 2)
    none = loss(LOGITS, LABEL, reduction_override='none')
    assert none.shape == (1, 2, 2)
    torch.testing.assert_close(none, terms)
    assert loss(LOGITS, LABEL, reduction_override='sum').item() == pytest.approx(
        terms.sum().item(), rel=1e-6)
    assert loss(LOGITS, LABEL, avg_factor=10).item() == pytest.approx(
        terms.sum().item() / (10 + EPS), rel=1e-6)
    with pytest.raises(ValueError, match='reduction'):
        loss(LOGITS, LABEL, reduction_override='max')
    with pytest.raises(ValueError, match='reduction'):
        CrossEntropyLoss(reduction='avg')


def test_ignore_index_argument_is_used():
    label = torch.tensor([[[0, 2], [1, 1]]])
    loss = CrossEntropyLoss(avg_non_ignore=True)
    terms = ref_ce_terms(LOGITS, label, ignore=1)
    assert loss(LOGITS, label, ignore_index=1).item() == pytest.approx(
        sum(terms) / (2 + EPS), rel=1e-6)


def test_out_of_range_labels_raise_naming_values():
    loss = CrossEntropyLoss(avg_non_ignore=True)
    with pytest.raises(ValueError, match=r'label values \[3, 7\].*outside \[0, 3\)'):
        loss(LOGITS, torch.tensor([[[0, 3], [7, 255]]]))
    with pytest.raises(ValueError, match=r'label values \[-1\]'):
        loss(LOGITS, torch.tensor([[[0, -1], [1, 255]]]))


def ref_bce(logits, label, ignore=255, pos_weight=1.0):
    terms, count = [], 0
    for i in range(2):
        for j in range(2):
            y = int(label[0, i, j])
            if y == ignore:
                terms.append(0.0)
                continue
            count += 1
            p = 1 / (1 + math.exp(-float(logits[0, 0, i, j])))
            terms.append(-(pos_weight * y * math.log(p) + (1 - y) * math.log(1 - p)))
    return terms, count


@pytest.mark.parametrize('avg_non_ignore', [False, True])
def test_sigmoid_binary(avg_non_ignore):
    logits = LOGITS[:, :1]
    label = torch.tensor([[[0, 1], [1, 255]]])
    terms, count = ref_bce(logits, label)
    loss = CrossEntropyLoss(use_sigmoid=True, avg_non_ignore=avg_non_ignore)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        value = loss(logits, label).item()
    expected = sum(terms) / (count + EPS) if avg_non_ignore else sum(terms) / 4
    assert value == pytest.approx(expected, rel=1e-6)
    weighted = CrossEntropyLoss(use_sigmoid=True, avg_non_ignore=True, class_weight=[3.0])
    terms_w, _ = ref_bce(logits, label, pos_weight=3.0)
    assert weighted(logits, label).item() == pytest.approx(sum(terms_w) / (count + EPS),
                                                           rel=1e-6)
    with pytest.raises(ValueError, match=r'label values \[2\].*outside \[0, 2\)'):
        loss(logits, torch.tensor([[[0, 1], [2, 255]]]))


def test_sigmoid_multi_channel_one_hot():
    loss = CrossEntropyLoss(use_sigmoid=True, avg_non_ignore=True)
    expected, count = 0.0, 0
    for i in range(2):
        for j in range(2):
            y = int(LABEL[0, i, j])
            if y == 255:
                continue
            for c in range(3):
                count += 1
                p = 1 / (1 + math.exp(-float(LOGITS[0, c, i, j])))
                expected -= math.log(p) if c == y else math.log(1 - p)
    assert loss(LOGITS, LABEL).item() == pytest.approx(expected / (count + EPS), rel=1e-6)


def test_use_mask_and_bad_name_rejected():
    with pytest.raises(NotImplementedError, match='use_mask'):
        CrossEntropyLoss(use_mask=True)
    with pytest.raises(TypeError, match='loss_name'):
        CrossEntropyLoss(loss_name=3)
