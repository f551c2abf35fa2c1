"""Skims from scipy.sparse.csgraph agree with networkx on the same graph and weights."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, replace

import networkx as nx
import numpy as np
import pytest

from model.edges import EdgeArrays, edge_arrays
from model.network import Network, load_network
from model.parameters import load_parameters
from model.skims import Skims, SkimSettings, ZoneGraph, _station_access, build_skims, shortest_trees, skim_settings
from model.transit import Transit, load_transit
from model.zones import Zones, load_zones
from tests.osm_fixtures import write_tiny_inputs

BEFORE_LETBANE = dt.date(2025, 10, 25)
PHASE_ONE = dt.date(2025, 11, 1)
FULL_LINE = dt.date(2026, 9, 1)


@dataclass
class Tiny:
    network: Network
    edges: EdgeArrays
    zones: Zones
    transit: Transit
    anchors: ZoneGraph
    settings: SkimSettings
    skims: Skims


def default_settings() -> SkimSettings:
    """The skim settings of the shipped parameter files."""
    params = load_parameters()
    return skim_settings(params.choice, params.network.speeds_kph)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Tiny:
    files = write_tiny_inputs(tmp_path_factory.mktemp("skims"))
    network = load_network(files["osm"], boundary=files["boundary"])
    edges = edge_arrays(network.graph)
    zones = load_zones(files["zones"])
    transit = load_transit(files["transit"])
    anchors = ZoneGraph(edges, zones, transit)
    settings = default_settings()
    return Tiny(network, edges, zones, transit, anchors, settings, build_skims(edges, zones, transit, anchors, PHASE_ONE, settings))


def subgraph(graph: nx.MultiDiGraph, flag: str) -> nx.MultiDiGraph:
    return graph.edge_subgraph([(u, v, k) for u, v, k, d in graph.edges(keys=True, data=True) if d[flag]])


def zone_pairs(tiny: Tiny):
    ids = tiny.edges.node_ids[tiny.anchors.zone_node]
    for i, origin in enumerate(ids):
        for j, target in enumerate(ids):
            if i != j:
                yield i, j, origin, target


def path_sum(graph: nx.MultiGraph, path: list[int], weight: str) -> float:
    return sum(min(d[weight] for d in graph.get_edge_data(a, b).values()) for a, b in itertools.pairwise(path))


def test_car_times_equal_networkx(tiny):
    drive = subgraph(tiny.network.graph, "drive_allowed")
    for i, j, origin, target in zone_pairs(tiny):
        expected = nx.shortest_path_length(drive, origin, target, weight="travel_time") / 60.0
        assert tiny.skims.car_time_min[i, j] == pytest.approx(expected, abs=1e-6)
        path = nx.shortest_path(drive, origin, target, weight="travel_time")
        assert tiny.skims.car_dist_km[i, j] == pytest.approx(path_sum(drive, path, "length") / 1000.0, abs=1e-6)


def test_walk_distances_equal_networkx(tiny):
    walk = subgraph(tiny.network.graph, "walk_allowed").to_undirected()
    for i, j, origin, target in zone_pairs(tiny):
        expected = nx.shortest_path_length(walk, origin, target, weight="length") / 1000.0
        assert tiny.skims.walk_dist_km[i, j] == pytest.approx(expected, abs=1e-6)
        assert tiny.skims.walk_time_min[i, j] == pytest.approx(expected / tiny.settings.walk_kph * 60.0, abs=1e-6)


def test_bike_distances_equal_networkx(tiny):
    bike = subgraph(tiny.network.graph, "bike_allowed").to_undirected()
    settings = tiny.settings
    for _, _, data in bike.edges(data=True):
        comfort = 1.0 if data["cycleway"] else 1.0 + settings.no_cycletrack_penalty
        data["perceived_s"] = data["length"] / (settings.bike_kph / 3.6) * comfort
    for i, j, origin, target in zone_pairs(tiny):
        path = nx.shortest_path(bike, origin, target, weight="perceived_s")
        km = path_sum(bike, path, "length") / 1000.0
        assert tiny.skims.bike_dist_km[i, j] == pytest.approx(km, abs=1e-6)
        assert tiny.skims.bike_time_min[i, j] == pytest.approx(km / settings.bike_kph * 60.0, abs=1e-6)


def test_shortest_trees_equal_networkx_from_every_node(tiny):
    edges = tiny.edges
    drive = subgraph(tiny.network.graph, "drive_allowed")
    mask = edges.drive
    origins = np.arange(edges.n_nodes)
    dist, _, _ = shortest_trees(edges.n_nodes, edges.u[mask], edges.v[mask], edges.free_flow_time_s[mask], origins)
    for row, origin in enumerate(edges.node_ids):
        expected = nx.single_source_dijkstra_path_length(drive, origin, weight="travel_time") if origin in drive else {origin: 0.0}
        reached = {edges.node_ids[c]: dist[row, c] for c in np.flatnonzero(np.isfinite(dist[row]))}
        assert reached.keys() == expected.keys()
        for node, seconds in expected.items():
            assert reached[node] == pytest.approx(seconds, abs=1e-6)


def test_light_rail_only_after_opening(tiny):
    before = build_skims(tiny.edges, tiny.zones, tiny.transit, tiny.anchors, BEFORE_LETBANE, tiny.settings)
    assert not before.transit["light_rail"].available.any()
    assert before.transit["s_train"].available.any()
    after = tiny.skims.transit["light_rail"]
    off_diagonal = ~np.eye(len(tiny.zones.ids), dtype=bool)
    assert after.available[off_diagonal].all()


def test_light_rail_alternative_rides_light_rail_even_where_s_train_is_better(tiny):
    """The light-rail skim is the best path that uses the Letbane, not the best path overall."""
    s_train, light_rail = tiny.skims.transit["s_train"], tiny.skims.transit["light_rail"]
    both = s_train.available & light_rail.available
    assert both.any()
    stations = tiny.skims.stations
    light_rail_stops = {"Ring South", "Ring Middle", "Ring North"}
    for i, j in np.argwhere(both):
        rode_light_rail = stations[light_rail.board_station[i, j]] in light_rail_stops or light_rail.transfers[i, j] > 0
        assert rode_light_rail, (tiny.zones.ids[i], tiny.zones.ids[j])
        assert light_rail.rail_km[i, j] > 0


def test_wait_is_half_the_headway_capped(tiny):
    skim = tiny.skims.transit["light_rail"]
    direct = skim.available & (skim.transfers == 0)
    assert direct.any()
    assert np.all(skim.wait_min[direct] == 5.0)  # 10-minute phase-one headway
    full = build_skims(tiny.edges, tiny.zones, tiny.transit, tiny.anchors, FULL_LINE, tiny.settings).transit["light_rail"]
    direct = full.available & (full.transfers == 0)
    assert np.all(full.wait_min[direct] == 2.5)  # 5-minute headway on the full line
    capped = replace(tiny.settings, max_wait_min=3.0)
    s_train = build_skims(tiny.edges, tiny.zones, tiny.transit, tiny.anchors, PHASE_ONE, capped).transit["s_train"]
    direct = s_train.available & (s_train.transfers == 0)
    assert direct.any() and np.all(s_train.wait_min[direct] == 3.0)


def test_rail_time_and_headway_factors_scale_in_vehicle_minutes_and_waits(tiny):
    """The sensitivity multipliers of `vmob elasticities`: 1.0 is the timetable, 1.5 makes both half again as long."""
    scaled = replace(tiny.settings, rail_time_factor=1.5, headway_factor=1.5)
    assert tiny.settings.rail_time_factor == tiny.settings.headway_factor == 1.0
    base = tiny.skims.transit["light_rail"]
    slow = build_skims(tiny.edges, tiny.zones, tiny.transit, tiny.anchors, PHASE_ONE, scaled).transit["light_rail"]
    same = base.available & slow.available & (base.transfers == 0) & (slow.transfers == 0) & (base.board_station == slow.board_station)
    assert same.any()
    assert np.allclose(slow.ivt_min[same], 1.5 * base.ivt_min[same])
    assert np.all(slow.wait_min[same] == 7.5)  # half of 1.5 × the 10-minute phase-one headway


def test_access_walks_up_to_the_limit_then_bikes_and_rides():
    settings = default_settings()
    walk_km = np.array([[0.6, 1.2, 1.3, 6.0]])
    bike_min = np.array([[2.0, 4.0, 4.5, 20.0]])
    access = _station_access(walk_km, bike_min, settings)
    walk_min = walk_km / settings.walk_kph * 60.0
    assert access[0, :2] == pytest.approx(walk_min[0, :2])
    assert access[0, 2] == pytest.approx(4.5 + settings.bike_parking_min)
    assert access[0, 3] == np.inf  # beyond bike-and-ride range


def test_path_legs_match_the_skimmed_components(tiny):
    """Each skimmed rail path lists its legs: transfers + 1 of them, on lines that serve both ends.

    The light-rail path rides a light-rail leg, the S-train path only S-train lines, and common lines
    share a leg by frequency.
    """
    for mode in ("s_train", "light_rail"):
        skim = tiny.skims.transit[mode]
        assert set(skim.legs) == {(int(i), int(j)) for i, j in np.argwhere(skim.available)}
        lines = {line.id: line for line in tiny.transit.running(PHASE_ONE)}
        for (i, j), legs in skim.legs.items():
            by_leg: dict[tuple[str, str], float] = {}
            for line, board, alight, share in legs:
                assert board in lines[line].stops and alight in lines[line].stops and board != alight
                assert 0 < share <= 1
                by_leg[(board, alight)] = by_leg.get((board, alight), 0.0) + share
            assert all(abs(total - 1.0) < 1e-12 for total in by_leg.values())
            assert len(by_leg) == skim.transfers[i, j] + 1
            assert tiny.skims.stations[skim.board_station[i, j]] == legs[0][1]
            if mode == "light_rail":
                assert any(lines[line].mode == "light_rail" for line, *_ in legs)
            else:
                assert all(lines[line].mode == "s_train" for line, *_ in legs)
