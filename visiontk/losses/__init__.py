"""The losses of every task, in one namespace (Keras 3, registered serialisable). Imports Keras: import
this package lazily.

Each task package keeps its loss next to its head (visiontk/tasks/<name>/loss.py) and lists its
public names in `__all__`; they are re-exported here, so `from visiontk.losses import
TripletSemiHardLoss` works whichever task defines it.
"""

from visiontk.tasks import task_modules as _task_modules

__all__: list = []
for _mod in _task_modules("loss"):
    for _name in getattr(_mod, "__all__", ()):
        globals()[_name] = getattr(_mod, _name)
        __all__.append(_name)
