"""Hooks that mmengine lacks."""
from .data_error_checkpoint import DataErrorCheckpointHook
from .defaults import ROBUSTNESS_HOOKS, ensure_robustness_hooks
from .divergence_guard import DivergenceError, DivergenceGuardHook
from .per_class_metrics_hook import PerClassMetricsHook
from .run_checks import RunChecksHook
from .val_loss_hook import ValLossHook
from .visualization_hook import SegVisualizationHook

__all__ = ['ROBUSTNESS_HOOKS', 'DataErrorCheckpointHook', 'DivergenceError',
           'DivergenceGuardHook', 'PerClassMetricsHook', 'RunChecksHook', 'SegVisualizationHook',
           'ValLossHook',
           'ensure_robustness_hooks']
