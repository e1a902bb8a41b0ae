"""The admin API under /api (used by the dashboard) and the statistics it serves."""
