"""Policy levers of the climate plan as typed, dated config entries.

Each lever is one pydantic class with a ``kind``, a ``start`` date, its
parameters, a :meth:`check` against the inputs and an :meth:`apply` that
changes the model's network, timetable or fleet once, in the first simulated
year whose reference date (1 July) is on or after ``start``. Adding a lever is
one class here, one entry in :data:`LeverConfig`, one test and a line in
``docs/levers.md``; no other lever changes.
"""

from __future__ import annotations

import datetime as dt
import difflib
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from model.errors import VmobError
from model.transit import Service

if TYPE_CHECKING:
    from model.edges import EdgeArrays
    from model.simulation import MobilityModel, ModelContext


class _Lever(BaseModel):
    """Fields every lever has."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = Field(default=None, description="Name used by sweeps (levers.<id>.<field>).")
    start: dt.date = Field(description="First day the lever is in force.")

    def check(self, context: "ModelContext", where: str) -> None:
        """Raise a :class:`VmobError` naming ``where`` if the lever does not fit the inputs."""

    def conflict_key(self) -> tuple | None:
        """Levers with the same key on the same date contradict each other if their values differ."""
        return None

    def conflict_value(self) -> Any:
        """The value compared by :func:`check_levers` for contradictions."""
        return None

    def apply(self, model: "MobilityModel", date: dt.date) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def _check_roads(edges: "EdgeArrays", roads: list[str], where: str) -> None:
    known = sorted({str(n) for n in edges.name if n})
    for road in roads:
        if road not in known:
            close = difflib.get_close_matches(road, known, n=3, cutoff=0.5)
            hint = f"; closest: {', '.join(close)}" if close else ""
            raise VmobError(f"{where}.roads: road '{road}' is not in the network{hint}")


def _dir_lanes(lanes_total: np.ndarray, oneway: np.ndarray) -> np.ndarray:
    return np.maximum(np.where(oneway, lanes_total, lanes_total // 2), 1)


class LaneReduction(_Lever):
    """Narrow named roads, e.g. Søndre Ringvej and Vejlegårdsvej from 4 to 2 lanes.

    Capacity scales with the lanes per direction. With ``cycle_track`` the freed
    space becomes a cycle track: bike edges of the road get cycle infrastructure.
    Source: the climate plan's lane-narrowing lever (climate-plan.md, levers 1-2).
    """

    kind: Literal["lane_reduction"]
    roads: list[str] = Field(default_factory=lambda: ["Søndre Ringvej", "Vejlegårdsvej"], min_length=1)
    lanes_from: int = Field(default=4, ge=2)
    lanes_to: int = Field(default=2, ge=1)
    cycle_track: bool = False

    @model_validator(mode="after")
    def _fewer(self) -> "LaneReduction":
        if self.lanes_to >= self.lanes_from:
            raise ValueError(f"lanes_to ({self.lanes_to}) must be below lanes_from ({self.lanes_from})")
        return self

    def _mask(self, edges: "EdgeArrays") -> np.ndarray:
        return edges.road_mask(self.roads) & edges.drive

    def check(self, context: "ModelContext", where: str) -> None:
        edges = context.edges
        _check_roads(edges, self.roads, where)
        for road in self.roads:
            lanes = sorted(set(edges.lanes_total[edges.road_mask([road]) & edges.drive].tolist()))
            if self.lanes_from not in lanes:
                raise VmobError(f"{where}.lanes_from: road '{road}' has {'/'.join(map(str, lanes))} lanes, not {self.lanes_from}")

    def conflict_key(self) -> tuple:
        return ("lanes", tuple(sorted(self.roads)), self.start)

    def conflict_value(self) -> Any:
        return self.lanes_to

    def apply(self, model: "MobilityModel", date: dt.date) -> None:
        edges = model.edges
        mask = self._mask(edges) & (edges.lanes_total == self.lanes_from)
        oneway = edges.lanes == edges.lanes_total
        before = _dir_lanes(edges.lanes_total[mask], oneway[mask])
        edges.lanes_total[mask] = self.lanes_to
        after = _dir_lanes(edges.lanes_total[mask], oneway[mask])
        edges.lanes[mask] = after
        edges.capacity_vph[mask] *= after / before
        if self.cycle_track:
            edges.cycleway[edges.road_mask(self.roads) & edges.bike] = True


class SpeedLimit(_Lever):
    """Lower (or raise) posted limits on named roads or on a road category.

    Free-flow speed = limit × compliance (the category's, or ``compliance`` when
    given: real motorway speeds sit above the limit, network.toml). Capacity
    changes by ``capacity_change_per_kph`` per km/h of change (lower speeds allow
    shorter headways; assumption). Emissions follow, since they are computed at
    the driven speed. Source: the climate plan's lower-speeds lever (motorway
    110 → 80 km/h via Silent City; municipal roads lower), climate-plan.md lever 1.
    """

    kind: Literal["speed_limit"]
    limit_kph: float = Field(gt=0, le=130)
    roads: list[str] = Field(default_factory=list)
    road_category: list[Literal["motorway", "ring", "urban", "local"]] = Field(default_factory=list)
    only_limit_kph: float | None = Field(default=None, gt=0, description="Change only links posted at this limit.")
    inside_only: bool = False
    compliance: float | None = Field(default=None, gt=0, le=1.5)
    capacity_change_per_kph: float = Field(default=0.002, ge=0, le=0.02)

    @model_validator(mode="after")
    def _target(self) -> "SpeedLimit":
        if not self.roads and not self.road_category:
            raise ValueError("give roads or road_category")
        return self

    def _mask(self, edges: "EdgeArrays") -> np.ndarray:
        mask = edges.drive & (edges.road_mask(self.roads) | np.isin(edges.road_category, self.road_category))
        if self.only_limit_kph is not None:
            mask &= np.isclose(edges.maxspeed_kph, self.only_limit_kph)
        if self.inside_only:
            mask &= edges.inside_share > 0.5
        return mask

    def check(self, context: "ModelContext", where: str) -> None:
        _check_roads(context.edges, self.roads, where)
        if not self._mask(context.edges).any():
            raise VmobError(f"{where}: no drivable link matches this speed limit's roads/road_category/only_limit_kph")

    def conflict_key(self) -> tuple:
        return ("speed", tuple(sorted(self.roads)), tuple(sorted(self.road_category)), self.only_limit_kph, self.inside_only, self.start)

    def conflict_value(self) -> Any:
        return self.limit_kph

    def apply(self, model: "MobilityModel", date: dt.date) -> None:
        edges = model.edges
        mask = self._mask(edges)
        old = edges.maxspeed_kph[mask]
        factor = edges.speed_kph[mask] / old if self.compliance is None else self.compliance
        edges.maxspeed_kph[mask] = self.limit_kph
        edges.speed_kph[mask] = self.limit_kph * factor
        edges.capacity_vph[mask] *= 1.0 + self.capacity_change_per_kph * (old - self.limit_kph)


class TransitLine(_Lever):
    """Open a planned line of transit.toml (Hovedstadens Letbane) from its dated services.

    Before ``start`` the line does not run. ``services`` replaces the file's
    service patterns (e.g. another opening date or headway); by default the
    file's dated services apply (phase 1 on 26 Oct 2025, every 10 min; full line
    22 Aug 2026, every 5 min in the daytime; geography.md §2b).
    """

    kind: Literal["transit_line"]
    line: str = "L"
    services: list[Service] = Field(default_factory=list)

    def check(self, context: "ModelContext", where: str) -> None:
        try:
            line = context.transit.line(self.line)
        except VmobError as err:
            raise VmobError(f"{where}.line: {err}") from None
        for k, service in enumerate(self.services):
            if service.last_stop is not None and service.last_stop not in line.stops:
                raise VmobError(f"{where}.services[{k}].last_stop: '{service.last_stop}' is not a stop of line {self.line}")

    def conflict_key(self) -> tuple:
        return ("line", self.line, self.start)

    def conflict_value(self) -> Any:
        return tuple(self.services)

    def apply(self, model: "MobilityModel", date: dt.date) -> None:
        model.transit.open_line(self.line, self.services or None, opened=self.start)


class StationStop(_Lever):
    """Make a line call at a station it passes (S-train line E at Vallensbæk St.).

    Optional station improvements from the plan: a shorter transfer (an extra
    lift between light rail and platform) and bike parking (bike-and-ride).
    Source: climate-plan.md lever 4 (12 S-train departures an hour in the rush
    hour with lines A and E once the Letbane runs).
    """

    kind: Literal["station_stop"]
    line: str = "E"
    station: str = "Vallensbæk St."
    transfer_min_saved: float = Field(default=0.0, ge=0, le=10)
    bike_parking_min_saved: float = Field(default=0.0, ge=0, le=10)

    def check(self, context: "ModelContext", where: str) -> None:
        transit = context.transit
        try:
            transit.check_station(self.station)
            line = transit.line(self.line)
        except VmobError as err:
            raise VmobError(f"{where}: {err}") from None
        if self.station not in line.stops:
            raise VmobError(f"{where}.station: '{self.station}' is not on line {self.line}")

    def conflict_key(self) -> tuple:
        return ("stop", self.line, self.station, self.start)

    def conflict_value(self) -> Any:
        return (self.transfer_min_saved, self.bike_parking_min_saved)

    def apply(self, model: "MobilityModel", date: dt.date) -> None:
        model.transit.set_stop(self.line, self.station, True)
        model.station_improvements[self.station] = (self.transfer_min_saved, self.bike_parking_min_saved)


class Chargers(_Lever):
    """Public EV chargers in the municipality by year (replaces the baseline path from ``start``).

    EV uptake at car replacement follows the national new-sales share times a
    charger effect with elasticity 0.35 (Ma et al. 2024) and a home-charging
    floor (fleet.toml; Schulz & Rode 2022). Source: climate-plan.md lever 5.
    """

    kind: Literal["chargers"]
    path: dict[int, float] = Field(min_length=1, description="Year → number of public chargers.")

    @model_validator(mode="after")
    def _non_negative(self) -> "Chargers":
        if any(v < 0 for v in self.path.values()):
            raise ValueError("charger counts cannot be negative")
        return self

    def conflict_key(self) -> tuple:
        return ("chargers", self.start)

    def conflict_value(self) -> Any:
        return tuple(sorted(self.path.items()))

    def apply(self, model: "MobilityModel", date: dt.date) -> None:
        kept = {y: v for y, v in model.local_chargers.items() if y < self.start.year}
        model.local_chargers = {**kept, **{int(y): float(v) for y, v in self.path.items()}}


class Cycling(_Lever):
    """Better cycle routes on named roads (or every bike link inside the boundary).

    Faster (``speed_factor``: priority at junctions, fewer stops) and more
    comfortable (``comfort_factor`` < 1 scales perceived time) bike links, with
    cycle tracks. Source: the plan's "Cycling municipality" theme (climate-plan.md
    lever 3); Copenhagen's cycle network raised bike trips 60 % (Fosgerau et al.
    2023, behaviour-and-emissions.md §1).
    """

    kind: Literal["cycling"]
    roads: list[str] = Field(default_factory=list)
    all_inside: bool = False
    speed_factor: float = Field(default=1.1, ge=1.0, le=1.5)
    comfort_factor: float = Field(default=0.85, gt=0.3, le=1.0)
    cycle_track: bool = True

    @model_validator(mode="after")
    def _target(self) -> "Cycling":
        if not self.roads and not self.all_inside:
            raise ValueError("give roads or all_inside = true")
        return self

    def _mask(self, edges: "EdgeArrays") -> np.ndarray:
        mask = edges.road_mask(self.roads) if self.roads else np.zeros(len(edges.u), dtype=bool)
        if self.all_inside:
            mask |= edges.inside_share > 0.5
        return mask & edges.bike

    def check(self, context: "ModelContext", where: str) -> None:
        _check_roads(context.edges, self.roads, where)

    def conflict_key(self) -> tuple:
        return ("cycling", tuple(sorted(self.roads)), self.all_inside, self.start)

    def conflict_value(self) -> Any:
        return (self.speed_factor, self.comfort_factor)

    def apply(self, model: "MobilityModel", date: dt.date) -> None:
        edges = model.edges
        mask = self._mask(edges)
        edges.bike_speed_factor[mask] *= self.speed_factor
        edges.bike_comfort_factor[mask] *= self.comfort_factor
        if self.cycle_track:
            edges.cycleway[mask] = True


LeverConfig = Annotated[
    Union[LaneReduction, SpeedLimit, TransitLine, StationStop, Chargers, Cycling],
    Field(discriminator="kind"),
]
"""One lever entry of an experiment file (``kind`` picks the class)."""

Lever = _Lever


def check_levers(levers: list[_Lever], context: "ModelContext", start_year: int, end_year: int, where: str) -> None:
    """Validate a scenario's levers against the inputs and the run's years.

    Parameters
    ----------
    levers
        The scenario's levers, in file order.
    context
        Network, zones and transit of the run.
    start_year, end_year
        The simulated years.
    where
        Key path of the list, e.g. ``scenarios.plan.levers``; errors name ``where[i]``.

    Raises
    ------
    VmobError
        For a date outside the run, an unknown road/station/line, a road without
        the lanes a reduction starts from, or two levers that contradict each other.
    """
    seen: dict[tuple, tuple[int, Any]] = {}
    for i, lever in enumerate(levers):
        path = f"{where}[{i}]"
        if not start_year <= lever.start.year <= end_year:
            raise VmobError(f"{path}.start: {lever.start} is outside the run {start_year}–{end_year}")
        lever.check(context, path)
        key = lever.conflict_key()
        if key is None:
            continue
        if key in seen and seen[key][1] != lever.conflict_value():
            raise VmobError(f"{path}: contradicts {where}[{seen[key][0]}] (same target and date, different values)")
        seen[key] = (i, lever.conflict_value())
