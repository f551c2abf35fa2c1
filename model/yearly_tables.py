"""A simulated year's output tables, built from the model's state by plain functions.

The Mesa model (:mod:`model.simulation`) gathers the year's state into a :class:`YearState`
and calls :func:`year_tables`; everything here reads that state and writes nothing back, so
each table can be built and tested on its own:

- :func:`mode_split`: persons, trips, shares and passenger-km by road user, purpose and mode;
- :func:`link_vkm`: link-level vehicle-km of residents' trips by purpose, commuting,
  visitors' (other local) and through traffic;
- :func:`link_volumes`: per edge the year's car volumes, speed and lanes (for maps);
- :func:`ridership`: rail riders and boardings per line and station;
- :func:`year_tables`: the year's long tables of the output contract (docs/outputs.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from model import emissions, local_traffic
from model.assignment import class_loads
from model.choice import trip_distance_km, vehicle_columns
from model.edges import EdgeArrays
from model.fleet import national_stock_shares, stock_shares
from model.parameters import ModelParameters
from model.population import Gravity, Population
from model.skims import Skims
from model.vocabulary import EXTERNAL_CLASSES, NO_PURPOSE, PERIODS, POWERTRAINS, PURPOSES, RAIL_MODES, ROAD_USERS, TRIP_PURPOSES, Mode
from model.zones import Zones

if TYPE_CHECKING:
    from model.transit import Transit
    from model.trips import TripState

#: Key columns of the vehicle_km table, after the run keys.
VEHICLE_KM_KEYS = ["vehicle", "powertrain", "road_category", "speed_limit_kph", "area", "traffic", "road_user"]


@dataclass(frozen=True)
class YearState:
    """What a year's tables are built from (read, never changed).

    Attributes
    ----------
    year
        The simulated year.
    population, weights
        Agents after this year's choice, and the real commuters each stands for.
    modes
        The model's modes, in the column order of ``population.mode``.
    skims
        The year's (congested) level of service.
    edges, zone_nodes, n_zones
        Network arrays as levers left them, the zones' anchor nodes and the zone count.
    peak_volume_vph
        Morning peak-hour volume per edge in passenger-car equivalents: commuters, through traffic,
        vans, buses and the municipal fleet.
    external_daily
        External (through) vehicles per day on each edge, ``periods × edges × EXTERNAL_CLASSES``.
    period_time_s
        Congested time per edge in each period, ``periods × edges``.
    evaporated_vkm
        External vehicle-km per year not driven because travel times rose since the base year
        (negative: induced), by class.
    visitor_od
        Other local car trips per day between zones (:func:`visitor_od`).
    params
        Model parameters.
    factors
        Emission factors.
    rail_inside_share
        Share of each rail mode's track-km inside the boundary (:func:`rail_inside_share`).
    labels
        ``experiment``, ``scenario`` and ``seed`` written into every row.
    trips
        Residents' trips other than commuting (:class:`model.trips.TripState`); None leaves them out.
    local
        Vans, buses, the municipal fleet and background traffic per edge (:mod:`model.local_traffic`);
        None leaves them out.
    """

    year: int
    population: Population
    weights: np.ndarray
    modes: tuple[Mode, ...]
    skims: Skims
    edges: EdgeArrays
    zone_nodes: np.ndarray
    n_zones: int
    peak_volume_vph: np.ndarray
    external_daily: np.ndarray
    period_time_s: np.ndarray
    evaporated_vkm: np.ndarray
    visitor_od: np.ndarray
    params: ModelParameters
    factors: emissions.EmissionFactors
    rail_inside_share: dict[str, float]
    labels: dict[str, Any]
    trips: TripState | None = None
    local: local_traffic.LocalFlows | None = None


@dataclass(frozen=True)
class LinkVkm:
    """Link-level vehicle-km of a year and the daily flows behind them."""

    frame: pd.DataFrame
    commute_daily: np.ndarray
    purposes_daily: np.ndarray


@dataclass(frozen=True)
class YearTables:
    """One year's rows of the output tables and its link volumes."""

    tables: dict[str, pd.DataFrame]
    link_volumes: pd.DataFrame
    commute_vkm: float


def visitor_od(zones: Zones, gravity: Gravity, trips_per_day: float) -> np.ndarray:
    """Non-residents' daily car trips to and from Vallensbæk's workplaces, other than commuting.

    Customers, visitors, business and delivery trips: ``trips_per_day`` vehicle trips (both
    directions) to home zones by jobs share, from external zones by the in-commuters' origin model.
    """
    n = len(zones.ids)
    inbound = np.zeros((n, n))
    for row, zone in enumerate(zones.home):
        inbound[:, zone] = trips_per_day / 2.0 * zones.jobs_share[zone] * gravity.incommuter_origin_prob[row]
    return inbound + inbound.T


def rail_inside_share(transit: Transit, station_xy: dict[str, tuple[float, float]], boundary: Any) -> dict[str, float]:
    """Share of each rail mode's track-km inside ``boundary`` (line segments between stops)."""
    totals = {m: [0.0, 0.0] for m in RAIL_MODES}
    for line in transit.lines.values():
        for a_stop, b_stop in zip(line.stops[:-1], line.stops[1:], strict=True):
            segment = shapely.LineString([station_xy[a_stop], station_xy[b_stop]])
            totals[line.mode][0] += segment.length
            totals[line.mode][1] += segment.intersection(boundary).length
    return {m: (inside / total if total else 0.0) for m, (total, inside) in totals.items()}


def mode_split(state: YearState) -> pd.DataFrame:
    """Persons, trips, share and passenger-km per road user, purpose and mode.

    Commuting rows (``purpose = commute``) count commuters and weekday trips; the residents' other
    purposes count persons and trips of an average day, with shares of trips. Children's car
    trips are lifts (their passenger-km are here, the parent's car trips are ``escort``, whose
    passenger-km are the driver's).
    """
    a = state.params.assignment
    pop, weights = state.population, state.weights
    annual_trips = weights * a.attendance * 2.0 * a.working_days_per_year
    distance = trip_distance_km(pop, state.skims, state.modes)
    rows = []
    for group, mask in zip(ROAD_USERS, (pop.resident, ~pop.resident), strict=True):
        total = weights[mask].sum()
        for i, mode in enumerate(state.modes):
            sel = mask & (pop.mode == i)
            commuters = float(weights[sel].sum())
            rows.append({
                "road_user": group, "purpose": "commute", "mode": mode.name, "commuters": commuters,
                "trips_per_weekday": commuters * a.attendance * 2.0,
                "trips_per_day": commuters * a.attendance * 2.0 * a.working_days_per_year / a.days_per_year,
                "share": commuters / total if total > 0 else 0.0,
                "pkm_per_year": float((annual_trips[sel] * distance[sel]).sum()),
            })
    if state.trips is not None:
        rows += _purpose_rows(state, state.trips)
    return pd.DataFrame(rows)


#: The ``station`` of a ridership row that totals a whole line.
ALL_STATIONS = "all"


def ridership(state: YearState) -> pd.DataFrame:
    """Commuters riding each rail line and boarding at each station, per weekday and year.

    Every public-transport commuter rides the legs of the path of their mode (the zone pair's
    transit skim): out along the path, back along it in reverse, on the days they work. A leg
    boards at its first station on the way out and at its last one on the way back, so a
    station's weekday boardings on a line are attendance × the commuters whose legs on the line
    start or end there. The ``all`` row of a line counts its riders and boardings (two a day).
    Common lines (several lines of a mode serving both ends of a leg) share the leg's riders by
    frequency (:attr:`model.skims.TransitSkim.legs`).
    """
    a = state.params.assignment
    pop, weights, n = state.population, state.weights, state.n_zones
    riders: dict[tuple[str, str], float] = {}
    boardings: dict[tuple[str, str], float] = {}
    for column, mode in enumerate(state.modes):
        skim = state.skims.transit.get(mode.name)
        chosen = pop.mode == column
        if skim is None or not chosen.any():
            continue
        od = np.bincount(pop.home[chosen] * n + pop.work[chosen], weights=weights[chosen], minlength=n * n)
        for flat in np.flatnonzero(od > 0):
            commuters = float(od[flat])
            for line, board, alight, share in skim.legs.get((int(flat // n), int(flat % n)), ()):
                for station, count in ((ALL_STATIONS, 2.0), (board, 1.0), (alight, 1.0)):
                    key = (line, station)
                    boardings[key] = boardings.get(key, 0.0) + commuters * share * count
                for station in {ALL_STATIONS, board, alight}:
                    riders[(line, station)] = riders.get((line, station), 0.0) + commuters * share
    rows = [
        {"line": line, "station": station, "commuters": riders[(line, station)],
         "boardings_per_weekday": boardings[(line, station)] * a.attendance,
         "boardings_per_year": boardings[(line, station)] * a.attendance * a.working_days_per_year}
        for line, station in sorted(riders)
    ]
    return pd.DataFrame(rows, columns=["line", "station", "commuters", "boardings_per_weekday", "boardings_per_year"])
def _purpose_rows(state: YearState, trips: TripState) -> list[dict[str, Any]]:
    """The residents' mode-split rows of every purpose other than commuting."""
    days = state.params.assignment.days_per_year
    n_modes = len(state.modes)
    rows = []
    for purpose in TRIP_PURPOSES:
        code = PURPOSES.index(purpose)
        if purpose == "escort":
            car = trips.vehicle_trips_per_day * (trips.vehicle_purpose == code)
            car_column = np.arange(n_modes) == [m.vehicle for m in state.modes].index("car")
            by_mode_trips: np.ndarray = np.where(car_column, car.sum(), 0.0)
            by_mode_pkm: np.ndarray = np.where(car_column, (car * trips.car_distance_km).sum() * days, 0.0)
            persons: np.ndarray = np.zeros(n_modes)
        else:
            sel = trips.purpose == code
            mode = trips.mode[sel]
            by_mode_trips = np.bincount(mode, weights=trips.trips_per_day[sel], minlength=n_modes)
            by_mode_pkm = np.bincount(mode, weights=trips.trips_per_day[sel] * trips.distance_km[sel], minlength=n_modes) * days
            persons = np.bincount(mode, weights=trips.persons[sel], minlength=n_modes)
        total = by_mode_trips.sum()
        for i, mode_spec in enumerate(state.modes):
            rows.append({
                "road_user": "resident", "purpose": purpose, "mode": mode_spec.name, "commuters": float(persons[i]),
                "trips_per_weekday": float(by_mode_trips[i]), "trips_per_day": float(by_mode_trips[i]),
                "share": float(by_mode_trips[i] / total) if total > 0 else 0.0, "pkm_per_year": float(by_mode_pkm[i]),
            })
    return rows


@dataclass(frozen=True)
class LocalLoads:
    """The commuters', residents' and visitors' daily car loads per edge, by vehicle group."""

    groups: list[tuple[str, str, str, str]]
    annual: np.ndarray  # edges × groups, vehicles per year
    commute_daily: np.ndarray
    purposes_daily: np.ndarray
    per_day: np.ndarray  # all these cars per edge and average day of the year


def local_loads(state: YearState) -> LocalLoads:
    """Commuters', residents' other trips' and visitors' cars routed on the year's morning-peak paths, by group."""
    a = state.params.assignment
    edges, pop, n = state.edges, state.population, state.n_zones
    time_s = state.period_time_s[0]
    is_car = np.isin(pop.mode, vehicle_columns(state.modes))
    daily_vehicles = state.weights * a.attendance * 2.0 / a.car_occupancy * is_car
    od_index = pop.home * n + pop.work
    groups: list[tuple[str, str, str, str]] = []
    loads: list[np.ndarray] = []
    for user, user_mask in zip(ROAD_USERS, (pop.resident, ~pop.resident), strict=True):
        for p_index, powertrain in enumerate(POWERTRAINS):
            sel = user_mask & (pop.powertrain == p_index)
            od = np.bincount(od_index[sel], weights=daily_vehicles[sel], minlength=n * n).reshape(n, n)
            np.fill_diagonal(od, 0.0)
            groups.append(("car", powertrain, "commute", user))
            loads.append(od)
    n_commute = len(groups)
    stock = national_stock_shares(state.params.fleet, state.year)
    for powertrain in POWERTRAINS:
        groups.append(("car", powertrain, "other_local", "non_resident"))
        loads.append(state.visitor_od * stock[powertrain])
    n_visitor = len(groups)
    groups_trips, loads_trips = purpose_od(state)
    groups += groups_trips
    loads += loads_trips
    routes = state.skims.car_routes
    layer_class = [routes.of_powertrain[POWERTRAINS.index(group[1])] for group in groups]
    daily = class_loads(edges, time_s, state.zone_nodes, routes, np.stack(loads, axis=-1), layer_class)  # edges × groups, vehicles/day
    commute_daily = daily[:, :n_commute].sum(axis=1)
    visitor_daily = daily[:, n_commute:n_visitor].sum(axis=1)
    purposes_daily = daily[:, n_visitor:].sum(axis=1)
    annual = np.column_stack([
        daily[:, :n_commute] * a.working_days_per_year, daily[:, n_commute:n_visitor] * a.visitor_days_per_year,
        daily[:, n_visitor:] * a.days_per_year,
    ])
    per_day = (
        commute_daily * a.working_days_per_year + visitor_daily * a.visitor_days_per_year + purposes_daily * a.days_per_year
    ) / a.days_per_year
    return LocalLoads(groups, annual, commute_daily, purposes_daily, per_day)


def local_car_daily(state: YearState) -> np.ndarray:
    """Commuters', residents' and visitors' cars per edge and average day: what the counts hold besides the rest."""
    return local_loads(state).per_day


def link_vkm(state: YearState) -> LinkVkm:
    """Link-level vehicle-km of commuting, residents' other purposes, visitors and through traffic by vehicle group.

    The agents' and visitors' cars are driven at the morning peak's congested speed for
    ``peak_period_vkm_share`` of their kilometres and at free-flow speed for the rest; through
    traffic in each period at that period's congested speed, on every edge it uses, inside and
    outside the boundary.
    """
    a = state.params.assignment
    edges = state.edges
    local = local_loads(state)
    time_s = state.period_time_s[0]
    km = (edges.length_m / 1000.0)[:, None]
    frames = [_vkm_frame(edges, local.annual * km, local.groups, edges.length_m / time_s * 3.6, a.peak_period_vkm_share)]
    for p, _period in enumerate(PERIODS):
        groups: list[tuple[str, str, str, str]] = []
        columns: list[np.ndarray] = []
        for x, vehicle in enumerate(EXTERNAL_CLASSES):
            for powertrain, share in stock_shares(state.params.fleet, vehicle, state.year).items():
                groups.append((vehicle, powertrain, "through", "non_resident"))
                columns.append(state.external_daily[p][:, x] * share * a.days_per_year)
        speed = edges.length_m / state.period_time_s[p] * 3.6
        frames.append(_vkm_frame(edges, np.column_stack(columns) * km, groups, speed, 1.0))
    frame = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
    return LinkVkm(frame, local.commute_daily, local.purposes_daily)


def purpose_od(state: YearState) -> tuple[list[tuple[str, str, str, str]], list[np.ndarray]]:
    """Residents' daily car trips of every purpose other than commuting, per powertrain, as OD matrices.

    Each layer is ``zones × zones`` vehicle trips per average day (home → destination; a trip
    within one zone loads no link). Empty when the state has no trips.
    """
    trips = state.trips
    if trips is None:
        return [], []
    n = state.n_zones
    groups: list[tuple[str, str, str, str]] = []
    loads: list[np.ndarray] = []
    od_index = trips.home * n + trips.dest
    for purpose in TRIP_PURPOSES:
        code = PURPOSES.index(purpose)
        for p_index, powertrain in enumerate(POWERTRAINS):
            sel = (trips.vehicle_purpose == code) & (trips.powertrain == p_index) & (trips.vehicle_trips_per_day > 0)
            if not sel.any():
                continue
            od = np.bincount(od_index[sel], weights=trips.vehicle_trips_per_day[sel], minlength=n * n).reshape(n, n)
            np.fill_diagonal(od, 0.0)
            groups.append(("car", powertrain, purpose, "resident"))
            loads.append(od)
    return groups, loads


def _vkm_frame(
    edges: EdgeArrays, vkm: np.ndarray, groups: list[tuple[str, str, str, str]], congested_kph: np.ndarray, peak: float,
) -> pd.DataFrame:
    """Long link-vkm rows: per group, area and speed regime (congested peak, free-flow off-peak)."""
    return emissions.split_link_vkm(edges, vkm, groups, congested_kph, peak)


def link_volumes(state: YearState, commute_daily: np.ndarray, purposes_daily: np.ndarray | None = None) -> pd.DataFrame:
    """Per edge: commuters' and residents' other daily cars, through traffic, peak volume, congested speed, lanes, limit."""
    edges = state.edges
    peak = state.peak_volume_vph
    return pd.DataFrame({
        **state.labels, "year": state.year, "edge": np.arange(len(edges.u)),
        "car_commute_daily": commute_daily,
        "car_purposes_daily": np.zeros(len(edges.u)) if purposes_daily is None else purposes_daily,
        "through_daily": state.external_daily.sum(axis=(0, 2)),
        "peak_volume_vph": peak,
        "congested_speed_kph": edges.length_m / state.period_time_s[0] * 3.6,
        "lanes_total": edges.lanes_total, "maxspeed_kph": edges.maxspeed_kph,
    })


def _local_vkm(state: YearState) -> pd.DataFrame | None:
    """Link vehicle-km of the year's vans, buses, municipal fleet and background traffic (None without them)."""
    if state.local is None:
        return None
    a = state.params.assignment
    congested_kph = state.edges.length_m / state.period_time_s[0] * 3.6
    return local_traffic.link_vkm_frame(state.edges, state.local, congested_kph, a.peak_period_vkm_share, a.days_per_year)


def traffic_row(state: YearState, vkm: pd.DataFrame, vehicle_co2: pd.DataFrame) -> pd.DataFrame:
    """The year's road CO2 outside the boundary and its evaporated through traffic (summary columns).

    Evaporated CO2 is the evaporated vehicle-km at the year's mean CO2 per km of through traffic.
    """
    through = vkm["traffic"] == "through"
    through_vkm = float(vkm.loc[through, "vkm_per_year"].sum())
    through_co2 = float(vehicle_co2.loc[vehicle_co2["traffic"] == "through", "co2_t"].sum())
    evaporated = float(state.evaporated_vkm.sum())
    return pd.DataFrame([{
        "co2_outside_t": float(vehicle_co2.loc[vehicle_co2["area"] == "outside", "co2_t"].sum()),
        "vkm_evaporated_per_year": evaporated,
        "co2_evaporated_t": evaporated * through_co2 / through_vkm if through_vkm > 0 else 0.0,
    }])


def year_tables(state: YearState) -> YearTables:
    """The year's rows of ``mode_split``, ``vehicle_km``, ``energy``, ``co2`` and ``ridership``, and its link volumes."""
    split = mode_split(state)
    links = link_vkm(state)
    vkm = links.frame
    commute_vkm = float(vkm.loc[vkm["traffic"] == "commute", "vkm_per_year"].sum())
    volumes = link_volumes(state, links.commute_daily, links.purposes_daily)
    vkm = pd.concat([vkm, _local_vkm(state)], ignore_index=True)
    energy, vehicle_co2 = emissions.vehicle_energy_and_co2(vkm, state.year, state.factors)
    rail = split[split["mode"].isin(RAIL_MODES)]
    rail_pkm = pd.concat(
        [emissions.split_rail_pkm(dict(zip(g["mode"], g["pkm_per_year"], strict=True)), state.rail_inside_share, road_user=user)
         .assign(traffic=purpose)
         for (user, purpose), g in rail.groupby(["road_user", "purpose"])],
        ignore_index=True,
    )
    co2 = emissions.co2_accounting(vehicle_co2, emissions.rail_co2_table(rail_pkm, state.year, state.factors))
    vehicle_km = vkm.groupby(VEHICLE_KM_KEYS, as_index=False)["vkm_per_year"].sum()
    vehicle_km.insert(
        VEHICLE_KM_KEYS.index("traffic") + 1, "purpose",
        np.where(vehicle_km["traffic"].isin(PURPOSES), vehicle_km["traffic"], NO_PURPOSE),
    )
    tables = {
        name: table.assign(**state.labels, year=state.year)
        for name, table in (
            ("mode_split", split), ("vehicle_km", vehicle_km), ("energy", energy), ("co2", co2), ("ridership", ridership(state)),
            ("traffic", traffic_row(state, vkm, vehicle_co2)),
        )
    }
    return YearTables(tables, volumes, commute_vkm)
