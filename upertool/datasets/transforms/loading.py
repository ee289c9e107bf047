"""Loading transforms: images and class-index masks from files, images from arrays."""

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform

from upertool.registry import TRANSFORMS


def _read_bytes(path: str, what: str, backend_args: dict | None) -> bytes:
    try:
        return fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        raise FileNotFoundError(f'{what} file {path!r} does not exist') from None
    except OSError as err:
        raise OSError(f'cannot read {what} file {path!r}: {err}') from err


def _decode(content: bytes, path: str, what: str, flag: str, backend: str) -> np.ndarray:
    """Decode image bytes; an undecodable file raises an error naming it."""
    try:
        array = mmcv.imfrombytes(content, flag=flag, backend=backend)
    except Exception as err:  # the decoders raise many types (PIL, cv2, OSError)
        raise ValueError(f'cannot decode {what} file {path!r} ({len(content)} bytes) with '
                         f'{backend!r}: {type(err).__name__}: {err}') from err
    # cv2 signals a corrupt file by returning None rather than raising.
    if array is None or array.size == 0:
        raise ValueError(f'cannot decode {what} file {path!r} ({len(content)} bytes) with '
                         f'{backend!r}: corrupt or not an image')
    return array


@TRANSFORMS.register_module()
class LoadImageFromFile(BaseTransform):
    """Read ``results['img_path']`` into ``img`` (H, W, 3) BGR uint8 (float32 on request).

    Adds ``img``, ``img_shape`` and ``ori_shape`` ((H, W)).

    Args:
        to_float32: return a float32 image.
        color_type: decoding flag of ``mmcv.imfrombytes`` ('color', 'grayscale',
            'unchanged').
        imdecode_backend: 'cv2', 'pillow', 'turbojpeg' or 'tifffile'.
        ignore_empty: return None (the dataset then fetches another sample) instead of
            raising for a missing or undecodable file.
        apply_exif_orientation: rotate JPEGs as their EXIF Orientation tag asks. Off by
            default: masks are stored in the image's raw pixel grid, so a rotated image would
            no longer line up with its mask (and inference returns masks in that same grid).
        backend_args: mmengine file backend arguments.
    """

    def __init__(self,
                 to_float32: bool = False,
                 color_type: str = 'color',
                 imdecode_backend: str = 'cv2',
                 ignore_empty: bool = False,
                 *,
                 apply_exif_orientation: bool = False,
                 backend_args: dict | None = None) -> None:
        self.to_float32 = to_float32
        self.apply_exif_orientation = apply_exif_orientation
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend
        self.ignore_empty = ignore_empty
        self.backend_args = backend_args.copy() if backend_args else None

    def transform(self, results: dict) -> dict | None:
        path = results['img_path']
        try:
            content = _read_bytes(path, 'image', self.backend_args)
            img = _decode(content, path, 'image', self._flag(), self.imdecode_backend)
        except (OSError, ValueError):
            if self.ignore_empty:
                return None
            raise
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _flag(self) -> str:
        """mmcv's decoding flag: cv2 and pillow honour EXIF for 'color'/'grayscale'."""
        if (not self.apply_exif_orientation and self.color_type in ('color', 'grayscale')
                and self.imdecode_backend in ('cv2', 'pillow')):
            return f'{self.color_type}_ignore_orientation'
        return self.color_type

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(to_float32={self.to_float32}, '
                f"color_type='{self.color_type}', imdecode_backend='{self.imdecode_backend}', "
                f'ignore_empty={self.ignore_empty}, backend_args={self.backend_args})')


@TRANSFORMS.register_module()
class LoadImageFromNDArray(LoadImageFromFile):
    """Take an already decoded ``results['img']`` (H, W, 3), e.g. for inference on arrays.

    Sets ``img_path`` to None and ``img_shape``/``ori_shape`` from the array.
    """

    def transform(self, results: dict) -> dict:
        img = results['img']
        if not isinstance(img, np.ndarray) or img.ndim not in (2, 3):
            raise TypeError('LoadImageFromNDArray expects results["img"] to be an (H, W) or '
                            f'(H, W, C) numpy array, got {type(img).__name__} '
                            f'{getattr(img, "shape", "")}')
        if img.size == 0:
            raise ValueError(f'LoadImageFromNDArray: the image array is empty ({img.shape})')
        if self.to_float32:
            img = img.astype(np.float32)
        results['img_path'] = None
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


@TRANSFORMS.register_module()
class LoadAnnotations(BaseTransform):
    """Read ``results['seg_map_path']`` into ``gt_seg_map`` (H, W) uint8 class indices.

    Steps, as mmsegmentation: decode ('pillow' returns a palette PNG's indices, not its
    colours), apply ``label_map`` (class subsets), then ``reduce_zero_label`` (0 -> 255,
    k -> k-1). Then, unlike mmsegmentation, check the result: the mask must have the size
    of the image (``ori_shape``) and its values must lie in [0, num_classes) or equal
    ``ignore_index`` (both taken from the data info when present); each failure names the
    file(s). Appends 'gt_seg_map' to ``seg_fields``.

    Args:
        reduce_zero_label: None takes the dataset's setting from the data info; a value
            that contradicts the dataset's is an error.
        imdecode_backend: decoder for the mask file.
        backend_args: mmengine file backend arguments.
    """

    def __init__(self,
                 reduce_zero_label: bool | None = None,
                 backend_args: dict | None = None,
                 imdecode_backend: str = 'pillow') -> None:
        self.reduce_zero_label = reduce_zero_label
        self.backend_args = backend_args.copy() if backend_args else None
        self.imdecode_backend = imdecode_backend

    def _read_mask(self, path: str) -> np.ndarray:
        content = _read_bytes(path, 'mask', self.backend_args)
        mask = _decode(content, path, 'mask', 'unchanged', self.imdecode_backend)
        if mask.ndim == 3 and mask.shape[2] == 1:
            mask = mask[..., 0]
        if mask.ndim != 2:
            raise ValueError(f'mask file {path!r} has shape {mask.shape}; expected a '
                             'single-channel class-index image (e.g. a palette or grey PNG), '
                             'not a colour rendering of the labels')
        if mask.dtype != np.uint8:
            if mask.min() < 0 or mask.max() > 255:
                raise ValueError(f'mask file {path!r} holds values in [{mask.min()}, '
                                 f'{mask.max()}], which do not fit uint8 class indices')
            mask = mask.astype(np.uint8)
        return mask

    def _reduce_zero_label(self, results: dict) -> bool:
        from_data = results.get('reduce_zero_label', None)
        if self.reduce_zero_label is None:
            return bool(from_data)
        if from_data is not None and bool(from_data) != bool(self.reduce_zero_label):
            raise ValueError(
                f'LoadAnnotations(reduce_zero_label={self.reduce_zero_label}) contradicts the '
                f'dataset (reduce_zero_label={from_data}); set it on the dataset only')
        return bool(self.reduce_zero_label)

    @staticmethod
    def _check(mask: np.ndarray, results: dict, path: str, remapped: bool) -> None:
        ori_shape = results.get('ori_shape', None)
        if ori_shape is not None and tuple(mask.shape) != tuple(ori_shape[:2]):
            raise ValueError(
                f'mask {path!r} is {mask.shape[1]}x{mask.shape[0]} (WxH) but image '
                f'{results.get("img_path")!r} is {ori_shape[1]}x{ori_shape[0]}')
        num_classes = results.get('num_classes', None)
        if num_classes is None:
            return
        ignore_index = results.get('ignore_index', 255)
        values = np.unique(mask)
        bad = values[(values >= num_classes) & (values != ignore_index)]
        if remapped:
            # label_map and reduce_zero_label mark dropped pixels with 255, as mmsegmentation.
            bad = bad[bad != 255]
        if bad.size:
            raise ValueError(
                f'mask {path!r} has label values {bad.tolist()[:10]} outside '
                f'[0, {num_classes}) (after label_map/reduce_zero_label) that are not '
                f'ignore_index={ignore_index}')

    def transform(self, results: dict) -> dict:
        path = results['seg_map_path']
        mask = self._read_mask(path)
        label_map = results.get('label_map', None)
        reduce_zero_label = self._reduce_zero_label(results)
        if label_map:
            # A lookup table maps every old id at once (ids absent from the map keep theirs).
            lut = np.arange(256, dtype=np.uint8)
            for old_id, new_id in label_map.items():
                lut[old_id] = new_id
            mask = lut[mask]
        if reduce_zero_label:
            # 0 -> 255 first, so the subtraction cannot wrap; 255 stays 255.
            mask = mask.copy()
            mask[mask == 0] = 255
            mask = mask - 1
            mask[mask == 254] = 255
        self._check(mask, results, path, remapped=bool(label_map) or reduce_zero_label)
        results['gt_seg_map'] = mask
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(reduce_zero_label={self.reduce_zero_label}, '
                f"imdecode_backend='{self.imdecode_backend}', backend_args={self.backend_args})")
