"""What a router-model state means for the user and what to do next (status and serve)."""

from __future__ import annotations

from typing import Any

# The download of routellm/bert_gpt4_augmented (model.safetensors + tokenizer files).
DOWNLOAD_SIZE_HINT = "~1.1 GB"

STRONG_FALLBACK = "until then, localrouter/auto requests go to the strong tier"


def next_step(status: dict[str, Any]) -> str:
    """One sentence saying what to do from this state."""
    state = status.get("state")
    if state == "not_downloaded":
        return (
            f"Next: run `localrouter routellm download` ({DOWNLOAD_SIZE_HINT}); {STRONG_FALLBACK}."
        )
    if state == "downloading":
        return (
            "Next: wait for the download to finish (or cancel it in the dashboard); "
            f"{STRONG_FALLBACK}."
        )
    if state == "downloaded":
        return (
            "Next: nothing to do; the model loads on the first routed request, "
            "or when you try a prompt in the dashboard."
        )
    if state == "loading":
        return "Next: nothing to do; routing starts as soon as the model is loaded."
    if state == "ready":
        return "Ready: localrouter/auto requests are routed between the strong and weak tiers."
    if state == "failed" and "routellm.model_dir" in str(status.get("error")):
        return (
            "Next: fix routellm.model_dir in settings.yaml (or remove it to use the downloaded "
            "model); meanwhile localrouter/auto requests go to the strong tier."
        )
    if state == "failed":
        return (
            "Next: fix the error above, then run `localrouter routellm download` again "
            "(`localrouter routellm delete` starts over); meanwhile localrouter/auto "
            "requests go to the strong tier."
        )
    return ""
