"""Fixtures for the studies tests: the conversation-reading judge lives in ``tests/conftest.py``."""
