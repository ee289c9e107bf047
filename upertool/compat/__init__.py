"""Fixes for known breakages of the mmengine 0.10 / torch >= 2.6 / setuptools >= 82 stack.

One module per fix, each saying what mmengine or torch does wrong and since when:
- `checkpoint_loading`: every mmengine checkpoint load goes through
  `upertool.checkpoint.load_checkpoint_file` (weights_only with an allowlist; offline).
- `package_lookup`: `pkg_resources`-free `is_installed` / `get_installed_path` and the
  `pkg::path` config helpers.
- `cpu_distributed`: `--launcher pytorch` without CUDA (gloo, no device_ids).
- `env_collection`: `collect_env` reports a broken torchvision instead of crashing.
- `scope_aliases`: `mmseg.X` / `mmpretrain.X` types and custom_imports of those packages
  work without them installed (upertool's components stand in).
- `atomic_checkpoint`: checkpoints and `last_checkpoint` written atomically (temp file +
  rename); outdated checkpoints removed only after the new one is in place.
- `optional_optimizers`: building a model does not import transformers (mmengine.optim's
  Adafactor registration is deferred to when optimizers are built).
- `upertool.registry_build` (installed on mmengine's root registries from here): building an
  unknown type raises `UnknownTypeError`.

`install_stack_fixes()` runs at `import upertool` (so before mmengine resolves anything in the
scope 'upertool') and installs the fixes that need only light mmengine modules. The fixes that
patch mmengine's runner, hooks and model wrappers (`install_runner_fixes`) would import
`mmengine.runner` (and through it transformers); they are installed at once if mmengine.runner
is already loaded (the tools import it first), else by the first build through a registry
while it is loaded, which every Runner does before it loads a checkpoint or wraps its model.
A script that calls mmengine's checkpoint functions without a Runner, having imported upertool
first, calls `install_runner_fixes()` itself.
"""
from __future__ import annotations

import sys

_installed = False
_runner_installed = False


def install_stack_fixes() -> None:
    """Install the light fixes once, and the Runner's if mmengine.runner is loaded.

    Each installer only imports mmengine modules and swaps a function or registers a
    loader; nothing is loaded, downloaded or unpickled here.
    """
    global _installed
    if not _installed:
        import mmengine.registry as roots

        from upertool import registry_build

        from . import cpu_distributed, env_collection, package_lookup, scope_aliases

        package_lookup.install()
        env_collection.install()
        cpu_distributed.install_launcher()  # init_dist runs before a Runner builds anything
        scope_aliases.install()
        registry_build.install_on_roots(
            [getattr(roots, name) for name in scope_aliases.REGISTRY_NAMES],
            on_runner=install_runner_fixes)
        _installed = True
    if 'mmengine.runner' in sys.modules:
        install_runner_fixes()


def install_runner_fixes() -> None:
    """Install the fixes of mmengine's runner, checkpoint hook and DDP wrapper; idempotent."""
    global _runner_installed
    if _runner_installed:
        return
    from . import atomic_checkpoint, checkpoint_loading, cpu_distributed, optional_optimizers

    checkpoint_loading.install()
    cpu_distributed.install()
    atomic_checkpoint.install()
    optional_optimizers.register_skipped_optimizers()
    _runner_installed = True
