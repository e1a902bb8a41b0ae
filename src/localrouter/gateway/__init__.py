"""The gateway: OpenAI-compatible HTTP API, routing, providers, access log, admin API."""
