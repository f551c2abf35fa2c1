"""Common random numbers: one independent random stream per purpose (and year) of a run.

A lever's effect is measured as the difference between a scenario and its baseline run
with the same seed. That difference is free of sampling noise only if both runs use the
same random numbers for the same agents: the same synthetic population and tastes, the
same life events and the same uniform draw behind each agent's mode choice. With one
sequential generator a lever that changes how many numbers are drawn (for instance a new
line that makes more agents choose again) shifts every later draw to other agents.

Here every purpose and year has its own generator, seeded from the run's seed through
``numpy.random.SeedSequence`` with a spawn key made of a stable hash of the purpose name
and the year; a stream therefore depends only on ``(seed, purpose, year)``, never on what
other purposes or earlier years drew. See docs/uncertainty.md.
"""

from __future__ import annotations

import hashlib

import numpy as np


def purpose_key(purpose: str) -> int:
    """A stable 32-bit integer for a purpose name (the same in every process and Python version)."""
    return int.from_bytes(hashlib.sha256(purpose.encode("utf-8")).digest()[:4], "little")


class RandomStreams:
    """Independent generators by purpose and year, all derived from one seed.

    Parameters
    ----------
    seed
        The run's seed; ``None`` takes fresh entropy from the operating system (runs are then
        not reproducible, as with ``numpy.random.default_rng(None)``).

    Examples
    --------
    >>> streams = RandomStreams(1)
    >>> float(streams("mode_choice", 2030).random()) == float(RandomStreams(1)("mode_choice", 2030).random())
    True
    """

    def __init__(self, seed: int | None) -> None:
        self.entropy = np.random.SeedSequence(seed).entropy

    def __call__(self, purpose: str, year: int | None = None) -> np.random.Generator:
        """A fresh generator for ``purpose`` (and ``year``): the same numbers on every call."""
        key = (purpose_key(purpose),) if year is None else (purpose_key(purpose), int(year))
        return np.random.default_rng(np.random.SeedSequence(self.entropy, spawn_key=key))
