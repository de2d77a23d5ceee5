"""Custom layers (Keras 3, registered serialisable). Imports Keras: import this package lazily.

Each submodule lists its public names in `__all__`; they are re-exported here, so
`from visiontk.layers import LocalResponseNormalization` works whichever module defines it.
"""

import importlib as _importlib
import pkgutil as _pkgutil

__all__: list = []
for _info in _pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):
        _mod = _importlib.import_module(f"{__name__}.{_info.name}")
        for _name in getattr(_mod, "__all__", ()):
            globals()[_name] = getattr(_mod, _name)
            __all__.append(_name)
