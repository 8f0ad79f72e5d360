"""The fuzz suite reuses the Telegram and web fixtures; ``FUZZ_SEED`` picks another seed to explore."""

from __future__ import annotations

import os

import pytest

from tests.adapters.telegram.conftest import api, bot_factory  # noqa: F401 - fixtures
from tests.adapters.web.conftest import http  # noqa: F401 - fixture


@pytest.fixture
def seed() -> int:
    return int(os.environ.get("FUZZ_SEED", "19"))
