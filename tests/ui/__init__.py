"""Helpers for the dashboard's browser tests (headless Chromium via Playwright)."""
