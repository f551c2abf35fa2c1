"""Level-of-service skims between zones for every mode, with scipy.sparse.csgraph.

Shortest-path trees are grown from the distinct zone nodes only (a few dozen),
never per pair. Sums along tree paths (distance along a time-shortest path,
the components of a transit trip) come from vectorised pointer jumping over the
predecessor arrays; car demand is loaded by accumulating it up the same trees
(:func:`model.assignment.tree_loads`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from model.edges import EdgeArrays, snap_stations
from model.errors import VmobError
from model.transit import Transit
from model.vocabulary import MODE_TABLE, Mode
from model.zones import Zones

if TYPE_CHECKING:
    from model.parameters import ChoiceParameters, ModelParameters


@dataclass(frozen=True)
class CarRouteClasses:
    """Classes of cars routed together on generalised time: time + km × ``seconds_per_km``.

    Attributes
    ----------
    names
        Class names (``assignment.toml`` ``[route_classes]``).
    seconds_per_km
        Perceived money cost of a km in seconds of travel time (DKK per km ÷ value of time), per class.
    of_powertrain
        Class index of each powertrain of :data:`model.vocabulary.POWERTRAINS`.
    """

    names: tuple[str, ...]
    seconds_per_km: tuple[float, ...]
    of_powertrain: tuple[int, ...]

    def of_agents(self, powertrain: np.ndarray) -> np.ndarray:
        """Class index per agent from its powertrain index (agents without a car: the first class)."""
        return np.asarray(self.of_powertrain)[np.maximum(powertrain, 0)]


#: One class routed on time alone (skims built without the parameters, e.g. in tests).
TIME_ONLY = CarRouteClasses(("time",), (0.0,), (0, 0, 0, 0))


def car_route_classes(params: ModelParameters) -> CarRouteClasses:
    """Route classes from ``assignment.toml``, the per-km costs of ``mode_choice.toml`` and the value of time.

    A class's DKK per km is the mean of its powertrains' perceived cost per km (running plus
    the perceived share of ownership, as in the car utility); the value of time is the
    harmonic mean of the population's log-normal one, ``mean × exp(−log_sd²)``, so that the
    average weight of a km is the one agents' own values of time give.
    """
    from model.choice import car_cost_per_km
    from model.vocabulary import POWERTRAINS

    per_km = dict(zip(POWERTRAINS, car_cost_per_km(params.choice), strict=True))
    vot = params.population.value_of_time
    dkk_per_s = vot.mean_dkk_per_hour * float(np.exp(-vot.log_sd**2)) / 3600.0
    classes = params.assignment.route_classes
    names = tuple(classes)
    seconds = tuple(float(np.mean([per_km[p] for p in classes[name]])) / dkk_per_s for name in names)
    of_powertrain = tuple(next(k for k, name in enumerate(names) if p in classes[name]) for p in POWERTRAINS)
    return CarRouteClasses(names, seconds, of_powertrain)



@dataclass(frozen=True)
class SkimSettings:
    """Speeds, access rules and path-choice weights of the skims.

    Built from the parameter files by :func:`skim_settings`; every value is
    documented in ``network.toml`` (speeds) and ``mode_choice.toml`` (the rest).
    """

    bike_kph: float
    ebike_kph: float
    walk_kph: float
    no_cycletrack_penalty: float
    walk_access_max_km: float
    bike_access_max_km: float
    egress_max_km: float
    bike_parking_min: float
    wait_weight: float
    access_weight: float
    transfer_penalty_min: float
    max_wait_min: float
    rail_detour: float
    transfer_walk_max_m: float
    walk_detour: float
    intra_zone_km: float
    intra_zone_car_kph: float
    rail_time_factor: float
    headway_factor: float
    car_routes: CarRouteClasses = TIME_ONLY


def skim_settings(
    choice: ChoiceParameters, speeds_kph: Mapping[str, float], car_routes: CarRouteClasses = TIME_ONLY,
) -> SkimSettings:
    """Skim settings from the mode-choice parameters, the network's mode speeds and the car route classes."""
    coef = choice.coefficients
    return SkimSettings(
        bike_kph=speeds_kph["bike"], ebike_kph=speeds_kph["ebike"], walk_kph=speeds_kph["walk"],
        wait_weight=coef.wait_weight, access_weight=coef.access_weight, transfer_penalty_min=coef.transfer_penalty_min,
        car_routes=car_routes, **choice.access.model_dump(),
    )


@dataclass
class TransitSkim:
    """Best path of one rail mode between every pair of zones (NaN where unavailable)."""

    available: np.ndarray
    ivt_min: np.ndarray
    wait_min: np.ndarray
    access_min: np.ndarray
    egress_min: np.ndarray
    transfers: np.ndarray
    rail_km: np.ndarray
    board_station: np.ndarray  # index into Skims.stations, -1 where unavailable
    #: Per reached zone pair (origin, destination index): the path's legs as (line id, boarding
    #: station, alighting station, share), in travel order (for boardings per line and station).
    #: A leg that common lines serve (S-train A and E from Vallensbæk St. to København once E
    #: stops there) appears once per line, each with its share of the combined frequency.
    legs: dict[tuple[int, int], tuple[tuple[str, str, str, float], ...]] = field(default_factory=dict)

    @property
    def total_min(self) -> np.ndarray:
        """Door-to-door minutes."""
        return self.ivt_min + self.wait_min + self.access_min + self.egress_min


@dataclass
class Skims:
    """Zone × zone level of service. Index order is :class:`model.zones.Zones`'.

    Car skims are per route class (:class:`CarRouteClasses`), ``classes × zones × zones``:
    time, distance and generalised minutes (time + km × the class's minutes per km) along
    the class's routes. ``car_time_min`` and ``car_dist_km`` are the first class's.
    """

    car_time_min: np.ndarray
    car_dist_km: np.ndarray
    bike_time_min: np.ndarray
    bike_dist_km: np.ndarray
    cycletrack_share: np.ndarray
    walk_time_min: np.ndarray
    walk_dist_km: np.ndarray
    transit: dict[str, TransitSkim]
    stations: tuple[str, ...]
    car_class_time_min: np.ndarray
    car_class_dist_km: np.ndarray
    car_generalised_min: np.ndarray
    car_routes: CarRouteClasses


class ZoneGraph:
    """Zone and station anchor nodes on a network, computed once per run."""

    def __init__(self, edges: EdgeArrays, zones: Zones, transit: Transit) -> None:
        both = edges.drive & edges.walk
        self.zone_node, _ = edges.nearest_node(zones.x, zones.y, both)
        snap = snap_stations(edges, transit)
        self.stations = snap.names
        self.station_x, self.station_y = snap.x, snap.y
        self.station_node = snap.node
        self.station_snap_m = snap.distance_m


@dataclass(frozen=True)
class EdgeIndex:
    """Vectorised lookup of the edge position behind a (tail, head) node pair."""

    keys: np.ndarray
    positions: np.ndarray
    n_nodes: int

    def find(self, tail: np.ndarray, head: np.ndarray, directed: bool = True) -> np.ndarray:
        """Positions of the edges ``tail → head`` (or either way when undirected); -1 where none."""
        found = self._find(tail, head)
        if not directed:
            found = np.where(found >= 0, found, self._find(head, tail))
        return found

    def _find(self, tail: np.ndarray, head: np.ndarray) -> np.ndarray:
        key = np.asarray(tail, dtype=np.int64) * self.n_nodes + np.asarray(head, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        return np.where(self.keys[at] == key, self.positions[at], -1)


def shortest_trees(
    n_nodes: int, u: np.ndarray, v: np.ndarray, weight: np.ndarray, origins: np.ndarray, directed: bool = True
) -> tuple[np.ndarray, np.ndarray, EdgeIndex]:
    """Dijkstra trees from ``origins`` over the edges given.

    Parallel edges keep their lightest member. Returns distances, predecessors
    (both ``len(origins) × n_nodes``) and an :class:`EdgeIndex` that maps tree
    edges back to positions in ``u``/``v``.
    """
    order = np.lexsort((weight, v, u))
    u_s, v_s = u[order], v[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (u_s[1:] != u_s[:-1]) | (v_s[1:] != v_s[:-1])
    keep = order[first]
    matrix = sp.csr_matrix((np.maximum(weight[keep], 1e-9), (u[keep], v[keep])), shape=(n_nodes, n_nodes))
    dist, pred = dijkstra(matrix, directed=directed, indices=origins, return_predecessors=True)
    keys = u[keep].astype(np.int64) * n_nodes + v[keep]
    sort = np.argsort(keys)
    return dist, pred, EdgeIndex(keys[sort], keep[sort], n_nodes)


def tree_edges(pred: np.ndarray, index: EdgeIndex, directed: bool = True) -> np.ndarray:
    """For each tree row and node, the position of the edge from its predecessor (-1 at roots)."""
    nodes = np.broadcast_to(np.arange(pred.shape[1]), pred.shape)
    has = pred >= 0
    found = np.full(pred.shape, -1, dtype=np.int64)
    found[has] = index.find(pred[has], nodes[has], directed)
    return found


def path_sums(pred: np.ndarray, tree_edge: np.ndarray, measures: np.ndarray) -> np.ndarray:
    """Sum of edge ``measures`` along every tree path, for all trees and nodes at once.

    Pointer jumping: after step k each node holds the sum over the 2**k edges
    above it, so ``log2(depth)`` vectorised steps cover every path.

    Parameters
    ----------
    pred
        Predecessors, ``trees × nodes`` (negative at roots and unreached nodes).
    tree_edge
        From :func:`tree_edges`.
    measures
        ``edges × k`` values to sum.

    Returns
    -------
    numpy.ndarray
        ``trees × nodes × k`` sums (0 at roots and unreached nodes).
    """
    trees, n = pred.shape
    flat_parent = np.where(pred >= 0, pred, np.arange(n)[None, :]) + (np.arange(trees) * n)[:, None]
    jump = flat_parent.ravel()
    acc = np.where((tree_edge >= 0)[..., None], measures[np.maximum(tree_edge, 0)], 0.0).reshape(trees * n, -1)
    while True:
        acc = acc + acc[jump]
        nxt = jump[jump]
        if np.array_equal(nxt, jump):
            break
        jump = nxt
    return acc.reshape(trees, n, -1)


def trace_path(pred_row: np.ndarray, origin: int, target: int, index: EdgeIndex, directed: bool = True) -> np.ndarray:
    """Edge positions on the tree path from ``origin`` to ``target`` (empty if none or same node)."""
    parents = pred_row.tolist()
    nodes = [target]
    node = target
    while node != origin:
        node = parents[node]
        if node < 0:
            return np.empty(0, dtype=np.int64)
        nodes.append(node)
    nodes.reverse()
    return index.find(np.array(nodes[:-1]), np.array(nodes[1:]), directed)


@dataclass
class CarTrees:
    """Least-cost car paths of one route class from every zone node, for skims and all-or-nothing loading.

    The cost of an edge is its time plus its length × ``seconds_per_km``; ``cost_s`` is the
    least cost between zones, ``time_s`` and ``dist_km`` the time and distance along those
    paths (``inf`` where a zone cannot be reached).
    """

    zone_nodes: np.ndarray
    time_s: np.ndarray  # zones × zones
    dist_km: np.ndarray  # zones × zones
    pred: np.ndarray
    index: EdgeIndex
    positions: np.ndarray  # drive-edge position in EdgeArrays, by position in the tree's edge list
    tree_edge: np.ndarray | None = None  # from tree_edges(pred, index); computed when first needed
    cost_s: np.ndarray | None = None  # zones × zones generalised seconds; time_s when seconds_per_km = 0
    seconds_per_km: float = 0.0

    @property
    def generalised_s(self) -> np.ndarray:
        """Least generalised seconds between zones (the travel time for a time-only class)."""
        return self.time_s if self.cost_s is None else self.cost_s


def car_trees(edges: EdgeArrays, time_s: np.ndarray, zone_nodes: np.ndarray, seconds_per_km: float = 0.0) -> CarTrees:
    """Least-cost car paths between all zone nodes: edge time (s) + km × ``seconds_per_km``."""
    mask = edges.drive
    positions = np.flatnonzero(mask)
    km = edges.length_m[mask] / 1000.0
    cost = time_s[mask] + seconds_per_km * km
    dist, pred, index = shortest_trees(edges.n_nodes, edges.u[mask], edges.v[mask], cost, zone_nodes)
    tree_edge = tree_edges(pred, index)
    dist_km = path_sums(pred, tree_edge, km[:, None])[:, zone_nodes, 0]
    if seconds_per_km == 0.0:
        return CarTrees(zone_nodes, dist[:, zone_nodes], dist_km, pred, index, positions, tree_edge)
    cost_s = dist[:, zone_nodes]
    # The cost of a path is its time plus its km × seconds_per_km, so the time is what remains.
    return CarTrees(
        zone_nodes, np.maximum(cost_s - seconds_per_km * dist_km, 0.0), dist_km, pred, index, positions, tree_edge,
        cost_s=cost_s, seconds_per_km=seconds_per_km,
    )


def car_route_trees(edges: EdgeArrays, time_s: np.ndarray, zone_nodes: np.ndarray, routes: CarRouteClasses) -> list[CarTrees]:
    """:func:`car_trees` of every route class."""
    return [car_trees(edges, time_s, zone_nodes, s) for s in routes.seconds_per_km]


def _undirected_skim(
    edges: EdgeArrays, mask: np.ndarray, weight: np.ndarray, origins: np.ndarray, targets: np.ndarray, measures: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Shortest paths on an undirected sub-network; sums of ``measures`` along each path."""
    dist, pred, index = shortest_trees(edges.n_nodes, edges.u[mask], edges.v[mask], weight[mask], origins, directed=False)
    if not measures:
        return dist, []
    stacked = np.column_stack([m[mask] for m in measures])
    sums = path_sums(pred, tree_edges(pred, index, directed=False), stacked)[:, targets, :]
    reached = np.isfinite(dist[:, targets])
    return dist, [np.where(reached, sums[..., k], np.nan) for k in range(len(measures))]


def build_skims(
    edges: EdgeArrays,
    zones: Zones,
    transit: Transit,
    anchors: ZoneGraph,
    date: dt.date,
    settings: SkimSettings,
    car_time_s: np.ndarray | None = None,
    improvements: Mapping[str, tuple[float, float]] | None = None,
    modes: tuple[Mode, ...] = MODE_TABLE,
) -> Skims:
    """All zone × zone skims for the network, transit service and date given.

    Parameters
    ----------
    edges
        Network arrays (levers may have changed them).
    zones, transit, anchors
        Zones, rail network and their anchor nodes.
    date
        Transit services running on this date are used.
    settings
        Speeds and path weights.
    car_time_s
        Congested car time per edge; free flow when omitted.
    improvements
        Station name → (transfer minutes saved, bike-parking minutes saved).
    modes
        The model's modes; each with ``transit_lines`` gets a transit skim.
    """
    n = len(zones.ids)
    zone_nodes = anchors.zone_node
    time_s = edges.free_flow_time_s if car_time_s is None else car_time_s
    trees = car_route_trees(edges, time_s, zone_nodes, settings.car_routes)
    if not np.all(np.isfinite(trees[0].time_s)):
        i, j = np.argwhere(~np.isfinite(trees[0].time_s))[0]
        raise VmobError(f"no car route from zone '{zones.ids[i]}' to '{zones.ids[j]}' on this network")

    bike_mask = edges.bike
    bike_kmh = settings.bike_kph * edges.bike_speed_factor
    bike_time_s = edges.length_m / (bike_kmh / 3.6)
    comfort = np.where(edges.cycleway, 1.0, 1.0 + settings.no_cycletrack_penalty) * edges.bike_comfort_factor
    bike_nodes = np.concatenate([zone_nodes, anchors.station_node])
    _, (bike_time, bike_dist, track_m) = _undirected_skim(
        edges, bike_mask, bike_time_s * comfort, zone_nodes, bike_nodes,
        [bike_time_s / 60.0, edges.length_m / 1000.0, edges.length_m * edges.cycleway],
    )
    walk_dist_all, _ = _undirected_skim(edges, edges.walk, edges.length_m, zone_nodes, bike_nodes, [])
    walk_dist = walk_dist_all[:, bike_nodes] / 1000.0
    walk_time = walk_dist / settings.walk_kph * 60.0

    nz = len(zone_nodes)
    skims = Skims(
        car_time_min=np.empty((nz, nz)),
        car_dist_km=np.empty((nz, nz)),
        bike_time_min=bike_time[:, :nz],
        bike_dist_km=bike_dist[:, :nz],
        cycletrack_share=np.divide(track_m[:, :nz] / 1000.0, bike_dist[:, :nz], out=np.zeros((nz, nz)), where=bike_dist[:, :nz] > 0),
        walk_time_min=walk_time[:, :nz],
        walk_dist_km=walk_dist[:, :nz],
        transit={},
        stations=anchors.stations,
        car_class_time_min=np.empty((0, nz, nz)),
        car_class_dist_km=np.empty((0, nz, nz)),
        car_generalised_min=np.empty((0, nz, nz)),
        car_routes=settings.car_routes,
    )
    _fill_intra_zone(skims, settings)
    skims = with_car(skims, trees, settings)
    improvements = improvements or {}
    parking_saved = np.array([improvements.get(name, (0.0, 0.0))[1] for name in anchors.stations])
    transfer_saved = np.array([improvements.get(name, (0.0, 0.0))[0] for name in anchors.stations])
    access = _station_access(walk_dist[:, nz:], bike_time[:, nz:], settings, parking_saved)
    egress = np.where(walk_dist[:, nz:] <= settings.egress_max_km, walk_dist[:, nz:] / settings.walk_kph * 60.0, np.inf)
    running = transit.running(date, peak=True)
    for mode in modes:
        if mode.transit_lines:
            lines = [line for line in running if line.mode in mode.transit_lines]
            skims.transit[mode.name] = _transit_skim(lines, anchors, access, egress, settings, mode, n, transfer_saved)
    return skims


def with_car(skims: Skims, trees: list[CarTrees], settings: SkimSettings) -> Skims:
    """The same skims with car times, distances and generalised minutes from each class's ``trees`` (e.g. congested).

    A trip within a zone is ``intra_zone_km`` at ``intra_zone_car_kph`` in every class.
    """
    diag = np.arange(trees[0].time_s.shape[0])
    time = np.stack([t.time_s for t in trees]) / 60.0
    dist = np.stack([t.dist_km for t in trees])
    dist[:, diag, diag] = settings.intra_zone_km
    time[:, diag, diag] = settings.intra_zone_km / settings.intra_zone_car_kph * 60.0
    per_km = np.array([t.seconds_per_km for t in trees])[:, None, None] / 60.0
    return replace(
        skims, car_time_min=time[0], car_dist_km=dist[0], car_class_time_min=time, car_class_dist_km=dist,
        car_generalised_min=time + per_km * dist, car_routes=settings.car_routes,
    )


def free_flow_car_km(edges: EdgeArrays, zone_nodes: np.ndarray, settings: SkimSettings) -> np.ndarray:
    """Zone × zone km along the free-flow fastest car paths (``intra_zone_km`` within a zone).

    A distance that depends on the network alone, not on costs or values of time: the
    workplace gravity model is calibrated on it, so the synthetic population stays the same
    when a cost parameter changes (as elasticities by finite differences need).
    """
    km = car_trees(edges, edges.free_flow_time_s, zone_nodes).dist_km
    np.fill_diagonal(km, settings.intra_zone_km)
    return km


def _fill_intra_zone(skims: Skims, settings: SkimSettings) -> None:
    diag = np.arange(skims.bike_dist_km.shape[0])
    skims.bike_dist_km[diag, diag] = settings.intra_zone_km
    skims.bike_time_min[diag, diag] = settings.intra_zone_km / settings.bike_kph * 60.0
    skims.walk_dist_km[diag, diag] = settings.intra_zone_km
    skims.walk_time_min[diag, diag] = settings.intra_zone_km / settings.walk_kph * 60.0


def _station_access(
    walk_km: np.ndarray, bike_min: np.ndarray, settings: SkimSettings, parking_saved: np.ndarray | None = None
) -> np.ndarray:
    """Minutes from each zone to each station: walk when close, else bike-and-ride."""
    walk_min = walk_km / settings.walk_kph * 60.0
    bike_ok = walk_km <= settings.bike_access_max_km
    parking = np.maximum(settings.bike_parking_min - (0.0 if parking_saved is None else parking_saved), 0.0)
    by_bike = np.where(bike_ok, bike_min + parking, np.inf)
    return np.where(walk_km <= settings.walk_access_max_km, walk_min, by_bike)


def common_line_headways(lines) -> list[tuple[list[float], list[float]]]:
    """Effective headway for boarding each line at each stop, per direction.

    Lines that call at the same stop and share a later stop in the direction of
    travel are common lines: a traveller takes the first to come, so the wait
    follows their combined frequency (e.g. S-train lines A and E at Vallensbæk St.
    towards København once E stops there).

    Returns
    -------
    list
        Per line, ``(up, down)`` headways by stop index (``up`` towards the
        last stop, ``down`` towards the first).
    """
    def downstream(line, k: int, up: bool) -> set[str]:
        return set(line.stops[k + 1:]) if up else set(line.stops[:k])

    result = []
    for line in lines:
        per_direction = []
        for up in (True, False):
            headways = []
            for k, stop in enumerate(line.stops):
                ahead = downstream(line, k, up)
                frequency = 0.0
                for other in lines:
                    if other.mode != line.mode or stop not in other.stops:
                        continue
                    j = other.stops.index(stop)
                    if ahead & downstream(other, j, True) or ahead & downstream(other, j, False):
                        frequency += 1.0 / other.headway_min
                headways.append(1.0 / frequency if ahead and frequency > 0 else line.headway_min)
            per_direction.append(headways)
        result.append((per_direction[0], per_direction[1]))
    return result


def _transit_skim(
    lines, anchors: ZoneGraph, access, egress, settings: SkimSettings, mode: Mode, n: int,
    transfer_saved: np.ndarray | None = None,
) -> TransitSkim:
    """Best generalised-cost rail path per zone pair, with its components.

    Node layout: stations (reached only by alighting or a short transfer walk),
    per (line, served stop) one boarding node and one riding node per direction,
    then origin zones, then destination zones. Only riding nodes lead to an
    alighting, so every path rides at least one leg; a riding node leads on only
    in its own direction, so no path rides out and back on a line to alight where
    it boarded (a U-turn needs an alighting and a new boarding, with their wait
    and transfer penalty). Boarding at the origin
    costs access + wait; boarding again at a station costs wait + the transfer
    penalty (less the station's improvement). Waits are half the common-line
    headway, capped. In-vehicle minutes and headways are the timetable's times
    ``rail_time_factor`` and ``headway_factor`` (1.0 but in sensitivity tests).
    Stations within ``transfer_walk_max_m`` of each other are linked by a walk
    (counted as access time).

    For a mode that may ride other modes' lines (light rail, with S-train legs) the
    station and line nodes exist twice: a leg on the mode's own lines always leads
    into the second copy and egress leaves only from it, so the result is the best
    path over all its lines that rides at least one leg of its own.
    """
    n_st = len(anchors.stations)
    st_index = {name: i for i, name in enumerate(anchors.stations)}
    coords = np.column_stack([anchors.station_x, anchors.station_y])
    saved = np.zeros(n_st) if transfer_saved is None else transfer_saved
    inner: list[tuple] = []  # (from, to, cost, ivt, wait, access, egress, transfer, km, is_own)
    board_nodes: list[tuple[int, int, float]] = []  # (node, station, wait)
    line_at: dict[int, tuple[str, int]] = {}  # boarding or riding node → (line id, station)
    next_node = n_st
    for line, (up_headway, down_headway) in zip(lines, common_line_headways(lines), strict=True):
        is_own = line.mode == mode.name
        count = len(line.stops)
        board_up = list(range(next_node, next_node + count))
        board_down = list(range(next_node + count, next_node + 2 * count))
        ride_up = list(range(next_node + 2 * count, next_node + 3 * count))
        ride_down = list(range(next_node + 3 * count, next_node + 4 * count))
        next_node += 4 * count
        for k, stop in enumerate(line.stops):
            s = st_index[stop]
            for node in (board_up[k], board_down[k], ride_up[k], ride_down[k]):
                line_at[node] = (line.id, s)
            inner.append((ride_up[k], s, 0.0, 0, 0, 0, 0, 0, 0, False))
            inner.append((ride_down[k], s, 0.0, 0, 0, 0, 0, 0, 0, False))
            penalty = max(settings.transfer_penalty_min - saved[s], 0.0)
            for node, headway, exists in ((board_up[k], up_headway[k], k < count - 1), (board_down[k], down_headway[k], k > 0)):
                if not exists:
                    continue
                wait = min(headway * settings.headway_factor / 2.0, settings.max_wait_min)
                board_nodes.append((node, s, wait))
                inner.append((s, node, settings.wait_weight * wait + penalty, 0, wait, 0, 0, 1, 0, False))
        for k, timetabled in enumerate(line.minutes):
            minutes = timetabled * settings.rail_time_factor
            a, b = st_index[line.stops[k]], st_index[line.stops[k + 1]]
            km = float(np.hypot(*(coords[a] - coords[b]))) / 1000.0 * settings.rail_detour
            leg = (minutes, minutes, 0, 0, 0, 0, km, is_own)
            for frm, to in (
                (board_up[k], ride_up[k + 1]), (ride_up[k], ride_up[k + 1]),
                (board_down[k + 1], ride_down[k]), (ride_down[k + 1], ride_down[k]),
            ):
                inner.append((frm, to, *leg))
    gap = np.hypot(coords[:, None, 0] - coords[None, :, 0], coords[:, None, 1] - coords[None, :, 1])
    for a, b in zip(*np.nonzero((gap <= settings.transfer_walk_max_m) & ~np.eye(n_st, dtype=bool)), strict=True):
        walk = gap[a, b] * settings.walk_detour / 1000.0 / settings.walk_kph * 60.0
        inner.append((a, b, settings.access_weight * walk, 0, 0, walk, 0, 0, 0, False))
    layers = 1 if mode.transit_lines == (mode.name,) else 2
    top = (layers - 1) * next_node
    rows: list[tuple] = []  # inner columns without is_own, then board_station
    for frm, to, *values, is_own in inner:
        for layer in range(layers):
            offset = layer * next_node
            rows.append((frm + offset, to + (top if is_own else offset), *values, -1))
    origin0 = layers * next_node
    dest0 = origin0 + n
    for node, s, wait in board_nodes:
        for z in np.flatnonzero(np.isfinite(access[:, s])):
            a = access[z, s]
            rows.append((origin0 + z, node, settings.access_weight * a + settings.wait_weight * wait, 0, wait, a, 0, 0, 0, s))
    for s in range(n_st):
        for z in np.flatnonzero(np.isfinite(egress[:, s])):
            e = egress[z, s]
            rows.append((top + s, dest0 + z, settings.access_weight * e, 0, 0, 0, e, 0, 0, -1))

    def missing() -> np.ndarray:
        return np.full((n, n), np.nan)

    out = TransitSkim(
        available=np.zeros((n, n), dtype=bool), ivt_min=missing(), wait_min=missing(), access_min=missing(),
        egress_min=missing(), transfers=missing(), rail_km=missing(), board_station=np.full((n, n), -1),
    )
    if not lines:
        return out
    table = np.array([r[:9] for r in rows], dtype=float)
    board = np.array([r[9] for r in rows], dtype=np.int64)
    tails, heads = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
    origins = origin0 + np.arange(n)
    dist, pred, index = shortest_trees(dest0 + n, tails, heads, table[:, 2], origins)
    targets = dest0 + np.arange(n)
    edge_of = tree_edges(pred, index)
    sums = path_sums(pred, edge_of, table[:, 3:9])[:, targets, :]
    reached = np.isfinite(dist[:, targets]) & ~np.eye(n, dtype=bool)
    out.available = reached
    for k, part in enumerate((out.ivt_min, out.wait_min, out.access_min, out.egress_min, out.transfers, out.rail_km)):
        part[reached] = sums[..., k][reached]
    riding = frozenset(ride_node for line_nodes in _ride_nodes(lines, n_st) for ride_node in line_nodes)
    near = {
        name: {anchors.stations[b] for b in np.flatnonzero(gap[a] <= settings.transfer_walk_max_m)}
        for a, name in enumerate(anchors.stations)
    }
    for i, j in zip(*np.nonzero(reached), strict=True):
        path = trace_path(pred[i], origins[i], dest0 + j, index)
        legs = _path_legs(tails[path], heads[path], next_node, origin0, n_st, line_at, riding, anchors.stations)
        if near[legs[0][1]] & {alight for _, _, alight in legs}:
            # The path comes back to where it boarded (out and back, to ride the leg every
            # path must ride): no rail trip, so no rail path between these zones.
            out.available[i, j] = False
            for part in (out.ivt_min, out.wait_min, out.access_min, out.egress_min, out.transfers, out.rail_km):
                part[i, j] = np.nan
            continue
        out.board_station[i, j] = board[path[0]]
        out.legs[int(i), int(j)] = tuple(leg for line, board, alight in legs for leg in _common_legs(lines, line, board, alight))
    return out


def _common_legs(lines, line_id: str, board: str, alight: str) -> list[tuple[str, str, str, float]]:
    """The leg ``line_id`` from ``board`` to ``alight``, split over its common lines by frequency.

    Common lines are the lines of its mode that serve both stations: the rider takes the first train.
    """
    mode = next(line.mode for line in lines if line.id == line_id)
    common = [line for line in lines if line.mode == mode and board in line.stops and alight in line.stops]
    frequency = np.array([1.0 / line.headway_min for line in common])
    return [(line.id, board, alight, float(f / frequency.sum())) for line, f in zip(common, frequency, strict=True)]


def _ride_nodes(lines, n_st: int) -> list[range]:
    """The riding nodes of each line in :func:`_transit_skim`'s node layout (after the stations)."""
    result, next_node = [], n_st
    for line in lines:
        count = len(line.stops)
        result.append(range(next_node + 2 * count, next_node + 4 * count))
        next_node += 4 * count
    return result


def _path_legs(
    tails: np.ndarray, heads: np.ndarray, layer_size: int, origin0: int, n_st: int,
    line_at: dict[int, tuple[str, int]], riding: frozenset[int], stations: tuple[str, ...],
) -> tuple[tuple[str, str, str], ...]:
    """The legs (line, boarding station, alighting station) of one traced rail path.

    A leg starts on an edge into a boarding node and ends on the edge from a riding node
    to a station node; nodes of the second layer map back by ``layer_size``.
    """
    legs: list[tuple[str, str, str]] = []
    current: tuple[str, int] | None = None
    for tail, head in zip(tails.tolist(), heads.tolist(), strict=True):
        t = int(tail) % layer_size if tail < origin0 else -1
        h = int(head) % layer_size if head < origin0 else -1
        if h >= n_st and h not in riding and h in line_at:
            current = line_at[h]
        elif current is not None and t in riding and 0 <= h < n_st:
            legs.append((current[0], stations[current[1]], stations[h]))
            current = None
    return tuple(legs)
