"""The packages of the distribution (the rest of the configuration is in pyproject.toml).

The recipes and the TensorFlow-free runner each have one source in the repository, `recipes/` and
`export/onnx_predict.py` (the repository layout is part of the product); the wheel carries them inside
the package as `visiontk/_recipes/*.yaml` and `visiontk/_runner/onnx_predict.py`, where
visiontk/shipped.py finds them (and in a checkout, or an editable install, at their own place).
"""

from setuptools import find_packages, setup

SHIPPED = {"visiontk._recipes": "recipes", "visiontk._runner": "export"}

setup(
    packages=find_packages(include=["visiontk", "visiontk.*"]) + list(SHIPPED),
    package_dir=SHIPPED,
    package_data={"visiontk._recipes": ["*.yaml"], "visiontk._runner": ["onnx_predict.py"]},
)
