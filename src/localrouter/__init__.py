"""LocalRouter: a local OpenAI-compatible gateway routing prompts with the RouteLLM BERT router."""

__version__ = "0.1.0"
