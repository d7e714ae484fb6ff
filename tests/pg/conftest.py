"""The PostgreSQL fixtures live in tests/conftest.py (the storage contract uses them too)."""
