"""The localization task: its Task class (task.py, registered in TASKS on import), the `model.head`
recipe section (config.py), evaluation.py, loss.py.
Its TensorFlow-free decode/draw is visiontk/runtime/localization.py (copied into exports)."""

from visiontk.tasks.localization.config import LocalizationHead
from visiontk.tasks.localization.task import Localization

__all__ = ["Localization", "LocalizationHead"]
