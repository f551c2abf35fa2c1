"""Mode choice: availability rules, agreement with Biogeme, utilities, bad coefficients."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from model.choice import probabilities, utilities
from model.errors import VmobError
from model.parameters import load_parameters
from model.supply_state import SupplyState
from model.vocabulary import MODES

CAR, BIKE, WALK, S_TRAIN, LIGHT_RAIL = (MODES.index(m) for m in ("car", "bike", "walk", "s_train", "light_rail"))

SUMMER_2026 = dt.date(2026, 7, 1)


def _choice_inputs(model, skims=None, population=None):
    ratio = model.skim_settings.bike_kph / model.skim_settings.ebike_kph
    return utilities(population or model.population, skims or model.skims, model.context.zones, model.params.choice, ratio, habit=False)


def _letbane_skims(model):
    """Skims of summer 2026 with the Letbane opened (as the transit_line lever does)."""
    supply = SupplyState.initial(model.edges, model.transit, {})
    supply.transit.open_line("L")
    return supply.skims(model.context.zones, model.context.anchors, SUMMER_2026, model.skim_settings, modes=model.modes)


def test_availability_rules(model):
    pop, skims = model.population, model.skims
    h, w = pop.home, pop.work
    rules = model.params.choice.availability
    _, available = _choice_inputs(model)
    walk_km, bike_km = skims.walk_dist_km[h, w], skims.bike_dist_km[h, w]
    np.testing.assert_array_equal(available[:, WALK], walk_km <= rules.walk_max_km)
    max_bike = np.where(pop.ebike, rules.ebike_max_km, rules.bike_max_km)
    np.testing.assert_array_equal(available[:, BIKE], pop.has_bike & (bike_km <= max_bike))
    assert not available[~pop.has_bike, BIKE].any(), "no bike without a bike"
    # Car only with a car, except the "lift" for someone with no other way to work.
    only_lift = ~available[:, [BIKE, WALK, S_TRAIN, LIGHT_RAIL]].any(axis=1)
    np.testing.assert_array_equal(available[:, CAR], pop.car_available | only_lift)
    assert (~pop.car_available & ~only_lift).sum() > 100, "the test population has carless commuters with alternatives"
    assert available.any(axis=1).all(), "everyone has at least one way to work"
    # Mixed availabilities actually occur (walk for locals, bike only within range).
    assert 0 < available[:, WALK].mean() < 0.5 and 0 < available[:, BIKE].mean() < 1.0


def test_ebikes_reach_further_than_bikes(model):
    pop = model.population
    bike_km = model.skims.bike_dist_km[pop.home, pop.work]
    _, available = _choice_inputs(model)
    between = pop.has_bike & (bike_km > 25.0) & (bike_km <= 35.0)
    assert between.any()
    np.testing.assert_array_equal(available[between, BIKE], pop.ebike[between])


def test_light_rail_only_once_the_letbane_runs(model):
    _, before = _choice_inputs(model)
    assert not before[:, LIGHT_RAIL].any(), "no light rail in 2019"
    unopened = model._skims(SUMMER_2026, None)  # planned line without the transit_line lever
    _, still_none = _choice_inputs(model, skims=unopened)
    assert not still_none[:, LIGHT_RAIL].any(), "a planned line runs only when a lever opens it"
    _, after = _choice_inputs(model, skims=_letbane_skims(model))
    assert after[:, LIGHT_RAIL].any()
    assert after[:, S_TRAIN].sum() == before[:, S_TRAIN].sum()


def test_probabilities_are_zero_for_unavailable_modes_and_sum_to_one(model):
    V, available = _choice_inputs(model, skims=_letbane_skims(model))
    P = probabilities(V, available)
    assert (P[~available] == 0).all()
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)


def test_numpy_logit_agrees_with_biogeme(model, tmp_path, monkeypatch):
    import biogeme.biogeme as bio
    import biogeme.database as db
    from biogeme.expressions import Variable
    from biogeme.models import logit
    from biogeme.parameters import Parameters

    monkeypatch.chdir(tmp_path)  # Biogeme may write files next to the working directory
    V, available = _choice_inputs(model, skims=_letbane_skims(model))
    pop = model.population
    # A few hundred agents with mixed availabilities: carless, walkers, light-rail users.
    rng = np.random.default_rng(0)
    picks = np.concatenate([
        rng.choice(np.flatnonzero(~pop.car_available), 80, replace=False),
        rng.choice(np.flatnonzero(available[:, WALK]), 80, replace=False),
        rng.choice(np.flatnonzero(available[:, LIGHT_RAIL]), 80, replace=False),
        rng.choice(len(pop), 160, replace=False),
    ])
    V, available = V[picks], available[picks]
    assert len({tuple(row) for row in available}) >= 6, "the sample mixes availability patterns"
    J = len(MODES)
    frame = pd.DataFrame(
        {**{f"V_{m}": V[:, j] for j, m in enumerate(MODES)}, **{f"av_{m}": available[:, j].astype(float) for j, m in enumerate(MODES)}}
    )
    database = db.Database("vmob_choice", frame)
    util = {j: Variable(f"V_{m}") for j, m in enumerate(MODES)}
    av = {j: Variable(f"av_{m}") for j, m in enumerate(MODES)}
    formulas = {f"P_{m}": logit(util, av, j) for j, m in enumerate(MODES)}
    simulated = bio.BIOGEME(database, formulas, parameters=Parameters()).simulate(the_beta_values={})
    expected = simulated[[f"P_{m}" for m in MODES]].to_numpy()
    assert expected.shape == (len(picks), J)
    np.testing.assert_allclose(probabilities(V, available), expected, rtol=0, atol=1e-9)


def test_utilities_respond_to_costs_and_times(model):
    pop = model.population
    V, _ = _choice_inputs(model)
    # A higher value of time makes the same money cost matter less: car utility rises where a
    # parking charge is paid (each agent's own value of time); the per-km cost is weighed at the
    # route class's value of time (model/skims.py car_route_classes, tests/test_car_routes.py).
    richer = dataclasses.replace(pop, vot_dkk_per_min=pop.vot_dkk_per_min * 2.0)
    V_rich, _ = _choice_inputs(model, population=richer)
    parking = np.isin(np.asarray(model.context.zones.ids)[pop.work], list(model.params.choice.costs.parking_dkk_per_trip))
    assert parking.any()
    assert (V_rich[:, CAR] >= V[:, CAR]).all() and (V_rich[:, CAR] > V[:, CAR])[parking].all()
    # Habit adds its bonus to last year's mode only.
    last = dataclasses.replace(pop, mode=np.full(len(pop), S_TRAIN))
    ratio = model.skim_settings.bike_kph / model.skim_settings.ebike_kph
    V_habit, _ = utilities(last, model.skims, model.context.zones, model.params.choice, ratio, habit=True)
    np.testing.assert_allclose(
        V_habit - V, np.where(np.arange(len(MODES)) == S_TRAIN, model.params.choice.coefficients.habit, 0.0)[None, :].repeat(len(pop), 0)
    )


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"choice.coefficients.time_min": 0.04}, "choice.coefficients.time_min"),
        ({"choice.coefficients.time_min": 0.0}, "choice.coefficients.time_min"),
        ({"choice.coefficients.bike_time_weight": -1.0}, "choice.coefficients.bike_time_weight"),
        ({"choice.coefficients.wait_weight": 0.0}, "choice.coefficients.wait_weight"),
        ({"population.value_of_time.mean_dkk_per_hour": 0.0}, "population.value_of_time.mean_dkk_per_hour"),
        ({"population.value_of_time.mean_dkk_per_hour": -50.0}, "population.value_of_time.mean_dkk_per_hour"),
        ({"population.residents.population": {}}, "population.residents.population"),
        ({"population.residents.population.2019": -16655}, "population.residents.population"),
        ({"population.jobs.count": {}}, "population.jobs.count"),
        ({"population.jobs.count.2018": -5754}, "population.jobs.count"),
        ({"choice.costs.running_dkk_per_km.bev": -0.4}, "choice.costs"),
    ],
)
def test_bad_parameters_name_the_key(override, key):
    with pytest.raises(VmobError, match=key.replace(".", r"\.")):
        load_parameters(override)


@pytest.mark.parametrize(
    ("modes", "message"),
    [
        (["car", "bike", "walk", "s_train", "tram"], "unknown mode tram"),
        (["car", "bike", "bike", "walk", "s_train", "light_rail"], "lists a mode twice"),
        (["bike", "walk", "s_train", "light_rail"], "must include 'car'"),
    ],
)
def test_bad_mode_lists_are_refused(modes, message):
    with pytest.raises(VmobError, match=message):
        load_parameters({"choice.modes": modes})
