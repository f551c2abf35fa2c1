"""Shared inputs for the agent-based model's tests.

Reading the embedded network, zones, transit and emission factors takes a few
seconds, so the context is read once per test session and shared; models copy
the parts they change (edges, transit), so sharing it is safe.
"""

from __future__ import annotations

from functools import lru_cache

from model.simulation import MobilityModel, ModelContext

#: Share of real commuters represented in most tests (about 3,900 agents).
SAMPLE = 0.3


@lru_cache(maxsize=1)
def default_context() -> ModelContext:
    """The embedded Vallensbæk inputs, read once."""
    return ModelContext.load()


def small_model(end_year: int = 2019, sample_fraction: float = SAMPLE, rng: int = 1, **kwargs) -> MobilityModel:
    """A model on the embedded inputs with a sampled population (not yet run)."""
    return MobilityModel(default_context(), end_year=end_year, sample_fraction=sample_fraction, rng=rng, **kwargs)
