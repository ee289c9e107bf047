"""Where a predicted mask is written: its image's path relative to the image folder.

Named by basename alone, `a/x.png` and `b/x.png` overwrite each other (Cityscapes keeps one
folder per city; a folder dataset may reuse names). Datasets built on BaseSegDataset put their
image folder into `metainfo['img_dir']`; paths under it keep their subfolders. Without it
(a metric fed by hand), the basename is used and a second image with the same name is an error
instead of an overwrite.
"""

from __future__ import annotations

import os
import os.path as osp


class PredictionPaths:
    """Maps image paths to mask file names under `output_dir`, never reusing one."""

    def __init__(self, output_dir: str, img_dir: str | None = None) -> None:
        self.output_dir = output_dir
        self.img_dir = osp.abspath(img_dir) if img_dir else None
        self.written: dict[str, str] = {}

    def relative_name(self, img_path: str) -> str:
        """`sub/folder/stem.png` for an image under `img_dir`, else `stem.png`."""
        path = osp.abspath(img_path)
        if self.img_dir and osp.commonpath([path, self.img_dir]) == self.img_dir:
            rel = osp.relpath(path, self.img_dir)
        else:
            rel = osp.basename(path)
        return osp.splitext(rel)[0] + '.png'

    def path_for(self, img_path: str) -> str:
        """The absolute output file for `img_path`; its folder exists afterwards.

        Raises:
            FileExistsError: another image of this run already maps to the same file.
        """
        name = self.relative_name(img_path)
        previous = self.written.setdefault(name, img_path)
        if previous != img_path:
            raise FileExistsError(
                f'IoUMetric: predictions of {previous!r} and {img_path!r} would both be '
                f'written to {osp.join(self.output_dir, name)!r}; give the dataset an image '
                "folder (metainfo['img_dir']) so subfolders are kept"
            )
        out = osp.abspath(osp.join(self.output_dir, name))
        os.makedirs(osp.dirname(out), exist_ok=True)
        return out
