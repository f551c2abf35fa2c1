"""The supply and policy state of one run: what levers change and what the skims read.

A run starts from the inputs every run shares (:class:`model.simulation.ModelContext`) and
copies the parts policy may change: the network arrays (lanes, capacity, speed limits, bike
links), the transit services (opened lines, stops), the public chargers by year, the station
improvements and the parking charges. The parameter files give their baselines. Levers
(:mod:`model.levers`) change only this state; the skims (:meth:`SupplyState.skims`), the fleet
model (:meth:`SupplyState.chargers_in`) and the mode choice (parking charges) read it, so the
Mesa model needs no attribute that others write into.

The free-flow skims (bike, walk, transit, free-flow car trees) are cached: rebuilt only when
what they are built from has changed since the last build (:class:`SkimCache`), so a year
without a lever and without a new transit service reuses last year's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from model.edges import EdgeArrays
from model.parameters import interpolate
from model.skims import Skims, SkimSettings, TransitSkim, ZoneGraph, build_skims
from model.transit import RunningLine, Transit
from model.vocabulary import MODE_TABLE, Mode
from model.zones import Zones


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shape, dtype and values; NaN equals NaN (object arrays too)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype == object:
        return bool(pd.Series(a, copy=False).equals(pd.Series(b, copy=False)))
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def _freeze(skims: Skims) -> Skims:
    """Make every array of ``skims`` read-only, so that a cached copy cannot be changed by whoever reads it."""
    parts: list[Skims | TransitSkim] = [skims, *skims.transit.values()]
    for part in parts:
        for value in vars(part).values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
    return skims


@dataclass
class SkimCache:
    """The last free-flow skims and everything they were built from.

    The skims depend on the network arrays (all of them are compared, by value, so any lever
    that writes into them invalidates the cache), the transit lines running on the date (peak
    and off-peak), the station improvements, the skim settings, the modes, and the zones and
    anchors (the same objects). A cached :class:`Skims` has read-only arrays.
    """

    edges: dict[str, np.ndarray]
    running: tuple[tuple[RunningLine, ...], tuple[RunningLine, ...]]
    improvements: dict[str, tuple[float, float]]
    settings: SkimSettings
    modes: tuple[Mode, ...]
    zones: Zones
    anchors: ZoneGraph
    skims: Skims

    @staticmethod
    def inputs(edges: EdgeArrays, transit: Transit, date: dt.date) -> tuple[dict[str, np.ndarray], tuple[Any, Any]]:
        """The network arrays and the running lines, as the cache compares them."""
        arrays = {name: value for name, value in vars(edges).items() if isinstance(value, np.ndarray)}
        return arrays, (tuple(transit.running(date, peak=True)), tuple(transit.running(date, peak=False)))

    def matches(
        self,
        edges: EdgeArrays,
        transit: Transit,
        date: dt.date,
        improvements: Mapping[str, tuple[float, float]],
        settings: SkimSettings,
        modes: tuple[Mode, ...],
        zones: Zones,
        anchors: ZoneGraph,
    ) -> bool:
        """Whether skims built from these inputs would equal the cached ones."""
        if zones is not self.zones or anchors is not self.anchors:
            return False
        if settings != self.settings or modes != self.modes or dict(improvements) != self.improvements:
            return False
        arrays, running = self.inputs(edges, transit, date)
        if running != self.running or arrays.keys() != self.edges.keys():
            return False
        return all(_same_array(arrays[name], self.edges[name]) for name in arrays)


@dataclass
class SupplyState:
    """Network, transit, chargers and station improvements as policy has left them so far.

    Attributes
    ----------
    edges
        This run's copy of the network arrays.
    transit
        This run's copy of the lines and their dated services.
    local_chargers
        Public chargers in the municipality, by year (interpolated between years).
    station_improvements
        Station name → (transfer minutes saved, bike-parking minutes saved).
    parking_dkk_per_trip
        Parking charge per car trip by destination zone id (read by the mode choice).
    cache_skims
        Reuse the last free-flow skims while their inputs are unchanged (:class:`SkimCache`).
    skim_builds
        How many times :meth:`skims` has built skims (cache misses and congested skims).
    municipal_fleet
        Vehicle class → year → zero-emission share of the municipality's own vehicles set by the
        municipal fleet lever (read by :mod:`model.local_traffic`; empty: the national stocks).
    speed_limit_compliance
        Share of a change in a posted limit that drivers take up in their driven speed
        (``network.toml`` ``[limit_change]``; read by the speed-limit lever).
    """

    edges: EdgeArrays
    transit: Transit
    local_chargers: dict[int, float]
    station_improvements: dict[str, tuple[float, float]] = field(default_factory=dict)
    parking_dkk_per_trip: dict[str, float] = field(default_factory=dict)
    cache_skims: bool = True
    skim_builds: int = 0
    _skim_cache: SkimCache | None = field(default=None, repr=False, compare=False)
    municipal_fleet: dict[str, dict[int, float]] = field(default_factory=dict)
    speed_limit_compliance: float = 1.0

    @classmethod
    def initial(
        cls,
        edges: EdgeArrays,
        transit: Transit,
        baseline_chargers: Mapping[int, float],
        baseline_parking: Mapping[str, float] | None = None,
    ) -> SupplyState:
        """The state before any lever: copies of the shared inputs, the baseline chargers and prices."""
        return cls(edges.copy(), transit.copy(), dict(baseline_chargers), parking_dkk_per_trip=dict(baseline_parking or {}))

    def chargers_in(self, year: int) -> float:
        """Public chargers in the municipality in ``year``."""
        return interpolate(self.local_chargers, year)

    def replace_chargers(self, path: Mapping[int, float], from_year: int) -> None:
        """Follow ``path`` from ``from_year`` on; the years before keep the path they had."""
        kept = {y: v for y, v in self.local_chargers.items() if y < from_year}
        self.local_chargers = {**kept, **path}

    def municipal_zero_emission(self, year: int) -> dict[str, float]:
        """Zero-emission share of the municipal fleet by vehicle class in ``year`` (0 before a path starts)."""
        return {vehicle: (interpolate(path, year) if year >= min(path) else 0.0) for vehicle, path in self.municipal_fleet.items()}

    def improve_station(self, station: str, transfer_min_saved: float, bike_parking_min_saved: float) -> None:
        """Record a station's shorter transfer and bike-parking times (read by the transit skims)."""
        self.station_improvements[station] = (transfer_min_saved, bike_parking_min_saved)

    def skims(
        self,
        zones: Zones,
        anchors: ZoneGraph,
        date: dt.date,
        settings: SkimSettings,
        car_time_s: np.ndarray | None = None,
        modes: tuple[Mode, ...] = MODE_TABLE,
    ) -> Skims:
        """Every zone × zone skim on this supply (see :func:`model.skims.build_skims`).

        Free-flow skims (``car_time_s`` None) come from the cache when nothing they are built
        from has changed since the last build (:class:`SkimCache`); their arrays are then
        read-only. Congested skims change every assignment iteration and are always built.
        """
        if car_time_s is not None or not self.cache_skims:
            self.skim_builds += 1
            return build_skims(
                self.edges, zones, self.transit, anchors, date, settings, car_time_s, self.station_improvements, modes,
            )
        cache = self._skim_cache
        improvements = self.station_improvements
        if cache is not None and cache.matches(self.edges, self.transit, date, improvements, settings, modes, zones, anchors):
            return cache.skims
        self.skim_builds += 1
        skims = _freeze(build_skims(self.edges, zones, self.transit, anchors, date, settings, None, improvements, modes))
        arrays, running = SkimCache.inputs(self.edges, self.transit, date)
        self._skim_cache = SkimCache(
            edges={name: value.copy() for name, value in arrays.items()}, running=running, improvements=dict(improvements),
            settings=settings, modes=tuple(modes), zones=zones, anchors=anchors, skims=skims,
        )
        return skims
