"""Running the converted router: tokenizer, ONNX Runtime engine, memory accounting."""
