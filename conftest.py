"""Lets `pytest exercises/ graders/hidden/` run the checks directly (see graders/grading/plugin.py)."""

pytest_plugins = ["graders.grading.plugin"]
