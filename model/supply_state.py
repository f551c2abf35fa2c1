"""The supply and policy state of one run: what levers change and what the skims read.

A run starts from the inputs every run shares (:class:`model.simulation.ModelContext`) and
copies the parts policy may change: the network arrays (lanes, capacity, speed limits, bike
links), the transit services (opened lines, stops), the public chargers by year, the station
improvements and the parking charges. The parameter files give their baselines. Levers
(:mod:`model.levers`) change only this state; the skims (:meth:`SupplyState.skims`), the fleet
model (:meth:`SupplyState.chargers_in`) and the mode choice (parking charges) read it, so the
Mesa model needs no attribute that others write into.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from model.edges import EdgeArrays
from model.parameters import interpolate
from model.skims import Skims, SkimSettings, ZoneGraph, build_skims
from model.transit import Transit
from model.vocabulary import MODE_TABLE, Mode
from model.zones import Zones


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
    speed_limit_compliance
        Share of a change in a posted limit that drivers take up in their driven speed
        (``network.toml`` ``[limit_change]``; read by the speed-limit lever).
    """

    edges: EdgeArrays
    transit: Transit
    local_chargers: dict[int, float]
    station_improvements: dict[str, tuple[float, float]] = field(default_factory=dict)
    parking_dkk_per_trip: dict[str, float] = field(default_factory=dict)
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
        """Every zone × zone skim on this supply (see :func:`model.skims.build_skims`)."""
        return build_skims(
            self.edges, zones, self.transit, anchors, date, settings, car_time_s, self.station_improvements, modes,
        )
