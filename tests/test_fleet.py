"""Car fleet: replacement, EV uptake with local chargers, the national stock."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from abm_fixtures import small_model

from model.fleet import BEV, charger_multiplier, national_stock_shares, purchase_shares, replace_cars
from model.parameters import load_parameters
from model.vocabulary import POWERTRAINS


@pytest.fixture(scope="module")
def fleet():
    return load_parameters().fleet


def test_more_chargers_mean_a_higher_ev_multiplier(fleet):
    residents = 17000.0
    values = [charger_multiplier(fleet, chargers, residents, 2025) for chargers in (0, 5, 20, 60, 200)]
    assert all(a < b for a, b in zip(values[:-1], values[1:]))
    assert values[0] > 0, "home charging: no public chargers do not mean no EVs"
    national_density = fleet.chargers.national_per_1000[2025] * residents / 1000.0
    assert charger_multiplier(fleet, national_density, residents, 2025) == pytest.approx(1.0)


def test_purchase_shares_sum_to_one_and_favour_bev_with_chargers(fleet):
    for year in (2019, 2024, 2030, 2040):
        for multiplier in (0.5, 1.0, 2.0):
            shares = purchase_shares(fleet, year, multiplier)
            assert shares.sum() == pytest.approx(1.0) and (shares >= 0).all()
    assert purchase_shares(fleet, 2024, 1.5)[BEV] > purchase_shares(fleet, 2024, 1.0)[BEV]
    assert purchase_shares(fleet, 2024, 1.0)[BEV] == pytest.approx(fleet.new_sales["bev"][2024])
    assert purchase_shares(fleet, 2040, 3.0)[BEV] == 1.0, "a BEV share is capped at 1"


def test_more_chargers_raise_residents_bev_share_after_replacements(fleet):
    model = small_model(sample_fraction=0.3)
    shares = []
    for chargers in (0.0, 20.0, 200.0):
        population = copy.deepcopy(model.population)
        rng = np.random.default_rng(3)
        for year in range(2020, 2026):
            replace_cars(population, fleet, year, charger_multiplier(fleet, chargers, 17000.0, year), rng)
        res = population.resident & (population.powertrain >= 0)
        shares.append(float(np.mean(population.powertrain[res] == BEV)))
    assert shares[0] < shares[1] < shares[2]
    assert shares[0] > float(np.mean(model.population.powertrain[model.population.powertrain >= 0] == BEV))


def test_replacement_ages_cars_and_renews_about_one_in_holding_years(fleet):
    model = small_model(sample_fraction=0.3)
    population = copy.deepcopy(model.population)
    has_car = population.powertrain >= 0
    replaced = replace_cars(population, fleet, 2024, 1.0, np.random.default_rng(0))
    assert not (replaced & ~has_car).any(), "only households with a car replace one"
    assert replaced[has_car].mean() == pytest.approx(1.0 / fleet.replacement.mean_holding_years, abs=0.02)
    assert (population.car_age[replaced] == 0).all()
    np.testing.assert_array_equal(population.car_age[has_car & ~replaced], model.population.car_age[has_car & ~replaced] + 1)
    assert (population.powertrain[has_car] >= 0).all() and (population.powertrain[~has_car] == -1).all()


def test_national_stock_shares_sum_to_one_and_electrify(fleet):
    previous = None
    for year in range(2019, 2051):
        stock = national_stock_shares(fleet, year)
        assert set(stock) == set(POWERTRAINS)
        assert sum(stock.values()) == pytest.approx(1.0)
        if previous is not None:
            assert stock["bev"] > previous["bev"]
        previous = stock
    assert national_stock_shares(fleet, 2019)["bev"] == pytest.approx(fleet.stock_2019["bev"])
    assert national_stock_shares(fleet, 2050)["bev"] > 0.7


def test_residents_fleet_electrifies_in_a_model_run():
    model = small_model(end_year=2023, sample_fraction=0.05)
    model.run()
    pop = model.population
    cars = pop.resident & (pop.powertrain >= 0)
    # From 0.6 % of the 2019 stock, five years of replacements at 7-31 % BEV sales.
    assert np.mean(pop.powertrain[cars] == BEV) > 5 * model.params.fleet.stock_2019["bev"]


def test_purchase_shares_are_continuous_when_national_sales_become_all_electric(fleet):
    # From 2035 all national new sales are BEV; a charger effect below 1 must still give a distribution
    # close to the year before, not a jump to 100 % BEV.
    before, after = purchase_shares(fleet, 2034, 0.7), purchase_shares(fleet, 2035, 0.7)
    assert after.sum() == pytest.approx(1.0)
    assert after[BEV] == pytest.approx(0.7)
    assert abs(after[BEV] - before[BEV]) < 0.02
