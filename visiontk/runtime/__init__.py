"""The TensorFlow-free runtime: preprocessing, Prediction, decode and draw for every task.

Rule: modules here import only the standard library, numpy, OpenCV and each other (relative imports),
so that `visiontk export` can copy this folder beside `export/onnx_predict.py` and an exported model runs
with numpy + onnxruntime + OpenCV alone, decoding exactly as visiontk does. One module per task holds
its `decode(outputs, meta, sizes)` and `draw(frame, prediction, meta)`; Task classes delegate to them.
"""
