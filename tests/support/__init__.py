"""Test helpers as a package: fake servers on 127.0.0.1, a fake clock, PostgreSQL databases.

Tests import from here, never from ``conftest.py`` (which only declares fixtures).
"""
