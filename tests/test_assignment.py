"""Peak-hour car assignment: BPR link times, all-or-nothing loading, the relative gap."""

from __future__ import annotations

import numpy as np
import pytest

from model.assignment import all_or_nothing, bpr_time_s, relative_gap
from model.edges import EdgeArrays
from model.skims import car_trees


def line_network(lengths_m=(1000.0, 2000.0), speed_kph=50.0, capacity_vph=1000.0) -> EdgeArrays:
    """Nodes 0 – 1 – 2 in a row, a road both ways between neighbours: one path per OD pair."""
    n_nodes = len(lengths_m) + 1
    u = np.array([i for i in range(len(lengths_m))] + [i + 1 for i in range(len(lengths_m))])
    v = np.array([i + 1 for i in range(len(lengths_m))] + [i for i in range(len(lengths_m))])
    m = len(u)
    length = np.array(list(lengths_m) * 2, dtype=float)
    return EdgeArrays(
        keys=[(int(a), int(b), 0) for a, b in zip(u, v)], node_ids=np.arange(n_nodes), x=np.arange(n_nodes) * 1000.0,
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
    assert all(a < b for a, b in zip(times[:-1], times[1:]))
    assert bpr_time_s(edges, np.full(4, 1000.0), 0.6, 4.0)[0] > at_capacity[0], "a larger alpha means more delay"


def test_edges_without_capacity_are_never_delayed():
    edges = line_network(capacity_vph=0.0)
    np.testing.assert_allclose(bpr_time_s(edges, np.full(4, 5000.0), 0.15, 4.0), edges.free_flow_time_s)


def test_all_or_nothing_puts_each_od_total_on_its_only_path():
    edges = line_network()
    zone_nodes = np.array([0, 2])
    trees = car_trees(edges, edges.free_flow_time_s, zone_nodes)
    od = np.array([[0.0, 300.0], [120.0, 0.0]])
    volume, incidence, shortest = all_or_nothing(trees, od, len(edges.u))
    # Edges 0: 0→1, 1: 1→2 carry the 300 eastbound; 2: 1→0, 3: 2→1 the 120 westbound.
    np.testing.assert_allclose(volume, [300.0, 300.0, 120.0, 120.0])
    assert incidence.shape == (4, 4)
    trip_s = edges.free_flow_time_s[:2].sum()
    assert shortest == pytest.approx((300.0 + 120.0) * trip_s)
    assert trees.dist_km[0, 1] == pytest.approx(3.0)


def test_relative_gap_is_zero_at_equilibrium_and_positive_off_it():
    edges = line_network()
    trees = car_trees(edges, edges.free_flow_time_s, np.array([0, 2]))
    od = np.array([[0.0, 300.0], [120.0, 0.0]])
    volume, _, shortest = all_or_nothing(trees, od, len(edges.u))
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
    edges.keys = [(int(a), int(b), 0) for a, b in zip(edges.u, edges.v)]
    od = np.array([[0.0, 3000.0], [0.0, 0.0]])
    free = car_trees(edges, edges.free_flow_time_s, np.array([0, 1]))
    volume, _, _ = all_or_nothing(free, od, 6)
    assert volume[0] == 3000.0 and volume[1] == 0.0, "free flow: everyone on the direct road"
    congested = car_trees(edges, bpr_time_s(edges, volume, 0.15, 4.0), np.array([0, 1]))
    moved, _, _ = all_or_nothing(congested, od, 6)
    assert moved[1] == 3000.0 and moved[2] == 3000.0, "a jammed direct road sends the next iteration round the bypass"
