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

`install_stack_fixes()` runs when `upertool.registry` is imported, which mmengine does
for every Runner with `default_scope='upertool'`.
"""

_installed = False


def install_stack_fixes() -> None:
    """Install every fix once; later calls do nothing.

    Each installer only imports mmengine modules and swaps a function or registers a
    loader; nothing is loaded, downloaded or unpickled here.
    """
    global _installed
    if _installed:
        return
    from . import checkpoint_loading, cpu_distributed, env_collection, package_lookup, scope_aliases

    package_lookup.install()
    checkpoint_loading.install()
    cpu_distributed.install()
    env_collection.install()
    from . import atomic_checkpoint

    atomic_checkpoint.install()
    scope_aliases.install()
    _installed = True
