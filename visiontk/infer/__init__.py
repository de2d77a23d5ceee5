"""Inference: preprocessing, predictors per backend, drawing and the video loop (numpy/OpenCV at
import; TensorFlow only inside the Keras / SavedModel / TFLite backends)."""
