from __future__ import annotations

import pytest


def pytest_addoption(parser):
    parser.addoption("--regen-golden", action="store_true", help="rewrite tests/golden/* from the current output")


@pytest.fixture
def regen_golden(request) -> bool:
    return request.config.getoption("--regen-golden")
