"""Packaging for upertool. Requirements live in requirements/*.txt, read here once.

`configs/` ships inside the package as `upertool/.mim/configs` (the layout of OpenMMLab's
mim packages), so a config elsewhere can inherit `_base_ = ['upertool::_base_/...']` after
`pip install upertool`, not only from a source checkout. In the repository that folder is a
committed symlink to `../../configs`: editable installs read the configs through it, and a
wheel build copies the files it points to.
"""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
MIM_CONFIGS = HERE / 'upertool' / '.mim' / 'configs'


def mim_config_files() -> list[str]:
    """The config files under upertool/.mim/configs, relative to the package (package_data)."""
    if not (MIM_CONFIGS / '_base_').is_dir():
        # A checkout without symlink support (git core.symlinks=false) holds a text file here;
        # a wheel built from it would lack every config, so stop instead.
        raise SystemExit(
            f'{MIM_CONFIGS} does not lead to the configs folder; it should be a symlink to '
            '../../configs (check out with symlinks enabled: git config core.symlinks true)')
    package = HERE / 'upertool'
    return sorted(str(p.relative_to(package)) for p in MIM_CONFIGS.rglob('*.py'))


def read_requirements(name: str) -> list[str]:
    lines = (HERE / 'requirements' / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


setup(
    name='upertool',
    version='0.1.0',
    description='UPerNet semantic segmentation toolbox on mmengine',
    long_description=(HERE / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    python_requires='>=3.10',
    packages=find_packages(include=['upertool', 'upertool.*']),
    include_package_data=True,
    package_data={'upertool': mim_config_files()},
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        'tests': read_requirements('tests.txt'),
        'optional': read_requirements('optional.txt'),
        'data': read_requirements('data.txt'),  # scipy, for the .mat converters
        'export': read_requirements('export.txt'),  # onnx, onnxruntime, onnxscript
    },
)
