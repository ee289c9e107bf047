"""glibc malloc tuning: large freed tensors are reused instead of page-faulted back in."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from upertool.utils.cpu_allocator import tune_glibc_malloc

glibc_only = pytest.mark.skipif(
    platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc', reason='needs glibc')

# 20 allocations of a 64 MiB tensor, each written then freed; prints the page faults the
# last 19 took (the first one maps the memory in any case)
_FAULTS = """
import resource, torch, upertool
torch.empty(16 << 20).fill_(1.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(19):
    torch.empty(16 << 20).fill_(1.0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(switch: str | None) -> int:
    env = dict(os.environ)
    env.pop('UPERTOOL_MALLOC_TUNING', None)
    if switch is not None:
        env['UPERTOOL_MALLOC_TUNING'] = switch
    out = subprocess.run([sys.executable, '-c', _FAULTS], env=env, capture_output=True,
                         text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


@glibc_only
def test_import_keeps_large_blocks_in_the_heap() -> None:
    pages_per_block = (64 << 20) // 4096
    tuned, untuned = _page_faults(None), _page_faults('0')
    assert untuned > 10 * pages_per_block  # glibc's default: mmap and unmap every time
    # tuned: the freed block is reused (glibc maps one more block once, then no faults)
    assert tuned <= 2 * pages_per_block


def test_switch_off_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('UPERTOOL_MALLOC_TUNING', '0')
    assert tune_glibc_malloc() is False


@glibc_only
def test_tuning_reports_success() -> None:
    assert tune_glibc_malloc() is True
