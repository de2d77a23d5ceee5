"""The classification task: its Task class (task.py, registered in TASKS on import), the `model.head`
recipe section (config.py), evaluation.py.
Its TensorFlow-free decode/draw is visiontk/runtime/classification.py (copied into exports)."""

from visiontk.tasks.classification.config import ClassificationHead
from visiontk.tasks.classification.task import Classification

__all__ = ["Classification", "ClassificationHead"]
