"""Shared test configuration: the slow tier runs only with --runslow."""

import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow (or through specs/)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
