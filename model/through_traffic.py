"""Motorway through traffic: background flow from traffic counts (AADT), not agents.

It loads the motorway links in the peak-hour assignment and is converted to
yearly vehicle-km on every link of the counted road. Traffic to and from
Vallensbæk that the agents already carry is taken out of the count, so it is
not counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import Field

from model.edges import EdgeArrays
from model.errors import VmobError
from model.files import StrictModel, load_toml_model
from model.settings import DEFAULT_NETWORK_DIR

DEFAULT_COUNTS = DEFAULT_NETWORK_DIR / "traffic_counts.toml"


class TrafficCount(StrictModel):
    """Annual average daily traffic on a named road, both directions together."""

    road: str
    aadt: float = Field(gt=0)
    year: int
    truck_share: float = Field(ge=0, le=1)
    source: str


class TrafficCountsFile(StrictModel):
    """A traffic-count file: its ``[[counts]]`` tables, at least one."""

    counts: list[TrafficCount] = Field(min_length=1)


@dataclass(frozen=True)
class ThroughTraffic:
    """Per-edge daily count (one direction) and truck share; zero on uncounted edges."""

    daily_per_direction: np.ndarray
    truck_share: np.ndarray
    roads: tuple[str, ...]


def load_counts(path: str | Path | None = None) -> list[TrafficCount]:
    """Read ``traffic_counts.toml``."""
    return list(load_toml_model(TrafficCountsFile, Path(path or DEFAULT_COUNTS)).counts)


def through_traffic(edges: EdgeArrays, counts: list[TrafficCount], source: str = "traffic_counts.toml") -> ThroughTraffic:
    """Spread each count over the drivable, non-link edges of its road.

    Raises
    ------
    VmobError
        If a counted road has no edge of that name in the network.
    """
    daily = np.zeros(len(edges.u))
    trucks = np.zeros(len(edges.u))
    for count in counts:
        mask = edges.road_mask([count.road]) & edges.drive & ~np.char.endswith(edges.highway.astype(str), "_link")
        if not mask.any():
            known = sorted({n for n in edges.name[edges.highway == "motorway"] if n})
            raise VmobError(f"{source}: road '{count.road}' is not in the network (motorways found: {', '.join(known) or 'none'})")
        daily[mask] = count.aadt / 2.0  # every directed edge carries one direction
        trucks[mask] = count.truck_share
    return ThroughTraffic(daily, trucks, tuple(c.road for c in counts))
