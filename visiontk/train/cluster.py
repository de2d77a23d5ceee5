"""Where this process stands in a multi-worker job (from TF_CONFIG), TensorFlow-free."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Cluster:
    workers: int = 1
    index: int = 0
    task_type: str = "worker"

    @property
    def is_chief(self) -> bool:
        """The chief writes the run; other workers keep their files in a temporary folder."""
        if self.task_type == "chief":
            return True
        return self.task_type == "worker" and self.index == 0 and not self._has_chief

    _has_chief: bool = False

    @property
    def pipeline(self) -> int:
        """This process's input pipeline among the job's (tf.distribute's input_pipeline_id): the
        chief 0, then the workers in order."""
        if self.task_type == "chief":
            return 0
        return self.index + (1 if self._has_chief else 0)


def cluster_from_env(environ=None) -> Cluster:
    environ = os.environ if environ is None else environ
    raw = environ.get("TF_CONFIG")
    if not raw:
        return Cluster()
    spec = json.loads(raw)
    cluster = spec.get("cluster", {})
    task = spec.get("task", {})
    n = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    return Cluster(workers=max(n, 1), index=int(task.get("index", 0)),
                   task_type=task.get("type", "worker"), _has_chief=bool(cluster.get("chief")))
