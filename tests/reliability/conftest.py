"""Fixtures for the reliability tests (helpers live in helpers.py)."""

import pytest

from tests.reliability.helpers import Lines


@pytest.fixture
def lines() -> Lines:
    return Lines()
