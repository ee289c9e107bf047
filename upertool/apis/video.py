"""Videos (and cameras) through SegInferencer: an overlay video with the input's fps and size,
and optionally every frame's class-index PNG.

    out_dir/vis/<video file name>          the overlay video (same container as the input)
    out_dir/pred/<video stem>/<k>.png      frame k's labels, with save_masks (k from 000000)

Frames are decoded in the inferencer's loader thread, a batch at a time, so memory does not
grow with the video's length. The video is written under a temporary name and renamed when
the last frame is in; on a failure it and the frame masks are removed.
"""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Iterator
from dataclasses import dataclass

import cv2

from .inferencer import DrawOptions, SegInferencer
from .inputs import InputItem

_FOURCC = {'.avi': 'MJPG'}  # others ('.mp4', '.mov', '.mkv'): MPEG-4 part 2


@dataclass
class VideoInfo:
    fps: float
    width: int
    height: int
    frames: int  # as the container reports it (-1 or 0 for cameras)


def open_video(source: str | int) -> tuple[cv2.VideoCapture, VideoInfo]:
    """Open a video file or camera index; ValueError naming it when OpenCV cannot read it."""
    if isinstance(source, str) and not osp.isfile(source):
        raise FileNotFoundError(f'video not found: {source}')
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise ValueError(f'{source}: OpenCV cannot open this video (unsupported codec or '
                         'corrupt file)')
    fps = capture.get(cv2.CAP_PROP_FPS)
    info = VideoInfo(fps if fps and fps > 0 else 30.0,
                     int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                     int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
    return capture, info


def _frames(capture: cv2.VideoCapture, stem: str, source: str | int) -> Iterator[InputItem]:
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            if index == 0:
                raise ValueError(f'{source}: no frame could be decoded')
            return
        yield InputItem(f'{stem}/{index:06d}.png', array=frame)
        index += 1


def segment_video(inferencer: SegInferencer, source: str | int, out_dir: str,
                  batch_size: int = 1, draw: DrawOptions | None = None,
                  save_masks: bool = False, progress: bool = True) -> int:
    """Segment every frame of `source` (a file, or a camera index); returns frames done.

    Raises:
        FileNotFoundError / ValueError: a missing or unreadable video, naming it.
        RuntimeError: a frame failed (nothing of this video is left under out_dir).
    """
    capture, info = open_video(source)
    name = f'camera_{source}.mp4' if isinstance(source, int) else osp.basename(source)
    stem = osp.splitext(name)[0]
    final = osp.join(out_dir, 'vis', name)
    os.makedirs(osp.dirname(final), exist_ok=True)
    tmp = osp.join(osp.dirname(final), f'.tmp-{os.getpid()}-{name}')
    suffix = osp.splitext(name)[1].lower()
    writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*_FOURCC.get(suffix, 'mp4v')),
                             info.fps, (info.width, info.height))
    if not writer.isOpened():
        capture.release()
        raise ValueError(f'{final}: OpenCV cannot write {suffix} videos on this machine')
    draw = draw or DrawOptions()
    draw = DrawOptions(draw.opacity, draw.with_labels, legend=False)  # keep the frame size
    written = 0
    try:
        results = inferencer.run(_frames(capture, stem, source), batch_size,
                                 out_dir if save_masks else '', draw, keep_vis=True,
                                 write_vis=False, progress=progress,
                                 total=info.frames if info.frames > 0 else None)
        for result in results:
            if result.error is not None:
                raise RuntimeError(f'{source}: frame {written}: {result.error}')
            writer.write(result.vis)
            written += 1
        writer.release()
        os.replace(tmp, final)
    except BaseException:
        writer.release()
        if osp.exists(tmp):
            os.remove(tmp)
        _remove_masks(osp.join(out_dir, 'pred', stem), written)
        raise
    finally:
        capture.release()
    return written


def _remove_masks(folder: str, count: int) -> None:
    for k in range(count + 1):
        path = osp.join(folder, f'{k:06d}.png')
        if osp.exists(path):
            os.remove(path)
    if osp.isdir(folder) and not os.listdir(folder):
        os.rmdir(folder)
