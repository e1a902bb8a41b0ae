"""LocalRouter: a local OpenAI-compatible gateway that routes prompts with the RouteLLM BERT router."""

__version__ = "0.1.0"
