"""tools/train.py --tensorboard: scalars, per-class IoU and validation overlays in the events."""
import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    'analysis_helpers', Path(__file__).with_name('analysis_helpers.py'))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

pytestmark = [pytest.mark.extras, pytest.mark.slow]


def test_train_with_tensorboard_writes_scalars_and_images(tmp_path):
    event_accumulator = pytest.importorskip(
        'tensorboard.backend.event_processing.event_accumulator')
    work = tmp_path / 'work'
    helpers.run_tool(['tools/train.py', helpers.CONFIG, '--work-dir', str(work), '--tensorboard',
                      '--cfg-options', *helpers.tiny_options(tmp_path / 'cache', 4),
                      'default_hooks.visualization.interval=1'])
    (events,) = work.glob('*/vis_data/**/events.out.tfevents.*')
    acc = event_accumulator.EventAccumulator(str(events.parent),
                                             size_guidance={'images': 0, 'scalars': 0})
    acc.Reload()
    scalars = set(acc.Tags()['scalars'])
    assert {'loss', 'lr', 'decode.loss_ce', 'aux.loss_ce', 'aAcc', 'mIoU', 'mAcc'} <= scalars
    assert [e.step for e in acc.Scalars('loss')] == [1, 2, 3, 4]
    assert [e.step for e in acc.Scalars('mIoU')] == [4]
    assert {'IoU/background', 'IoU/ring', 'Acc/circle'} <= scalars
    images = acc.Tags()['images']
    assert images, 'no validation overlay reached TensorBoard'
    (image,) = acc.Images(images[0])
    assert image.width == 3 * 32 and image.height >= 32  # image | ground truth | prediction
