"""Every secret the configuration holds, for scrubbing from what the gateway echoes or logs.

Provider keys (``api_key`` in the file and the value of ``api_key_env``, both when both are
set), the values of provider ``headers`` (custom auth headers), and a password in a
``base_url``. Client keys are never held: the settings keep only their SHA-256.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from localrouter.settings import Settings

# Header values shorter than this are not scrubbed: "true" or "json" replaced in an upstream's
# JSON error body would corrupt it, and such values are no secrets.
MIN_HEADER_SECRET = 8


def configured_secrets(settings: Settings) -> list[str]:
    """The secrets of ``settings``, longest first (so a key containing another is replaced
    whole)."""
    found: set[str] = set()
    for provider in settings.providers:
        if provider.api_key:
            found.add(provider.api_key)
        if provider.api_key_env:
            value = os.environ.get(provider.api_key_env)
            if value:
                found.add(value)
        for value in provider.headers.values():
            if len(value) >= MIN_HEADER_SECRET:
                found.add(value)
        try:
            password = urlsplit(provider.base_url).password
        except ValueError:
            password = None
        if password:
            found.add(password)
    return sorted(found, key=len, reverse=True)
