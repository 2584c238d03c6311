"""Inference backends (ONNX Runtime, TensorRT, torch), imported lazily."""
