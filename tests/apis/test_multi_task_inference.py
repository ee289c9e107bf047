"""init_model / inference_model with the multi-task quickstart config return every task."""
import numpy as np

from upertool.apis import inference_model, init_model
from upertool.structures import MultiTaskSegDataSample

CONFIG = 'configs/upp/upernet-upp_r18-narrow_1xb8-2.4k_synthetic-multitask-96x96.py'


def test_inference_returns_every_task_at_the_image_size():
    model = init_model(CONFIG, device='cpu')
    assert model.dataset_meta['scenes'][0] == 'circle scene'
    assert len(model.dataset_meta['part_groups']) == len(model.decode_head.part_sizes)
    image = np.random.default_rng(0).integers(0, 256, (80, 72, 3), dtype=np.uint8)
    result = inference_model(model, image)
    assert isinstance(result, MultiTaskSegDataSample)
    assert result.pred_sem_seg.data.shape == (1, 80, 72)
    assert result.pred_part_seg.data.shape == (3, 80, 72)
    assert result.pred_material_seg.data.shape == (1, 80, 72)
    assert result.pred_scene_label.score.shape == (5,)
