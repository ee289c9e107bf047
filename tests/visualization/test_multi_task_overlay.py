"""Multi-task overlays: the part map read from the predicted object's group, the panels."""
import numpy as np
import torch
from mmengine.structures import LabelData, PixelData

from upertool.structures import MultiTaskSegDataSample
from upertool.visualization.multi_task_overlay import draw_multi_task, part_map

META = dict(classes=['bg', 'sq', 'ring'], palette=[[0, 0, 0], [255, 0, 0], [0, 255, 0]],
            part_groups=[(1, ['border', 'centre']), (2, ['rim', 'band'])],
            materials=['flat', 'noise'], scenes=['square scene', 'ring scene'])


def test_part_map_uses_the_group_of_the_predicted_object():
    objects = np.array([[0, 1, 2], [2, 1, 0]])
    parts = np.stack([np.array([[1, 1, 0], [0, 0, 1]]), np.array([[0, 1, 1], [0, 0, 1]])])
    assert part_map(objects, parts, META['part_groups']).tolist() == [[-1, 1, 3], [2, 0, -1]]


def test_picture_has_four_panels_and_a_scene_banner():
    sample = MultiTaskSegDataSample()
    objects = torch.zeros(1, 8, 10, dtype=torch.long)
    objects[0, 2:6, 2:6] = 1
    sample.pred_sem_seg = PixelData(data=objects)
    sample.pred_part_seg = PixelData(data=torch.ones(2, 8, 10, dtype=torch.long))
    sample.pred_material_seg = PixelData(data=torch.zeros(1, 8, 10, dtype=torch.long))
    sample.pred_scene_label = LabelData(label=torch.tensor([1]), score=torch.tensor([0.3, 0.7]))
    image = np.full((8, 10, 3), 128, np.uint8)
    out = draw_multi_task(image, sample, META, scale=4)
    assert out.dtype == np.uint8 and out.shape[1] == 4 * 40 + 3 * 4
    assert (out[:28] < 128).any()  # the scene text
    # the object panel paints the square's pixels in its colour (BGR blue channel 0 -> red)
    panel = out[28 + 22:28 + 22 + 32, 44:84]
    assert panel[12, 12, 2] > panel[12, 12, 0]
