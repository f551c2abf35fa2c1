"""The Mesa model: determinism, Mesa's API, habit steady state, monotone responses, dated levers."""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import partial

import mesa
import numpy as np
import pandas as pd
import pytest

from model.agents import Commuter
from model.choice import ChoiceStructure, probabilities, utilities
from model.parameters import load_parameters
from model.simulation import HABIT_BURN_IN, MobilityModel, habit_steady_state, habit_transition, reference_date
from model.vocabulary import MODES, PERIODS, mode_table
from tests.abm_fixtures import SAMPLE, default_context, small_model

CAR, S_TRAIN = MODES.index("car"), MODES.index("s_train")


@pytest.fixture(scope="module")
def base_2019():
    model = small_model()
    model.run()
    return model


@pytest.fixture(scope="module")
def congested_2019():
    """Every link's BPR alpha raised from 0.15 to 6: congestion bites hard (the gap, on generalised cost, needs two steps)."""
    model = small_model(parameters=load_parameters({"assignment.bpr_alpha": 6.0}))
    model.run()
    return model


@pytest.fixture(scope="module")
def two_years():
    model = small_model(end_year=2020, sample_fraction=0.1, rng=5)
    model.run()
    return model


def test_same_seed_gives_identical_tables_and_another_seed_does_not(two_years):
    again = small_model(end_year=2020, sample_fraction=0.1, rng=5)
    again.run()
    first, second = two_years.results(), again.results()
    assert set(first) == set(second) >= {"mode_split", "vehicle_km", "co2", "summary"}
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name], obj=name)
    pd.testing.assert_frame_equal(two_years.link_volumes(), again.link_volumes())
    other = small_model(end_year=2020, sample_fraction=0.1, rng=6)
    other.run()
    assert not first["mode_split"]["commuters"].equals(other.results()["mode_split"]["commuters"])


def test_one_commuter_agent_per_row_of_the_population(two_years):
    model = two_years
    assert len(model.agents) == len(model.population)
    assert all(isinstance(agent, Commuter) for agent in model.agents)
    assert sorted(agent.index for agent in model.agents) == list(range(len(model.population)))
    residents = model.agents.select(lambda a: a.resident)
    assert len(residents) == int(model.population.resident.sum())


def test_groupby_mode_counts_the_chosen_modes(two_years):
    model = two_years
    counts = model.agents.groupby("mode").count()
    expected = np.bincount(model.population.mode, minlength=len(MODES))
    assert counts == {MODES[i]: int(n) for i, n in enumerate(expected) if n}
    weights = model.agents.select(lambda a: a.resident).groupby("mode").agg("weight", sum)
    total = sum(weights.values())
    assert weights["car"] / total == pytest.approx(model.resident_share(CAR))


def test_agent_attributes_are_views_into_the_model_arrays(two_years):
    model = two_years
    agent = next(iter(model.agents))
    i = agent.index
    saved = (model.population.mode[i], model.population.powertrain[i], model.population.car_available[i])
    try:
        model.population.mode[i] = S_TRAIN
        assert agent.mode == "s_train"
        model.population.powertrain[i] = 3
        model.population.car_available[i] = True
        assert agent.powertrain == "bev" and agent.car_available
        model.population.powertrain[i] = -1
        assert agent.powertrain is None
    finally:
        model.population.mode[i], model.population.powertrain[i], model.population.car_available[i] = saved
    assert agent.weight == model.weights[i]
    assert agent.value_of_time == pytest.approx(model.population.vot_dkk_per_min[i] * 60)
    assert agent.home_zone in model.context.zones.ids


def test_datacollector_records_one_row_per_year(two_years):
    frame = two_years.datacollector.get_model_vars_dataframe()
    assert frame["year"].tolist() == [2019, 2020]
    shares = frame[[f"share_{m}" for m in MODES]].sum(axis=1)
    np.testing.assert_allclose(shares, 1.0)
    assert (frame["car_vkm_commute"] > 0).all()
    assert not two_years.running


def test_runs_under_mesa_batch_run():
    model_cls = partial(MobilityModel, default_context())
    rows = mesa.batch_run(
        model_cls,
        parameters={"sample_fraction": 0.05, "end_year": 2020, "rng": [1, 2]},
        iterations=1,
        max_steps=2,
        data_collection_period=1,
        number_processes=1,
        display_progress=False,
    )
    assert len(rows) == 4  # two seeds × two yearly steps
    assert sorted((r["rng"], r["year"]) for r in rows) == [(1, 2019), (1, 2020), (2, 2019), (2, 2020)]
    for row in rows:
        assert sum(row[f"share_{m}"] for m in MODES) == pytest.approx(1.0)
    by_seed = {r["rng"]: r["share_car"] for r in rows if r["year"] == 2019}
    assert by_seed[1] != by_seed[2]


def test_the_base_year_is_in_its_habit_steady_state(base_2019):
    model = base_2019
    habit = model.params.choice.coefficients.habit
    ratio = model.skim_settings.bike_kph / model.skim_settings.ebike_kph
    V, available = utilities(model.population, model.skims, model.context.zones, model.params.choice, ratio, habit=False)
    steady = habit_steady_state(V, available, habit)
    # One more year of choices that favour last year's mode leaves every agent's distribution unchanged.
    conditional = np.stack([probabilities(V + habit * (np.arange(len(MODES)) == last), available) for last in range(len(MODES))], axis=1)
    next_year = np.einsum("nl,nlm->nm", steady, conditional)
    np.testing.assert_allclose(next_year, steady, atol=1e-6)
    # Without the steady state, habit alone would move the shares: the check above can fail.
    free = probabilities(V, available)
    drift = np.einsum("nl,nlm->nm", free, conditional)
    res, w = model.population.resident, model.weights[model.population.resident]
    assert abs(np.average(drift[res, CAR], weights=w) - np.average(free[res, CAR], weights=w)) > 0.005


def _dense_habit_steady_state(V, available, habit, iterations):
    """The burn-in as first written: every P(· | last = l) stacked N × modes × modes."""
    modes = V.shape[1]
    conditional = np.stack([probabilities(V + habit * (np.arange(modes) == last), available) for last in range(modes)], axis=1)
    p = probabilities(V, available)
    for _ in range(iterations):
        p = np.einsum("nl,nlm->nm", p, conditional)
    return p


@pytest.mark.parametrize("habit", [0.0, 0.8, 2.5, 12.0])
def test_habit_burn_in_equals_the_dense_transition(habit):
    rng = np.random.default_rng(7)
    n, modes = 2_000, 6
    V = rng.normal(0.0, 3.0, (n, modes)) + rng.choice([0.0, -40.0, 30.0], (n, 1))
    available = rng.random((n, modes)) < 0.7
    available[:5] = False  # no mode at all: zeros, like probabilities()
    available[5:10] = False
    available[5:10, 2] = True  # a single mode: probability one whatever the habit
    fast = habit_steady_state(V, available, habit)
    dense = _dense_habit_steady_state(V, available, habit, HABIT_BURN_IN)
    np.testing.assert_allclose(fast, dense, rtol=1e-12, atol=1e-15)
    assert np.all(fast[~available] == 0.0)
    assert np.all(fast[:5] == 0.0)
    np.testing.assert_allclose(fast[5:10, 2], 1.0, rtol=1e-15)
    some = available.any(axis=1)
    np.testing.assert_allclose(fast[some].sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(fast[~some] == 0.0)


@pytest.mark.parametrize("scales", [{"public_transport": 0.5}, {"public_transport": 0.3, "active": 1.0}, {"active": 0.6}])
def test_nested_habit_burn_in_equals_the_dense_transition(scales):
    """With nests, the burn-in on habit groups (fast) equals every P(· | last) stacked (dense).

    ``{"active": 0.6}`` is a nest with μ < 1 holding two habit groups (bike, walk): the fast
    path cannot fold it and the dense one runs; both must give the nested fixed point.
    """
    structure = ChoiceStructure.of(mode_table(("car", "bike", "walk", "s_train", "light_rail")), scales)
    rng = np.random.default_rng(11)
    n, modes = 1_500, 5
    V = rng.normal(0.0, 2.5, (n, modes))
    available = rng.random((n, modes)) < 0.75
    available[:, 0] |= ~available.any(axis=1)
    steady = habit_steady_state(V, available, 1.7, iterations=60, structure=structure)
    conditional = np.stack(
        [probabilities(V + structure.habit_bonus(last, 1.7), available, structure) for last in range(modes)], axis=1
    )
    p = probabilities(V, available, structure)
    for _ in range(60):
        p = np.einsum("nl,nlm->nm", p, conditional)
    np.testing.assert_allclose(steady, p, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(steady.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(steady[~available] == 0.0)


def test_habit_transition_rows_are_the_logit_with_the_bonus():
    rng = np.random.default_rng(3)
    V = rng.normal(0.0, 2.0, (50, 5))
    available = rng.random((50, 5)) < 0.8
    available[:, 0] = True
    transition = habit_transition(V, available, 1.3)
    for last in range(5):
        one_hot = np.zeros_like(V)
        one_hot[:, last] = available[:, last]
        expected = probabilities(V + 1.3 * (np.arange(5) == last), available)
        got = transition.step(one_hot)
        rows = available[:, last]
        np.testing.assert_allclose(got[rows], expected[rows], rtol=1e-13, atol=1e-16)
    # A stronger habit keeps more agents on their mode after one year.
    p = probabilities(V, available)
    weak, strong = habit_transition(V, available, 0.5).step(p), habit_transition(V, available, 3.0).step(p)
    assert 0 < np.abs(weak - p).sum() < np.abs(strong - p).sum()
    np.testing.assert_allclose(transition.iterate(p, 3), transition.step(transition.step(transition.step(p))), rtol=1e-14)


def test_business_as_usual_changes_little_in_one_year():
    model = small_model(end_year=2020)
    model.run()
    frame = model.datacollector.get_model_vars_dataframe()
    for mode in MODES:
        assert abs(frame[f"share_{mode}"].iloc[1] - frame[f"share_{mode}"].iloc[0]) < 0.02, mode


@pytest.mark.filterwarnings("ignore:.*speed value.*clamped")
def test_msa_gap_is_reported_and_below_the_threshold(two_years, congested_2019):
    threshold = two_years.params.assignment.relative_gap
    assert set(two_years.gap_history) == {2019, 2020}
    for year, gaps in two_years.gap_history.items():
        assert gaps and gaps[-1] < threshold, year
    for period in PERIODS:
        assert two_years.period_gaps[(2020, period)] < threshold, period
    # A congested network needs more iterations, and the gap falls. With the through traffic routed too
    # (BPR alpha 6 on every class) eight Frank-Wolfe steps end near 0.05, not below the threshold.
    gaps = congested_2019.gap_history[2019]
    assert len(gaps) >= 2
    assert gaps[-1] < gaps[0] / 10 and gaps[-1] < 10 * threshold


@pytest.mark.filterwarnings("ignore:.*speed value.*clamped")  # half speeds fall below the COPERT curves
def test_slower_car_network_lowers_the_car_share(base_2019, congested_2019):
    base = base_2019
    slow = small_model()
    slow.edges.speed_kph *= 0.5  # every road at half speed from the 2019 step on
    slow.run()
    assert slow.resident_share(CAR) < base.resident_share(CAR) - 0.03
    assert congested_2019.resident_share(CAR) < base.resident_share(CAR) - 0.01


def test_faster_s_train_line_raises_the_s_train_share(base_2019):
    ctx = default_context()
    transit = ctx.transit.copy()
    line = transit.lines["A"]
    transit.lines["A"] = line.model_copy(update={"minutes": [m / 2 for m in line.minutes]})
    base = base_2019
    fast = MobilityModel(dataclasses.replace(ctx, transit=transit), end_year=2019, sample_fraction=SAMPLE, rng=1)
    fast.run()
    assert fast.resident_share(S_TRAIN) > base.resident_share(S_TRAIN) + 0.005
    assert fast.resident_share(CAR) < base.resident_share(CAR)


@dataclasses.dataclass
class _RecordingLever:
    start: dt.date
    applied_in: list = dataclasses.field(default_factory=list)

    def apply(self, supply, date):
        self.applied_in.append(date.year)


def test_a_lever_counts_in_a_year_if_it_has_started_by_1_july():
    assert reference_date(2025) == dt.date(2025, 7, 1)
    on_time, late = _RecordingLever(dt.date(2025, 7, 1)), _RecordingLever(dt.date(2025, 7, 2))
    model = small_model(start_year=2024, end_year=2026, sample_fraction=0.05, levers=[late, on_time])
    model.run()
    assert on_time.applied_in == [2025], "applied once, in the first year it is due"
    assert late.applied_in == [2026]
