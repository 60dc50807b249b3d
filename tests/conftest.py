"""Shared fixtures: ``feed_server``, a real local HTTP server for feeds (tests/feedserver.py)."""

pytest_plugins = ["tests.feedserver"]
