"""Lever effects as paired differences over seeds: intervals, the zero effect, and the effects table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model.effects import EFFECT_COLUMNS, baseline_label, effects_markdown, paired_effects
from model.experiments import run_experiment
from model.outputs import TABLES
from tests.osm_fixtures import write_tiny_inputs
from tests.test_experiments import LEAN_OUTPUTS, experiment


def synthetic_summary(seeds: int, effect: float, pair_noise: float, seed_noise: float = 0.02) -> pd.DataFrame:
    """A summary of a baseline and a 'plan' whose car share is lower by ``effect`` (plus pair noise)."""
    rng = np.random.default_rng(0)
    base = 0.6 + seed_noise * rng.standard_normal(seeds)
    plan = base - effect + pair_noise * rng.standard_normal(seeds)
    rows = [{"experiment": "x", "scenario": label, "seed": s, "year": 2030, "share_car": value}
            for label, values in (("baseline", base), ("plan", plan)) for s, value in enumerate(values, start=1)]
    return pd.DataFrame(rows)


def car_effect(summary: pd.DataFrame) -> pd.Series:
    effects = paired_effects(summary, figures=("share_car",))
    assert list(effects.columns) == list(EFFECT_COLUMNS) and len(effects) == 1
    return effects.iloc[0]


def test_a_known_difference_is_recovered_within_its_interval() -> None:
    row = car_effect(synthetic_summary(seeds=20, effect=0.01, pair_noise=0.002))
    assert row["effect_ci_low"] < -0.01 < row["effect_ci_high"]
    assert row["effect_mean"] == pytest.approx(-0.01, abs=0.002)
    assert row["distinguishable_from_zero"] == "yes" and row["seeds"] == 20 and row["baseline"] == "baseline"
    # Seed-to-seed noise (0.02) is ten times the pair noise: pairing shrinks the interval a lot,
    # and the unpaired interval cannot tell the 1-point effect from zero.
    assert row["variance_reduction"] > 20
    assert row["unpaired_ci_low"] < 0 < row["unpaired_ci_high"]
    table = effects_markdown(paired_effects(synthetic_summary(20, 0.01, 0.002), figures=("share_car",)), 2030)
    assert table.splitlines()[2].startswith("| plan | share_car | -0.99 pp [") and table.endswith("| yes |")


def test_the_interval_shrinks_with_more_seeds() -> None:
    widths = []
    for seeds in (3, 10, 40):
        row = car_effect(synthetic_summary(seeds=seeds, effect=0.01, pair_noise=0.005))
        widths.append(row["effect_ci_high"] - row["effect_ci_low"])
    assert widths[0] > widths[1] > widths[2] > 0


def test_a_scenario_identical_to_its_baseline_has_a_zero_effect_of_zero_width() -> None:
    row = car_effect(synthetic_summary(seeds=5, effect=0.0, pair_noise=0.0))
    assert row["effect_mean"] == row["effect_ci_low"] == row["effect_ci_high"] == row["effect_se"] == 0.0
    assert row["distinguishable_from_zero"] == "no" and np.isnan(row["variance_reduction"])


def test_small_effects_drowned_by_noise_are_not_distinguishable() -> None:
    row = car_effect(synthetic_summary(seeds=4, effect=0.0005, pair_noise=0.01))
    assert row["effect_ci_low"] < 0 < row["effect_ci_high"] and row["distinguishable_from_zero"] == "no"


def test_one_seed_or_no_baseline_gives_no_effects() -> None:
    assert paired_effects(synthetic_summary(seeds=1, effect=0.01, pair_noise=0.0), figures=("share_car",)).empty
    without = synthetic_summary(seeds=3, effect=0.01, pair_noise=0.0).replace({"scenario": {"baseline": "other"}})
    assert paired_effects(without, figures=("share_car",)).empty


def test_swept_scenarios_pair_with_the_baseline_at_the_same_parameter_values() -> None:
    baselines = ["baseline__choice.coefficients.habit=0.5", "baseline__choice.coefficients.habit=1.0"]
    assert baseline_label("plan__choice.coefficients.habit=1.0__vej.limit_kph=30", baselines) == baselines[1]
    assert baseline_label("plan", ["baseline"]) == "baseline"
    assert baseline_label("plan__a=1", ["baseline__a=2"]) is None


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    write_tiny_inputs(folder)
    return folder


def test_runner_writes_effects_and_an_identical_scenario_differs_by_zero_in_every_table(tmp_path: Path, inputs: Path) -> None:
    body = '[scenarios.baseline]\n[scenarios.same]\ndescription = "no levers either"\n'
    outputs = '[outputs]\nlink_volumes = false\nreport = false\n'
    out = run_experiment(experiment(tmp_path, inputs, body, outputs=outputs), tmp_path / "results", workers=1, echo=lambda _: None)
    for name in TABLES:
        table = pd.read_parquet(out / f"{name}.parquet")
        same = table[table["scenario"] == "same"].drop(columns="scenario").reset_index(drop=True)
        base = table[table["scenario"] == "baseline"].drop(columns="scenario").reset_index(drop=True)
        assert len(base) > 0
        pd.testing.assert_frame_equal(same, base, check_exact=True, obj=name)
    effects = pd.read_csv(out / "effects.csv")
    assert set(effects["scenario"]) == {"same"} and (effects["seeds"] == 2).all()
    assert (effects[["effect_mean", "effect_ci_low", "effect_ci_high"]] == 0).all().all()
    assert (effects["distinguishable_from_zero"] == "no").all()
    package = json.loads((out / "datapackage.json").read_text())
    assert "effects" in [r["name"] for r in package["resources"]]


def test_runner_writes_no_effects_with_one_seed(tmp_path: Path, inputs: Path) -> None:
    out = run_experiment(experiment(tmp_path, inputs, "[scenarios.baseline]\n[scenarios.same]\n", seeds="[1]", outputs=LEAN_OUTPUTS),
                         tmp_path / "results", workers=1, echo=lambda _: None)
    assert not (out / "effects.csv").exists()
