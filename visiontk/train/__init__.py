"""Training: strategies, optimisers and schedules, callbacks and the fit loop (TensorFlow imported lazily)."""
