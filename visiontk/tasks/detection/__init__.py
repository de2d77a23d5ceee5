"""The detection task: its Task class (task.py, registered in TASKS on import), the `model.head`
recipe section (config.py), callbacks.py, encode.py, evaluation.py, loss.py.
Its TensorFlow-free decode/draw is visiontk/runtime/detection.py (copied into exports)."""

from visiontk.tasks.detection.config import DetectionHead
from visiontk.tasks.detection.task import Detection

__all__ = ["Detection", "DetectionHead"]
