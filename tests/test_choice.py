"""Mode choice: availability, Biogeme agreement (logit and nested logit), the public-transport nest.

The nest: no dominated path is offered or chosen, the paths share taste and habit; then utilities and
bad coefficients.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from model.choice import PATH_ATTRIBUTES, choice_structure, probabilities, transit_attributes, utilities
from model.errors import VmobError
from model.parameters import load_parameters
from model.supply_state import SupplyState
from model.vocabulary import MODES, NESTS

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
    # The S-train path is still there for everyone who had it, unless a light-rail path beats it on
    # every attribute (then it is not offered, and the light-rail path is).
    pt_after = after[:, S_TRAIN] | after[:, LIGHT_RAIL]
    assert (pt_after >= before[:, S_TRAIN]).all()
    assert (after[:, LIGHT_RAIL] | ~before[:, S_TRAIN] | after[:, S_TRAIN]).all()


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


def _mixed_sample(model, V, available):
    """A few hundred agents with mixed availabilities: carless, walkers, light-rail users, both rail paths."""
    pop = model.population
    rng = np.random.default_rng(0)
    both_rail = available[:, S_TRAIN] & available[:, LIGHT_RAIL]
    return np.concatenate([
        rng.choice(np.flatnonzero(~pop.car_available), 80, replace=False),
        rng.choice(np.flatnonzero(available[:, WALK]), 80, replace=False),
        rng.choice(np.flatnonzero(available[:, LIGHT_RAIL]), 80, replace=False),
        rng.choice(np.flatnonzero(both_rail), 80, replace=False),
        rng.choice(len(pop), 160, replace=False),
    ])


@pytest.mark.parametrize("scales", [None, {"public_transport": 0.5, "active": 0.7}, {"public_transport": 0.15}])
def test_nested_logit_agrees_with_biogeme(model, tmp_path, monkeypatch, scales):
    """The nested probabilities equal Biogeme's ``models.nested`` on the same utilities, to 1e-9.

    Biogeme's nest parameter is the inverse of the scale μ used here (``P(j | nest) ∝ exp(V_j / μ)``).
    """
    import biogeme.biogeme as bio
    import biogeme.database as db
    from biogeme.expressions import Variable
    from biogeme.models import nested
    from biogeme.nests import NestsForNestedLogit, OneNestForNestedLogit
    from biogeme.parameters import Parameters

    monkeypatch.chdir(tmp_path)
    params = model.params.choice if scales is None else model.params.choice.model_copy(update={"nests": scales})
    structure = choice_structure(params)
    ratio = model.skim_settings.bike_kph / model.skim_settings.ebike_kph
    V, available = utilities(model.population, _letbane_skims(model), model.context.zones, params, ratio, habit=False)
    picks = _mixed_sample(model, V, available)
    V, available = V[picks], available[picks]
    assert (available[:, S_TRAIN] & available[:, LIGHT_RAIL]).sum() >= 80, "both rail paths offered to some riders"
    frame = pd.DataFrame(
        {**{f"V_{m}": V[:, j] for j, m in enumerate(MODES)}, **{f"av_{m}": available[:, j].astype(float) for j, m in enumerate(MODES)}}
    )
    util = {j: Variable(f"V_{m}") for j, m in enumerate(MODES)}
    av = {j: Variable(f"av_{m}") for j, m in enumerate(MODES)}
    nests = tuple(
        OneNestForNestedLogit(1.0 / structure.scale[k], [j for j in range(len(MODES)) if structure.nest[j] == k], name)
        for k, name in enumerate(NESTS) if (structure.nest == k).any()
    )
    choice_set = list(range(len(MODES)))
    formulas = {f"P_{m}": nested(util, av, NestsForNestedLogit(choice_set, nests), j) for j, m in enumerate(MODES)}
    simulated = bio.BIOGEME(db.Database("vmob_nested", frame), formulas, parameters=Parameters()).simulate(the_beta_values={})
    expected = simulated[[f"P_{m}" for m in MODES]].to_numpy()
    mine = probabilities(V, available, structure)
    np.testing.assert_allclose(mine, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(mine.sum(axis=1), 1.0, atol=1e-12)
    if scales is not None:  # the nest makes a difference: not the plain logit
        assert np.abs(mine - probabilities(V, available)).max() > 1e-3


def test_the_public_transport_nest_is_sharper_than_the_mode_choice(model):
    """Within the nest the better path wins more often than a plain logit would let it; μ = 1 is the logit."""
    params = model.params.choice
    V, available = _choice_inputs(model, skims=_letbane_skims(model))
    both = available[:, S_TRAIN] & available[:, LIGHT_RAIL]
    plain = probabilities(V, available)
    np.testing.assert_allclose(probabilities(V, available, choice_structure(params.model_copy(update={"nests": {}}))), plain)
    nested = probabilities(V, available, choice_structure(params))
    better_lr = both & (V[:, LIGHT_RAIL] > V[:, S_TRAIN])
    share = lambda P, rows: P[rows, LIGHT_RAIL] / P[rows][:, [S_TRAIN, LIGHT_RAIL]].sum(axis=1)  # noqa: E731
    assert better_lr.any() and (both & ~better_lr).any()
    assert (share(nested, better_lr) > share(plain, better_lr)).all()
    assert (share(nested, both & ~better_lr) < share(plain, both & ~better_lr)).all()


def test_no_rider_is_offered_or_chooses_a_dominated_public_transport_path(model):
    """A path worse on every attribute than another PT path of the same rider is never offered nor drawn."""
    from model.choice import ChoiceInputs

    skims = _letbane_skims(model)
    V, available = _choice_inputs(model, skims=skims)
    ratio = model.skim_settings.bike_kph / model.skim_settings.ebike_kph
    inputs = ChoiceInputs(model.population, skims, model.context.zones, model.params.choice, ratio, {})
    xs, xl = transit_attributes(inputs, "s_train"), transit_attributes(inputs, "light_rail")
    assert xs.shape[1] == len(PATH_ATTRIBUTES)
    rail_s = skims.transit["s_train"].available[model.population.home, model.population.work]
    rail_l = skims.transit["light_rail"].available[model.population.home, model.population.work]
    both = rail_s & rail_l
    with np.errstate(invalid="ignore"):
        lr_dominated = both & (xs <= xl).all(axis=1) & (xs < xl).any(axis=1)
        s_dominated = both & (xl <= xs).all(axis=1) & (xl < xs).any(axis=1)
    assert lr_dominated.sum() > 10, "the Letbane skim offers dominated feeder paths in the test population"
    assert not available[lr_dominated, LIGHT_RAIL].any() and available[lr_dominated, S_TRAIN].all()
    assert not available[s_dominated, S_TRAIN].any()
    # Non-dominated paths stay on offer.
    assert available[both & ~lr_dominated & ~s_dominated][:, [S_TRAIN, LIGHT_RAIL]].all()
    P = probabilities(V, available, choice_structure(model.params.choice))
    drawn = np.array([np.random.default_rng(7).choice(len(MODES), p=row) for row in P[: 3000]])
    chosen_dominated = (drawn == LIGHT_RAIL) & lr_dominated[:3000] | (drawn == S_TRAIN) & s_dominated[:3000]
    assert not chosen_dominated.any()
    assert (P[lr_dominated, LIGHT_RAIL] == 0).all() and (P[s_dominated, S_TRAIN] == 0).all()


def test_paths_of_public_transport_share_taste_and_habit(model):
    pop = model.population
    skims = _letbane_skims(model)
    V, available = _choice_inputs(model, skims=skims)
    both = available[:, S_TRAIN] & available[:, LIGHT_RAIL]
    # Without their path terms the two paths differ by nothing but the constants (the same after calibration).
    constants = model.params.choice.constants
    ratio = model.skim_settings.bike_kph / model.skim_settings.ebike_kph
    flat = dataclasses.replace(pop, taste=pop.taste * 0.0)
    V_flat, _ = utilities(flat, skims, model.context.zones, model.params.choice, ratio, habit=False)
    taste_s = (V - V_flat)[both, S_TRAIN]
    np.testing.assert_allclose((V - V_flat)[both, LIGHT_RAIL], taste_s)
    np.testing.assert_allclose(taste_s, pop.taste[both, S_TRAIN])
    assert constants["s_train"] == constants["light_rail"]
    # Habit: last year on either path gives the bonus to both paths.
    habit = model.params.choice.coefficients.habit
    for last in (S_TRAIN, LIGHT_RAIL):
        rode = dataclasses.replace(pop, mode=np.full(len(pop), last))
        V_habit, _ = utilities(rode, skims, model.context.zones, model.params.choice, ratio, habit=True)
        np.testing.assert_allclose((V_habit - V)[:, [S_TRAIN, LIGHT_RAIL]], habit)
        np.testing.assert_allclose((V_habit - V)[:, [CAR, BIKE, WALK]], 0.0)


@pytest.mark.parametrize("value", [0.0, -0.3, 1.2])
def test_a_nest_scale_outside_zero_one_names_file_and_key(value):
    with pytest.raises(VmobError) as err:
        load_parameters({"choice.nests.public_transport": value})
    message = str(err.value)
    assert "nests.public_transport" in message and "\n" not in message
    assert len(message.splitlines()) == 1


def test_a_nest_scale_in_the_file_is_blamed_on_the_file(tmp_path):
    import shutil

    from model.settings import PARAMETERS_DIR

    folder = tmp_path / "parameters"
    shutil.copytree(PARAMETERS_DIR, folder)
    text = (folder / "mode_choice.toml").read_text(encoding="utf-8")
    (folder / "mode_choice.toml").write_text(text.replace("public_transport = 0.5", "public_transport = 1.5"), encoding="utf-8")
    with pytest.raises(VmobError, match=r"mode_choice\.toml: key 'nests\.public_transport'"):
        load_parameters(folder=folder)
    (folder / "mode_choice.toml").write_text(text.replace("public_transport = 0.5", "public_transport = 0.5\nbus = 0.5"), encoding="utf-8")
    with pytest.raises(VmobError, match=r"mode_choice\.toml: key 'nests': unknown nest bus"):
        load_parameters(folder=folder)


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
    # Habit adds its bonus to last year's mode only (both paths of public transport).
    habit = model.params.choice.coefficients.habit
    last = dataclasses.replace(pop, mode=np.full(len(pop), S_TRAIN))
    ratio = model.skim_settings.bike_kph / model.skim_settings.ebike_kph
    V_habit, _ = utilities(last, model.skims, model.context.zones, model.params.choice, ratio, habit=True)
    np.testing.assert_allclose(
        V_habit - V,
        np.where(np.isin(np.arange(len(MODES)), [S_TRAIN, LIGHT_RAIL]), habit, 0.0)[None, :].repeat(len(pop), 0),
    )
    last_bike = dataclasses.replace(pop, mode=np.full(len(pop), BIKE))
    V_bike, _ = utilities(last_bike, model.skims, model.context.zones, model.params.choice, ratio, habit=True)
    np.testing.assert_allclose(V_bike - V, np.where(np.arange(len(MODES)) == BIKE, habit, 0.0)[None, :].repeat(len(pop), 0))


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
