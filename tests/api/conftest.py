"""API test fixtures live in ``tests/fixtures/api.py`` (registered in ``tests/conftest.py``)."""
