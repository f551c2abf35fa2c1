"""Reading a real OSM extract (``.osm.pbf``): filter, clip, keep the connected network, simplify.

The extract is read once with osmium's C++ reader (node locations cached in C++,
only ``highway`` ways handed to Python); ways that belong to no drive, bike or walk
network are skipped, the rest are cut to the boundary plus a buffer and built into
the same raw graph osmnx's ``graph_from_xml`` makes. :func:`keep_largest_component`
drops what a traveller cannot reach and leave again, ``osmnx.simplify_graph`` removes
interstitial nodes (only where no tag the normalisation reads changes), and after
normalisation :func:`close_car_pockets` closes drivable edges that cars could enter
but not leave. Every step counts what it dropped in an :class:`ExtractReport`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import networkx as nx
import numpy as np
import osmnx as ox
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

#: ``highway`` values that belong to no drive, bike or walk network: osmnx's ``all_public``
#: exclusions plus ways no commuter travels on (bus guideways, busways, elevators, escalators).
NOT_A_STREET = frozenset({
    "abandoned", "bus_guideway", "busway", "construction", "elevator", "escalator", "no", "planned",
    "platform", "proposed", "raceway", "razed", "rest_area", "services",
})
#: ``oneway`` values for a one-way way, and those whose travel runs against the node order (as osmnx).
ONEWAY_VALUES = frozenset({"yes", "true", "1", "-1", "reverse", "T", "F"})
REVERSED_VALUES = frozenset({"-1", "reverse", "T"})


@dataclass(frozen=True)
class ExtractReport:
    """What reading an extract kept and dropped (road km count each way segment once)."""

    buffer_km: float
    ways_kept: int
    ways_not_streets: int
    segments_outside: int
    km_outside: float
    nodes_disconnected: int
    edges_disconnected: int
    pieces_disconnected: int
    km_disconnected: float
    nodes_read: int
    nodes_simplified: int
    drive_edges_closed: int = 0
    drive_km_closed: float = 0.0

    def lines(self) -> list[str]:
        """The report as lines of text (``vmob network show``, the log)."""
        return [
            (f"ways kept         {self.ways_kept} (skipped {self.ways_not_streets} not drive, bike or walk ways: "
             "construction, proposed, private, areas …)"),
            (f"outside           {self.segments_outside} way segments, {self.km_outside:.1f} km cut off beyond the "
             f"boundary + {self.buffer_km:g} km"),
            (f"disconnected      {self.pieces_disconnected} pieces, {self.nodes_disconnected} nodes, "
             f"{self.edges_disconnected} edges, {self.km_disconnected:.1f} km outside the largest strongly "
             "connected component, dropped"),
            f"simplified        {self.nodes_read} → {self.nodes_simplified} nodes (interstitial nodes removed)",
            (f"closed to cars    {self.drive_edges_closed} edges, {self.drive_km_closed:.1f} km of drivable road "
             "that cars could enter but not leave"),
        ]


@dataclass
class RawExtract:
    """An extract's street ways, as read and clipped, before the graph is built."""

    nodes: dict[int, dict[str, Any]]
    ways: list[tuple[int, list[int], dict[str, str]]]
    ways_not_streets: int
    segments_outside: int
    km_outside: float


def is_street(tags: Any) -> bool:
    """Whether a way with these OSM tags belongs to the drive, bike or walk network."""
    return (
        tags.get("highway") not in NOT_A_STREET
        and tags.get("area") != "yes"
        and tags.get("access") != "private"
        and tags.get("service") != "private"
    )


def read_pbf(path: str, within: shapely.Geometry | None, way_tags: Iterable[str], node_tags: Iterable[str]) -> RawExtract:
    """Read an extract's street ways, cut to ``within`` (WGS84 lon/lat; the whole file when None).

    A way is cut where it leaves ``within``: each run of consecutive inside nodes
    becomes a way of its own (same OSM id). Nodes missing from the file count as outside.

    Raises
    ------
    RuntimeError
        From osmium, for a file it cannot read.
    """
    import osmium

    way_tags, node_tags = tuple(way_tags), tuple(node_tags)
    tagged_nodes: dict[int, dict[str, str]] = {}
    ways: list[tuple[int, list[int], dict[str, str]]] = []
    coords: dict[int, tuple[float, float]] = {}
    skipped = 0
    processor = (
        osmium.FileProcessor(path, osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    for obj in processor:
        if isinstance(obj, osmium.osm.Node):
            tagged_nodes[obj.id] = {k: obj.tags[k] for k in node_tags if k in obj.tags}
            continue
        assert isinstance(obj, osmium.osm.Way)  # the processor reads nodes and ways only
        if not is_street(obj.tags):
            skipped += 1
            continue
        refs = []
        for node in obj.nodes:
            if node.location.valid():
                coords[node.ref] = (node.lon, node.lat)
            refs.append(node.ref)
        ways.append((obj.id, refs, {k: obj.tags[k] for k in way_tags if k in obj.tags}))
    ids = np.fromiter(coords, dtype=np.int64, count=len(coords))
    lonlat = np.array(list(coords.values()), dtype=float).reshape(-1, 2)
    inside_ids = set(ids[shapely.contains_xy(within, lonlat[:, 0], lonlat[:, 1])].tolist()) if within is not None else set(coords)
    kept, cut = _cut_ways(ways, inside_ids)
    km_outside = 0.0
    if cut:
        a, b = (np.array([coords.get(ref, (np.nan, np.nan)) for ref in ends]) for ends in zip(*cut, strict=True))
        known = np.isfinite(a[:, 0]) & np.isfinite(b[:, 0])
        km_outside = float(ox.distance.great_circle(a[known, 1], a[known, 0], b[known, 1], b[known, 0]).sum()) / 1000.0
    used = sorted({ref for _, refs, _ in kept for ref in refs})
    nodes = {ref: {"y": coords[ref][1], "x": coords[ref][0], **tagged_nodes.get(ref, {})} for ref in used}
    return RawExtract(nodes, kept, skipped, len(cut), km_outside)


def _cut_ways(
    ways: list[tuple[int, list[int], dict[str, str]]], inside: set[int]
) -> tuple[list[tuple[int, list[int], dict[str, str]]], list[tuple[int, int]]]:
    """Ways split into runs of inside nodes, and the segments cut off (node pairs)."""
    kept, cut = [], []
    for way_id, refs, tags in ways:
        refs = [ref for ref, _ in itertools.groupby(refs)]
        flags = [ref in inside for ref in refs]
        if all(flags):
            if len(refs) > 1:
                kept.append((way_id, refs, tags))
            continue
        cut += [(a, b) for (a, fa), (b, fb) in itertools.pairwise(zip(refs, flags, strict=True)) if not (fa and fb)]
        for is_inside, run in itertools.groupby(zip(refs, flags, strict=True), key=lambda item: item[1]):
            run_refs = [ref for ref, _ in run]
            if is_inside and len(run_refs) > 1:
                kept.append((way_id, run_refs, tags))
    return kept, cut


def build_graph(extract: RawExtract) -> nx.MultiDiGraph:
    """The raw osmnx graph of the ways, as ``osmnx.graph_from_xml`` builds it from the same data.

    Edges carry the way's kept tags, ``osmid``, ``oneway`` and ``reversed``; two-way
    ways get an edge each way; ``length`` is the great-circle length (osmnx).
    """
    graph = nx.MultiDiGraph(crs=ox.settings.default_crs)
    graph.add_nodes_from(extract.nodes.items())
    for way_id, refs, tags in extract.ways:
        oneway = tags.get("oneway") in ONEWAY_VALUES or tags.get("junction") == "roundabout"
        ordered = refs[::-1] if oneway and tags.get("oneway") in REVERSED_VALUES else refs
        pairs = list(itertools.pairwise(ordered))
        attrs = {"osmid": way_id, **tags, "oneway": oneway}
        graph.add_edges_from(pairs, **attrs, reversed=False)
        if not oneway:
            graph.add_edges_from([(v, u) for u, v in pairs], **attrs, reversed=True)
    return ox.distance.add_edge_lengths(graph) if graph.number_of_edges() else graph


def keep_largest_component(graph: nx.MultiDiGraph) -> tuple[nx.MultiDiGraph, dict[str, Any]]:
    """Drop every node outside the largest strongly connected component (all modes together).

    Returns the graph (changed in place) and the counts for :class:`ExtractReport`:
    ``nodes_disconnected``, ``edges_disconnected``, ``pieces_disconnected`` (weakly
    connected pieces of what was dropped) and ``km_disconnected``.
    """
    if graph.number_of_nodes() == 0:
        return graph, {"nodes_disconnected": 0, "edges_disconnected": 0, "pieces_disconnected": 0, "km_disconnected": 0.0}
    largest = max(nx.strongly_connected_components(graph), key=len)
    dropped = [node for node in graph if node not in largest]
    edges = [(u, v, d) for u, v, d in graph.edges(dropped, data=True)]
    edges += [(u, v, d) for u, v, d in graph.in_edges(dropped, data=True) if u in largest]
    pieces = nx.number_weakly_connected_components(graph.subgraph(dropped)) if dropped else 0
    counts = {
        "nodes_disconnected": len(dropped), "edges_disconnected": len(edges), "pieces_disconnected": pieces,
        "km_disconnected": road_km(edges),
    }
    graph.remove_nodes_from(dropped)
    return graph, counts


def simplify(graph: nx.MultiDiGraph, kept_tags: Iterable[str]) -> nx.MultiDiGraph:
    """Remove interstitial nodes with osmnx, keeping every node where one of ``kept_tags`` changes.

    Merged edges then share every tag the normalisation reads, so they normalise as
    their pieces would; their length is the sum of the pieces'.
    """
    if graph.number_of_edges() == 0:
        return graph
    return ox.simplify_graph(graph, edge_attrs_differ=list(kept_tags))


def close_car_pockets(graph: nx.MultiDiGraph, report: ExtractReport) -> ExtractReport:
    """Close to cars the drivable edges outside the largest strongly connected car network.

    Works on a normalised graph (``drive_allowed``, ``capacity_vph``): such edges lead
    into or out of a pocket (e.g. a one-way street cut at the buffer's edge) where a car
    route could start or end but not return. They stay open to bikes and walkers.
    """
    index = {node: i for i, node in enumerate(graph)}
    drivable = [(u, v, data) for u, v, data in graph.edges(data=True) if data["drive_allowed"]]
    if not drivable:
        return report
    tail = np.array([index[u] for u, _, _ in drivable])
    head = np.array([index[v] for _, v, _ in drivable])
    links = sp.coo_matrix((np.ones(len(tail)), (tail, head)), shape=(len(index), len(index)))
    _, label = connected_components(links, directed=True, connection="strong")
    largest = np.argmax(np.bincount(label[np.union1d(tail, head)]))
    outside = (label[tail] != largest) | (label[head] != largest)
    closed = [edge for edge, out in zip(drivable, outside.tolist(), strict=True) if out]
    for _, _, data in closed:
        data["drive_allowed"] = False
        data["capacity_vph"] = 0.0
    return replace(report, drive_edges_closed=len(closed), drive_km_closed=road_km(closed))


def road_km(edges: Iterable[tuple[Any, Any, dict]]) -> float:
    """Road km of directed edges, each way segment counted once whatever the directions."""
    seen: set[tuple] = set()
    km = 0.0
    for u, v, data in edges:
        osmid = data.get("osmid")
        segment = (min(u, v), max(u, v), str(osmid[0] if isinstance(osmid, list) else osmid))
        if segment not in seen:
            seen.add(segment)
            km += float(data["length"]) / 1000.0
    return km
