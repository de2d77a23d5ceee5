"""The metric task: its Task class (task.py, registered in TASKS on import), the `model.head`
recipe section (config.py), callbacks.py, evaluation.py, loss.py, search.py.
Its TensorFlow-free decode/draw is visiontk/runtime/metric.py (copied into exports)."""

from visiontk.tasks.metric.config import MetricHead
from visiontk.tasks.metric.task import Metric

__all__ = ["Metric", "MetricHead"]
