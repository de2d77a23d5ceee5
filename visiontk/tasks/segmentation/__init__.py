"""The segmentation task: its Task class (task.py, registered in TASKS on import), the `model.head`
recipe section (config.py), evaluation.py, loss.py.
Its TensorFlow-free decode/draw is visiontk/runtime/segmentation.py (copied into exports)."""

from visiontk.tasks.segmentation.config import SegmentationHead
from visiontk.tasks.segmentation.task import Segmentation

__all__ = ["Segmentation", "SegmentationHead"]
