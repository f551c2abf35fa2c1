"""Common random numbers: a scenario and its baseline with the same seed share every random draw."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import model.simulation as simulation
from model.levers import SpeedLimit
from model.random_streams import RandomStreams
from model.vocabulary import MODES
from tests.abm_fixtures import small_model

SAMPLE = 0.05


def run_tables(levers: list, end_year: int = 2021, seed: int = 1) -> dict[str, pd.DataFrame]:
    model = small_model(end_year=end_year, sample_fraction=SAMPLE, rng=seed, levers=levers, create_agents=False)
    model.run(progress=False)
    return {**model.results(), "link_volumes": model.link_volumes()}


def test_streams_depend_only_on_seed_purpose_and_year() -> None:
    streams = RandomStreams(7)
    first = streams("mode_choice", 2030).random(5)
    streams("population").random(1000)  # other purposes drawing in between change nothing
    streams("mode_choice", 2029).random(1000)
    assert np.array_equal(streams("mode_choice", 2030).random(5), first)
    assert np.array_equal(RandomStreams(7)("mode_choice", 2030).random(5), first)
    assert not np.array_equal(RandomStreams(8)("mode_choice", 2030).random(5), first)
    assert not np.array_equal(streams("mode_choice", 2031).random(5), first)
    assert not np.array_equal(streams("reconsideration", 2030).random(5), first)


def test_scenario_identical_to_its_baseline_differs_by_exactly_zero_in_every_table() -> None:
    baseline = run_tables([])
    # A lever dated after the horizon never applies: the run must equal the baseline bit for bit.
    late = SpeedLimit(kind="speed_limit", start=dt.date(2040, 1, 1), road_category=["motorway"], limit_kph=80)
    scenario = run_tables([late])
    assert set(scenario) == set(baseline)
    for name, table in baseline.items():
        pd.testing.assert_frame_equal(scenario[name], table, check_exact=True, obj=name)


def test_agents_forced_to_choose_again_do_not_shift_anyone_elses_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    # A lever can make some agents' last mode unavailable (a rail route that changes), so they
    # must choose again. Here that is forced directly: in one of two otherwise identical runs,
    # agents who cannot reach work by light rail are recorded as last year's light-rail users.
    draws: list[tuple[int, str]] = []

    def spy(prob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        draws.append((prob.shape[0], str(rng.bit_generator.state["state"])))
        return original(prob, rng)

    original = simulation.draw_categorical
    monkeypatch.setattr(simulation, "draw_categorical", spy)
    runs = [small_model(end_year=2021, sample_fraction=SAMPLE, rng=1, create_agents=False) for _ in range(2)]
    for model in runs:
        model.step()
        model.step()
    forced_run = runs[1]
    no_rail = ~forced_run.skims.transit["light_rail"].available[forced_run.population.home, forced_run.population.work]
    forced = np.flatnonzero(no_rail)[::10]
    forced_run.population.mode[forced] = MODES.index("light_rail")
    seen = []
    for model in runs:
        draws.clear()
        model.step()
        seen.append(list(draws))
    assert seen[0] == seen[1]
    others = np.ones(len(forced_run.population), dtype=bool)
    others[forced] = False
    changed = runs[0].population.mode[others] != runs[1].population.mode[others]
    assert len(forced) > 10 and changed.mean() < 0.01
