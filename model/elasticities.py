"""The model's own demand elasticities, measured by finite differences and set against the literature.

``vmob elasticities <experiment>`` runs the experiment's baseline scenario once as it is and,
for each input below, once with the input raised and once lowered by ``step`` (same seeds,
so the runs are paired). The runs go through the ordinary machinery (:mod:`model.experiments`:
one list-mode sweep of parameter overrides, the shared run cache, local workers), and the
arc (midpoint) elasticity of each measure is

    E = ((Q+ - Q-) / ((Q+ + Q-) / 2)) / ((X+ - X-) / ((X+ + X-) / 2)),   X± = 1 ± step.

Each elasticity is set next to its literature band from ``experiments/elasticities/bands.toml``
(a band's source is a fact sheet's file and section), and the table is written to
``<out>/<experiment>/elasticities.csv``. docs/model.md, "Elasticities", shows the table on the
embedded network and what it says.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import Field, model_validator

from model.config import LAST_YEAR, MIN_SAMPLE_FRACTION, Experiment, Sweep, load_config
from model.errors import VmobError
from model.experiments import (
    RunSpec,
    clear_partial,
    combine,
    execute,
    is_complete,
    plan_experiment,
    prepare_out_dir,
    writing_folder,
)
from model.files import StrictModel, atomic_path, load_toml_model
from model.outputs import REFERENCE_SCENARIO
from model.parameters import load_parameter_data, validate_parameters
from model.settings import PROJECT_ROOT
from model.vocabulary import mode_table

log = logging.getLogger(__name__)

#: The literature bands (measure → input → band).
BANDS_FILE = PROJECT_ROOT / "experiments" / "elasticities" / "bands.toml"
#: What the table says where the facts give no band.
NO_BAND = "no band in the facts"
#: Year of the elasticities unless told otherwise.
DEFAULT_YEAR = 2030
#: Relative change of each input unless told otherwise (±10 %).
DEFAULT_STEP = 0.1
#: Largest step: a larger one divides speeds by too little to stay within their validated ranges.
MAX_STEP = 0.4
#: File the table is written to, in the experiment's results folder.
TABLE_FILE = "elasticities.csv"
#: Columns of the table, in order.
COLUMNS = (
    "measure", "with_respect_to", "year", "elasticity", "band_low", "band_high", "source", "inside_band",
    "value_base", "value_minus", "value_plus", "step", "sample_fraction", "seeds",
)


# --------------------------------------------------------------------------------------------
# Inputs and measures
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    """An input of the model and how to scale it by a factor through parameter overrides.

    Attributes
    ----------
    name
        Key in the bands file and the table's ``with_respect_to``.
    description
        What is scaled, for the docs and the run log.
    paths
        Dotted parameter path → exponent: the input × f sets the parameter to its value × f**exponent
        (speeds scale with 1/f to make times scale with f). A path ending in ``.*`` stands for every
        key of that table.
    """

    name: str
    description: str
    paths: Mapping[str, int]


#: The inputs whose elasticities are measured.
INPUTS: tuple[Input, ...] = (
    Input("car_time", "car travel time: the driven free-flow speed of every road category and the "
          "intra-zone car speed divided by the factor (congested times follow)",
          {"network.compliance.*": -1, "choice.access.intra_zone_car_kph": -1}),
    Input("running_cost", "car running cost per km (fuel or power) of every powertrain",
          {"choice.costs.running_dkk_per_km.*": 1}),
    Input("rail_time", "in-vehicle minutes of every rail line", {"choice.access.rail_time_factor": 1}),
    Input("headway", "headway of every rail line (and so the waits)", {"choice.access.headway_factor": 1}),
    Input("bike_time", "bike travel time: bike and e-bike speeds divided by the factor",
          {"network.speeds_kph.bike": -1, "network.speeds_kph.ebike": -1}),
)


@dataclass(frozen=True)
class MeasureContext:
    """One run's tables in the year measured, and the model's modes."""

    mode_split: pd.DataFrame
    vehicle_km: pd.DataFrame
    modes: tuple[str, ...]


def _commuters(ctx: MeasureContext, modes: list[str]) -> float:
    return float(ctx.mode_split.loc[ctx.mode_split["mode"].isin(modes), "commuters"].sum())


def car_commuters(ctx: MeasureContext) -> float:
    """Commuters driving a car (weighted count); each makes two car trips a working day."""
    return _commuters(ctx, [m.name for m in mode_table(ctx.modes) if m.vehicle == "car"])


def car_km(ctx: MeasureContext) -> float:
    """Commuters' car vehicle-km per year, inside and outside the boundary."""
    vkm = ctx.vehicle_km
    return float(vkm.loc[(vkm["vehicle"] == "car") & (vkm["traffic"] == "commute"), "vkm_per_year"].sum())


def pt_riders(ctx: MeasureContext) -> float:
    """Commuters riding public transport (every mode of the public-transport nest)."""
    return _commuters(ctx, [m.name for m in mode_table(ctx.modes) if m.nest == "public_transport"])


def bike_share(ctx: MeasureContext) -> float:
    """Share of all commuters cycling (regular and e-bike)."""
    total = _commuters(ctx, list(ctx.modes))
    return _commuters(ctx, ["bike"]) / total if total > 0 else math.nan


#: Measure name → how to read it from a run's tables.
MEASURES: dict[str, Callable[[MeasureContext], float]] = {
    "car_commuters": car_commuters, "car_km": car_km, "pt_riders": pt_riders, "bike_share": bike_share,
}

#: The (measure, input) pairs of the table, in its row order.
PAIRS: tuple[tuple[str, str], ...] = (
    ("car_commuters", "car_time"), ("car_km", "car_time"),
    ("car_commuters", "running_cost"), ("car_km", "running_cost"),
    ("pt_riders", "rail_time"), ("pt_riders", "headway"),
    ("bike_share", "bike_time"),
)


# --------------------------------------------------------------------------------------------
# Literature bands
# --------------------------------------------------------------------------------------------


class Band(StrictModel):
    """A literature band of one elasticity, with where in the facts it comes from."""

    low: float
    high: float
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.low > self.high:
            raise ValueError(f"low {self.low:g} is above high {self.high:g}")
        return self


class BandsFile(StrictModel):
    """The schema of ``bands.toml``: measure → input → band."""

    car_commuters: dict[str, Band] = Field(default_factory=dict)
    car_km: dict[str, Band] = Field(default_factory=dict)
    pt_riders: dict[str, Band] = Field(default_factory=dict)
    bike_share: dict[str, Band] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_inputs(self) -> BandsFile:
        known = [i.name for i in INPUTS]
        for measure in MEASURES:
            for name in getattr(self, measure):
                if name not in known:
                    raise ValueError(f"'{measure}.{name}': unknown input (known: {', '.join(known)})")
        return self

    def band(self, measure: str, input_name: str) -> Band | None:
        """The band of ``measure`` with respect to ``input_name``, or None."""
        return getattr(self, measure).get(input_name)


def load_bands(path: str | Path | None = None) -> BandsFile:
    """Read and check the literature bands.

    Raises
    ------
    VmobError
        One line naming the file and the key: a band whose low is above its high, a missing or
        empty source, an unknown measure or input.
    """
    return load_toml_model(BandsFile, Path(path or BANDS_FILE))


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One run of the measurement: the baseline (``input`` None) or one input scaled by ``factor``.

    ``overrides`` holds the value of every perturbed parameter at this point (dotted path → value).
    """

    label: str
    input: Input | None
    factor: float
    overrides: Mapping[str, float]


def _get(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        node = node[part]
    return node


def expand_paths(item: Input, values: Mapping[str, Any]) -> dict[str, int]:
    """The input's parameter paths with every ``table.*`` replaced by the table's keys."""
    out: dict[str, int] = {}
    for path, exponent in item.paths.items():
        if path.endswith(".*"):
            table = path[:-2]
            out.update({f"{table}.{key}": exponent for key in _get(values, table)})
        else:
            out[path] = exponent
    return out


def points(step: float, base: Mapping[str, float], paths: Mapping[str, Mapping[str, int]]) -> list[Point]:
    """The baseline, then each input lowered and raised by ``step``.

    Parameters
    ----------
    step
        Relative change of each input.
    base
        Baseline value of every perturbed parameter.
    paths
        Each input's expanded parameter paths and exponents (:func:`expand_paths`).
    """
    out = [Point("base", None, 1.0, dict(base))]
    for item in INPUTS:
        for sign, factor in (("minus", 1.0 - step), ("plus", 1.0 + step)):
            scaled = {path: base[path] * factor**exponent for path, exponent in paths[item.name].items()}
            out.append(Point(f"{item.name}_{sign}", item, factor, {**base, **scaled}))
    return out


def measurement_experiment(
    config: Experiment, source: Path, year: int, step: float, sample_fraction: float | None,
) -> tuple[Experiment, list[Point]]:
    """The experiment's baseline scenario up to ``year`` with one list-mode sweep over the perturbations.

    The experiment's own sweep is dropped; its parameter overrides, seeds, inputs and the
    baseline's levers are kept.

    Raises
    ------
    VmobError
        For a year outside the experiment's start year–2050, a step outside (0, 0.4], a sample
        fraction outside [0.001, 1], or a perturbed value a parameter's range refuses (naming the
        point and the step).
    """
    if not config.start_year <= year <= LAST_YEAR:
        raise VmobError(f"--year {year} is outside {config.start_year}–{LAST_YEAR} (the experiment starts in {config.start_year})")
    if not 0 < step <= MAX_STEP:
        raise VmobError(f"--step {step:g} must be above 0 and at most {MAX_STEP:g}")
    if sample_fraction is not None and not MIN_SAMPLE_FRACTION <= sample_fraction <= 1:
        raise VmobError(f"--sample-fraction {sample_fraction:g} must lie between {MIN_SAMPLE_FRACTION:g} and 1")
    data = load_parameter_data()
    resolved = validate_parameters(data, config.parameters, f"{source}: parameters").model_dump()
    paths = {item.name: expand_paths(item, resolved) for item in INPUTS}
    base = {path: float(_get(resolved, path)) for expanded in paths.values() for path in expanded}
    plan = points(step, base, paths)
    for point in plan[1:]:
        validate_parameters(data, {**config.parameters, **point.overrides}, f"{source}: {point.label} (--step {step:g})")
    sweep = Sweep(mode="list", parameters={f"parameters.{path}": [p.overrides[path] for p in plan] for path in base})
    scenario = REFERENCE_SCENARIO if REFERENCE_SCENARIO in config.scenarios else next(iter(config.scenarios))
    derived = config.model_copy(update={
        "end_year": year, "sample_fraction": sample_fraction or config.sample_fraction,
        "scenarios": {scenario: config.scenarios[scenario]}, "sweep": sweep,
    })
    return derived, plan


def label_runs(specs: list[RunSpec], plan: list[Point]) -> list[RunSpec]:
    """The specs with their point's short label (``base``, ``car_time_plus`` …) instead of the long sweep label.

    A label does not enter the run id.
    """
    labels = {tuple(sorted(point.overrides.items())): point.label for point in plan}
    return [replace(spec, label=labels[tuple(sorted((k.removeprefix("parameters."), v) for k, v in spec.sweep.items()))])
            for spec in specs]


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------


def arc_elasticity(q_minus: float, q_plus: float, step: float) -> float:
    """Midpoint elasticity between the runs at 1 − ``step`` and 1 + ``step`` of the input.

    NaN when both quantities are zero (a mode nobody uses).
    """
    mean_q = (q_plus + q_minus) / 2.0
    if mean_q == 0:
        return math.nan
    return ((q_plus - q_minus) / mean_q) / (2.0 * step)


def measure_values(tables: Mapping[str, pd.DataFrame], year: int, modes: tuple[str, ...]) -> pd.DataFrame:
    """Each measure per run label, averaged over seeds, in ``year``."""
    rows = []
    mode_split = tables["mode_split"][tables["mode_split"]["year"] == year]
    if "purpose" in mode_split:  # the measures are the commuters'
        mode_split = mode_split[mode_split["purpose"] == "commute"]
    vehicle_km = tables["vehicle_km"][tables["vehicle_km"]["year"] == year]
    for (label, seed), split in mode_split.groupby(["scenario", "seed"]):
        vkm = vehicle_km[(vehicle_km["scenario"] == label) & (vehicle_km["seed"] == seed)]
        ctx = MeasureContext(split, vkm, modes)
        rows.append({"label": label, "seed": seed, **{name: f(ctx) for name, f in MEASURES.items()}})
    return pd.DataFrame(rows).groupby("label")[list(MEASURES)].mean()


def elasticity_table(
    values: pd.DataFrame, bands: BandsFile, year: int, step: float, sample_fraction: float, seeds: list[int],
) -> pd.DataFrame:
    """One row per (measure, input) of :data:`PAIRS`: the elasticity, its band and whether it lies inside."""
    rows = []
    for measure, name in PAIRS:
        q_minus, q_plus = values.at[f"{name}_minus", measure], values.at[f"{name}_plus", measure]
        elasticity = arc_elasticity(q_minus, q_plus, step)
        band = bands.band(measure, name)
        inside = pd.NA if band is None or math.isnan(elasticity) else bool(band.low <= elasticity <= band.high)
        rows.append({
            "measure": measure, "with_respect_to": name, "year": year, "elasticity": elasticity,
            "band_low": band.low if band else math.nan, "band_high": band.high if band else math.nan,
            "source": band.source if band else NO_BAND, "inside_band": inside,
            "value_base": values.at["base", measure], "value_minus": q_minus, "value_plus": q_plus,
            "step": step, "sample_fraction": sample_fraction, "seeds": " ".join(str(s) for s in seeds),
        })
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table["inside_band"] = table["inside_band"].astype("boolean")
    return table


def format_table(table: pd.DataFrame) -> str:
    """The table for the terminal: elasticity, band and verdict per row."""
    lines = [f"{'measure':<14} {'with respect to':<16} {'year':>4} {'elasticity':>10}  {'band':<20} inside"]
    for row in table.itertuples(index=False):
        band = NO_BAND if math.isnan(row.band_low) else f"[{row.band_low:g}, {row.band_high:g}]"
        inside = "" if pd.isna(row.inside_band) else ("yes" if row.inside_band else "no")
        lines.append(f"{row.measure:<14} {row.with_respect_to:<16} {row.year:>4} {row.elasticity:>10.3f}  {band:<20} {inside}")
    return "\n".join(lines)


def run_elasticities(
    config_path: Path,
    out: Path,
    *,
    year: int = DEFAULT_YEAR,
    step: float = DEFAULT_STEP,
    workers: int | None = None,
    sample_fraction: float | None = None,
    bands_path: Path | None = None,
    echo: Callable[[str], None] = print,
) -> tuple[pd.DataFrame, Path]:
    """Measure the elasticities of an experiment's baseline and write the table.

    Parameters
    ----------
    config_path
        The experiment file; its baseline scenario (else its first), seeds, parameters and inputs are used.
    out
        Results root: runs go to the shared cache ``out/.runs/``, the table to ``out/<name>/elasticities.csv``.
    year
        Year of the elasticities; the runs stop there.
    step
        Relative change of each input, up and down.
    workers
        Local worker processes (default: the number of CPUs).
    sample_fraction
        Replaces the experiment's sample fraction.
    bands_path
        Literature bands (default ``experiments/elasticities/bands.toml``).
    echo
        Where progress lines go.

    Returns
    -------
    table, path
        The table and the file it was written to.

    Raises
    ------
    VmobError
        For bad input (experiment, year, step, bands file), a folder another process writes, or a
        worker that died (finished runs are kept in the cache).
    """
    bands = load_bands(bands_path)
    config = load_config(config_path)
    derived, plan = measurement_experiment(config, Path(config_path), year, step, sample_fraction)
    out_dir = Path(out) / config.name
    prepare_out_dir(out_dir)
    with writing_folder(out_dir, echo) as say:
        runs = plan_experiment(Path(config_path), Path(out), derived)
        specs = label_runs(runs.specs, plan)
        clear_partial(runs.runs_dir)
        pending = [s for s in specs if not is_complete(runs.runs_dir, s.run_id)]
        say(f"{config.name} elasticities in {year}: {len(specs)} runs ({len(plan)} points × "
            f"{len(derived.seed_list())} seed(s), sample {derived.sample_fraction:g}), {len(specs) - len(pending)} already complete")
        execute(pending, runs.runs_dir, None, min(workers or os.cpu_count() or 1, max(len(pending), 1)), replace=False)
        tables, _ = combine(runs.runs_dir, specs)
        modes = tuple(specs[0].parameters.choice.modes)
        table = elasticity_table(measure_values(tables, year, modes), bands, year, step,
                                 derived.sample_fraction, derived.seed_list())
        path = out_dir / TABLE_FILE
        with atomic_path(path) as tmp:
            table.to_csv(tmp, index=False)
        say(f"elasticities written to {path}")
    return table, path
