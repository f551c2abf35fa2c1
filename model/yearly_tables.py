"""A simulated year's output tables, built from the model's state by plain functions.

The Mesa model (:mod:`model.simulation`) gathers the year's state into a :class:`YearState`
and calls :func:`year_tables`; everything here reads that state and writes nothing back, so
each table can be built and tested on its own:

- :func:`mode_split`: commuters, trips, shares and passenger-km by road user and mode;
- :func:`link_vkm`: link-level vehicle-km of commuting, other local and through traffic;
- :func:`link_volumes`: per edge the year's car volumes, speed and lanes (for maps);
- :func:`year_tables`: the four long tables of the output contract (docs/outputs.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from model import emissions
from model.assignment import bpr_time_s, class_loads
from model.choice import trip_distance_km, vehicle_columns
from model.edges import EdgeArrays
from model.fleet import national_stock_shares, truck_stock_shares
from model.parameters import ModelParameters
from model.population import Gravity, Population
from model.skims import Skims
from model.through_traffic import ThroughTraffic
from model.vocabulary import POWERTRAINS, RAIL_MODES, ROAD_USERS, Mode
from model.zones import Zones

if TYPE_CHECKING:
    from model.transit import Transit

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
        Peak-hour car volume per edge: commuters after the assignment plus through traffic.
    through
        Counted through traffic per edge.
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
    through: ThroughTraffic
    visitor_od: np.ndarray
    params: ModelParameters
    factors: emissions.EmissionFactors
    rail_inside_share: dict[str, float]
    labels: dict[str, Any]


@dataclass(frozen=True)
class LinkVkm:
    """Link-level vehicle-km of a year and the daily flows behind them."""

    frame: pd.DataFrame
    commute_daily: np.ndarray
    through_net_daily: np.ndarray


@dataclass(frozen=True)
class YearTables:
    """One year's rows of the output tables, its link volumes and the through traffic it used."""

    tables: dict[str, pd.DataFrame]
    link_volumes: pd.DataFrame
    commute_vkm: float
    through_net_daily: np.ndarray


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
    """Commuters, weekday trips, share and passenger-km per road user and mode."""
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
                "road_user": group, "mode": mode.name, "commuters": commuters,
                "trips_per_weekday": commuters * a.attendance * 2.0,
                "share": commuters / total if total > 0 else 0.0,
                "pkm_per_year": float((annual_trips[sel] * distance[sel]).sum()),
            })
    return pd.DataFrame(rows)


def link_vkm(state: YearState, through_net_daily: np.ndarray | None) -> LinkVkm:
    """Link-level vehicle-km of commuting, other local and through traffic by vehicle group.

    Parameters
    ----------
    state
        The year.
    through_net_daily
        Through traffic per edge and day net of local traffic, fixed in the first year; None in
        the first year, when it is derived here.
    """
    a = state.params.assignment
    edges, pop, n = state.edges, state.population, state.n_zones
    time_s = bpr_time_s(edges, state.peak_volume_vph, a.bpr_alpha, a.bpr_beta)
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
    routes = state.skims.car_routes
    layer_class = [routes.of_powertrain[POWERTRAINS.index(group[1])] for group in groups]
    daily = class_loads(edges, time_s, state.zone_nodes, routes, np.stack(loads, axis=-1), layer_class)  # edges × groups, vehicles/day
    commute_daily = daily[:, :n_commute].sum(axis=1)
    visitor_daily = daily[:, n_commute:].sum(axis=1)
    annual = np.column_stack([daily[:, :n_commute] * a.working_days_per_year, daily[:, n_commute:] * a.visitor_days_per_year])
    resident_daily = daily[:, [g for g, group in enumerate(groups[:n_commute]) if group[3] == "resident"]].sum(axis=1)
    other_local_factor = state.factors.other_local.factor
    local_per_day = (
        (commute_daily + other_local_factor * resident_daily) * a.working_days_per_year
        + visitor_daily * a.visitor_days_per_year
    ) / a.days_per_year
    if through_net_daily is None:
        # The counts are base-year totals: through traffic is the count net of the first year's
        # local traffic, then held fixed, so that fewer local cars (a lever) mean fewer cars in all.
        through_net_daily = np.maximum(state.through.daily_per_direction - local_per_day, 0.0)
    truck = state.through.truck_share
    for powertrain in POWERTRAINS:
        groups.append(("car", powertrain, "through", "non_resident"))
        annual = np.column_stack([annual, through_net_daily * (1.0 - truck) * stock[powertrain] * a.days_per_year])
    for powertrain, share in truck_stock_shares(state.params.fleet, state.year).items():
        groups.append(("truck", powertrain, "through", "non_resident"))
        annual = np.column_stack([annual, through_net_daily * truck * share * a.days_per_year])
    vkm = annual * (edges.length_m / 1000.0)[:, None]
    frame = _vkm_frame(edges, vkm, groups, edges.length_m / time_s * 3.6, a.peak_period_vkm_share)
    return LinkVkm(frame, commute_daily, through_net_daily)


def _vkm_frame(
    edges: EdgeArrays, vkm: np.ndarray, groups: list[tuple[str, str, str, str]], congested_kph: np.ndarray, peak: float,
) -> pd.DataFrame:
    """Long link-vkm rows: per group, area and speed regime (congested peak, free-flow off-peak)."""
    # One piece per group × area × speed regime; the pieces' columns are concatenated once
    # (one DataFrame per piece cost more than the rest of the year's step).
    labels: list[tuple[str, str, str, str, str]] = []
    piece, edge_at, speed_at, value_at = [], [], [], []
    for g, (vehicle, powertrain, traffic, user) in enumerate(groups):
        used = vkm[:, g] > 0
        if not used.any():
            continue
        used_at = np.flatnonzero(used)
        # The counts hold at Vallensbæk only, so through traffic is kept inside the boundary.
        outside = 0.0 if traffic == "through" else 1.0 - edges.inside_share[used]
        for area, share in (("inside", edges.inside_share[used]), ("outside", outside)):
            for speed, fraction in ((congested_kph[used], peak), (edges.speed_kph[used], 1.0 - peak)):
                values = vkm[used, g] * share * fraction
                keep = values > 0
                if not keep.any():
                    continue
                piece.append(np.full(int(keep.sum()), len(labels)))
                labels.append((vehicle, powertrain, area, traffic, user))
                edge_at.append(used_at[keep])
                speed_at.append(speed[keep])
                value_at.append(values[keep])
    label = np.array(labels, dtype=object)[np.concatenate(piece)]
    at = np.concatenate(edge_at)
    return pd.DataFrame({
        "vehicle": label[:, 0], "powertrain": label[:, 1],
        "road_category": edges.road_category[at],
        "speed_limit_kph": np.rint(edges.maxspeed_kph[at]).astype(int),
        "speed_kph": np.concatenate(speed_at), "area": label[:, 2], "traffic": label[:, 3], "road_user": label[:, 4],
        "vkm_per_year": np.concatenate(value_at),
    })


def link_volumes(state: YearState, commute_daily: np.ndarray) -> pd.DataFrame:
    """Per edge: commuters' daily cars, through traffic, peak volume, congested speed, lanes, limit."""
    a, edges = state.params.assignment, state.edges
    peak = state.peak_volume_vph
    return pd.DataFrame({
        **state.labels, "year": state.year, "edge": np.arange(len(edges.u)),
        "car_commute_daily": commute_daily, "through_daily": state.through.daily_per_direction,
        "peak_volume_vph": peak,
        "congested_speed_kph": edges.length_m / bpr_time_s(edges, peak, a.bpr_alpha, a.bpr_beta) * 3.6,
        "lanes_total": edges.lanes_total, "maxspeed_kph": edges.maxspeed_kph,
    })


def year_tables(state: YearState, through_net_daily: np.ndarray | None) -> YearTables:
    """The year's rows of ``mode_split``, ``vehicle_km``, ``energy`` and ``co2``, and its link volumes.

    Parameters
    ----------
    state
        The year.
    through_net_daily
        As in :func:`link_vkm` (None in the first year).
    """
    split = mode_split(state)
    links = link_vkm(state, through_net_daily)
    vkm = links.frame
    commute_vkm = float(vkm.loc[vkm["traffic"] == "commute", "vkm_per_year"].sum())
    volumes = link_volumes(state, links.commute_daily)
    vkm = pd.concat([vkm, emissions.other_local_vkm(vkm, state.factors)], ignore_index=True)
    energy, vehicle_co2 = emissions.vehicle_energy_and_co2(vkm, state.year, state.factors)
    rail = split[split["mode"].isin(RAIL_MODES)]
    rail_pkm = pd.concat(
        [emissions.split_rail_pkm(dict(zip(g["mode"], g["pkm_per_year"], strict=True)), state.rail_inside_share, road_user=user)
         for user, g in rail.groupby("road_user")],
        ignore_index=True,
    )
    co2 = emissions.co2_accounting(vehicle_co2, emissions.rail_co2_table(rail_pkm, state.year, state.factors))
    vehicle_km = vkm.groupby(VEHICLE_KM_KEYS, as_index=False)["vkm_per_year"].sum()
    tables = {
        name: table.assign(**state.labels, year=state.year)
        for name, table in (("mode_split", split), ("vehicle_km", vehicle_km), ("energy", energy), ("co2", co2))
    }
    return YearTables(tables, volumes, commute_vkm, links.through_net_daily)
