"""Peak-hour car assignment: BPR link times, all-or-nothing loading, the relative gap."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import model.assignment
from model.assignment import all_or_nothing, bpr_time_s, relative_gap, tree_loads
from model.edges import EdgeArrays
from model.skims import car_trees, trace_path


def line_network(lengths_m=(1000.0, 2000.0), speed_kph=50.0, capacity_vph=1000.0) -> EdgeArrays:
    """Nodes 0 – 1 – 2 in a row, a road both ways between neighbours: one path per OD pair."""
    u = np.array([i for i in range(len(lengths_m))] + [i + 1 for i in range(len(lengths_m))])
    v = np.array([i + 1 for i in range(len(lengths_m))] + [i for i in range(len(lengths_m))])
    return road_network(u, v, np.array(list(lengths_m) * 2, dtype=float), speed_kph, capacity_vph)


def road_network(u: np.ndarray, v: np.ndarray, length: np.ndarray, speed_kph=50.0, capacity_vph=1000.0) -> EdgeArrays:
    """Directed roads ``u[i] → v[i]`` on nodes ``0 … max``, all open to every mode."""
    n_nodes = int(max(u.max(), v.max())) + 1
    m = len(u)
    return EdgeArrays(
        keys=[(int(a), int(b), 0) for a, b in zip(u, v, strict=True)], node_ids=np.arange(n_nodes), x=np.arange(n_nodes) * 1000.0,
        y=np.zeros(n_nodes), u=u, v=v, length_m=length, maxspeed_kph=np.full(m, speed_kph), speed_kph=np.full(m, speed_kph),
        capacity_vph=np.full(m, capacity_vph), lanes=np.ones(m, dtype=np.int64), lanes_total=np.full(m, 2),
        drive=np.ones(m, bool), bike=np.ones(m, bool), walk=np.ones(m, bool), cycleway=np.zeros(m, bool),
        inside_share=np.ones(m), road_category=np.full(m, "urban", dtype=object), name=np.full(m, "Toy Road", dtype=object),
        highway=np.full(m, "secondary", dtype=object), osmid=np.arange(m, dtype=object),
    )


def test_bpr_time_is_free_flow_when_empty_and_grows_with_volume():
    edges = line_network()
    free = edges.free_flow_time_s
    np.testing.assert_allclose(bpr_time_s(edges, np.zeros(4), 0.15, 4.0), free)
    at_capacity = bpr_time_s(edges, np.full(4, 1000.0), 0.15, 4.0)
    np.testing.assert_allclose(at_capacity, free * 1.15)
    times = [bpr_time_s(edges, np.full(4, v), 0.15, 4.0)[0] for v in (0, 250, 500, 1000, 1500, 3000)]
    assert all(a < b for a, b in itertools.pairwise(times))
    assert bpr_time_s(edges, np.full(4, 1000.0), 0.6, 4.0)[0] > at_capacity[0], "a larger alpha means more delay"


def test_edges_without_capacity_are_never_delayed():
    edges = line_network(capacity_vph=0.0)
    np.testing.assert_allclose(bpr_time_s(edges, np.full(4, 5000.0), 0.15, 4.0), edges.free_flow_time_s)


def test_all_or_nothing_puts_each_od_total_on_its_only_path():
    edges = line_network()
    zone_nodes = np.array([0, 2])
    trees = car_trees(edges, edges.free_flow_time_s, zone_nodes)
    od = np.array([[0.0, 300.0], [120.0, 0.0]])
    volume, shortest = all_or_nothing([trees], od[..., None], len(edges.u))
    volume = volume[:, 0]
    # Edges 0: 0→1, 1: 1→2 carry the 300 eastbound; 2: 1→0, 3: 2→1 the 120 westbound.
    np.testing.assert_allclose(volume, [300.0, 300.0, 120.0, 120.0])
    trip_s = edges.free_flow_time_s[:2].sum()
    assert shortest == pytest.approx((300.0 + 120.0) * trip_s)
    assert trees.dist_km[0, 1] == pytest.approx(3.0)


def test_relative_gap_is_zero_at_equilibrium_and_positive_off_it():
    edges = line_network()
    trees = car_trees(edges, edges.free_flow_time_s, np.array([0, 2]))
    od = np.array([[0.0, 300.0], [120.0, 0.0]])
    volume, shortest = all_or_nothing([trees], od[..., None], len(edges.u))
    volume = volume[:, 0]
    assert relative_gap(edges.free_flow_time_s, volume, shortest) == pytest.approx(0.0, abs=1e-12)
    # Loading cars on an edge no shortest path uses (a detour) opens a gap.
    detour = volume + np.array([0.0, 0.0, 50.0, 0.0])
    assert relative_gap(edges.free_flow_time_s, detour, shortest) > 0.0
    assert relative_gap(edges.free_flow_time_s, np.zeros(4), 0.0) == 0.0


def test_congestion_moves_traffic_to_a_faster_alternative():
    # Two parallel routes 0→1: a short direct road and a longer bypass via node 2.
    edges = line_network(lengths_m=(1000.0, 1000.0))
    edges.u = np.array([0, 0, 2, 1, 1, 2])
    edges.v = np.array([1, 2, 1, 0, 2, 0])
    edges.length_m = np.array([1000.0, 700.0, 700.0, 1000.0, 700.0, 700.0])
    for name in ("maxspeed_kph", "speed_kph", "capacity_vph", "lanes", "lanes_total", "drive", "bike", "walk",
                 "cycleway", "inside_share", "road_category", "name", "highway", "osmid", "bike_speed_factor", "bike_comfort_factor"):
        setattr(edges, name, np.resize(getattr(edges, name), 6))
    edges.keys = [(int(a), int(b), 0) for a, b in zip(edges.u, edges.v, strict=True)]
    od = np.array([[0.0, 3000.0], [0.0, 0.0]])
    free = car_trees(edges, edges.free_flow_time_s, np.array([0, 1]))
    volume = all_or_nothing([free], od[..., None], 6)[0][:, 0]
    assert volume[0] == 3000.0 and volume[1] == 0.0, "free flow: everyone on the direct road"
    congested = car_trees(edges, bpr_time_s(edges, volume, 0.15, 4.0), np.array([0, 1]))
    moved = all_or_nothing([congested], od[..., None], 6)[0][:, 0]
    assert moved[1] == 3000.0 and moved[2] == 3000.0, "a jammed direct road sends the next iteration round the bypass"


def path_by_path_loads(edges: EdgeArrays, trees, od: np.ndarray) -> np.ndarray:
    """Brute force: trace every OD pair's path and add its demand to each edge on it."""
    volume = np.zeros((len(edges.u), od.shape[2]))
    origins = trees.zone_nodes
    for i, origin in enumerate(origins):
        for j, target in enumerate(origins):
            if np.isfinite(trees.time_s[i, j]):
                path = trace_path(trees.pred[i], origin, target, trees.index)
                volume[trees.positions[path]] += od[i, j]
    return volume


@pytest.mark.parametrize("chunk_entries", [2**22, 1])
def test_tree_accumulation_equals_loading_each_path(monkeypatch, chunk_entries):
    # A random road network with one-way streets, parallel roads, a node only left (never
    # reached) and two zones on the same node; two demand layers at once.
    rng = np.random.default_rng(7)
    n_nodes = 60
    u = rng.integers(0, n_nodes, 240)
    v = (u + rng.integers(1, n_nodes, 240)) % n_nodes
    v[v == n_nodes - 1] = 0
    u = np.concatenate([u, [n_nodes - 1, 3]])
    v = np.concatenate([v, [5, 4]])
    edges = road_network(u, v, rng.uniform(100.0, 2000.0, len(u)))
    zone_nodes = np.array([0, 3, 3, 11, 25, 40, n_nodes - 1, 57])
    trees = car_trees(edges, edges.free_flow_time_s, zone_nodes)
    assert not np.isfinite(trees.time_s).all(), "the network has unreachable pairs"
    od = rng.uniform(0.0, 500.0, (len(zone_nodes), len(zone_nodes), 2))
    monkeypatch.setattr(model.assignment, "CHUNK_ENTRIES", chunk_entries)
    loaded = tree_loads(trees, od, len(edges.u))
    np.testing.assert_allclose(loaded, path_by_path_loads(edges, trees, od), rtol=1e-12)
    assert loaded.sum() > 0
    np.testing.assert_allclose(tree_loads(trees, od[..., 1], len(edges.u)), loaded[:, 1], rtol=1e-12)
