"""The network as flat numpy arrays: the form the hot path (skims, assignment, levers) works on.

networkx stays the container; :class:`EdgeArrays` is built once per run and
levers change its arrays (capacity, speed, bike factors) in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from pyproj import Transformer
from scipy.spatial import cKDTree

from model.errors import VmobError
from model.settings import CRS_METRIC, CRS_WGS84
from model.transit import Transit

#: A station farther than this from any walkable node is an input error (m).
MAX_STATION_SNAP_M = 1000.0


@dataclass
class EdgeArrays:
    """One entry per directed edge of the normalised graph.

    Attributes
    ----------
    keys
        ``(u, v, k)`` of each edge in the networkx graph.
    node_ids, x, y
        OSM node ids and EPSG:25832 coordinates, by node index.
    u, v
        Edge endpoints as node indices.
    length_m, maxspeed_kph, speed_kph, capacity_vph, lanes, lanes_total
        Road attributes; ``speed_kph`` is the free-flow driven speed.
    drive, bike, walk, cycleway
        Permissions and cycle infrastructure.
    inside_share
        Share of the length inside the municipal boundary.
    road_category, name, highway, osmid
        Labels (object arrays).
    bike_speed_factor, bike_comfort_factor
        Multipliers on bike speed and on perceived bike time (levers change them); 1 when not given.
    """

    keys: list[tuple[int, int, int]]
    node_ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length_m: np.ndarray
    maxspeed_kph: np.ndarray
    speed_kph: np.ndarray
    capacity_vph: np.ndarray
    lanes: np.ndarray
    lanes_total: np.ndarray
    drive: np.ndarray
    bike: np.ndarray
    walk: np.ndarray
    cycleway: np.ndarray
    inside_share: np.ndarray
    road_category: np.ndarray
    name: np.ndarray
    highway: np.ndarray
    osmid: np.ndarray
    bike_speed_factor: np.ndarray = field(default_factory=lambda: np.ones(0))
    bike_comfort_factor: np.ndarray = field(default_factory=lambda: np.ones(0))

    def __post_init__(self) -> None:
        if len(self.bike_speed_factor) == 0:
            self.bike_speed_factor = np.ones(len(self.u))
        if len(self.bike_comfort_factor) == 0:
            self.bike_comfort_factor = np.ones(len(self.u))

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_ids)

    @property
    def free_flow_time_s(self) -> np.ndarray:
        """Free-flow car time per edge, s."""
        return self.length_m / (self.speed_kph / 3.6)

    def copy(self) -> EdgeArrays:
        """A deep copy, so that a scenario's levers never touch another's network."""
        values: dict[str, Any] = {name: (value.copy() if isinstance(value, np.ndarray) else value) for name, value in vars(self).items()}
        return EdgeArrays(**values)

    def road_mask(self, names: list[str]) -> np.ndarray:
        """Edges whose OSM name is one of ``names``."""
        return np.isin(self.name, names)

    def nearest_node(self, x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node (index, distance m) among nodes touched by edges in ``mask``."""
        candidates = np.unique(np.concatenate([self.u[mask], self.v[mask]]))
        if len(candidates) == 0:
            raise VmobError("the network has no edge of the kind needed to attach zones and stations")
        tree = cKDTree(np.column_stack([self.x[candidates], self.y[candidates]]))
        distance, position = tree.query(np.column_stack([x, y]))
        return candidates[position], distance


def edge_arrays(graph: nx.MultiDiGraph) -> EdgeArrays:
    """Flatten a normalised graph (see :func:`model.network.normalise`) into arrays.

    Each column is read out of the edges' dicts by C-level iteration (``operator.itemgetter``
    mapped over them into ``numpy.fromiter``) and the endpoints' node positions are looked up
    with a pandas index: no Python code runs per edge.
    """
    n_nodes = graph.number_of_nodes()
    node_ids = np.fromiter(graph.nodes, dtype=np.int64, count=n_nodes)
    keys = list(graph.edges(keys=True))
    rows = list(map(itemgetter(3), graph.edges(keys=True, data=True)))

    def column(name: str, dtype: type | str = float) -> np.ndarray:
        return np.fromiter(map(itemgetter(name), rows), dtype=dtype, count=len(rows))

    def endpoint(end: int) -> np.ndarray:
        ids = np.fromiter(map(itemgetter(end), keys), dtype=np.int64, count=len(keys))
        return pd.Index(node_ids).get_indexer(ids).astype(np.int64)

    osmid = column("osmid", object)
    listed = np.fromiter((isinstance(value, list) for value in osmid), dtype=bool, count=len(osmid))
    osmid[listed] = [value[0] for value in osmid[listed]]
    return EdgeArrays(
        keys=keys,
        node_ids=node_ids,
        x=np.fromiter(map(itemgetter(1), graph.nodes(data="x")), dtype=float, count=n_nodes),
        y=np.fromiter(map(itemgetter(1), graph.nodes(data="y")), dtype=float, count=n_nodes),
        u=endpoint(0),
        v=endpoint(1),
        length_m=np.maximum(column("length"), 0.1),
        maxspeed_kph=column("maxspeed_kph"),
        speed_kph=column("speed_kph"),
        capacity_vph=column("capacity_vph"),
        lanes=column("lanes", np.int64),
        lanes_total=column("lanes_total", np.int64),
        drive=column("drive_allowed", bool),
        bike=column("bike_allowed", bool),
        walk=column("walk_allowed", bool),
        cycleway=column("cycleway", bool),
        inside_share=column("inside_share"),
        road_category=column("road_category", object),
        name=column("name", object),
        highway=column("highway", object),
        osmid=osmid,
    )


#: Normalised edge attributes that :func:`edge_arrays` reads.
EDGE_COLUMNS = (
    "length", "maxspeed_kph", "speed_kph", "capacity_vph", "lanes", "lanes_total", "drive_allowed", "bike_allowed",
    "walk_allowed", "cycleway", "inside_share", "road_category", "name", "highway", "osmid",
)


@dataclass(frozen=True)
class StationSnap:
    """Stations placed on the walk network.

    Attributes
    ----------
    names
        Station names, sorted.
    x, y
        Station coordinates in EPSG:25832.
    node
        Index of the nearest walkable node of each station.
    distance_m
        Straight-line distance from the station to that node.
    """

    names: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    node: np.ndarray
    distance_m: np.ndarray


def farthest_beyond(distance: np.ndarray, limit_m: float) -> int | None:
    """Position of the largest distance above ``limit_m``; None when every distance is within it."""
    far = np.flatnonzero(distance > limit_m)
    return int(far[np.argmax(distance[far])]) if len(far) else None


def snap_stations(edges: EdgeArrays, transit: Transit) -> StationSnap:
    """Attach every station to its nearest walkable node.

    Raises
    ------
    VmobError
        Naming the transit file and the station farthest from the network, if
        any station is more than :data:`MAX_STATION_SNAP_M` from a walkable node.
    """
    names = tuple(sorted(transit.stations))
    to_metric = Transformer.from_crs(CRS_WGS84, CRS_METRIC, always_xy=True)
    lon = np.array([transit.stations[name].lon for name in names])
    lat = np.array([transit.stations[name].lat for name in names])
    x, y = (np.asarray(c, dtype=float) for c in to_metric.transform(lon, lat))
    node, distance = edges.nearest_node(x, y, edges.walk)
    worst = farthest_beyond(distance, MAX_STATION_SNAP_M)
    if worst is not None:
        raise VmobError(
            f"{transit.source}: station '{names[worst]}' is {distance[worst] / 1000:.1f} km from the nearest "
            f"walkable street; add streets near it or fix its coordinates"
        )
    return StationSnap(names, x, y, node, distance)
