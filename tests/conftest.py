"""Shared fixtures: ``feed_server``, a real local HTTP server for feeds (tests/feedserver.py),
and the store backends (tests/backends.py: ``backend``, ``store_at``, ``pg_databases``)."""

pytest_plugins = ["tests.feedserver", "tests.backends"]
