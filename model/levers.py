"""Policy levers of the climate plan as typed, dated config entries.

Each lever is one pydantic class with a ``kind``, a ``start`` date, its
parameters, a :meth:`~Lever.check` against the inputs, the :meth:`~Lever.claims`
it makes (for finding contradictions) and an :meth:`~Lever.apply` that changes
the model's network, timetable or fleet once, in the first simulated year whose
reference date (1 July) is on or after ``start``. Adding a lever is one class
here, one entry in :data:`LeverConfig`, one test and a line in
``docs/levers.md``; no other lever changes.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import (
    Field,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from model.errors import VmobError
from model.files import StrictModel, YearKey
from model.settings import REFERENCE_MONTH_DAY
from model.transit import Service

if TYPE_CHECKING:
    from model.edges import EdgeArrays
    from model.simulation import ModelContext
    from model.supply_state import SupplyState

#: Roads the plan names for narrowing (climate-plan.md lever 2).
PLAN_NARROWED_ROADS = ("Søndre Ringvej", "Vejlegårdsvej")


@dataclass(frozen=True)
class Claim:
    """What a lever sets from its start date, for finding contradictions.

    Two levers contradict each other when they start on the same date, make a
    claim on the same ``what`` (and, for edge claims, on at least one common
    edge) and give it different values.

    Attributes
    ----------
    what
        The thing set, e.g. ``"lanes"``, ``"speed limit"``, ``"public chargers"``.
    key
        The lever field that holds the value (named in the error).
    value
        The value set.
    edges
        Boolean edge mask for network claims; None for claims on a line, station or the fleet.
    target
        Label of a non-network target, e.g. the line id.
    """

    what: str
    key: str
    value: Any
    edges: np.ndarray | None = None
    target: str = ""


#: Who decides a lever (the report splits the CO2 saving by these tags).
DECIDERS: tuple[str, ...] = ("municipality", "state", "EU")
Decider = Literal["municipality", "state", "EU"]
#: Lever fields for the report's appraisal only: they do not change a run (left out of its identity).
APPRAISAL_FIELDS: frozenset[str] = frozenset({"cost", "decided_by"})


class LeverCost(StrictModel):
    """What a lever costs, for the report's kr per tonne (model/appraisal.py; docs/levers.md).

    Amounts in DKK (prices of the year the source gives); ``source`` names where the numbers come
    from, or reads "assumption" with the range considered.
    """

    investment_dkk: float = Field(default=0.0, ge=0, description="One-off investment in the start year (DKK).")
    operation_dkk_per_year: float = Field(default=0.0, ge=0, description="Yearly operation and maintenance (DKK/year).")
    lifetime_years: int = Field(ge=1, le=100, description="Years over which the investment is annualised.")
    source: str = Field(min_length=1, description="Source of the numbers, or 'assumption' with a range.")


class Lever(StrictModel):
    """Fields every lever has (strict: text where a number belongs, NaN and infinity are errors)."""

    id: str | None = Field(default=None, description="Name used by sweeps (levers.<id>.<field>).")
    start: dt.date = Field(description="First day the lever is in force.")
    cost: LeverCost | None = Field(default=None, description="Investment, operation and lifetime, for the report's kr per tonne.")
    decided_by: Decider | None = Field(default=None, description="Who decides the lever: municipality, state or EU.")

    def check(self, context: ModelContext, where: str) -> None:
        """Raise a :class:`VmobError` naming ``where`` and the key if the lever does not fit the inputs."""

    def claims(self, context: ModelContext) -> list[Claim]:
        """What the lever sets (see :class:`Claim`); none by default."""
        return []

    def apply(self, supply: SupplyState, date: dt.date) -> None:  # pragma: no cover - abstract
        """Change the run's supply state on ``date`` (the first year the lever is in force)."""
        raise NotImplementedError

    def describe(self) -> str:
        """The lever in words for the report, e.g. ``Søndre Ringvej: 4 → 2 lanes from 2027-01-01``."""
        return f"{type(self).__name__} from {self.start}"


# ----------------------------------------------------------------------------- helpers


def _closest(name: str, known: Iterable[str]) -> str:
    """``"; closest: a, b"`` for the known names most like ``name`` (empty if none is close)."""
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)
    return f"; closest: {', '.join(close)}" if close else ""


def _check_roads(edges: EdgeArrays, roads: list[str], where: str) -> None:
    """Every road name must be an OSM ``name`` of the network; the error lists the closest names."""
    known = sorted({str(n) for n in edges.name if n})
    for k, road in enumerate(roads):
        if road not in known:
            raise VmobError(f"{where}.roads[{k}]: road '{road}' is not in the network{_closest(road, known)}")


def _check_osm_ids(edges: EdgeArrays, osm_ids: list[int], where: str) -> None:
    known = set(edges.osmid.tolist())
    for k, way in enumerate(osm_ids):
        if way not in known:
            raise VmobError(f"{where}.osm_ids[{k}]: OSM way {way} is not in the network")


def _road_labels(edges: EdgeArrays, mask: np.ndarray, limit: int = 4) -> str:
    names = sorted({str(n) if n else f"OSM way {w}" for n, w in zip(edges.name[mask], edges.osmid[mask], strict=True)})
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(f"'{n}'" for n in names[:limit]) + more


def _dir_lanes(lanes_total: np.ndarray, oneway: np.ndarray) -> np.ndarray:
    return np.maximum(np.where(oneway, lanes_total, lanes_total // 2), 1)


def _inside(edges: EdgeArrays) -> np.ndarray:
    return edges.inside_share > 0.5


def _and(items: Iterable[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


#: Road categories in the words of :meth:`SpeedLimit.describe`.
_CATEGORY_WORDS = {"motorway": "motorways", "ring": "ring roads", "urban": "urban roads", "local": "local streets"}


def _number(value: float) -> str:
    return f"{value:,g}"


def _roads_text(roads: list[str], osm_ids: list[int] | None = None) -> str:
    ways = [f"OSM way {w}" for w in osm_ids or []]
    return _and([*roads, *ways])


def driven_speed_kph(driven_kph: np.ndarray, old_limit_kph: np.ndarray, new_limit_kph: float, compliance: float) -> np.ndarray:
    """Driven free-flow speed after a limit change: ``driven × (1 − compliance × (1 − new ÷ old limit))``.

    ``compliance`` is the share of the change drivers take up: 1 keeps the driven/posted ratio, 0
    leaves the driven speed as it was (network.toml ``[limit_change]`` gives the evidence).
    """
    return driven_kph * (1.0 - compliance * (1.0 - new_limit_kph / old_limit_kph))


# ----------------------------------------------------------------------------- levers


class LaneReduction(Lever):
    """Narrow roads, e.g. Søndre Ringvej and Vejlegårdsvej from 4 to 2 lanes.

    Acts on the network: every drivable edge of the roads (by OSM ``name`` or way
    id; by default only the part inside the municipal boundary, which is the
    municipality's to narrow) that has ``lanes_from`` lanes in total gets
    ``lanes_to``; capacity scales with the lanes per direction, so the
    congested car time rises and the assignment moves cars elsewhere and the mode
    choice away from the car. With ``cycle_track`` the freed space becomes a cycle
    track: the road's bike edges count as cycle infrastructure. Combine with a
    ``speed_limit`` lever for the "adjusted speed limits" the plan pairs with it.

    Source: climate-plan.md levers 1–2 (narrowing on part of Søndre Ringvej and
    on Vejlegårdsvej, "e.g. from four lanes to two"); the 2017–18 narrowings of
    Vallensbæk Torvevej, Strandesplanaden and Vallensbækvej are in the 2019 network.
    """

    kind: Literal["lane_reduction"]
    roads: list[str] = Field(default_factory=lambda: list(PLAN_NARROWED_ROADS))
    osm_ids: list[int] = Field(default_factory=list, description="OSM way ids, in addition to (or instead of) roads.")
    lanes_from: int = Field(default=4, ge=2, le=12)
    lanes_to: int = Field(default=2, ge=1, le=11)
    inside_only: bool = Field(
        default=True, description="Narrow only the links inside the municipal boundary (default true, unlike speed_limit)."
    )
    cycle_track: bool = False

    @field_validator("lanes_to")
    @classmethod
    def _fewer(cls, value: int, info: ValidationInfo) -> int:
        lanes_from = info.data.get("lanes_from")
        if lanes_from is not None and value >= lanes_from:
            raise ValueError(f"lanes_to ({value}) must be below lanes_from ({lanes_from})")
        return value

    @model_validator(mode="after")
    def _target(self) -> LaneReduction:
        if self.osm_ids and "roads" not in self.model_fields_set:
            object.__setattr__(self, "roads", [])  # way ids given alone replace the default roads
        if not self.roads and not self.osm_ids:
            raise ValueError("give roads or osm_ids")
        return self

    def _road(self, edges: EdgeArrays) -> np.ndarray:
        mask = (edges.road_mask(self.roads) | np.isin(edges.osmid, self.osm_ids)) & edges.drive
        return mask & _inside(edges) if self.inside_only else mask

    def _mask(self, edges: EdgeArrays) -> np.ndarray:
        return self._road(edges) & (edges.lanes_total == self.lanes_from)

    def check(self, context: ModelContext, where: str) -> None:
        """Every road or way id must have drivable links with ``lanes_from`` lanes (inside the boundary if ``inside_only``)."""
        edges = context.edges
        _check_roads(edges, self.roads, where)
        _check_osm_ids(edges, self.osm_ids, where)
        area = " inside the boundary" if self.inside_only else ""
        targets = [(f"road '{r}'", "roads", edges.road_mask([r])) for r in self.roads]
        targets += [(f"OSM way {w}", "osm_ids", np.isin(edges.osmid, [w])) for w in self.osm_ids]
        for label, key, target in targets:
            on = target & edges.drive & (_inside(edges) if self.inside_only else True)
            lanes = sorted(set(edges.lanes_total[on].tolist()))
            if not lanes:
                raise VmobError(f"{where}.{key}: {label} has no drivable link{area} (set inside_only = false to narrow it outside)")
            if self.lanes_from not in lanes:
                raise VmobError(
                    f"{where}.lanes_from: {label} has {'/'.join(map(str, lanes))} lanes{area}, not {self.lanes_from}"
                )

    def claims(self, context: ModelContext) -> list[Claim]:
        """The lane count of the narrowed links."""
        return [Claim("lanes", "lanes_to", self.lanes_to, edges=self._mask(context.edges))]

    def apply(self, supply: SupplyState, date: dt.date) -> None:
        """Narrow the links, scale their capacity with the lanes per direction and mark cycle tracks if asked."""
        edges = supply.edges
        mask = self._mask(edges)
        oneway = edges.lanes == edges.lanes_total
        before = _dir_lanes(edges.lanes_total[mask], oneway[mask])
        edges.lanes_total[mask] = self.lanes_to
        after = _dir_lanes(edges.lanes_total[mask], oneway[mask])
        edges.lanes[mask] = after
        edges.capacity_vph[mask] *= after / before
        if self.cycle_track:
            bike = (edges.road_mask(self.roads) | np.isin(edges.osmid, self.osm_ids)) & edges.bike
            edges.cycleway[bike & (_inside(edges) if self.inside_only else True)] = True

    def describe(self) -> str:
        """The roads, the lanes before and after, the start date and the area."""
        text = f"{_roads_text(self.roads, self.osm_ids)}: {self.lanes_from} → {self.lanes_to} lanes from {self.start}"
        text += ", inside the boundary only" if self.inside_only else ", inside and outside the boundary"
        return text + ("; the freed space becomes a cycle track" if self.cycle_track else "")


class SpeedLimit(Lever):
    """Lower (or raise) posted limits on named roads or on road categories.

    Acts on the network: drivers take up only part of a new limit. The driven free-flow
    speed becomes ``old × (1 − c × (1 − limit ÷ old limit))`` with ``c`` the compliance
    (``network.toml`` ``[limit_change]``, 0.35 from observed mean speeds, range 0.25–1;
    or ``compliance`` when given): with c = 1 the link keeps its driven/posted ratio, with
    c = 0 nobody slows down. Capacity changes by ``capacity_change_per_kph`` per km/h of
    lower driven speed (lower speeds allow shorter headways; assumption). Car times in
    the skims follow, so routes and modes shift; emissions follow, since they are
    computed at the driven speed (free-flow off-peak, assigned in the peak), for
    commuters and through traffic.

    Source: climate-plan.md lever 1 (Silent City asks for a general motorway
    limit of 80 km/h, today 110 past Vallensbæk — a request, not a decision;
    municipal roads to come down too).
    """

    kind: Literal["speed_limit"]
    limit_kph: float = Field(gt=0, le=130)
    roads: list[str] = Field(default_factory=list)
    road_category: list[Literal["motorway", "ring", "urban", "local"]] = Field(default_factory=list)
    only_limit_kph: float | None = Field(default=None, gt=0, description="Change only links posted at this limit.")
    inside_only: bool = Field(
        default=False,
        description=(
            "Change only links inside the boundary (default false, unlike lane_reduction: "
            "a limit is set for a whole road or category)."
        ),
    )
    compliance: float | None = Field(
        default=None, ge=0, le=1, description="Share of the limit change taken up in the driven speed (network.toml's when none)."
    )
    capacity_change_per_kph: float = Field(default=0.002, ge=0, le=0.02)

    @model_validator(mode="after")
    def _target(self) -> SpeedLimit:
        if not self.roads and not self.road_category:
            raise ValueError("give roads or road_category")
        return self

    def _mask(self, edges: EdgeArrays) -> np.ndarray:
        mask = edges.drive & (edges.road_mask(self.roads) | np.isin(edges.road_category, self.road_category))
        if self.only_limit_kph is not None:
            mask &= np.isclose(edges.maxspeed_kph, self.only_limit_kph)
        if self.inside_only:
            mask &= _inside(edges)
        return mask

    def check(self, context: ModelContext, where: str) -> None:
        """Every road must exist and at least one drivable link must match the targets."""
        edges = context.edges
        _check_roads(edges, self.roads, where)
        if not self._mask(edges).any():
            key = "only_limit_kph" if self.only_limit_kph is not None else ("roads" if self.roads else "road_category")
            target = edges.drive & (edges.road_mask(self.roads) | np.isin(edges.road_category, self.road_category))
            if self.inside_only:
                target &= _inside(edges)
            limits = sorted({int(round(v)) for v in edges.maxspeed_kph[target]})
            now = f"; their links are posted at {', '.join(map(str, limits))} km/h today" if limits else ""
            raise VmobError(
                f"{where}.{key}: no drivable link matches this speed limit's roads/road_category/only_limit_kph/inside_only{now}"
            )

    def claims(self, context: ModelContext) -> list[Claim]:
        """The posted limit of the matched links."""
        return [Claim("speed limit", "limit_kph", self.limit_kph, edges=self._mask(context.edges))]

    def apply(self, supply: SupplyState, date: dt.date) -> None:
        """Set the limit, the driven free-flow speed (the compliant share of the change) and the capacity change."""
        edges = supply.edges
        mask = self._mask(edges)
        old_driven = edges.speed_kph[mask]
        edges.speed_kph[mask] = driven_speed_kph(old_driven, edges.maxspeed_kph[mask], self.limit_kph, self.compliance_in(supply))
        edges.maxspeed_kph[mask] = self.limit_kph
        edges.capacity_vph[mask] *= 1.0 + self.capacity_change_per_kph * (old_driven - edges.speed_kph[mask])

    def compliance_in(self, supply: SupplyState) -> float:
        """The lever's compliance, or the run's (``network.toml`` ``[limit_change]``) when it gives none."""
        return supply.speed_limit_compliance if self.compliance is None else self.compliance

    def describe(self) -> str:
        """The roads or categories, the old and new limit, the start date, the area and the compliance."""
        targets = [*self.roads, *(_CATEGORY_WORDS[c] for c in self.road_category)]
        before = f"{_number(self.only_limit_kph)} → " if self.only_limit_kph is not None else "limit "
        text = f"{_and(targets)}: {before}{_number(self.limit_kph)} km/h from {self.start}"
        text += ", inside the boundary only" if self.inside_only else ", inside and outside the boundary"
        if self.compliance is not None:
            text += f"; drivers take up {100 * self.compliance:.0f} % of the change"
        return text


class TransitLine(Lever):
    """Open a planned line of transit.toml (Hovedstadens Letbane, ``planned = true``).

    Before ``start`` the line does not run; from then its dated services apply
    (by default the file's: phase 1 Ishøj–Rødovre Nord on 26 Oct 2025 every
    10 min, the full line to Lundtofte on 22 Aug 2026 every 5 min in the peak;
    geography.md §2b). Services dated before ``start`` are replaced by the latest
    of them, from ``start``. ``services`` replaces the file's patterns (another
    headway or terminus). Acts on the transit skims: light-rail paths appear,
    S-train paths gain light-rail feeders.

    Source: climate-plan.md lever 4 (the Letbane along Ring 3 with three stops in
    Vallensbæk: Strandhaven, Vallensbæk St., Delta Park).
    """

    kind: Literal["transit_line"]
    line: str = "L"
    services: list[Service] = Field(default_factory=list)

    def check(self, context: ModelContext, where: str) -> None:
        """The line must exist and be planned (or get services), and every ``last_stop`` must be one of its stops."""
        try:
            line = context.transit.line(self.line)
        except VmobError as err:
            raise VmobError(f"{where}.line: {err}") from None
        if not line.planned and not self.services:
            raise VmobError(
                f"{where}.line: line {self.line} already runs in the baseline (not planned in transit.toml); "
                "give services to change its timetable"
            )
        for k, service in enumerate(self.services):
            if service.last_stop is not None and service.last_stop not in line.stops:
                raise VmobError(f"{where}.services[{k}].last_stop: '{service.last_stop}' is not a stop of line {self.line}")

    def claims(self, context: ModelContext) -> list[Claim]:
        """The timetable of the line."""
        return [Claim("timetable", "services", tuple(self.services), target=f"line {self.line}")]

    def services_from_start(self, line_services: list[Service]) -> list[Service]:
        """The services that run from ``start``: the latest one begun by then (moved to ``start``) and later ones."""
        services = sorted(self.services or line_services, key=lambda s: s.start)
        begun = [s for s in services if s.start <= self.start]
        later = [s for s in services if s.start > self.start]
        return ([begun[-1].model_copy(update={"start": self.start})] if begun else []) + later

    def apply(self, supply: SupplyState, date: dt.date) -> None:
        """Open the line with the services that run from ``start``."""
        line = supply.transit.line(self.line)
        supply.transit.open_line(self.line, self.services_from_start(list(line.services)))

    def describe(self) -> str:
        """The line, its opening date and its service patterns."""
        text = f"line {self.line} opens from {self.start}"
        if not self.services:
            return text + " with the services of the transit file"
        patterns = [
            f"from {s.start} every {_number(s.headway_peak_min)} min in the peak and {_number(s.headway_offpeak_min)} min "
            "off-peak" + (f" to {s.last_stop}" if s.last_stop else "")
            for s in self.services
        ]
        return text + ": " + "; ".join(patterns)


class StationStop(Lever):
    """Make a line call at a station it passes (S-train line E at Vallensbæk St.).

    Acts on the timetable and the transit skims: the station is no longer
    skipped (``extra_stop_min`` of transit.toml added to the line's running
    time), and boarding there towards common destinations waits on the combined
    frequency of the lines (A + E: 12 departures an hour in the peak). Station
    improvements from the plan: ``transfer_min_saved`` comes off the transfer
    penalty at the station (an extra lift between light rail and platform) and
    ``bike_parking_min_saved`` off the bike-parking time of bike-and-ride access.

    Source: climate-plan.md lever 4 (line E to stop at Vallensbæk St. once the
    Letbane runs; lift; bike parking); geography.md §6 (DKK 1.7 m for bike
    parking at Vallensbæk Stationsforplads, 2020). The minutes saved are assumptions.
    """

    kind: Literal["station_stop"]
    line: str = "E"
    station: str = "Vallensbæk St."
    transfer_min_saved: float = Field(default=0.0, ge=0, le=10)
    bike_parking_min_saved: float = Field(default=0.0, ge=0, le=10)

    def check(self, context: ModelContext, where: str) -> None:
        """The line and the station must exist and the station must be on the line."""
        transit = context.transit
        try:
            line = transit.line(self.line)
        except VmobError as err:
            raise VmobError(f"{where}.line: {err}") from None
        if self.station not in transit.stations:
            raise VmobError(f"{where}.station: unknown station '{self.station}'{_closest(self.station, transit.stations)}")
        if self.station not in line.stops:
            raise VmobError(f"{where}.station: '{self.station}' is not on line {self.line} (its stops: {', '.join(line.stops)})")

    def claims(self, context: ModelContext) -> list[Claim]:
        """The improvements at the station (minutes off the transfer and the bike parking)."""
        value = (self.transfer_min_saved, self.bike_parking_min_saved)
        return [Claim("station improvements", "transfer_min_saved", value, target=self.station)]

    def apply(self, supply: SupplyState, date: dt.date) -> None:
        """Make the line call at the station and apply the station improvements."""
        supply.transit.set_stop(self.line, self.station, True)
        supply.improve_station(self.station, self.transfer_min_saved, self.bike_parking_min_saved)

    def describe(self) -> str:
        """The line, the station, the start date and the minutes saved."""
        text = f"line {self.line} stops at {self.station} from {self.start}"
        saved = [f"{_number(minutes)} min off the {what}" for minutes, what in (
            (self.transfer_min_saved, "transfer"), (self.bike_parking_min_saved, "bike parking")) if minutes]
        return text + ("; " + _and(saved) if saved else "")


class Chargers(Lever):
    """Public EV chargers in the municipality by year, replacing the baseline path from ``start``.

    Acts on the fleet: the public-charger density residents see enters the BEV
    log-odds of their car purchases with 0.35 × ln(seen / national density)
    (elasticity: Ma et al. 2024; the purchase logit in model/fleet.py and
    fleet.toml), so it fades as sales near 100 % BEV and ends with the EU rule
    for new cars (2035); it still acts on used-car purchases after that.
    EV owners' car trips then emit per the BEV factor and cost less per km. Values
    between the years given are interpolated; ``scale`` multiplies the path (for
    sweeps over charger paths). Path years before ``start`` are ignored (the
    baseline path holds until then). Through traffic follows the national fleet.

    Source: climate-plan.md lever 5; 0 public chargers in Vallensbæk in Sep 2021,
    at least 1 by mid-2023 (geography.md §6, behaviour-and-emissions.md §3).
    """

    kind: Literal["chargers"]
    path: dict[YearKey, float] = Field(min_length=1, description="Year → number of public chargers.")
    scale: float = Field(default=1.0, ge=0, le=100)

    @field_serializer("path")
    def _path_keys(self, path: dict[int, float]) -> dict[str, float]:
        # TOML (and JSON) keys are strings: dump the years as text; validation reads them back as int
        return {str(year): value for year, value in sorted(path.items())}

    @model_validator(mode="after")
    def _non_negative(self) -> Chargers:
        bad = [y for y, v in self.path.items() if v < 0]
        if bad:
            raise ValueError(f"charger count for {bad[0]} is negative")
        return self

    def check(self, context: ModelContext, where: str) -> None:
        """The path must have a year on or after the start year."""
        if not any(y >= self.start.year for y in self.path):
            raise VmobError(f"{where}.path: no year on or after the start ({self.start.year}); the lever would change nothing")

    def claims(self, context: ModelContext) -> list[Claim]:
        """The charger path and its scale."""
        return [Claim("public chargers", "path", (tuple(sorted(self.path.items())), self.scale))]

    def apply(self, supply: SupplyState, date: dt.date) -> None:
        """Replace the baseline charger path from the start year by the scaled path."""
        new = {int(y): float(v) * self.scale for y, v in self.path.items() if y >= self.start.year}
        supply.replace_chargers(new, self.start.year)

    def describe(self) -> str:
        """The charger counts by year, the start date and the scale."""
        path = ", ".join(f"{_number(v)} in {y}" for y, v in sorted(self.path.items()))
        scale = f", times {_number(self.scale)}" if self.scale != 1 else ""
        return f"public EV chargers from {self.start}: {path}{scale}"


class Cycling(Lever):
    """Better cycle routes on named roads (or every bike link inside the boundary).

    Acts on the network and the bike skims: bike links of the roads get faster
    (``speed_factor``: priority at junctions, fewer stops, a smoother surface),
    cycle tracks (``cycle_track``: the choice model values the cycle-track share
    of a route) and more comfortable (``comfort_factor`` < 1 scales the perceived
    time used to find cyclists' routes, so routes move onto them).

    Source: climate-plan.md lever 3 ("Cycling municipality"; Traffic Strategy
    2022); Copenhagen's cycle-track network raised bike trips 60 % (Fosgerau et
    al. 2023, behaviour-and-emissions.md §1); cyclists accept +1.84 km for a cycle
    track (parameters.md §2). The factors are assumptions.
    """

    kind: Literal["cycling"]
    roads: list[str] = Field(default_factory=list)
    all_inside: bool = False
    speed_factor: float = Field(default=1.1, ge=1.0, le=1.5)
    comfort_factor: float = Field(default=0.85, gt=0.3, le=1.0)
    cycle_track: bool = True

    @model_validator(mode="after")
    def _target(self) -> Cycling:
        if not self.roads and not self.all_inside:
            raise ValueError("give roads or all_inside = true")
        return self

    def _mask(self, edges: EdgeArrays) -> np.ndarray:
        mask = edges.road_mask(self.roads) if self.roads else np.zeros(len(edges.u), dtype=bool)
        if self.all_inside:
            mask |= _inside(edges)
        return mask & edges.bike

    def check(self, context: ModelContext, where: str) -> None:
        """Every road must exist and have a link open to bikes."""
        _check_roads(context.edges, self.roads, where)
        for k, road in enumerate(self.roads):
            if not (context.edges.road_mask([road]) & context.edges.bike).any():
                raise VmobError(f"{where}.roads[{k}]: road '{road}' has no link open to bikes")

    def claims(self, context: ModelContext) -> list[Claim]:
        """The speed and comfort factors of the matched bike links."""
        return [Claim("cycle route", "speed_factor", (self.speed_factor, self.comfort_factor), edges=self._mask(context.edges))]

    def apply(self, supply: SupplyState, date: dt.date) -> None:
        """Make the matched bike links faster and more comfortable and mark them as cycle tracks if asked."""
        edges = supply.edges
        mask = self._mask(edges)
        edges.bike_speed_factor[mask] *= self.speed_factor
        edges.bike_comfort_factor[mask] *= self.comfort_factor
        if self.cycle_track:
            edges.cycleway[mask] = True

    def describe(self) -> str:
        """The roads, the start date and the changes in bike speed and perceived time."""
        where = _and([*self.roads, *(["every bike link inside the boundary"] if self.all_inside else [])])
        text = (f"better cycle routes on {where} from {self.start}: bikes {100 * (self.speed_factor - 1):.0f} % faster, "
                f"perceived time {100 * (1 - self.comfort_factor):.0f} % shorter")
        return text + ("; counted as cycle tracks" if self.cycle_track else "")


def _municipal_classes() -> list[Literal["car", "van"]]:
    return ["car", "van"]


class MunicipalFleet(Lever):
    """The plan's municipal fleet target: the municipality's own cars and larger vans zero-emission by ``target_year``.

    Acts on the municipal fleet of model/local_traffic.py (``local_traffic.toml``
    ``[municipal_fleet]``: its cars and vans, driven on the municipal roads inside the
    boundary): the zero-emission share of each class rises linearly from the start year to
    ``share`` in ``target_year`` and is held after; each year the fleet is at least as electric
    as the national stock of its class (fleet.py ``municipal_fleet_shares``), so the lever never
    raises CO2. The plan counts "CO2-neutral"; battery-electric vehicles stand for it, with the
    grid's CO2 per kWh.

    Source: climate-plan.md lever 6 (all municipal passenger cars and larger vans CO2-neutral by
    2030; 75 % of specialised vehicles, not modelled).
    """

    kind: Literal["municipal_fleet"]
    target_year: int = Field(ge=2019, le=2100, description="Year from which the share is reached.")
    share: float = Field(default=1.0, ge=0, le=1, description="Zero-emission share of the fleet in the target year.")
    vehicles: list[Literal["car", "van"]] = Field(default_factory=_municipal_classes, min_length=1)

    def check(self, context: ModelContext, where: str) -> None:
        """The target year must not come before the start."""
        if self.target_year < self.start.year:
            raise VmobError(f"{where}.target_year: {self.target_year} is before the start ({self.start.year})")

    def claims(self, context: ModelContext) -> list[Claim]:
        """The path of each vehicle class."""
        return [Claim("municipal fleet", "share", (self.target_year, self.share), target=v) for v in self.vehicles]

    def apply(self, supply: SupplyState, date: dt.date) -> None:
        """Set the zero-emission path of the municipal fleet's classes from the start year."""
        path = {date.year: 0.0, self.target_year: self.share} if self.target_year > date.year else {date.year: self.share}
        for vehicle in self.vehicles:
            supply.municipal_fleet[vehicle] = dict(path)

    def describe(self) -> str:
        """The classes, the share and the target year."""
        classes = _and(["cars" if v == "car" else "vans" for v in self.vehicles])
        return f"municipal {classes}: {100 * self.share:.0f} % zero-emission by {self.target_year}, rising from {self.start}"


LeverConfig = Annotated[
    LaneReduction | SpeedLimit | TransitLine | StationStop | Chargers | Cycling | MunicipalFleet,
    Field(discriminator="kind"),
]
"""One lever entry of an experiment file (``kind`` picks the class)."""


def check_levers(levers: list[Lever], context: ModelContext, start_year: int, end_year: int, where: str) -> None:
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
        Key path of the list, e.g. ``scenarios.plan.levers``; errors name ``where[i].<key>``.

    Raises
    ------
    VmobError
        For a date outside the run (or after the last simulated year's reference
        date, 1 July, so that it would never apply), an unknown road, OSM way,
        station or line, a road without the lanes a reduction starts from, or two
        levers that set the same thing on the same date to different values.
    """
    last = dt.date(end_year, *REFERENCE_MONTH_DAY)
    claimed: list[tuple[int, Claim]] = []
    for i, lever in enumerate(levers):
        path = f"{where}[{i}]"
        if not start_year <= lever.start.year <= end_year:
            raise VmobError(f"{path}.start: {lever.start} is outside the run {start_year}–{end_year}")
        if lever.start > last:
            raise VmobError(
                f"{path}.start: {lever.start} is after {last}, the date that stands for the last simulated year; "
                "the lever would never apply"
            )
        lever.check(context, path)
        for claim in lever.claims(context):
            for j, other in claimed:
                if levers[j].start != lever.start or other.what != claim.what or other.target != claim.target:
                    continue
                if claim.edges is not None and other.edges is not None:
                    overlap = claim.edges & other.edges
                    if not overlap.any():
                        continue
                    on = f" on {_road_labels(context.edges, overlap)}"
                else:
                    on = f" at {claim.target}" if claim.target else ""
                if other.value != claim.value:
                    raise VmobError(
                        f"{path}.{claim.key}: contradicts {where}[{j}]: both set the {claim.what}{on} from {lever.start}, "
                        f"to {claim.value} and {other.value}"
                    )
            claimed.append((i, claim))
