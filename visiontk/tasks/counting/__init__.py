"""The counting task: its Task class (task.py, registered in TASKS on import), the `model.head`
recipe section (config.py), evaluation.py.
Its TensorFlow-free decode/draw is visiontk/runtime/counting.py (copied into exports)."""

from visiontk.tasks.counting.config import CountingHead
from visiontk.tasks.counting.task import Counting

__all__ = ["Counting", "CountingHead"]
