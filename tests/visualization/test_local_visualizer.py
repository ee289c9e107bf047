"""SegLocalVisualizer: panels, files, metadata."""
import cv2
import numpy as np
import pytest
import torch

from upertool.registry import DATASETS, VISUALIZERS
from upertool.structures import PixelData, SegDataSample
from upertool.visualization import SegLocalVisualizer, overlay_mask

H, W = 12, 16
CLASSES = ('bg', 'fg', 'edge')
PALETTE = [[10, 20, 30], [250, 0, 0], [0, 250, 0]]


def make_sample(gt=True, pred=True) -> SegDataSample:
    gen = torch.Generator().manual_seed(0)
    sample = SegDataSample(metainfo=dict(img_path='a/b.jpg'))
    if gt:
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, H, W), generator=gen))
    if pred:
        sample.pred_sem_seg = PixelData(data=torch.randint(0, 3, (1, H, W), generator=gen))
    return sample


def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


def visualizer(name: str, **kwargs) -> SegLocalVisualizer:
    return SegLocalVisualizer(name=name, classes=CLASSES, palette=PALETTE, alpha=0.5, **kwargs)


def test_out_file_is_image_gt_pred_side_by_side(tmp_path):
    vis = visualizer('vis_panels')
    sample, img = make_sample(), image()
    out_file = tmp_path / 'sub' / 'drawn.png'
    drawn = vis.add_datasample('x', img, sample, out_file=str(out_file), with_labels=False)
    written = cv2.imread(str(out_file))[..., ::-1]
    assert written.shape == (H, 3 * W, 3)
    np.testing.assert_array_equal(written, drawn)
    np.testing.assert_array_equal(written[:, :W], img)
    gt = sample.gt_sem_seg.data[0].numpy()
    pred = sample.pred_sem_seg.data[0].numpy()
    # panels are the RGB image overlaid through the shared overlay_mask (which works in BGR)
    np.testing.assert_array_equal(written[:, W:2 * W],
                                  overlay_mask(img[..., ::-1], gt, PALETTE, 0.5)[..., ::-1])
    np.testing.assert_array_equal(written[:, 2 * W:],
                                  overlay_mask(img[..., ::-1], pred, PALETTE, 0.5)[..., ::-1])
    np.testing.assert_array_equal(vis.get_image(), drawn)


@pytest.mark.parametrize('draw_gt,draw_pred,panels', [(True, False, 2), (False, True, 2),
                                                      (False, False, 1)])
def test_panel_count_follows_flags(draw_gt, draw_pred, panels):
    vis = visualizer('vis_flags')
    drawn = vis.add_datasample('x', image(), make_sample(), draw_gt=draw_gt,
                               draw_pred=draw_pred)
    assert drawn.shape == (H, panels * W, 3)


def test_sample_without_gt_gives_image_and_prediction():
    drawn = visualizer('vis_nogt').add_datasample('x', image(), make_sample(gt=False))
    assert drawn.shape == (H, 2 * W, 3)


def test_backend_writes_name_step_png_under_vis_data(tmp_path):
    vis = VISUALIZERS.build(dict(type='SegLocalVisualizer', name='vis_backend_test',
                                 vis_backends=[dict(type='LocalVisBackend')],
                                 save_dir=str(tmp_path), classes=CLASSES, palette=PALETTE))
    vis.add_datasample('test_b.jpg', image(), make_sample(), step=7)
    written = cv2.imread(str(tmp_path / 'vis_data' / 'vis_image' / 'test_b.jpg_7.png'))
    assert written.shape == (H, 3 * W, 3)


def test_labels_and_legend_change_the_drawing():
    img, sample = image()[:, :, :], make_sample()
    big = np.zeros((60, 80, 3), np.uint8)
    sample_big = SegDataSample()
    sample_big.pred_sem_seg = PixelData(data=torch.zeros(1, 60, 80, dtype=torch.long))
    plain = visualizer('vis_lbl').add_datasample('x', big, sample_big, with_labels=False)
    labelled = visualizer('vis_lbl2').add_datasample('x', big, sample_big, with_labels=True)
    assert plain.shape == labelled.shape and (plain != labelled).any()
    with_legend = visualizer('vis_legend', legend=True).add_datasample('x', img, sample)
    assert with_legend.shape[1] == 3 * W and with_legend.shape[0] > H


def test_without_meta_uses_label_numbers_and_a_fixed_palette():
    vis = SegLocalVisualizer(name='vis_nometa')
    drawn = vis.add_datasample('x', image(), make_sample(), with_labels=False)
    assert drawn.shape == (H, 3 * W, 3)


def test_dataset_meta_assignment_as_mmengine_loops_do():
    vis = SegLocalVisualizer(name='vis_assign', alpha=1.0)
    vis.dataset_meta = dict(classes=CLASSES, palette=PALETTE)
    sample = SegDataSample()
    sample.pred_sem_seg = PixelData(data=torch.ones(1, H, W, dtype=torch.long))
    drawn = vis.add_datasample('x', image(), sample, with_labels=False)
    assert (drawn[:, W:] == PALETTE[1]).all()


def test_dataset_name_reads_registered_metainfo():
    class _VisMetaDataset:
        METAINFO = dict(classes=('p', 'q'), palette=[[1, 2, 3], [4, 5, 6]])

    DATASETS.register_module(name='_VisMetaDataset', module=_VisMetaDataset, force=True)
    try:
        vis = SegLocalVisualizer(name='vis_dsname', dataset_name='_vismeta')
        assert vis.dataset_meta == dict(classes=('p', 'q'), palette=[[1, 2, 3], [4, 5, 6]])
    finally:
        DATASETS.module_dict.pop('_VisMetaDataset')
    with pytest.raises(KeyError, match='no_such_dataset'):
        SegLocalVisualizer(name='vis_dsname2', dataset_name='no_such_dataset')


def test_short_palette_and_mismatched_map_are_clear_errors():
    with pytest.raises(ValueError, match='palette has 1 colours for 3 classes'):
        SegLocalVisualizer(name='vis_bad', classes=CLASSES, palette=[[0, 0, 0]])
    vis = visualizer('vis_bad2')
    with pytest.raises(ValueError, match='does not match image'):
        vis.add_datasample('x', np.zeros((H + 1, W, 3), np.uint8), make_sample())
