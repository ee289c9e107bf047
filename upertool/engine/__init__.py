"""Engine: importing this package registers hooks and optimizer parts (HOOKS'/OPTIM*' location)."""
from . import hooks, optimizers  # noqa: F401
