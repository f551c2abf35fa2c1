"""Global sensitivity: a tiny Morris screen from the command line, and one-line errors in the ranges."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from model.cli import app
from model.errors import VmobError
from model.parameters import load_parameter_data
from model.sensitivity import load_sensitivity, numeric_leaves, top_parameters
from tests.osm_fixtures import write_tiny_inputs
from tests.test_experiments import experiment

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RANGES = """
[parameters."choice.coefficients.habit"]
low = 0.4
high = 1.6
source = "assumption"

[parameters."choice.reconsideration.base_rate"]
low = 0.05
high = 0.5
source = "assumption"

[parameters."population.taste_sd.car"]
low = 0.3
high = 0.9
source = "assumption"
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    write_tiny_inputs(folder)
    return folder


def sensitivity_file(folder: Path, inputs: Path, ranges: str = RANGES, saving: str = 'saving_scenario = "same"') -> Path:
    """A Morris screen of the tiny experiment's baseline, 2019–2021, 2 trajectories."""
    experiment(folder, inputs, "[scenarios.baseline]\n[scenarios.same]\n", seeds="[1]")
    (folder / "ranges.toml").write_text(ranges, encoding="utf-8")
    path = folder / "screen.toml"
    path.write_text(
        'name = "screen"\nquestion = "Which assumption matters on the tiny network?"\nexperiment = "tiny.toml"\n'
        f'{saving}\nheadline_year = 2021\n[morris]\ntrajectories = 2\nlevels = 4\n[sobol]\nsamples = 4\n',
        encoding="utf-8",
    )
    return path


def test_tiny_morris_screen_runs_from_the_command_line_and_ranks_parameters(tmp_path: Path, inputs: Path) -> None:
    path = sensitivity_file(tmp_path, inputs)
    result = CliRunner().invoke(app, ["sensitivity", str(path), "--out", str(tmp_path / "results"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "results" / "screen"
    morris = pd.read_csv(out / "morris.csv")
    points = pd.read_csv(out / "morris_points.csv")
    assert len(points) == 2 * (3 + 1)  # trajectories × (parameters + 1)
    assert set(morris["output"]) == {"co2_territorial_t", "share_car", "co2_saving_t"}
    for output, rows in morris.groupby("output"):
        assert sorted(rows["rank"]) == [1, 2, 3], output
        ranked = rows.sort_values("rank")
        assert ranked["mu_star"].is_monotonic_decreasing
    # A scenario without levers saves exactly nothing at any point (common random numbers).
    assert (points["co2_saving_t"] == 0).all() and (morris[morris["output"] == "co2_saving_t"]["mu_star"] == 0).all()
    # Habit and reconsideration change the car share; the screen sees it.
    car = morris[morris["output"] == "share_car"]
    assert car["mu_star"].max() > 0
    assert (out / "tornado.png").stat().st_size > 1000
    assert "residents' car share:" in result.output and " 1. " in result.output
    assert len(top_parameters(morris, 2)) == 2


def test_sobol_indices_of_the_top_parameters(tmp_path: Path, inputs: Path) -> None:
    path = sensitivity_file(tmp_path, inputs, saving="")
    result = CliRunner().invoke(app, ["sensitivity", str(path), "--out", str(tmp_path / "results"), "--sobol", "--top", "2"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "results" / "screen"
    sobol = pd.read_csv(out / "sobol.csv")
    assert len(pd.read_csv(out / "sobol_points.csv")) == 4 * (2 + 2)  # N × (top + 2), no second order
    assert set(sobol["output"]) == {"co2_territorial_t", "share_car"} and sobol["parameter"].nunique() == 2
    assert set(sobol["parameter"]) == set(top_parameters(pd.read_csv(out / "morris.csv"), 2))
    assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(sobol.columns)


def one_line_error(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_an_unknown_dotted_path_names_the_closest_valid_one(tmp_path: Path, inputs: Path) -> None:
    path = sensitivity_file(tmp_path, inputs, RANGES.replace("coefficients.habit", "coefficients.habbit"))
    line = one_line_error(["sensitivity", str(path), "--out", str(tmp_path / "results")])
    assert "ranges.toml" in line and "unknown parameter 'choice.coefficients.habbit'" in line
    assert "closest valid path: 'choice.coefficients.habit'" in line
    assert not (tmp_path / "results" / "screen").exists()


def test_a_range_without_a_source_is_an_error(tmp_path: Path, inputs: Path) -> None:
    ranges = RANGES.replace('low = 0.4\nhigh = 1.6\nsource = "assumption"\n', "low = 0.4\nhigh = 1.6\n")
    path = sensitivity_file(tmp_path, inputs, ranges)
    line = one_line_error(["sensitivity", str(path), "--out", str(tmp_path / "results")])
    assert "ranges.toml" in line and "parameters.choice.coefficients.habit.source" in line


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("high = 1.6", "high = 0.3"), "low (0.4) must be below high (0.3)"),
        (("low = 0.4", "low = 0.9"), "value 0.8 lies outside [0.9, 1.6]"),
    ],
)
def test_inconsistent_ranges_are_errors(tmp_path: Path, inputs: Path, change: tuple[str, str], message: str) -> None:
    path = sensitivity_file(tmp_path, inputs, RANGES.replace(*change, 1))
    with pytest.raises(VmobError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        load_sensitivity(path)


def test_the_shipped_ranges_name_valid_parameters_with_sources() -> None:
    config, experiment_config, ranges = load_sensitivity(PROJECT_ROOT / "experiments" / "sensitivity" / "morris.toml")
    known = numeric_leaves(load_parameter_data())
    assert len(ranges) >= 15 and set(ranges) <= set(known)
    assert config.saving_scenario in experiment_config.scenarios
    assert "choice.coefficients.habit" in ranges and "population.gravity.target_local_share" in ranges
