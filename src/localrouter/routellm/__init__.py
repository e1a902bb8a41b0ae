"""The RouteLLM BERT router model: hub download, conversion, tokenizer, inference, lifecycle."""
