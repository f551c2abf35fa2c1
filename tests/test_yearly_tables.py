"""A year's output tables as plain functions: shares, passenger-km and vehicle-km reconcile with the flows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.skims import car_trees
from model.vocabulary import PURPOSES
from model.yearly_tables import link_vkm, mode_split, rail_inside_share, visitor_od, year_tables
from tests.abm_fixtures import small_model


@pytest.fixture(scope="module")
def stepped():
    """A model after its first year, and that year's state."""
    model = small_model(sample_fraction=0.15)
    model.step()
    return model, model.year_state(model.start_year)


def test_mode_split_shares_sum_to_one_and_pkm_is_trips_times_distance(stepped):
    _, state = stepped
    split = mode_split(state)
    commute = split[split["purpose"] == "commute"]
    assert commute.groupby("road_user")["share"].sum().to_numpy() == pytest.approx([1.0, 1.0])
    residents = split[split["road_user"] == "resident"]
    assert residents.groupby("purpose")["share"].sum().to_numpy() == pytest.approx(1.0)
    a = state.params.assignment
    pop = state.population
    car = pop.mode == [m.name for m in state.modes].index("car")
    pkm = state.weights * a.attendance * 2.0 * a.working_days_per_year * state.skims.car_dist_km[pop.home, pop.work]
    expected = pkm[car & pop.resident].sum()
    resident_car = commute[(commute["road_user"] == "resident") & (commute["mode"] == "car")]
    assert resident_car["pkm_per_year"].item() == pytest.approx(expected, rel=1e-12)


def test_commute_vehicle_km_equal_daily_cars_times_route_length(stepped):
    _, state = stepped
    a = state.params.assignment
    result = link_vkm(state)
    commute = result.frame[result.frame["traffic"] == "commute"]
    pop = state.population
    # Commuters without a household car who go by car get a lift: they add no car of their own.
    car = (pop.mode == [m.name for m in state.modes].index("car")) & (pop.powertrain >= 0)
    n = state.n_zones
    cars = state.weights * a.attendance * 2.0 / a.car_occupancy * car
    time_s = state.period_time_s[0]  # the morning peak's congested times, on which the model routed them
    routes = state.skims.car_routes
    route_class = routes.of_agents(pop.powertrain)
    expected = 0.0
    for c, seconds_per_km in enumerate(routes.seconds_per_km):  # each route class on its own least-cost routes
        od = np.bincount(pop.home * n + pop.work, weights=cars * (route_class == c), minlength=n * n).reshape(n, n)
        np.fill_diagonal(od, 0.0)
        trees = car_trees(state.edges, time_s, state.zone_nodes, seconds_per_km)
        expected += (od * trees.dist_km).sum() * a.working_days_per_year
    assert commute["vkm_per_year"].sum() == pytest.approx(expected, rel=1e-9)
    assert (result.commute_daily >= 0).all() and result.commute_daily.max() > 0


def test_through_traffic_vkm_is_its_daily_flow_times_length_inside_and_outside(stepped):
    _, state = stepped
    frame = link_vkm(state).frame
    through = frame[frame["traffic"] == "through"]
    expected = (state.external_daily.sum(axis=(0, 2)) * state.edges.length_m / 1000.0).sum() * state.params.assignment.days_per_year
    assert through["vkm_per_year"].sum() == pytest.approx(expected, rel=1e-9)
    # routed on the whole network: the part outside the boundary is counted as outside
    assert set(through["area"]) == {"inside", "outside"}
    assert set(through["vehicle"]) == {"car", "van", "truck"}


def test_year_tables_carry_the_run_labels_and_reconcile_vehicle_km(stepped):
    model, state = stepped
    result = year_tables(state)
    for name, table in result.tables.items():
        assert (table["year"] == state.year).all() and (table["experiment"] == state.labels["experiment"]).all(), name
    links = link_vkm(state).frame
    vehicle_km = result.tables["vehicle_km"]
    assert state.local is not None  # vans, buses, municipal fleet and background (model/local_traffic.py)
    local = (state.local.daily * state.edges.length_m[:, None] / 1000.0).sum() * state.params.assignment.days_per_year
    assert vehicle_km["vkm_per_year"].sum() == pytest.approx(links["vkm_per_year"].sum() + local, rel=1e-12)
    assert (vehicle_km["purpose"] == vehicle_km["traffic"].where(vehicle_km["traffic"].isin(PURPOSES), "none")).all()
    assert result.commute_vkm == pytest.approx(links.loc[links["traffic"] == "commute", "vkm_per_year"].sum())
    pd.testing.assert_frame_equal(result.tables["mode_split"], model.tables["mode_split"][0])


def test_visitor_trips_are_symmetric_and_sum_to_the_trips_given(stepped):
    model, _ = stepped
    od = visitor_od(model.context.zones, model.gravity, 1000.0)
    np.testing.assert_allclose(od, od.T)
    assert od.sum() == pytest.approx(1000.0)


def test_rail_inside_share_is_zero_without_and_one_with_a_boundary_around_everything(stepped):
    model, _ = stepped
    import shapely

    anchors = model.context.anchors
    xy = dict(zip(anchors.stations, zip(anchors.station_x, anchors.station_y, strict=True), strict=True))
    everything = shapely.box(min(anchors.station_x) - 1, min(anchors.station_y) - 1, max(anchors.station_x) + 1, max(anchors.station_y) + 1)
    far_away = shapely.box(0, 0, 1, 1)
    assert rail_inside_share(model.transit, xy, everything) == pytest.approx({"s_train": 1.0, "light_rail": 1.0})
    assert rail_inside_share(model.transit, xy, far_away) == {"s_train": 0.0, "light_rail": 0.0}
    inside = rail_inside_share(model.transit, xy, model.context.network.boundary)
    assert all(0.0 < share < 1.0 for share in inside.values())
