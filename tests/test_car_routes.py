"""Car routes on generalised cost: route classes, skims along their routes, the gap, monotonicity.

Cars are routed on time + km × (DKK per km ÷ value of time) in route classes
(``assignment.toml`` ``[route_classes]``); the car utility is the class's least
generalised cost, so a slower link can never make driving more attractive.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.assignment import all_or_nothing, bpr_time_s, link_costs_s, relative_gap
from model.choice import car_cost_per_km, utilities
from model.errors import VmobError
from model.levers import LaneReduction, SpeedLimit, driven_speed_kph
from model.parameters import load_parameters
from model.settings import PARAMETERS_DIR
from model.simulation import MobilityModel, ModelContext
from model.skims import CarRouteClasses, car_route_classes, car_route_trees, car_trees, skim_settings, with_car
from model.vocabulary import POWERTRAINS
from tests.test_assignment import road_network


def two_routes():
    """0 → 1 directly (3 km at 50 km/h, 216 s) or round by node 2 (2 × 2.5 km at 100 km/h, 180 s)."""
    u, v = np.array([0, 0, 2, 1, 1, 2]), np.array([1, 2, 1, 0, 2, 0])
    edges = road_network(u, v, np.array([3000.0, 2500.0, 2500.0, 3000.0, 2500.0, 2500.0]))
    edges.speed_kph = np.array([50.0, 100.0, 100.0, 50.0, 100.0, 100.0])
    edges.maxspeed_kph = edges.speed_kph.copy()
    return edges


def test_a_costly_km_takes_the_short_slow_road_and_a_cheap_one_the_fast_detour():
    edges = two_routes()
    zones = np.array([0, 1])
    fast = car_trees(edges, edges.free_flow_time_s, zones)  # time only
    cheap_km = car_trees(edges, edges.free_flow_time_s, zones, seconds_per_km=5.0)  # 216 + 15 > 180 + 25
    costly_km = car_trees(edges, edges.free_flow_time_s, zones, seconds_per_km=40.0)  # 216 + 120 < 180 + 200
    assert fast.time_s[0, 1] == pytest.approx(180.0) and fast.dist_km[0, 1] == pytest.approx(5.0)
    assert cheap_km.time_s[0, 1] == pytest.approx(180.0) and cheap_km.dist_km[0, 1] == pytest.approx(5.0)
    assert costly_km.time_s[0, 1] == pytest.approx(216.0) and costly_km.dist_km[0, 1] == pytest.approx(3.0)
    assert costly_km.generalised_s[0, 1] == pytest.approx(216.0 + 40.0 * 3.0)
    # the skims carry each class's own route; generalised minutes = time + km × minutes per km
    params = load_parameters()
    classes = CarRouteClasses(("cheap", "costly"), (5.0, 40.0), (1, 1, 1, 0))
    out = with_car(_empty_skims(2), [cheap_km, costly_km], skim_settings(params.choice, params.network.speeds_kph, classes))
    assert out.car_routes == classes
    assert out.car_class_dist_km[:, 0, 1] == pytest.approx([5.0, 3.0])
    assert out.car_generalised_min[1, 0, 1] == pytest.approx((216.0 + 120.0) / 60.0)
    assert out.car_dist_km[0, 1] == pytest.approx(5.0), "car_dist_km is the first class's"
    intra_min = params.choice.access.intra_zone_km / params.choice.access.intra_zone_car_kph * 60.0
    assert out.car_generalised_min[:, 0, 0] == pytest.approx([intra_min + 5.0 / 60.0, intra_min + 40.0 / 60.0])


def _empty_skims(n: int):
    from model.skims import Skims

    z = np.zeros((n, n))
    return Skims(z, z, z, z, z, z, z, {}, (), np.zeros((0, n, n)), np.zeros((0, n, n)), np.zeros((0, n, n)),
                 CarRouteClasses(("time",), (0.0,), (0, 0, 0, 0)))


def test_gap_is_measured_on_generalised_cost_per_class():
    edges = two_routes()
    zones = np.array([0, 1])
    seconds = (5.0, 40.0)
    trees = [car_trees(edges, edges.free_flow_time_s, zones, s) for s in seconds]
    od = np.zeros((2, 2, 2))
    od[0, 1] = [100.0, 200.0]
    volume, shortest = all_or_nothing(trees, od, len(edges.u))
    assert volume[:, 0] == pytest.approx([0, 100, 100, 0, 0, 0]), "cheap km: the fast detour"
    assert volume[:, 1] == pytest.approx([200, 0, 0, 0, 0, 0]), "costly km: the short road"
    costs = link_costs_s(edges, edges.free_flow_time_s, seconds)
    assert shortest == pytest.approx(100.0 * (180.0 + 25.0) + 200.0 * (216.0 + 120.0))
    assert relative_gap(costs, volume, shortest) == pytest.approx(0.0, abs=1e-12)
    # the costly-km class on the fast detour is faster but not cheaper: a gap on generalised cost
    swapped = np.column_stack([volume[:, 0], 2.0 * volume[:, 0]])  # both classes on the detour
    assert relative_gap(costs, swapped, shortest) > 0.05
    # …which a gap on time alone would not see (the detour is the faster road)
    assert relative_gap(np.column_stack([edges.free_flow_time_s] * 2), swapped, 100.0 * 180.0 + 200.0 * 180.0) == 0.0


def test_route_classes_come_from_the_choice_costs_and_the_value_of_time():
    params = load_parameters()
    routes = car_route_classes(params)
    assert routes.names == ("fossil", "electric")
    per_km = dict(zip(POWERTRAINS, car_cost_per_km(params.choice), strict=True))
    vot = params.population.value_of_time
    harmonic_dkk_per_s = vot.mean_dkk_per_hour * np.exp(-vot.log_sd**2) / 3600.0
    assert routes.seconds_per_km[1] == pytest.approx(per_km["bev"] / harmonic_dkk_per_s)
    assert routes.seconds_per_km[0] == pytest.approx(np.mean([per_km[p] for p in ("petrol", "diesel", "phev")]) / harmonic_dkk_per_s)
    assert routes.seconds_per_km[0] > routes.seconds_per_km[1] > 0, "a km costs an electric car less"
    assert [routes.names[c] for c in routes.of_powertrain] == ["fossil", "fossil", "fossil", "electric"]
    assert list(routes.of_agents(np.array([-1, 0, 3]))) == [0, 0, 1], "no car: the first class"
    dearer = car_route_classes(load_parameters({"choice.costs.running_dkk_per_km.bev": 0.84}))
    assert dearer.seconds_per_km[1] > routes.seconds_per_km[1]
    richer = car_route_classes(load_parameters({"population.value_of_time.mean_dkk_per_hour": 200.0}))
    assert richer.seconds_per_km[0] == pytest.approx(routes.seconds_per_km[0] / 2)


def bad_file(tmp_path: Path, name: str, old: str, new: str) -> Path:
    folder = tmp_path / "parameters"
    shutil.copytree(PARAMETERS_DIR, folder)
    text = (folder / name).read_text()
    assert re.search(old, text, flags=re.M)
    (folder / name).write_text(re.sub(old, new, text, count=1, flags=re.M))
    return folder


@pytest.mark.parametrize(
    ("name", "old", "new", "key"),
    [
        ("network.toml", r"^compliance = 0\.35$", "compliance = 1.2", "limit_change.compliance"),
        ("network.toml", r"^compliance = 0\.35$", "compliance = -0.1", "limit_change.compliance"),
        ("network.toml", r"^compliance_low = 0\.25$", "compliance_low = 0.5", "limit_change"),
        ("population.toml", r"^mean_dkk_per_hour = 100\.0$", "mean_dkk_per_hour = 0.0", "value_of_time.mean_dkk_per_hour"),
        ("population.toml", r"^mean_dkk_per_hour = 100\.0$", "mean_dkk_per_hour = -80.0", "value_of_time.mean_dkk_per_hour"),
        ("assignment.toml", r'^electric = \["bev"\]$', "electric = []", "route_classes"),
        ("assignment.toml", r'^electric = \["bev"\]$', 'electric = ["bev", "petrol"]', "route_classes"),
        ("assignment.toml", r'^electric = \["bev"\]$', 'electric = ["hydrogen"]', "route_classes"),
    ],
)
def test_bad_compliance_value_of_time_or_route_classes_is_one_line_naming_file_and_key(tmp_path, name, old, new, key):
    folder = bad_file(tmp_path, name, old, new)
    with pytest.raises(VmobError) as err:
        load_parameters(folder=folder)
    message = str(err.value)
    assert "\n" not in message
    assert f"{folder / name}: key '{key}" in message


def test_driven_speed_takes_up_the_compliant_share_of_a_new_limit():
    driven = np.array([115.5, 88.0])
    old = np.array([110.0, 110.0])
    assert driven_speed_kph(driven, old, 80.0, 1.0) == pytest.approx([84.0, 64.0]), "full compliance keeps the ratio"
    assert driven_speed_kph(driven, old, 80.0, 0.0) == pytest.approx(driven), "no compliance: nobody slows"
    assert driven_speed_kph(driven[:1], old[:1], 80.0, 0.35)[0] == pytest.approx(104.475)
    # raising a limit raises the driven speed by the same share
    assert driven_speed_kph(driven[:1], old[:1], 130.0, 0.35)[0] > 115.5


# ------------------------------------------------------------------- monotonicity property


@pytest.fixture(scope="module")
def stepped() -> MobilityModel:
    model = MobilityModel(ModelContext.load(), end_year=2019, sample_fraction=0.1, rng=1, create_agents=False)
    model.run()
    return model


def car_utility(model: MobilityModel, edges) -> np.ndarray:
    """Every agent's car utility this year on ``edges`` with the year's volumes held."""
    a = model.params.assignment
    time_s = bpr_time_s(edges, model.agent_volume + model.background_vph(), a.bpr_alpha, a.bpr_beta)
    trees = car_route_trees(edges, time_s, model.context.anchors.zone_node, model.skim_settings.car_routes)
    skims = with_car(model.skims, trees, model.skim_settings)
    ratio = model.skim_settings.bike_kph / model.skim_settings.ebike_kph
    V, _ = utilities(model.population, skims, model.context.zones, model.params.choice, ratio,
                     parking_dkk_per_trip=model.supply.parking_dkk_per_trip)
    return V[:, model.params.choice.modes.index("car")]


PROPERTY = settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(seed=st.integers(0, 2**16), share=st.floats(0.01, 1.0), speed=st.floats(0.2, 1.0), capacity=st.floats(0.2, 1.0))
def test_slowing_any_links_never_raises_any_agents_car_utility(stepped, seed, share, speed, capacity):
    edges = stepped.edges.copy()
    slowed = edges.drive & (np.random.default_rng(seed).random(len(edges.u)) < share)
    edges.speed_kph[slowed] *= speed
    edges.capacity_vph[slowed] *= capacity
    before, after = car_utility(stepped, stepped.edges), car_utility(stepped, edges)
    assert (after <= before + 1e-9).all()


@PROPERTY
@given(
    category=st.sampled_from(["motorway", "ring", "urban", "local"]),
    cut=st.sampled_from([10, 20, 30, 40]),
    compliance=st.one_of(st.none(), st.floats(0.0, 1.0)),
    inside_only=st.booleans(),
)
def test_a_lower_speed_limit_never_raises_any_agents_car_utility(stepped, category, cut, compliance, inside_only):
    edges = stepped.edges
    posted = sorted({float(v) for v in edges.maxspeed_kph[edges.drive & (edges.road_category == category)]})
    only = max(posted)
    lever = SpeedLimit(kind="speed_limit", start=dt.date(2019, 1, 1), limit_kph=max(only - cut, 10.0), road_category=[category],
                       only_limit_kph=only, inside_only=inside_only, compliance=compliance)
    supply = dataclasses.replace(stepped.supply, edges=edges.copy())
    if not lever._mask(supply.edges).any():
        return
    lever.apply(supply, dt.date(2019, 7, 1))
    assert (car_utility(stepped, supply.edges) <= car_utility(stepped, edges) + 1e-9).all()


@pytest.mark.parametrize("road", ["Søndre Ringvej", "Vejlegårdsvej", "Vallensbæk Torvevej"])
def test_fewer_lanes_never_raise_any_agents_car_utility(stepped, road):
    edges = stepped.edges
    lanes = sorted(set(edges.lanes_total[edges.road_mask([road]) & edges.drive].tolist()))
    wide = [n for n in lanes if n >= 2]
    if not wide:
        pytest.skip(f"{road} has no link of 2 or more lanes")
    lever = LaneReduction(kind="lane_reduction", start=dt.date(2019, 1, 1), roads=[road], lanes_from=wide[-1],
                          lanes_to=wide[-1] - 1, inside_only=False)
    supply = dataclasses.replace(stepped.supply, edges=edges.copy())
    lever.apply(supply, dt.date(2019, 7, 1))
    before, after = car_utility(stepped, edges), car_utility(stepped, supply.edges)
    assert (after <= before + 1e-9).all()
