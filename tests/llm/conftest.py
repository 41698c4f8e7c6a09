"""LLM test fixtures live in tests/conftest.py (``local_model_url``), shared with the simulation tests."""
