"""External (through) traffic: OD estimation from the counts, no double count, elastic demand, growth, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from model.errors import VmobError
from model.external_demand import FIT_TOLERANCE, count_sections, elastic_factor, entropy_fit, load_counts
from model.parameters import load_parameters
from model.vocabulary import EXTERNAL_CLASSES
from model.yearly_tables import local_car_daily
from tests.abm_fixtures import small_model


@pytest.fixture(scope="module")
def stepped():
    """A model after its base year."""
    model = small_model(sample_fraction=0.15)
    model.step()
    return model


def test_od_estimation_reproduces_the_counts_it_was_fitted_to(stepped):
    fits = stepped.external.fits
    for group in ("light", "truck"):
        fit = fits[group]
        np.testing.assert_allclose(fit.fitted, fit.target, rtol=FIT_TOLERANCE)
        # heavily underdetermined: a handful of counts, many gate pairs
        assert fit.equations <= len(fit.target) < fit.unknowns


def test_assignment_does_not_count_local_cars_twice_on_counted_roads(stepped):
    """Local cars + routed external traffic ≈ the count (not count + local), on every counted section."""
    state = stepped.year_state(stepped.start_year)
    sections = stepped.sections
    local = sections.weights @ local_car_daily(state)
    external = sections.weights @ state.external_daily.sum(axis=(0, 2))
    counted = sections.light + sections.truck
    # each round's fit is exact on the equilibrium's incidence; re-routing the new matrices moves the
    # flows a little, and after the base year's rounds the assigned total is within 10 % of each count
    np.testing.assert_allclose(local + external, counted, rtol=0.10)
    assert (local > 0).any()


def test_entropy_fit_keeps_the_prior_where_no_count_speaks():
    prior = np.array([10.0, 10.0, 5.0])
    incidence = np.array([[1.0, 1.0, 0.0]])
    fitted = entropy_fit(prior, incidence, np.array([30.0]))
    np.testing.assert_allclose(fitted, [15.0, 15.0, 5.0], rtol=1e-9)


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


def test_preload_is_taken_out_of_the_counts():
    """Local vans, buses and background traffic given as a preload are not estimated again as external traffic."""
    model = small_model(sample_fraction=0.05)
    preload = np.zeros((len(model.edges.u), len(EXTERNAL_CLASSES)))
    preload[:, EXTERNAL_CLASSES.index("truck")] = 100.0  # per directed edge: 200 a day on a two-way section
    loaded = small_model(sample_fraction=0.05, preload_daily=preload)
    loaded.step()
    sections = loaded.sections
    np.testing.assert_allclose(loaded.external.fits["truck"].target, sections.truck - 200.0)
    np.testing.assert_allclose(loaded.external.fits["truck"].fitted, sections.truck - 200.0, rtol=FIT_TOLERANCE)
