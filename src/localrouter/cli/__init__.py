"""The `localrouter` command line."""
