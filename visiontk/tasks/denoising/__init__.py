"""The denoising task: its Task class (task.py, registered in TASKS on import), the `model.head`
recipe section (config.py), evaluation.py, metrics.py.
Its TensorFlow-free decode/draw is visiontk/runtime/denoising.py (copied into exports)."""

from visiontk.tasks.denoising.config import DenoisingHead
from visiontk.tasks.denoising.task import Denoising

__all__ = ["Denoising", "DenoisingHead"]
