"""Fixes for known breakages of the mmengine / mmcv / torch stack, installed on import."""

_installed = False


def install_stack_fixes() -> None:
    """Install every fix once; each is cheap and touches nothing until used."""
    global _installed
    if _installed:
        return
    _installed = True
