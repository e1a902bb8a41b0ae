"""From a Hugging Face checkpoint to ONNX runtime files: reading, quantizing, converting."""
