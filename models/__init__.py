"""echostream.models — architectures, registry, ONNX export with metadata, TensorRT engine build."""
