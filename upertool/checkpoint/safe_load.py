"""Load checkpoint files without running code from them.

Every checkpoint that upertool or mmengine reads goes through `load_checkpoint_file`:
torch's `weights_only=True` unpickler plus the explicit allowlist in `allowlist.py`.
A file that names any other global is refused with an error naming the file, the
global and the two opt-ins for files you trust: the environment variable
`UPERTOOL_TRUST_PICKLED_CHECKPOINTS=1` or `with trusted_checkpoints(): ...`.

Nothing is ever downloaded: URLs and mmengine's model-zoo schemes (`open-mmlab://`,
`torchvision://`, ...) fail at once with what to download and where to put it.
"""
from __future__ import annotations

import contextlib
import json
import os
import os.path as osp
import pickle
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlparse

import torch

from .allowlist import SAFE_GLOBALS

TRUST_ENV_VAR = 'UPERTOOL_TRUST_PICKLED_CHECKPOINTS'

# Prefixes mmengine's CheckpointLoader knows; any other `scheme://` is refused too.
URL_PREFIXES = ('http://', 'https://', 'open-mmlab://', 'openmmlab://', 'torchvision://',
                'modelzoo://', 'mmcls://', 'pavi://', 's3://', 'petrel://')
# `scheme://`, optionally after a storage prefix as in mmengine's 'open-mmlab:s3://'.
URL_PATTERN = r'(?:[\w-]+:)?[A-Za-z][\w+.-]*://'
_URL_RE = re.compile(URL_PATTERN)
# Model-zoo schemes whose names mmengine resolves through JSON files it ships.
_ZOO_FILES = {'open-mmlab://': 'openmmlab.json', 'openmmlab://': 'openmmlab.json',
              'mmcls://': 'mmcls.json', 'torchvision://': 'torchvision_0.12.json',
              'modelzoo://': 'torchvision_0.12.json'}

_trusted: ContextVar[bool] = ContextVar('upertool_trusted_checkpoints', default=False)


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint names a pickled global outside `SAFE_GLOBALS` and was not trusted."""


class CheckpointReadError(RuntimeError):
    """A local file could not be read as a checkpoint (truncated, not a checkpoint, ...)."""


class OfflineCheckpointError(RuntimeError):
    """A checkpoint was given as a URL; upertool never downloads."""


@contextlib.contextmanager
def trusted_checkpoints() -> Iterator[None]:
    """Load checkpoints with full pickle (`weights_only=False`) inside this block.

    Only for files whose origin you trust: unpickling can run any code. The
    environment variable `UPERTOOL_TRUST_PICKLED_CHECKPOINTS=1` does the same for a
    whole process (e.g. `UPERTOOL_TRUST_PICKLED_CHECKPOINTS=1 python tools/train.py`).
    """
    token = _trusted.set(True)
    try:
        yield
    finally:
        _trusted.reset(token)


def checkpoints_trusted() -> bool:
    """Whether full-pickle loading is switched on (context manager or env var)."""
    env = os.environ.get(TRUST_ENV_VAR, '').strip().lower()
    return _trusted.get() or env in ('1', 'true', 'yes', 'on')


def is_url(path: str) -> bool:
    """Whether `path` is a URL or model-zoo name rather than a local file."""
    return path.startswith(URL_PREFIXES) or _URL_RE.match(path) is not None


def load_checkpoint_file(path: str | os.PathLike,
                         map_location: Any = 'cpu') -> dict[str, Any]:
    """Read a local checkpoint file (`.pth`/`.pt`/`.bin`/`.ckpt`, or `.safetensors`).

    Args:
        path: Local file. `~` is expanded. URLs are refused (see module docstring).
        map_location: As for `torch.load` (None: where the tensors were saved, or
            the CPU on a machine without CUDA); for `.safetensors` a device string or
            `torch.device`.

    Returns:
        The checkpoint dict as saved (mmengine's: `meta`, `state_dict`, `optimizer`,
        `message_hub`, ...; a bare state dict maps parameter names to tensors).

    Raises:
        OfflineCheckpointError: `path` is a URL or a model-zoo name.
        FileNotFoundError / IsADirectoryError: no such file.
        UnsafeCheckpointError: the file needs a global outside `SAFE_GLOBALS` and
            loading was not trusted.
        ImportError: a `.safetensors` file without the `safetensors` package.
        RuntimeError: the file is not a checkpoint torch can read.
        TypeError: the file holds something other than a dict (e.g. a whole model).
    """
    filename = _local_file(path)
    if map_location is None and not torch.cuda.is_available():
        # "Where it was saved" cannot mean a GPU here; mmengine passes None by default.
        map_location = 'cpu'
    if filename.endswith('.safetensors'):
        checkpoint: Any = _load_safetensors(filename, map_location)
    elif checkpoints_trusted():
        checkpoint = torch.load(filename, map_location=map_location, weights_only=False)
    else:
        checkpoint = _load_weights_only(filename, map_location)
    if not isinstance(checkpoint, Mapping):
        raise TypeError(
            f'Checkpoint {filename} holds a {type(checkpoint).__qualname__}, not a dict of '
            'weights; save `model.state_dict()` (or an mmengine checkpoint) instead.')
    return checkpoint


def _local_file(path: str | os.PathLike) -> str:
    """Check that `path` names an existing local file; return it as a string."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f'A checkpoint path must be a str or os.PathLike, got {path!r}')
    filename = os.fspath(path)
    if is_url(filename):
        raise OfflineCheckpointError(offline_message(filename))
    filename = osp.expanduser(filename)
    if osp.isdir(filename):
        raise IsADirectoryError(
            f'Checkpoint {filename} is a directory; give the .pth file inside it.')
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint file not found: {filename}')
    return filename


def _load_weights_only(filename: str, map_location: Any) -> Any:
    """`torch.load(weights_only=True)` with `SAFE_GLOBALS`; clear errors on refusal."""
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        try:
            return torch.load(filename, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as err:
            offending = _offending_globals(filename, str(err))
            if not offending:
                raise CheckpointReadError(
                    f'Checkpoint {filename} could not be read as a torch checkpoint: {err}'
                ) from err
            raise UnsafeCheckpointError(_unsafe_message(filename, offending)) from err
        except (RuntimeError, EOFError) as err:  # truncated zip, empty file, ...
            raise CheckpointReadError(
                f'Checkpoint {filename} could not be read as a torch checkpoint: {err}'
            ) from err
        except Exception as err:  # e.g. a text file starting with a pickle opcode byte
            raise CheckpointReadError(
                f'Checkpoint {filename} is not a torch checkpoint (reading it failed with '
                f'{type(err).__name__}: {err}); give a .pth file saved by torch.save'
            ) from err


def _offending_globals(filename: str, message: str) -> list[str]:
    """The globals a refused checkpoint needs, as `module.name` strings.

    Scans the pickle statically (this never runs it) for zip-format checkpoints and
    falls back to torch's error message for the legacy format. Must run inside the
    `safe_globals` block so that allowlisted names are not reported.
    """
    found: list[str] = []
    with contextlib.suppress(Exception):
        found = list(torch.serialization.get_unsafe_globals_in_checkpoint(filename))
    if not found:
        patterns = (r'GLOBAL (\S+) was not an allowed global', r'unsupported GLOBAL (\S+) whose',
                    r'(Trying to call reduce for unrecognized function [^\n]+)',
                    r'(Can only (?:build|create new object) [^\n]+)')
        for pattern in patterns:
            found += [m.rstrip('.') for m in re.findall(pattern, message)]
        # torch's message drops the module of builtins ('exec' for builtins.exec).
        found = [name if '.' in name or ' ' in name else f'builtins.{name}' for name in found]
    # posix.system / nt.system are how `os.system` is pickled; say both.
    return [f'{name} (os.{name.split(".", 1)[1]})' if name.startswith(('posix.', 'nt.'))
            else name for name in dict.fromkeys(found)]


def _unsafe_message(filename: str, offending: list[str]) -> str:
    return (
        f'Refusing to load checkpoint {filename}: it needs {", ".join(offending)}, which is '
        'not on the allowlist of what model checkpoints contain '
        '(upertool.checkpoint.SAFE_GLOBALS); unpickling it could run arbitrary code. '
        'Only if you trust this file and where it came from, allow full pickle loading: '
        f'set the environment variable {TRUST_ENV_VAR}=1, or load it inside '
        '`with upertool.checkpoint.trusted_checkpoints(): ...`.')


def _load_safetensors(filename: str, map_location: Any) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError as err:
        raise ImportError(
            f'Checkpoint {filename} is a .safetensors file, which needs the safetensors '
            'package: pip install safetensors') from err
    if map_location is None:
        device = 'cpu'
    elif isinstance(map_location, (str, torch.device)):
        device = str(map_location)
    else:
        raise TypeError(
            f'Loading {filename}: a .safetensors file takes map_location as a device string '
            f'or torch.device, got {map_location!r}')
    try:
        return load_file(filename, device=device)
    except Exception as err:  # safetensors raises its own SafetensorError
        raise CheckpointReadError(
            f'Checkpoint {filename} is not a valid .safetensors file ({err}); a torch .pth '
            'file renamed to .safetensors must keep its .pth name') from err


def offline_message(url: str) -> str:
    """What to do instead of downloading `url`: where to put the file, how to use it."""
    source = _resolve_zoo_url(url) or url
    name = osp.basename(urlparse(source).path.rstrip('/')) or 'model'
    if not re.search(r'\.(pth|pt|bin|ckpt|safetensors)$', name):
        name += '.pth'
    local = f'checkpoints/{name}'
    where = f' ({url} is {source})' if source != url else ''
    return (
        f'Cannot load checkpoint {url}: this machine cannot download files, and upertool '
        f'never tries the network{where}. Download {source} on a machine with access, copy '
        f'it here, e.g. to {local}, and point the config at the local file: '
        f"init_cfg=dict(type='Pretrained', checkpoint='{local}') for pretrained backbone "
        f"weights, or load_from='{local}' for a whole model.")


def _resolve_zoo_url(url: str) -> str | None:
    """The download URL mmengine's JSON tables give a model-zoo name, if any (no network)."""
    for prefix, table in _ZOO_FILES.items():
        if not url.startswith(prefix):
            continue
        name = url[len(prefix):]
        if table == 'openmmlab.json':  # renamed models, as mmengine maps them
            name = _zoo_table('deprecated.json').get(name, name)
        found = _zoo_table(table).get(name)
        return found if isinstance(found, str) and is_url(found) else None
    return None


def _zoo_table(table: str) -> dict[str, Any]:
    import mmengine
    try:
        with open(osp.join(mmengine.__path__[0], 'hub', table)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}
