"""External (through) traffic: OD estimation from the counts, no double count, elastic demand, growth, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from model.errors import VmobError
from model.external_demand import (
    ESTIMATE_BOUND,
    FIT_TOLERANCE,
    count_sections,
    count_targets,
    elastic_factor,
    entropy_fit,
    load_counts,
)
from model.parameters import load_parameters
from model.vocabulary import EXTERNAL_CLASSES
from model.yearly_tables import local_car_daily
from tests.abm_fixtures import small_model

MOTORWAYS = ("Køge Bugt Motorvejen", "Holbækmotorvejen", "Motorring 4")


@pytest.fixture(scope="module")
def stepped():
    """A model after its base year."""
    model = small_model(sample_fraction=0.15)
    model.step()
    return model


def test_od_estimation_reproduces_the_counts_it_was_fitted_to(stepped):
    """Every count is met on the incidence it was fitted to, unless the bound on the multipliers holds it."""
    for group in ("light", "truck"):
        fit = stepped.external.fits[group]
        free = ~fit.at_bound
        np.testing.assert_allclose(fit.fitted[free], fit.target[free], rtol=FIT_TOLERANCE)
        # heavily underdetermined: a handful of counts, many gate pairs
        assert fit.equations <= len(fit.target) < fit.unknowns
    roads = np.array(stepped.sections.roads)
    # the motorway counts are met; on this network only two minor gate pairs pass the (assumed) Søndre Ringvej count
    assert not np.isin(roads[stepped.external.fits["light"].at_bound], MOTORWAYS).any()


def test_assigned_traffic_meets_the_motorway_counts_without_counting_local_cars_twice(stepped):
    """Local traffic + routed through traffic ≈ the count (not count + local) at every motorway count."""
    fit = stepped.count_fit.set_index("road")
    state = stepped.year_state(stepped.start_year)
    sections = stepped.sections
    for road in MOTORWAYS:
        row = fit.loc[road]
        assert abs(row["misfit_share"]) < 0.05, f"{road}: {row.to_dict()}"
        assert row["local_daily"] > 0  # commuters and residents use the motorway too, and are taken out of the count
    s = list(sections.roads).index("Køge Bugt Motorvejen")
    assert sections.weights[s] @ local_car_daily(state) > 0
    # the link table reports the routed through traffic, not the raw count
    volumes = stepped.link_volumes()
    through = state.external_daily.sum(axis=(0, 2))
    np.testing.assert_allclose(volumes["through_daily"].to_numpy(), through)


def test_a_count_is_one_edge_in_each_direction(stepped):
    sections = stepped.sections
    for s, road in enumerate(sections.roads):
        counted = np.flatnonzero(sections.weights[s])
        assert 1 <= len(counted) <= 2 and set(sections.weights[s][counted]) == {1.0}, road
        assert set(stepped.edges.name[counted]) == {road}


def test_entropy_fit_keeps_the_prior_where_no_count_speaks():
    prior = np.array([10.0, 10.0, 5.0])
    incidence = np.array([[1.0, 1.0, 0.0]])
    fitted, multipliers = entropy_fit(prior, incidence, np.array([30.0]))
    np.testing.assert_allclose(fitted, [15.0, 15.0, 5.0], rtol=1e-9)
    np.testing.assert_allclose(multipliers, [np.log(1.5)], rtol=1e-6)


def test_entropy_fit_bound_stops_a_count_from_inflating_the_few_pairs_that_pass_it():
    prior = np.array([100.0, 1.0])
    incidence = np.array([[1.0, 0.0], [0.0, 1.0]])
    fitted, multipliers = entropy_fit(prior, incidence, np.array([100.0, 1000.0]), bound=ESTIMATE_BOUND)
    assert fitted[0] == pytest.approx(100.0)
    assert fitted[1] == pytest.approx(np.exp(ESTIMATE_BOUND))  # not 1000
    assert multipliers[1] == pytest.approx(ESTIMATE_BOUND)


def test_count_targets_take_the_local_traffic_out(stepped):
    sections = stepped.sections
    local = np.zeros((len(stepped.edges.u), len(EXTERNAL_CLASSES)))
    local[:, EXTERNAL_CLASSES.index("truck")] = 100.0  # per directed edge: 200 a day at a two-way count
    local[:, EXTERNAL_CLASSES.index("car")] = 1000.0
    targets = count_targets(sections, local)
    two_way = sections.weights.sum(axis=1)
    np.testing.assert_allclose(targets["truck"], np.maximum(sections.truck - 100.0 * two_way, FIT_TOLERANCE * sections.truck))
    np.testing.assert_allclose(targets["light"], np.maximum(sections.light - 1000.0 * two_way, FIT_TOLERANCE * sections.light))


def test_demand_falls_when_cost_rises_and_follows_the_elasticity():
    base = np.full((2, 2), 600.0)
    cost = base * 1.10
    first = elastic_factor(np.ones((2, 2)), cost, base, -0.5, -1.0)
    np.testing.assert_allclose(first, 1.10**-0.5)  # short run in the first year
    factor = first
    for _ in range(40):
        factor = elastic_factor(factor, cost, base, -0.5, -1.0)
    np.testing.assert_allclose(factor, 1.10**-1.0, rtol=1e-6)  # approaches the long run
    assert (elastic_factor(np.ones((2, 2)), base * 0.9, base, -0.5, -1.0) > 1.0).all()  # induced when cost falls


def test_elasticity_of_the_wrong_sign_is_a_one_line_error():
    with pytest.raises(VmobError) as error:
        load_parameters({"traffic.elasticity.short_run": 0.5}, source="experiment.toml")
    message = str(error.value)
    assert "\n" not in message and "short_run" in message and "negative" in message


def test_growth_is_on_by_default_and_can_be_switched_off():
    params = load_parameters()
    motorway, other = params.traffic.growth.factor("truck", 2030)
    assert motorway > other > 1.0
    off = load_parameters({"traffic.growth.enabled": False})
    assert off.traffic.growth.factor("car", 2050) == (1.0, 1.0)


def test_count_on_a_road_the_network_lacks_names_file_and_key(stepped, tmp_path):
    path = tmp_path / "counts.toml"
    path.write_text('[[counts]]\nroad = "Nowhere Road"\naadt = 1000\nyear = 2019\ntruck_share = 0.05\nsource = "test"\n')
    with pytest.raises(VmobError) as error:
        count_sections(stepped.edges, load_counts(path), source=str(path))
    message = str(error.value)
    assert "\n" not in message and str(path) in message and "counts[0].road" in message and "Nowhere Road" in message


def test_negative_count_names_file_and_key(tmp_path):
    path = tmp_path / "counts.toml"
    path.write_text('[[counts]]\nroad = "Søndre Ringvej"\naadt = -5\nyear = 2019\ntruck_share = 0.05\nsource = "test"\n')
    with pytest.raises(VmobError) as error:
        load_counts(path)
    message = str(error.value)
    assert "\n" not in message and "counts.toml" in message and "aadt" in message


def test_through_traffic_grows_with_the_forecast_and_stays_flat_without_it():
    """Business as usual: through vehicle-km follow the growth index; without growth they stay put."""
    def through_vkm(overrides: dict) -> list[float]:
        model = small_model(end_year=2021, sample_fraction=0.05, parameters=load_parameters(overrides))
        model.run()
        vkm = model.results()["vehicle_km"]
        through = vkm[(vkm["traffic"] == "through") & (vkm["area"] == "inside")]
        return [float(through.loc[through["year"] == y, "vkm_per_year"].sum()) for y in (2019, 2021)]

    grown = through_vkm({})
    flat = through_vkm({"traffic.growth.enabled": False})
    assert grown[0] == pytest.approx(flat[0])
    # LTM: +1.85 % 2019-20 on motorways and +0.7 %/yr after, less what congestion evaporates
    assert 1.01 < grown[1] / grown[0] < 1.03
    assert flat[1] / flat[0] == pytest.approx(1.0, abs=0.005)
