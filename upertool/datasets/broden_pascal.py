"""Pascal-Context / Pascal-Part records of Broden+ (the unifiedparsing layout).

Layout under `<data_root>/pascal/` (as unifiedparsing's `PascalSegmentation` reads it):

    part/part2ind.m                   Pascal-Part's part index script (or ./part2ind.m, then
                                      Annotations_Part/ sits next to it instead of under part/)
    part/Annotations_Part/<stem>.mat  `anno.objects(i)`: class_ind, mask, parts(j).part_name/mask;
                                      `file_index` counts the sorted .mat names of this folder
    context/trainval/<stem>.mat       `LabelMap`: Pascal-Context object labels
    <VOC...>/JPEGImages/<stem>.jpg    the last `VOC*` folder by name (or ./JPEGImages)

Objects come from Pascal-Context's LabelMap, parts from Pascal-Part (its object layer is not
used); both raw labels go through label_assignment.csv's ('pascal', ...) rows. The raw part
label is not part2ind.m's number: each (object, part name) gets a readable name (the comment,
abbreviations spelled out, 'aeroplane' -> 'airplane', the words left/right/front/back/upper/
lower/side dropped), and the code is that name's position among the distinct names met when
the (object index, short name) keys are visited in sorted order, counting from 1 ('-' is 0).
Pascal records have no scene label.
"""
from __future__ import annotations

import os
import os.path as osp
import re
from functools import lru_cache

import numpy as np

COLLAPSED = {'left', 'right', 'front', 'back', 'upper', 'lower', 'side'}
SPELLED = dict(lfho='left front hoof', rfho='right front hoof', lbho='left back hoof',
               rbho='right back hoof', fwheel='front wheel', bwheel='back wheel',
               frontside='front side', leftside='left side', rightside='right side',
               backside='back side', roofside='roof side', leftmirror='left mirror',
               rightmirror='right mirror')

_OBJECT = re.compile(r'^% \[([^\]]*)\]')
_PART = re.compile(r"^pimap\{(\d+)\}\('([^']*)'\)\s*=\s*\d+;(?:\s*%\s*(\w[\w ]*\w))?")
_LOOP = re.compile(r'^for ii = 1:(\d+)')
_MULTI = re.compile(r"^\s*pimap\{(\d+)\}\(sprintf\('([^']*)_%d',\s*ii\)\)\s*=\s*\d+\s*\+\s*ii\s*;"
                    r'(?:\s*%\s*(\w[\w ]*\w))?')
_SILHOUETTE = re.compile(r'^% only has si')  # 'sihouette' is misspelled in the file
_COPY_FROM = re.compile(r'^keySet\s*=\s*keys\(pimap\{(\d+)\}\);')
_COPY_TO = re.compile(r'^pimap\{(\d+)\}\s*=\s*containers.Map\(keySet,\s*valueSet\);')


def readable(name: str) -> str:
    """The reference's normalised name: abbreviations spelled out, adjectives dropped."""
    name = SPELLED.get(name, name).replace('aeroplane', 'airplane')
    return ' '.join(w for w in name.split() if w not in COLLAPSED)


def parse_part2ind(path: str) -> dict[tuple[int, str], tuple[str, str]]:
    """(object index, part short name) -> (object name, part readable name) of part2ind.m.

    Handles its line kinds: `% [object]`, single parts, `for ii = 1:N` ranges, objects that
    only have a silhouette (the object after the last one numbered), and `containers.Map`
    copies of another object's parts (`remove(...)` lines are ignored, as the reference does).
    """
    keys: dict[tuple[int, str], tuple[str, str]] = {}
    obj_name, obj_index, count, copy_from = '', 0, 0, 0
    with open(path) as f:
        for line in f:
            if m := _OBJECT.match(line):
                obj_name = m.group(1)
            elif m := _PART.match(line):
                obj_index = int(m.group(1))
                keys[(obj_index, m.group(2))] = (obj_name, m.group(3) or m.group(2))
            elif m := _LOOP.match(line):
                count = int(m.group(1))
            elif m := _MULTI.match(line):
                obj_index, short = int(m.group(1)), m.group(2)
                comment = m.group(3)
                name = comment if comment and 'multiple' not in comment else short
                for k in range(1, count + 1):
                    keys[(obj_index, f'{short}_{k}')] = (obj_name, name)
            elif _SILHOUETTE.match(line):
                obj_index += 1
                keys[(obj_index, 'silhouette')] = (obj_name, 'silhouette')
            elif m := _COPY_FROM.match(line):
                copy_from = int(m.group(1))
            elif m := _COPY_TO.match(line):
                obj_index = int(m.group(1))
                for (o, short), (_, part) in list(keys.items()):
                    if o == copy_from:
                        keys[(obj_index, short)] = (obj_name, part)
    if not keys:
        raise ValueError(f'Broden+ Pascal: {path} defines no parts (not a part2ind.m?)')
    return keys


@lru_cache(maxsize=4)
def part_codes(path: str) -> dict[tuple[int, str], int]:
    """(object index, part short name) -> the raw part label label_assignment.csv uses."""
    names = ['-']
    codes = {}
    for key, (_, part) in sorted(parse_part2ind(path).items()):
        part = readable(part)
        if part not in names:
            names.append(part)
        codes[key] = names.index(part)
    return codes


class PascalLayout:
    """Paths of one Broden+ `pascal/` folder: part2ind.m, the part .mat list, images."""

    def __init__(self, root: str) -> None:
        if not osp.isdir(root):
            raise FileNotFoundError(f'Broden+ Pascal: {root!r} does not exist')
        part_dir = root if osp.isfile(osp.join(root, 'part2ind.m')) else osp.join(root, 'part')
        self.part2ind = osp.join(part_dir, 'part2ind.m')
        self.annotations = osp.join(part_dir, 'Annotations_Part')
        if not osp.isdir(self.annotations):
            raise FileNotFoundError(f'Broden+ Pascal: {self.annotations!r} does not exist')
        self.stems = sorted(n[:-4] for n in os.listdir(self.annotations) if n.endswith('.mat'))
        if osp.isdir(osp.join(root, 'JPEGImages')):
            self.images = osp.join(root, 'JPEGImages')
        else:
            versions = sorted(d for d in os.listdir(root)
                              if d.startswith('VOC') and osp.isdir(osp.join(root, d)))
            if not versions:
                raise FileNotFoundError(f'Broden+ Pascal: {root!r} has neither JPEGImages/ '
                                        'nor a VOC*/ folder')
            self.images = osp.join(root, versions[-1], 'JPEGImages')
        self.context = osp.join(root, 'context', 'trainval')

    def record(self, i: int, where: str) -> dict:
        """Data info of the i-th sorted part annotation."""
        if not 0 <= i < len(self.stems):
            raise ValueError(f'{where}: outside the {len(self.stems)} .mat files of '
                             f'{self.annotations}')
        stem = self.stems[i]
        return dict(img_path=osp.join(self.images, f'{stem}.jpg'),
                    seg_map_path=osp.join(self.context, f'{stem}.mat'),
                    part_seg_map_path=osp.join(self.annotations, f'{stem}.mat'),
                    part_key_path=self.part2ind)


def load_context_objects(path: str) -> np.ndarray:
    """Pascal-Context's raw object labels (`LabelMap`)."""
    from scipy.io import loadmat

    return np.asarray(loadmat(path)['LabelMap'], np.int64)


def load_part_codes(path: str, part_key_path: str, where: str) -> np.ndarray:
    """Raw part codes of a Pascal-Part annotation (0 outside parts; later instances on top)."""
    from scipy.io import loadmat

    codes = part_codes(part_key_path)
    objects = loadmat(path)['anno'][0, 0]['objects']
    out = None
    for obj in objects.ravel():
        mask = np.asarray(obj['mask'], bool)
        if out is None:
            out = np.zeros(mask.shape, np.int64)
        cls = int(np.asarray(obj['class_ind']).ravel()[0])
        parts = obj['parts']
        for part in (parts.ravel() if parts.size else ()):
            name = str(np.asarray(part['part_name']).ravel()[0])
            if (cls, name) not in codes:
                raise ValueError(f'{where}: {path} has part {name!r} of object {cls}, which '
                                 f'{part_key_path} does not define')
            out[np.asarray(part['mask'], bool)] = codes[(cls, name)]
    return out if out is not None else np.zeros((0, 0), np.int64)
