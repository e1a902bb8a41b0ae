"""Routers: what turns a prompt into a win rate. One interface, a registry by name.

``bert`` is RouteLLM's BERT router (``localrouter.routellm``), ``random`` the baseline every
evaluation compares against; trained routers (``HOME/routers/NAME``) plug in the same way.
"""
