"""--amp / --amp auto: which optimizer wrapper training gets, by device and CPU."""
from __future__ import annotations

import pytest
from mmengine.config import Config

from upertool.engine import cli
from upertool.models.utils import precision


def _cfg() -> Config:
    return Config(dict(optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD'))))


@pytest.fixture
def cpu_only(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setattr(cli.torch.cuda, 'is_available', lambda: False)
    return monkeypatch


@pytest.mark.parametrize('mode', ['on', 'auto'])
def test_native_bf16_cpu_gets_bf16_autocast(cpu_only, mode: str) -> None:
    cpu_only.setattr(cli, 'cpu_supports_bf16', lambda: True)
    cfg = _cfg()
    assert cli.enable_amp(cfg, mode) == 'bf16'
    assert cfg.optim_wrapper.type == 'BF16AutocastOptimWrapper'


def test_auto_keeps_fp32_where_bf16_is_emulated(cpu_only, capsys) -> None:
    cpu_only.setattr(cli, 'cpu_supports_bf16', lambda: False)
    cfg = _cfg()
    assert cli.enable_amp(cfg, 'auto') == 'fp32'
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert 'no native bf16' in capsys.readouterr().out


def test_explicit_amp_stops_where_bf16_is_emulated(cpu_only) -> None:
    cpu_only.setattr(cli, 'cpu_supports_bf16', lambda: False)
    with pytest.raises(SystemExit, match='--amp auto'):
        cli.enable_amp(_cfg(), 'on')


def test_cuda_gets_fp16_with_loss_scaling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.torch.cuda, 'is_available', lambda: True)
    cfg = _cfg()
    assert cli.enable_amp(cfg, 'auto') == 'fp16'
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'


def test_other_wrappers_are_refused(cpu_only) -> None:
    cfg = _cfg()
    cfg.optim_wrapper.type = 'MyWrapper'
    with pytest.raises(SystemExit, match='MyWrapper'):
        cli.enable_amp(cfg, 'auto')


def test_bf16_probe_follows_the_instructions_not_onednn(monkeypatch: pytest.MonkeyPatch) -> None:
    """oneDNN says bf16 is supported on any AVX-512 CPU; only AVX512-BF16/AMX make it pay."""
    monkeypatch.setattr(precision.torch.cpu, '_is_avx512_bf16_supported', lambda: False)
    monkeypatch.setattr(precision.torch.cpu, '_is_amx_tile_supported', lambda: False)
    assert precision.cpu_supports_bf16() is False
    monkeypatch.setattr(precision.torch.cpu, '_is_amx_tile_supported', lambda: True)
    assert precision.cpu_supports_bf16() is True
