"""Synthetic commuters: totals match the facts, the gravity model meets its targets, draws are seeded."""

from __future__ import annotations

import numpy as np
import pytest

from model.errors import VmobError
from model.parameters import load_parameters
from model.population import calibrate_gravity, synthesize, trip_length_distribution, weights_in
from model.settings import BASE_YEAR
from tests.abm_fixtures import default_context, small_model


def test_resident_commuters_match_population_times_commuting_rate(model):
    params = model.params.population
    pop = model.population
    expected = params.residents.population_in(BASE_YEAR) * params.residents.commuters_per_resident
    # 16,655 residents in 2019 × 0.4918 commuters per resident ≈ 8,191
    assert model.weights[pop.resident].sum() == pytest.approx(expected, rel=0.01)
    assert expected == pytest.approx(8191, rel=0.01)


def test_local_jobs_are_filled_by_in_commuters_and_residents_working_locally(model):
    pop, zones = model.population, model.context.zones
    local_residents = model.weights[pop.resident & zones.is_home[pop.work]].sum()
    in_commuters = model.weights[~pop.resident].sum()
    assert local_residents + in_commuters == pytest.approx(model.params.population.jobs.count_in(BASE_YEAR), rel=0.01)
    assert not zones.is_home[pop.home[~pop.resident]].any(), "in-commuters live outside Vallensbæk"
    assert zones.is_home[pop.work[~pop.resident]].all(), "in-commuters work in Vallensbæk"
    assert zones.is_home[pop.home[pop.resident]].all(), "residents live in Vallensbæk"


@pytest.mark.parametrize("year", [2023, 2040])
def test_weights_follow_population_and_job_growth(model, year):
    params = model.params.population
    pop = model.population
    weights = weights_in(pop, params, year)
    residents = params.residents.population_in(year) * params.residents.commuters_per_resident
    assert weights[pop.resident].sum() == pytest.approx(residents, rel=0.01)
    job_growth = params.jobs.count_in(year) / params.jobs.count_in(BASE_YEAR)
    assert weights[~pop.resident].sum() == pytest.approx(model.weights[~pop.resident].sum() * job_growth, rel=1e-9)
    assert weights[pop.resident].sum() > model.weights[pop.resident].sum()


def test_gravity_meets_mean_commute_and_local_share(model):
    gravity = model.gravity
    targets = model.params.population.gravity
    assert gravity.mean_km == pytest.approx(targets.target_mean_km, abs=0.01)
    assert gravity.local_share == pytest.approx(targets.target_local_share, abs=0.001)
    assert gravity.beta > 0 and gravity.local_factor > 1
    # The drawn agents reproduce the targets within sampling noise.
    pop, zones = model.population, model.context.zones
    res = pop.resident
    km = model.skims.car_dist_km[pop.home[res], pop.work[res]]
    assert np.average(km, weights=model.weights[res]) == pytest.approx(15.4, rel=0.05)
    assert np.average(zones.is_home[pop.work[res]], weights=model.weights[res]) == pytest.approx(0.12, abs=0.02)


def test_trip_length_distribution_is_a_distribution_with_a_long_tail(model):
    tld = trip_length_distribution(model.population, model.skims.car_dist_km)
    assert sum(tld.values()) == pytest.approx(1.0, abs=1e-3)
    assert all(v >= 0 for v in tld.values())
    assert tld["0-2 km"] + tld["2-5 km"] > 0.05, "some residents work nearby"
    assert tld["20-30 km"] + tld["30-50 km"] + tld["50-100 km"] > 0.1, "some commute far"


def test_a_higher_local_share_target_keeps_more_residents_in_vallensbaek():
    ctx = default_context()
    distance = small_model(sample_fraction=0.05).skims.car_dist_km
    jobs = load_parameters().population.jobs.count_in(BASE_YEAR)
    low = calibrate_gravity(ctx.zones, distance, load_parameters({"population.gravity.target_local_share": 0.08}).population, jobs)
    high = calibrate_gravity(ctx.zones, distance, load_parameters({"population.gravity.target_local_share": 0.25}).population, jobs)
    assert low.local_share == pytest.approx(0.08, abs=1e-3) and high.local_share == pytest.approx(0.25, abs=1e-3)
    assert high.local_factor > low.local_factor
    assert low.mean_km == pytest.approx(15.4, abs=0.01) and high.mean_km == pytest.approx(15.4, abs=0.01)


def test_unreachable_gravity_target_names_the_key():
    ctx = default_context()
    distance = small_model(sample_fraction=0.05).skims.car_dist_km
    params = load_parameters({"population.gravity.target_mean_km": 500.0}).population
    with pytest.raises(VmobError, match="target_mean_km"):
        calibrate_gravity(ctx.zones, distance, params, params.jobs.count_in(BASE_YEAR))


def _draw(model, seed: int):
    p = model.params
    return synthesize(model.context.zones, model.gravity, p.population, p.fleet, 0.3, np.random.default_rng(seed))


def test_population_is_deterministic_for_a_seed_and_differs_between_seeds(model):
    a, b, c = _draw(model, 7), _draw(model, 7), _draw(model, 8)
    for name in ("resident", "home", "work", "car_available", "powertrain", "car_age", "has_bike", "ebike", "vot_dkk_per_min", "taste"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert not np.array_equal(a.work, c.work)
    assert not np.array_equal(a.vot_dkk_per_min, c.vot_dkk_per_min)


def test_attributes_follow_the_parameters(model):
    params = model.params.population
    pop, w = model.population, model.weights
    res = pop.resident
    assert np.average(pop.car_available[res], weights=w[res]) == pytest.approx(1 - params.residents.no_car_share, abs=0.02)
    assert np.average(pop.car_available[~res], weights=w[~res]) == pytest.approx(1 - params.in_commuters.no_car_share, abs=0.03)
    assert (pop.powertrain[~pop.car_available] == -1).all() and (pop.powertrain[pop.car_available] >= 0).all()
    assert pop.has_bike.mean() == pytest.approx(params.residents.bike_share, abs=0.02)
    assert not (pop.ebike & ~pop.has_bike).any()
    vot_hour = pop.vot_dkk_per_min * 60.0
    assert (vot_hour > 0).all()
    assert vot_hour.mean() == pytest.approx(params.value_of_time.mean_dkk_per_hour, rel=0.03)
    assert np.std(np.log(vot_hour)) == pytest.approx(params.value_of_time.log_sd, rel=0.05)
    assert pop.taste.std(axis=0)[0] == pytest.approx(params.taste_sd["car"], rel=0.1)


def test_sample_fraction_sets_agents_not_totals():
    small, large = small_model(sample_fraction=0.1), small_model(sample_fraction=0.3)
    assert len(large.population) == pytest.approx(3 * len(small.population), rel=0.02)
    assert small.weights.sum() == pytest.approx(large.weights.sum(), rel=0.01)


# ---- all residents and their households (model/persons.py) -------------------------------------


def test_residents_by_age_group_match_the_population_facts(model):
    from model.persons import person_weights
    from model.vocabulary import AGE_GROUPS

    params, persons = model.params.population, model.persons
    weights = person_weights(persons, params, BASE_YEAR)
    residents = params.residents.population_in(BASE_YEAR)
    assert weights.sum() == pytest.approx(residents, rel=0.01)
    by_age = np.bincount(persons.age_group, weights=weights, minlength=len(AGE_GROUPS)) / weights.sum()
    # geography.md §6: 0-14 20.4 %, 15-64 60.9 % (2018)
    assert by_age[AGE_GROUPS.index("0-14")] == pytest.approx(0.204, abs=0.005)
    assert by_age[AGE_GROUPS.index("15-17")] + by_age[AGE_GROUPS.index("18-64")] == pytest.approx(0.609, abs=0.005)


def test_commuters_are_the_working_residents_with_their_homes_cars_and_bikes(model):
    pop, persons = model.population, model.persons
    workers = persons.commuter >= 0
    assert sorted(persons.commuter[workers]) == sorted(np.flatnonzero(pop.resident))
    np.testing.assert_array_equal(persons.home[workers], pop.home[persons.commuter[workers]])
    np.testing.assert_array_equal(persons.has_bike[workers], pop.has_bike[persons.commuter[workers]])
    # A commuter with a car makes the household a car household.
    with_car = workers & pop.car_available[np.maximum(persons.commuter, 0)]
    assert model.households.car[persons.household[with_car]].all()


def test_households_share_a_home_have_an_adult_and_22_percent_have_no_car(model):
    from model.vocabulary import PERSON_GROUPS

    persons, households = model.persons, model.households
    assert (persons.household >= 0).all()
    np.testing.assert_array_equal(households.home[persons.household], persons.home)
    adult = ~np.isin(persons.group, [PERSON_GROUPS.index("child"), PERSON_GROUPS.index("youth")])
    assert np.isin(np.arange(len(households)), persons.household[adult]).all(), "every household has an adult"
    size = len(persons) / len(households)
    assert size == pytest.approx(model.params.population.households.persons_per_household, rel=0.05)
    # geography.md §8: 1,434 of 6,597 households without a car (22 %).
    assert 1.0 - households.car.mean() == pytest.approx(0.22, abs=0.02)


def test_more_commuters_and_students_than_adults_is_an_error_naming_the_key():
    from model.persons import group_counts

    params = load_parameters({"population.households.students_per_adult": 0.5}).population
    with pytest.raises(VmobError, match=r"population\.toml: key 'age_groups\.18-64'"):
        group_counts(params)
