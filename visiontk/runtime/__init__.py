"""The TensorFlow-free runtime: preprocessing, Prediction, decode and draw for every task.

Rule: modules here import only the standard library, numpy, OpenCV and each other (relative imports),
so that `visiontk export` can copy this folder beside `export/onnx_predict.py` and an exported model runs
with numpy + onnxruntime + OpenCV alone, decoding exactly as visiontk does. One module per task holds
its Prediction type (a subclass of predictions.Prediction with its JSON `to_dict` and its parity
comparison `mismatches`), `decode(outputs, meta, sizes)` -> [that Prediction] and
`draw(frame, prediction, meta)`; Task classes delegate to them.
"""
