"""Shared pytest plugins: the namespace lab and real-peer fixtures."""

pytest_plugins = ["tests.lab.fixtures"]
