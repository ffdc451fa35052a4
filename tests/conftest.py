from __future__ import annotations

import pytest


def pytest_addoption(parser):
    parser.addoption("--regen-golden", action="store_true", help="rewrite tests/golden/* from the current output")


@pytest.fixture
def regen_golden(request) -> bool:
    return request.config.getoption("--regen-golden")


@pytest.fixture(autouse=True, scope="session")
def _data_cache_in_tmp(tmp_path_factory):
    """Generated training data is cached in a folder of the test run's own, never the user's cache."""
    import os

    os.environ["ARCHSPEC_CACHE_DIR"] = str(tmp_path_factory.mktemp("archspec-cache"))
