"""Lets `pytest exercises/ graders/hidden/` run the checks directly (see graders/plugin.py)."""

pytest_plugins = ["graders.plugin"]
