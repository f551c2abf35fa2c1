"""Local road traffic besides the agents and the through traffic: a pure layer.

Three kinds of vehicles serve Vallensbæk that the agents do not carry
(``experiments/parameters/local_traffic.toml``, method in docs/emissions.md §8):

- **vans serving homes and firms** (traffic ``service``): trips per household and per job, each
  between a home zone and an external zone (jobs × distance decay), on the fastest free-flow path;
- **scheduled buses** (``bus_service``): departures per day on the roads of each line group;
- **the municipality's own cars and vans** (``municipal_fleet``): its fleet's km, spread by length over
  the municipal roads inside the boundary.

Traffic with neither end in Vallensbæk, on the motorways and the municipal roads alike, is through
traffic (:mod:`model.external_demand`).

:func:`local_flows` gives daily vehicles per directed edge for each (vehicle, powertrain, traffic,
road user) group of a year; :func:`daily_pce` turns them into the preload of the assignment's
periods, :func:`by_count_class` into the classes of the traffic counts, and :func:`link_vkm_frame`
into rows of the link vehicle-km table that :mod:`model.emissions` turns into energy and CO2.
Nothing here keeps state.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.assignment import tree_loads
from model.edges import EdgeArrays
from model.emissions import split_link_vkm
from model.fleet import bus_shares, municipal_fleet_shares, stock_shares
from model.parameters import LocalTrafficParameters, ModelParameters, interpolate
from model.skims import car_trees
from model.vocabulary import EXTERNAL_CLASSES
from model.zones import Zones

#: Road categories the municipal fleet drives on.
MUNICIPAL_ROADS: tuple[str, ...] = ("urban", "local")
#: Columns of :func:`link_vkm_frame` (as ``model.emissions.LINK_VKM_COLUMNS``).
LINK_COLUMNS: tuple[str, ...] = (
    "vehicle", "powertrain", "road_category", "speed_limit_kph", "speed_kph", "area", "traffic", "road_user", "vkm_per_year",
)
#: A group of flows: (vehicle, powertrain, traffic, road user).
Group = tuple[str, str, str, str]


@dataclass(frozen=True)
class LocalFlows:
    """Daily vehicles per directed edge of a year's local traffic, by group.

    Attributes
    ----------
    groups
        ``(vehicle, powertrain, traffic, road_user)`` of each column.
    daily
        ``edges × groups`` vehicles per day (average day of the year).
    """

    groups: tuple[Group, ...]
    daily: np.ndarray

    def total(self, vehicle: str | None = None, traffic: str | None = None) -> np.ndarray:
        """Daily vehicles per edge summed over the groups of ``vehicle`` and ``traffic`` (all if None)."""
        keep = [g for g, (v, _, t, _) in enumerate(self.groups) if vehicle in (None, v) and traffic in (None, t)]
        return self.daily[:, keep].sum(axis=1) if keep else np.zeros(self.daily.shape[0])


class LocalTrafficWarning(UserWarning):
    """A road named in ``local_traffic.toml`` is not in the run's network; it carries no local traffic."""


def _named_edges(edges: EdgeArrays, roads: list[str], where: str) -> np.ndarray:
    """Drivable non-link edges of the named roads.

    The parameter files serve any network (the embedded one, a user's extract, the tests' tiny
    one), so a road the network lacks is not an error: it carries nothing, and a one-line
    :class:`LocalTrafficWarning` names the file, key and road.
    """
    mask = np.zeros(len(edges.u), dtype=bool)
    for road in roads:
        on_road = edges.road_mask([road]) & edges.drive & ~np.char.endswith(edges.highway.astype(str), "_link")
        if not on_road.any():
            warnings.warn(f"local_traffic.toml: key '{where}': road '{road}' is not in the network; it carries no local traffic",
                          LocalTrafficWarning, stacklevel=3)
        mask |= on_road
    return mask


def van_od(zones: Zones, lt: LocalTrafficParameters, residents: float, jobs: float) -> np.ndarray:
    """Zone × zone van trips per day serving Vallensbæk's homes and firms (both directions).

    Trip ends in the home zones: households × rate by population share, jobs × rate by jobs share.
    The other end: an external zone with probability ∝ its jobs × exp(−km / ``external_decay_km``).
    Half of the trips go in, half out.
    """
    vans = lt.vans
    households = residents * vans.households_per_resident
    ends = (households * vans.trips_per_household_per_day * zones.population_share
            + jobs * vans.trips_per_job_per_day * zones.jobs_share)  # zero outside
    external = zones.external
    km = zones.straight_line_km()
    n = len(zones.ids)
    out = np.zeros((n, n))
    for home in zones.home:
        weight = zones.jobs[external] * np.exp(-km[home, external] / vans.external_decay_km)
        if weight.sum() <= 0:
            continue
        out[home, external] = ends[home] / 2.0 * weight / weight.sum()
    return out + out.T


def _municipal_density(edges: EdgeArrays) -> np.ndarray:
    """Weights per edge such that the edges' vehicle-km spread a quantity by length over the municipal roads inside."""
    mask = edges.drive & np.isin(edges.road_category, MUNICIPAL_ROADS) & (edges.inside_share > 0)
    km = (edges.length_m / 1000.0)[mask].sum()
    if km <= 0:
        return np.zeros(len(edges.u))
    return np.where(mask, 1.0 / km, 0.0)


def local_flows(
    edges: EdgeArrays,
    zones: Zones,
    zone_nodes: np.ndarray,
    params: ModelParameters,
    year: int,
    municipal_zero_emission: dict[str, float] | None = None,
) -> LocalFlows:
    """Daily vehicles per directed edge of vans, buses and the municipal fleet in ``year``.

    Parameters
    ----------
    edges
        The run's network arrays (levers included).
    zones, zone_nodes
        Zones and their network nodes (vans' trip ends).
    params
        Model parameters: ``local_traffic`` for the volumes, ``fleet`` for the powertrains,
        ``population`` for residents and jobs of the year, ``assignment.days_per_year``.
    year
        The simulated year.
    municipal_zero_emission
        Class (``car``, ``van``) → zero-emission share of the municipal fleet set by the municipal
        fleet lever; the national stock where absent.

    Returns
    -------
    LocalFlows
    """
    lt, fleet = params.local_traffic, params.fleet
    days = params.assignment.days_per_year
    columns: dict[Group, np.ndarray] = {}

    def add(group: Group, daily: np.ndarray) -> None:
        columns[group] = columns.get(group, 0.0) + daily

    # Vans serving homes and firms, on the fastest free-flow paths.
    od = van_od(zones, lt, params.population.residents.population_in(year), params.population.jobs.count_in(year))
    trees = car_trees(edges, edges.length_m / (edges.speed_kph / 3.6), zone_nodes)
    vans = tree_loads(trees, od, len(edges.u))
    for powertrain, share in stock_shares(fleet, "van", year).items():
        add(("van", powertrain, "service", "non_resident"), vans * share)
    # Scheduled buses: departures per direction on every directed edge of the line's roads.
    for i, line in enumerate(lt.buses):
        on_line = _named_edges(edges, line.roads, f"buses[{i}].roads").astype(float)
        departures = interpolate(line.departures_per_day_per_direction, year)
        for powertrain, share in bus_shares(fleet, line.owner, year).items():
            add(("bus", powertrain, "bus_service", "non_resident"), on_line * departures * share)
    # The municipality's own cars and vans.
    density = _municipal_density(edges)
    own = lt.municipal_fleet
    for own_class, count in own.vehicles.items():
        km_per_day = count * own.km_per_vehicle_per_year[own_class] / days
        zero = (municipal_zero_emission or {}).get(own_class, 0.0)
        for powertrain, share in municipal_fleet_shares(fleet, own_class, year, zero).items():
            add((own_class, powertrain, "municipal_fleet", "non_resident"), density * km_per_day * share)
    groups = tuple(g for g, v in columns.items() if np.any(v > 0))
    daily = np.column_stack([columns[g] for g in groups]) if groups else np.zeros((len(edges.u), 0))
    return LocalFlows(groups, daily)


def daily_pce(flows: LocalFlows, lt: LocalTrafficParameters) -> np.ndarray:
    """Passenger-car equivalents per edge and day of the local flows (the assignment's preload, by period's share)."""
    per_class: dict[str, float] = {str(vehicle): value for vehicle, value in lt.pce.items()}
    pce = np.array([per_class[vehicle] for vehicle, _, _, _ in flows.groups])
    return flows.daily @ pce if flows.groups else np.zeros(flows.daily.shape[0])


def by_count_class(flows: LocalFlows) -> np.ndarray:
    """Daily vehicles per edge in the classes of the counts, ``edges × EXTERNAL_CLASSES``.

    Cars and vans are light vehicles; trucks and buses are the counts' long vehicles (>= 5.8 m),
    counted in the ``truck`` column.
    """
    out = np.zeros((flows.daily.shape[0], len(EXTERNAL_CLASSES)))
    for g, (vehicle, _, _, _) in enumerate(flows.groups):
        out[:, EXTERNAL_CLASSES.index("truck" if vehicle == "bus" else vehicle)] += flows.daily[:, g]
    return out


def link_vkm_frame(
    edges: EdgeArrays, flows: LocalFlows, congested_kph: np.ndarray, peak_share: float, days_per_year: float
) -> pd.DataFrame:
    """Link vehicle-km rows of the local flows in the layout of :data:`model.emissions.LINK_VKM_COLUMNS`.

    Each group's yearly km on an edge are split by the edge's inside share into ``inside`` and
    ``outside``, and by ``peak_share`` into km at the congested peak speed and the rest at free flow.
    """
    vkm = flows.daily * days_per_year * (edges.length_m / 1000.0)[:, None]
    return split_link_vkm(edges, vkm, flows.groups, congested_kph, peak_share)
