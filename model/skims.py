"""Level-of-service skims between zones for every mode, with scipy.sparse.csgraph.

Shortest-path trees are grown from the distinct zone nodes only (a few dozen),
never per pair, and paths are traced back from the predecessor arrays when the
distance along a time-shortest path or the edges of a car path are needed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from model.edges import EdgeArrays, snap_stations
from model.errors import VmobError
from model.transit import RAIL_MODES, Transit
from model.zones import Zones

#: Distance assumed for a trip that starts and ends in the same zone (km; assumption).
INTRA_ZONE_KM = 1.0


@dataclass(frozen=True)
class SkimSettings:
    """Speeds and path-choice weights the skims need (from the parameter files)."""

    bike_kph: float = 16.0
    ebike_kph: float = 21.0
    walk_kph: float = 4.8
    no_cycletrack_penalty: float = 0.3
    walk_access_max_km: float = 1.2
    bike_access_max_km: float = 5.0
    egress_max_km: float = 2.5
    bike_parking_min: float = 2.0
    wait_weight: float = 1.5
    access_weight: float = 1.5
    transfer_penalty_min: float = 5.0
    max_wait_min: float = 15.0
    rail_detour: float = 1.15


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

    @property
    def total_min(self) -> np.ndarray:
        """Door-to-door minutes."""
        return self.ivt_min + self.wait_min + self.access_min + self.egress_min


@dataclass
class Skims:
    """Zone × zone level of service. Index order is :class:`model.zones.Zones`'."""

    car_time_min: np.ndarray
    car_dist_km: np.ndarray
    bike_time_min: np.ndarray
    bike_dist_km: np.ndarray
    cycletrack_share: np.ndarray
    walk_time_min: np.ndarray
    walk_dist_km: np.ndarray
    transit: dict[str, TransitSkim]
    stations: tuple[str, ...]


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


def shortest_trees(
    n_nodes: int, u: np.ndarray, v: np.ndarray, weight: np.ndarray, origins: np.ndarray, directed: bool = True
) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    """Dijkstra trees from ``origins`` over the edges given.

    Parallel edges keep their lightest member. Returns distances, predecessors
    (both ``len(origins) × n_nodes``) and the sparse matrix whose entries are
    ``edge position + 1`` so that paths can be mapped back to edges.
    """
    order = np.lexsort((weight, v, u))
    u_s, v_s, w_s = u[order], v[order], weight[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (u_s[1:] != u_s[:-1]) | (v_s[1:] != v_s[:-1])
    keep = order[first]
    matrix = sp.csr_matrix((np.maximum(weight[keep], 1e-9), (u[keep], v[keep])), shape=(n_nodes, n_nodes))
    edge_id = sp.csr_matrix((keep + 1, (u[keep], v[keep])), shape=(n_nodes, n_nodes))
    dist, pred = dijkstra(matrix, directed=directed, indices=origins, return_predecessors=True)
    return dist, pred, edge_id


def trace_path(pred_row: np.ndarray, origin: int, target: int, edge_id: sp.csr_matrix, directed: bool = True) -> np.ndarray:
    """Edge positions on the tree path from ``origin`` to ``target`` (empty if none or same node)."""
    path = []
    node = target
    while node != origin:
        parent = pred_row[node]
        if parent < 0:
            return np.empty(0, dtype=np.int64)
        found = edge_id[parent, node]
        if not found and not directed:
            found = edge_id[node, parent]
        path.append(int(found) - 1)
        node = parent
    return np.array(path[::-1], dtype=np.int64)


def car_paths(
    edges: EdgeArrays, time_s: np.ndarray, origin_nodes: np.ndarray, target_nodes: np.ndarray
) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """Fastest car paths between node sets.

    Returns
    -------
    time_min
        ``len(origin_nodes) × len(target_nodes)`` minutes (inf where unreachable).
    paths
        ``paths[i][j]`` is the array of edge positions from origin i to target j.
    """
    mask = edges.drive
    dist, pred, edge_id = shortest_trees(
        edges.n_nodes, edges.u[mask], edges.v[mask], time_s[mask], np.unique(origin_nodes)
    )
    positions = np.flatnonzero(mask)
    row_of = {node: row for row, node in enumerate(np.unique(origin_nodes))}
    time_min = np.empty((len(origin_nodes), len(target_nodes)))
    paths: list[list[np.ndarray]] = []
    for i, origin in enumerate(origin_nodes):
        row = row_of[origin]
        time_min[i] = dist[row, target_nodes] / 60.0
        paths.append([positions[trace_path(pred[row], origin, t, edge_id)] for t in target_nodes])
    return time_min, paths


def _undirected_skim(
    edges: EdgeArrays, mask: np.ndarray, weight: np.ndarray, origins: np.ndarray, targets: np.ndarray, measures: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Shortest paths on an undirected sub-network; sums of ``measures`` along each path."""
    positions = np.flatnonzero(mask)
    dist, pred, edge_id = shortest_trees(edges.n_nodes, edges.u[mask], edges.v[mask], weight[mask], origins, directed=False)
    sums = [np.full((len(origins), len(targets)), np.nan) for _ in measures]
    for i, origin in enumerate(origins):
        for j, target in enumerate(targets):
            if not np.isfinite(dist[i, target]):
                continue
            path = positions[trace_path(pred[i], origin, target, edge_id, directed=False)]
            for total, measure in zip(sums, measures, strict=True):
                total[i, j] = measure[path].sum()
    return dist, sums


def build_skims(
    edges: EdgeArrays,
    zones: Zones,
    transit: Transit,
    anchors: ZoneGraph,
    date: dt.date,
    settings: SkimSettings,
    car_time_s: np.ndarray | None = None,
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
    """
    n = len(zones.ids)
    zone_nodes = anchors.zone_node
    time_s = edges.free_flow_time_s if car_time_s is None else car_time_s
    car_time, paths = car_paths(edges, time_s, zone_nodes, zone_nodes)
    car_dist = np.array([[edges.length_m[p].sum() / 1000.0 for p in row] for row in paths])
    if not np.all(np.isfinite(car_time)):
        i, j = np.argwhere(~np.isfinite(car_time))[0]
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
        car_time_min=car_time,
        car_dist_km=car_dist,
        bike_time_min=bike_time[:, :nz],
        bike_dist_km=bike_dist[:, :nz],
        cycletrack_share=np.divide(track_m[:, :nz] / 1000.0, bike_dist[:, :nz], out=np.zeros((nz, nz)), where=bike_dist[:, :nz] > 0),
        walk_time_min=walk_time[:, :nz],
        walk_dist_km=walk_dist[:, :nz],
        transit={},
        stations=anchors.stations,
    )
    _fill_intra_zone(skims, settings)
    access = _station_access(walk_dist[:, nz:], bike_time[:, nz:], settings)
    egress = np.where(walk_dist[:, nz:] <= settings.egress_max_km, walk_dist[:, nz:] / settings.walk_kph * 60.0, np.inf)
    running = transit.running(date, peak=True)
    for mode in RAIL_MODES:
        lines = [line for line in running if line.mode == "s_train" or mode == "light_rail"]
        skims.transit[mode] = _transit_skim(lines, anchors, access, egress, settings, require_mode=mode, n=n)
    return skims


def _fill_intra_zone(skims: Skims, settings: SkimSettings) -> None:
    diag = np.arange(skims.car_time_min.shape[0])
    skims.car_dist_km[diag, diag] = INTRA_ZONE_KM
    skims.car_time_min[diag, diag] = INTRA_ZONE_KM / 30.0 * 60.0
    skims.bike_dist_km[diag, diag] = INTRA_ZONE_KM
    skims.bike_time_min[diag, diag] = INTRA_ZONE_KM / settings.bike_kph * 60.0
    skims.walk_dist_km[diag, diag] = INTRA_ZONE_KM
    skims.walk_time_min[diag, diag] = INTRA_ZONE_KM / settings.walk_kph * 60.0


def _station_access(walk_km: np.ndarray, bike_min: np.ndarray, settings: SkimSettings) -> np.ndarray:
    """Minutes from each zone to each station: walk when close, else bike-and-ride."""
    walk_min = walk_km / settings.walk_kph * 60.0
    bike_ok = walk_km <= settings.bike_access_max_km
    by_bike = np.where(bike_ok, bike_min + settings.bike_parking_min, np.inf)
    return np.where(walk_km <= settings.walk_access_max_km, walk_min, by_bike)


def _transit_skim(lines, anchors: ZoneGraph, access, egress, settings: SkimSettings, require_mode: str, n: int) -> TransitSkim:
    """Best generalised-cost rail path per zone pair, with its components.

    Node layout: stations (reached only by alighting), two nodes per (line,
    served stop) — one for boarding, one for riding on — then origin zones, then
    destination zones. Only riding nodes lead to an alighting, so every path
    rides at least one leg. Boarding at the origin costs access + wait; boarding
    again at a station costs wait + the transfer penalty.

    For ``require_mode="light_rail"`` the station and line nodes exist twice: a
    light-rail leg always leads into the second copy and egress leaves only from
    it, so the result is the best path over all lines that rides at least one
    light-rail leg.
    """
    n_st = len(anchors.stations)
    st_index = {name: i for i, name in enumerate(anchors.stations)}
    coords = np.column_stack([anchors.station_x, anchors.station_y])
    inner: list[tuple] = []  # (from, to, cost, ivt, wait, access, egress, transfer, km, is_lr)
    board_nodes: list[tuple[int, int, float]] = []  # (node, station, wait)
    next_node = n_st
    for line in lines:
        wait = min(line.headway_min / 2.0, settings.max_wait_min)
        is_lr = line.mode == "light_rail"
        board = list(range(next_node, next_node + len(line.stops)))
        ride = list(range(next_node + len(line.stops), next_node + 2 * len(line.stops)))
        next_node += 2 * len(line.stops)
        for k, stop in enumerate(line.stops):
            s = st_index[stop]
            board_nodes.append((board[k], s, wait))
            inner.append((ride[k], s, 0.0, 0, 0, 0, 0, 0, 0, False))
            inner.append((s, board[k], settings.wait_weight * wait + settings.transfer_penalty_min, 0, wait, 0, 0, 1, 0, False))
        for k, minutes in enumerate(line.minutes):
            a, b = st_index[line.stops[k]], st_index[line.stops[k + 1]]
            km = float(np.hypot(*(coords[a] - coords[b]))) / 1000.0 * settings.rail_detour
            leg = (minutes, minutes, 0, 0, 0, 0, km, is_lr)
            for frm, to in ((board[k], ride[k + 1]), (ride[k], ride[k + 1]), (board[k + 1], ride[k]), (ride[k + 1], ride[k])):
                inner.append((frm, to, *leg))
    layers = 2 if require_mode == "light_rail" else 1
    top = (layers - 1) * next_node
    rows: list[tuple] = []  # inner columns without is_lr, then board_station
    for frm, to, *values, is_lr in inner:
        for layer in range(layers):
            offset = layer * next_node
            rows.append((frm + offset, to + (top if is_lr else offset), *values, -1))
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
    out = TransitSkim(*(np.full((n, n), np.nan) for _ in range(7)), board_station=np.full((n, n), -1))
    out.available = np.zeros((n, n), dtype=bool)
    if not lines:
        return out
    table = np.array([r[:9] for r in rows], dtype=float)
    board = np.array([r[9] for r in rows], dtype=np.int64)
    frm, to = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
    origins = origin0 + np.arange(n)
    dist, pred, edge_id = shortest_trees(dest0 + n, frm, to, table[:, 2], origins)
    for i in range(n):
        for j in range(n):
            if i == j or not np.isfinite(dist[i, dest0 + j]):
                continue
            path = trace_path(pred[i], origins[i], dest0 + j, edge_id)
            out.available[i, j] = True
            out.ivt_min[i, j] = table[path, 3].sum()
            out.wait_min[i, j] = table[path, 4].sum()
            out.access_min[i, j] = table[path, 5].sum()
            out.egress_min[i, j] = table[path, 6].sum()
            out.transfers[i, j] = table[path, 7].sum()
            out.rail_km[i, j] = table[path, 8].sum()
            out.board_station[i, j] = board[path].max()
    return out
