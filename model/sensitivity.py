"""Global sensitivity of the headline figures to the model's assumptions (Morris, then Sobol).

A sensitivity file (``experiments/sensitivity/morris.toml``) names an experiment whose
scenarios are run, a ranges file (``experiments/sensitivity/ranges.toml``: a low and high
value and a source or the word "assumption" per dotted parameter path, as experiment
overrides use them), the seed, horizon and sample, and the Morris design. Every sample
point is one set of parameter overrides; each point runs the chosen scenarios with the same
seed (common random numbers, so the points differ by their parameters, not by their draws)
through the experiment runner's process pool. The outputs per point are the headline
figures: territorial CO2 and residents' car share in the headline year, and, when a
``saving_scenario`` is named, that scenario's CO2 saving against the baseline.

SALib does the design and the analysis (``SALib.sample.morris`` / ``SALib.analyze.morris``;
``SALib.sample.sobol`` / ``SALib.analyze.sobol`` for the top parameters). Results go to
``<out>/<name>/``: ``morris.csv`` (mu*, sigma and rank per output and parameter),
``morris_points.csv`` (each point's values and outputs), ``tornado.png`` and, with Sobol,
``sobol.csv`` and ``sobol_points.csv``. Method and results: docs/uncertainty.md.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from model.config import LAST_YEAR, NAME_PATTERN, Experiment, load_config
from model.effects import BASELINE_SCENARIO
from model.errors import VmobError
from model.files import atomic_path, parse_model, read_toml
from model.parameters import load_parameter_data

#: Column names of the outputs, by what they measure.
CO2_OUTPUT = "co2_territorial_t"
CAR_SHARE_OUTPUT = "share_car"
SAVING_OUTPUT = "co2_saving_t"
#: How each output is labelled in the chart.
OUTPUT_LABELS = {
    CO2_OUTPUT: "territorial CO2 (t/year)",
    CAR_SHARE_OUTPUT: "residents' car share",
    SAVING_OUTPUT: "CO2 saved by the scenario (t/year)",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ParameterRange(_Strict):
    """The range of one parameter and where it comes from."""

    low: float
    high: float
    source: str = Field(min_length=1, description="facts file and row, or the word 'assumption'")
    note: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> ParameterRange:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class Ranges(_Strict):
    """A ranges file: ``[parameters."<dotted path>"]`` tables."""

    parameters: dict[str, ParameterRange] = Field(min_length=1)


class Morris(_Strict):
    """Morris design: trajectories × (parameters + 1) points on a grid of ``levels`` levels."""

    trajectories: int = Field(default=10, ge=2)
    levels: int = Field(default=4, ge=2)


class Sobol(_Strict):
    """Sobol design (Saltelli, no second order) for the ``top`` parameters of the screen."""

    top: int = Field(default=5, ge=1)
    samples: int = Field(default=64, ge=2, description="base samples N (a power of 2); N·(k+2) points")


class SensitivityConfig(_Strict):
    """A sensitivity file (docs/uncertainty.md lists every key)."""

    name: str = Field(pattern=NAME_PATTERN)
    question: str = Field(min_length=1)
    experiment: str
    ranges: str = "ranges.toml"
    parameters: list[str] | None = Field(default=None, min_length=1)
    saving_scenario: str | None = None
    seed: int = Field(default=1, ge=0)
    start_year: int | None = None
    end_year: int | None = Field(default=None, le=LAST_YEAR)
    sample_fraction: float | None = Field(default=None, gt=0, le=1)
    headline_year: int = 2030
    morris: Morris = Field(default_factory=Morris)
    sobol: Sobol = Field(default_factory=Sobol)


# --------------------------------------------------------------------------------------------
# Reading and checking
# --------------------------------------------------------------------------------------------


def numeric_leaves(data: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Every number in nested parameter data by its dotted path."""
    leaves: dict[str, float] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            leaves.update(numeric_leaves(value, f"{path}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            leaves[path] = value
    return leaves


def check_path(path: str, known: dict[str, float], source: str) -> None:
    """Raise naming ``path`` and the closest valid path if it is not a numeric parameter."""
    if path in known:
        return
    closest = difflib.get_close_matches(path, list(known), n=1, cutoff=0.0)
    hint = f"; closest valid path: '{closest[0]}'" if closest else ""
    raise VmobError(f"{source}: unknown parameter '{path}'{hint}")


def load_ranges(path: Path, wanted: list[str] | None, base_values: dict[str, float]) -> dict[str, ParameterRange]:
    """The ranges to vary, checked against the parameter files.

    Raises
    ------
    VmobError
        Naming the file and key: a missing source, low ≥ high, an unknown parameter path (with
        the closest valid one), a parameter not in the ranges file, or a file value outside its range.
    """
    ranges = parse_model(Ranges, read_toml(path), path).parameters
    for name, spec in ranges.items():
        check_path(name, base_values, f"{path}: key 'parameters.{name}'")
        value = base_values[name]
        if not spec.low <= value <= spec.high:
            raise VmobError(
                f"{path}: key 'parameters.{name}': the parameter files' value {value} lies outside [{spec.low}, {spec.high}]"
            )
    if wanted is None:
        return ranges
    for name in wanted:
        if name not in ranges:
            check_path(name, base_values, "parameters")
            raise VmobError(f"{path}: no range for '{name}' (named in the sensitivity file's parameters)")
    return {name: ranges[name] for name in wanted}


def load_sensitivity(path: str | Path) -> tuple[SensitivityConfig, Experiment, dict[str, ParameterRange]]:
    """Read a sensitivity file, its experiment and its ranges; every mistake is one line."""
    path = Path(path)
    config = parse_model(SensitivityConfig, read_toml(path), path)
    experiment = load_config(path.parent / config.experiment)
    if BASELINE_SCENARIO not in experiment.scenarios:
        raise VmobError(f"{path}: key 'experiment': {config.experiment} has no scenario '{BASELINE_SCENARIO}'")
    if config.saving_scenario is not None and config.saving_scenario not in experiment.scenarios:
        known = ", ".join(experiment.scenarios)
        raise VmobError(f"{path}: key 'saving_scenario': no scenario '{config.saving_scenario}' in {config.experiment} ({known})")
    start = config.start_year or experiment.start_year
    end = config.end_year or experiment.end_year
    if not start <= config.headline_year <= end:
        raise VmobError(f"{path}: key 'headline_year': {config.headline_year} is outside the simulated years {start}–{end}")
    base_values = numeric_leaves(load_parameter_data())
    ranges = load_ranges(path.parent / config.ranges, config.parameters, base_values)
    return config, experiment, ranges


# --------------------------------------------------------------------------------------------
# Running sample points
# --------------------------------------------------------------------------------------------


def problem(ranges: dict[str, ParameterRange]) -> dict[str, Any]:
    """SALib's problem description."""
    return {"num_vars": len(ranges), "names": list(ranges), "bounds": [[r.low, r.high] for r in ranges.values()]}


def point_overrides(names: list[str], row: np.ndarray, base_values: dict[str, float]) -> dict[str, float | int]:
    """One sample point as dotted-path overrides (integers stay integers)."""
    return {n: int(round(v)) if isinstance(base_values[n], int) else float(v) for n, v in zip(names, row, strict=True)}


def evaluate(
    config: SensitivityConfig,
    experiment: Experiment,
    source: Path,
    names: list[str],
    X: np.ndarray,
    workers: int,
    echo: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Run every sample point's scenarios and return one row of outputs per point.

    Runs go through the experiment runner's process pool (``model.experiments.run_local``);
    a point that occurs twice in the design runs once.
    """
    from model.experiments import expand_runs, load_context, run_local

    scenarios = [BASELINE_SCENARIO] + ([config.saving_scenario] if config.saving_scenario else [])
    base = experiment.model_copy(update={
        "scenarios": {s: experiment.scenarios[s] for s in scenarios}, "seeds": [config.seed], "sweep": None,
        "start_year": config.start_year or experiment.start_year, "end_year": config.end_year or experiment.end_year,
        "sample_fraction": config.sample_fraction or experiment.sample_fraction,
    })
    context = load_context(base.inputs)
    base_values = numeric_leaves(load_parameter_data())
    owners: dict[str, list[tuple[int, str]]] = {}
    specs = []
    for index, row in enumerate(X):
        point = base.model_copy(update={"parameters": {**base.parameters, **point_overrides(names, row, base_values)}})
        for spec in expand_runs(point, source, context):
            if spec.run_id not in owners:
                owners[spec.run_id] = []
                specs.append(replace(spec, experiment=config.name))
            owners[spec.run_id].append((index, spec.scenario))
    started = time.perf_counter()
    echo(f"{config.name}: {len(X)} points, {len(specs)} runs on {workers} worker(s)")
    year = config.headline_year
    figures: dict[tuple[int, str], pd.Series] = {}
    for done, result in enumerate(run_local(specs, workers), start=1):
        summary = result.tables["summary"]
        row = summary[summary["year"] == year].iloc[0]
        for index, scenario in owners[result.spec.run_id]:
            figures[(index, scenario)] = row
        if done % max(1, len(specs) // 10) == 0 or done == len(specs):
            echo(f"  {done}/{len(specs)} runs, {time.perf_counter() - started:.0f} s")
    rows = []
    for index in range(len(X)):
        baseline = figures[(index, BASELINE_SCENARIO)]
        out = {CO2_OUTPUT: baseline[CO2_OUTPUT], CAR_SHARE_OUTPUT: baseline[CAR_SHARE_OUTPUT]}
        if config.saving_scenario:
            out[SAVING_OUTPUT] = baseline[CO2_OUTPUT] - figures[(index, config.saving_scenario)][CO2_OUTPUT]
        rows.append(out)
    return pd.concat([pd.DataFrame(X, columns=names), pd.DataFrame(rows)], axis=1)


# --------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------


def output_columns(points: pd.DataFrame, names: list[str]) -> list[str]:
    """The columns of ``points`` that are outputs, i.e. not one of the varied parameters ``names``."""
    return [c for c in points.columns if c not in names]


def morris_table(
    points: pd.DataFrame, names: list[str], ranges: dict[str, ParameterRange], levels: int, seed: int
) -> pd.DataFrame:
    """mu, mu*, sigma and mu* confidence per output and parameter, ranked by mu* within each output."""
    from SALib.analyze import morris as morris_analyze

    spec = problem({n: ranges[n] for n in names})
    X = points[names].to_numpy(float)
    rows = []
    for output in output_columns(points, names):
        result = morris_analyze.analyze(spec, X, points[output].to_numpy(float), num_levels=levels, seed=seed)
        for i, name in enumerate(names):
            rows.append({"output": output, "parameter": name, "mu": result["mu"][i], "mu_star": result["mu_star"][i],
                         "sigma": result["sigma"][i], "mu_star_conf": result["mu_star_conf"][i],
                         "source": ranges[name].source})
    table = pd.DataFrame(rows)
    # mu* relative to the output's largest, so parameters can be ranked across outputs.
    table["mu_star_relative"] = table["mu_star"] / table.groupby("output")["mu_star"].transform("max").replace(0, np.nan)
    table["rank"] = table.groupby("output")["mu_star"].rank(ascending=False, method="first").astype(int)
    return table.sort_values(["output", "rank"], ignore_index=True)


def top_parameters(morris: pd.DataFrame, k: int) -> list[str]:
    """The k parameters with the largest mean relative mu* over the outputs."""
    overall = morris.groupby("parameter")["mu_star_relative"].mean().fillna(0.0)
    return overall.sort_values(ascending=False, kind="stable").index[:k].tolist()


def sobol_table(points: pd.DataFrame, names: list[str], ranges: dict[str, ParameterRange], seed: int) -> pd.DataFrame:
    """First-order and total Sobol indices with their 95 % confidence half-widths."""
    from SALib.analyze import sobol as sobol_analyze

    spec = problem({n: ranges[n] for n in names})
    rows = []
    for output in output_columns(points, names):
        result = sobol_analyze.analyze(spec, points[output].to_numpy(float), calc_second_order=False, seed=seed)
        for i, name in enumerate(names):
            rows.append({"output": output, "parameter": name, "S1": result["S1"][i], "S1_conf": result["S1_conf"][i],
                         "ST": result["ST"][i], "ST_conf": result["ST_conf"][i]})
    return pd.DataFrame(rows).sort_values(["output", "ST"], ascending=[True, False], ignore_index=True)


def tornado_chart(morris: pd.DataFrame, path: Path, title: str) -> Path:
    """Horizontal bars of mu* per output (sigma as a dot), most influential on top; PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outputs = list(dict.fromkeys(morris["output"]))
    n_params = morris["parameter"].nunique()
    fig, axes = plt.subplots(1, len(outputs), figsize=(6.4 * len(outputs), 0.38 * n_params + 1.6), squeeze=False)
    for ax, output in zip(axes[0], outputs, strict=True):
        rows = morris[morris["output"] == output].sort_values("mu_star")
        y = np.arange(len(rows))
        ax.barh(y, rows["mu_star"], xerr=rows["mu_star_conf"], color="#1f77b4", alpha=0.85, label="μ* (mean |elementary effect|)")
        ax.plot(rows["sigma"], y, "o", color="#d62728", markersize=4, label="σ (interaction / non-linearity)")
        ax.set_yticks(y, rows["parameter"], fontsize=8)  # each panel in its own order
        ax.set_title(OUTPUT_LABELS.get(output, output), fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=130)
    plt.close(fig)
    return path


def ranking_text(morris: pd.DataFrame) -> str:
    """The parameters by influence (mu*) per output, one line each."""
    lines = []
    for output, rows in morris.groupby("output", sort=False):
        lines.append(f"{OUTPUT_LABELS.get(output, output)}:")
        lines += [f"  {r.rank:2d}. {r.parameter:48s} mu* {r.mu_star:12.4g}  sigma {r.sigma:12.4g}" for r in rows.itertuples()]
    return "\n".join(lines)


def run_sensitivity(
    path: str | Path,
    out: Path,
    *,
    workers: int = 1,
    sobol: bool = False,
    top: int | None = None,
    echo: Callable[[str], None] = print,
) -> Path:
    """Morris screen (and optionally Sobol indices of the top parameters) of a sensitivity file.

    Parameters
    ----------
    path
        The sensitivity file.
    out
        Results root; files go to ``out/<name>/``.
    workers
        Local worker processes.
    sobol
        Also compute Sobol indices for the top parameters of the screen.
    top
        How many parameters Sobol takes (default: the file's ``sobol.top``).
    echo
        Where progress lines go.

    Returns
    -------
    pathlib.Path
        The output folder.
    """
    from SALib.sample import morris as morris_sample

    from model.experiments import write_frame

    path = Path(path)
    config, experiment, ranges = load_sensitivity(path)
    names = list(ranges)
    source = path.parent / config.experiment
    out_dir = Path(out) / config.name
    X = morris_sample.sample(problem(ranges), config.morris.trajectories, num_levels=config.morris.levels, seed=config.seed)
    points = evaluate(config, experiment, source, names, X, workers, echo)
    morris = morris_table(points, names, ranges, config.morris.levels, config.seed)
    results: dict[str, pd.DataFrame] = {"morris_points.csv": points, "morris.csv": morris}
    if sobol:
        from SALib.sample import sobol as sobol_sample

        chosen = top_parameters(morris, top or config.sobol.top)
        sub = {n: ranges[n] for n in chosen}
        X_sobol = sobol_sample.sample(problem(sub), config.sobol.samples, calc_second_order=False, seed=config.seed)
        sobol_points = evaluate(config, experiment, source, chosen, X_sobol, workers, echo)
        results["sobol_points.csv"] = sobol_points
        results["sobol.csv"] = sobol_table(sobol_points, chosen, ranges, config.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in results.items():
        write_frame(frame, out_dir / name)
    tornado_chart(morris, out_dir / "tornado.png",
                  f"{config.name}: Morris screen, {config.morris.trajectories} trajectories × {len(names)} parameters, "
                  f"{config.headline_year}")
    return out_dir
