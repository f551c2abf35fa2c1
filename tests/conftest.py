"""Fixtures shared by the test modules.

The helpers themselves live in ``tests/abm_fixtures.py``, ``osm_fixtures.py``,
``report_fixtures.py`` and ``runner_fixtures.py`` and are imported as
``tests.<module>``: ``tests`` is a package, so pytest puts the repository root on
the import path (its default ``prepend`` import mode) and no test edits ``sys.path``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from model.simulation import MobilityModel, ModelContext
from tests.abm_fixtures import default_context, small_model
from tests.osm_fixtures import write_tiny_inputs


@pytest.fixture(scope="session")
def context() -> ModelContext:
    """The embedded Vallensbæk inputs, read once per session."""
    return default_context()


@pytest.fixture(scope="module")
def model() -> MobilityModel:
    """A model on the embedded inputs with a 30 % sample, built once per test module (not yet run)."""
    return small_model()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny synthetic inputs (network, zones, transit, counts), written once per test module."""
    return write_tiny_inputs(tmp_path_factory.mktemp("tiny"))
