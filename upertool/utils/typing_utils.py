"""Type aliases of mmsegmentation 1.x (`mmseg.utils.typing_utils`), for code annotated with them."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import torch
from mmengine.config import ConfigDict

from upertool.structures import SegDataSample

ConfigType = Union[ConfigDict, dict]
OptConfigType = ConfigType | None
MultiConfig = Union[ConfigType, Sequence[ConfigType]]
OptMultiConfig = MultiConfig | None

SampleList = Sequence[SegDataSample]
OptSampleList = SampleList | None

TensorDict = dict[str, torch.Tensor]
TensorList = Sequence[torch.Tensor]

ForwardResults = Union[dict[str, torch.Tensor], list[SegDataSample], tuple[torch.Tensor],
                       torch.Tensor]
