"""Experiment files: the strict schema of ``experiments/<name>.toml`` and its defaults.

An experiment names a question, the simulated years, the population sample, the
seeds, parameter overrides, scenarios (each a list of levers), an optional sweep
and the outputs wanted. Every default lives in the models below;
:func:`resolved_toml` prints them. Unknown keys, wrong types and out-of-range
values raise :class:`model.errors.VmobError` naming the file and the key path.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator

from model.errors import VmobError
from model.files import StrictModel, join_faults, parse_model, read_toml
from model.levers import LeverConfig
from model.outputs import TABLES
from model.settings import BASE_YEAR

#: Last year the model's inputs cover.
LAST_YEAR = 2050
#: Names of experiments, scenarios and lever ids: they become folder names and table labels.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
#: Prefixes of a sweep path: a model parameter or a field of a lever (by its id).
SWEEP_PREFIXES = ("parameters.", "levers.")
#: Input files a config may replace; ``None`` keeps the embedded Vallensbæk data.
INPUT_FILES = ("zones", "transit", "counts", "boundary")
#: Smallest population sample: below it some groups of commuters get no agent at all.
MIN_SAMPLE_FRACTION = 0.001
#: Most replications (or seeds) of an experiment, and most runs in all.
MAX_REPLICATIONS = 1000
MAX_RUNS = 10_000
#: Default yearly discount rate of the report's appraisal (model/appraisal.py). Assumption: the
#: Danish Ministry of Finance's rate for socio-economic analyses as recalled (3.5 %), not read in
#: a source; the range allowed is 0 to 0.2 and 0.0-0.04 is the plausible band.
DEFAULT_DISCOUNT_RATE = 0.035
MAX_DISCOUNT_RATE = 0.2


#: A value a sweep can take.
SweepValue = StrictBool | StrictInt | StrictFloat | StrictStr | dt.date


def flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables as dotted paths to their leaves.

    ``{"choice": {"coefficients": {"habit": 0.5}}}`` and ``{"choice.coefficients.habit": 0.5}``
    (a quoted TOML key) both become the latter.

    Raises
    ------
    ValueError
        If one path is given twice, e.g. once quoted and once as nested tables.
    """
    flat: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and not all(str(k).isdigit() for k in value):
            leaves = flatten(value, f"{path}.")
        else:
            leaves = {path: value}
        for leaf, leaf_value in leaves.items():
            if leaf in flat:
                raise ValueError(f"'{leaf}' is given twice (once as a quoted dotted key, once as nested tables)")
            flat[leaf] = leaf_value
    return flat


def _flat_table(value: Any) -> Any:
    return flatten(value) if isinstance(value, dict) else value


class Scenario(StrictModel):
    """One scenario: a set of dated levers."""

    description: str = ""
    levers: list[LeverConfig] = Field(default_factory=list)


class Sweep(StrictModel):
    """Values to sweep: every combination (``grid``) or position by position (``list``)."""

    mode: Literal["grid", "list"] = "grid"
    parameters: dict[str, Annotated[list[SweepValue], Field(min_length=1)]] = Field(min_length=1)

    _flatten = field_validator("parameters", mode="before")(_flat_table)

    @field_validator("parameters")
    @classmethod
    def _paths(cls, value: dict[str, list[SweepValue]]) -> dict[str, list[SweepValue]]:
        for path in value:
            if not path.startswith(SWEEP_PREFIXES) or path in SWEEP_PREFIXES:
                raise ValueError(f"'{path}' must start with 'parameters.' (a model parameter) or 'levers.' (a lever field)")
            if path.startswith("levers.") and len(path.split(".")) != 3:
                raise ValueError(f"'{path}' must read levers.<lever id>.<field>")
        return value


class Outputs(StrictModel):
    """What to write besides each run's own folder."""

    tables: list[str] = Field(default_factory=lambda: list(TABLES))
    link_volumes: bool = True
    report: bool = True

    @field_validator("tables")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t not in TABLES]
        if unknown:
            raise ValueError(f"unknown table '{unknown[0]}' (known: {', '.join(TABLES)})")
        return value


class Inputs(StrictModel):
    """Input files; relative paths are relative to the experiment file's folder."""

    network: str = "default"
    zones: str | None = None
    transit: str | None = None
    counts: str | None = None
    boundary: str | None = None


class Experiment(StrictModel):
    """A whole experiment file."""

    name: str = Field(pattern=NAME_PATTERN)
    question: str = Field(min_length=1)
    start_year: int = Field(default=BASE_YEAR, ge=BASE_YEAR, le=LAST_YEAR)
    end_year: int = Field(default=LAST_YEAR, ge=BASE_YEAR, le=LAST_YEAR)
    sample_fraction: float = Field(default=1.0, le=1)
    seeds: list[Annotated[int, Field(ge=0)]] | None = Field(default=None, min_length=1, max_length=MAX_REPLICATIONS)
    replications: int | None = Field(default=None, ge=1, le=MAX_REPLICATIONS)
    base_seed: int = Field(default=1, ge=0)
    discount_rate: float = Field(default=DEFAULT_DISCOUNT_RATE, ge=0, le=MAX_DISCOUNT_RATE)
    parameters: dict[str, Any] = Field(default_factory=dict)
    scenarios: dict[Annotated[str, Field(pattern=NAME_PATTERN)], Scenario] = Field(min_length=1)
    sweep: Sweep | None = None
    outputs: Outputs = Field(default_factory=Outputs)
    inputs: Inputs = Field(default_factory=Inputs)

    _flatten = field_validator("parameters", mode="before")(_flat_table)

    @field_validator("sample_fraction")
    @classmethod
    def _enough_agents(cls, value: float) -> float:
        if value < MIN_SAMPLE_FRACTION:
            raise ValueError(
                f"must be at least {MIN_SAMPLE_FRACTION} ({100 * MIN_SAMPLE_FRACTION:g} % of the commuters); "
                f"with {value:g} some groups of commuters get no agent"
            )
        return value

    def seed_list(self) -> list[int]:
        """The seeds of every scenario and sweep point: ``seeds``, else ``replications`` from ``base_seed``."""
        if self.seeds is not None:
            return list(self.seeds)
        return [self.base_seed + i for i in range(self.replications or 1)]


def load_config(path: str | Path) -> Experiment:
    """Read and validate an experiment file.

    Input paths come back absolute (resolved against the file's folder) and
    ``replications`` expanded into ``seeds``.

    Raises
    ------
    VmobError
        A missing file, bad TOML (line and column), an unknown key, a wrong type or
        value, or an inconsistency, naming the file and the key path.
    """
    path = Path(path)
    config = parse_model(Experiment, read_toml(path), path)
    check_consistency(config, path)
    return config.model_copy(update={"inputs": resolve_inputs(config.inputs, path), "seeds": config.seed_list(), "replications": None})


def check_consistency(config: Experiment, source: Path) -> None:
    """Checks across keys that the schema cannot express; raises one line listing every fault by key path."""
    faults = consistency_faults(config)
    if faults:
        raise VmobError(f"{source}: " + join_faults([f"key '{key}': {problem}" for key, problem in faults]))


def consistency_faults(config: Experiment) -> list[tuple[str, str]]:
    """Every ``(key path, problem)`` across keys: years, seeds, lever ids, sweep, number of runs."""
    faults: list[tuple[str, str]] = []
    if config.end_year < config.start_year:
        faults.append(("end_year", f"{config.end_year} is before start_year {config.start_year}"))
    if config.seeds is not None and config.replications is not None:
        faults.append(("replications", "give either seeds or replications, not both"))
    if config.seeds is not None and len(set(config.seeds)) != len(config.seeds):
        faults.append(("seeds", "seeds repeat"))
    for name, scenario in config.scenarios.items():
        seen: set[str] = set()
        for i, lever in enumerate(scenario.levers):
            if lever.id is None:
                continue
            if lever.id in seen:
                faults.append((f"scenarios.{name}.levers[{i}].id", f"'{lever.id}' is used twice in the scenario"))
            seen.add(lever.id)
    if config.sweep is not None:
        faults.extend(_sweep_faults(config, config.sweep))
    runs = run_count(config)
    if runs > MAX_RUNS:
        faults.append(("scenarios", f"{runs:,} runs (scenarios × sweep points × seeds); at most {MAX_RUNS:,} are allowed"))
    return faults


def run_count(config: Experiment) -> int:
    """Upper bound of the experiment's runs: scenarios × sweep points × seeds (before shared points are merged)."""
    seeds = len(config.seeds) if config.seeds is not None else (config.replications or 1)
    points = 1
    if config.sweep is not None:
        lengths = [len(values) for values in config.sweep.parameters.values()]
        points = math.prod(lengths) if config.sweep.mode == "grid" else max(lengths)
    return len(config.scenarios) * points * seeds


def _sweep_faults(config: Experiment, sweep: Sweep) -> list[tuple[str, str]]:
    faults: list[tuple[str, str]] = []
    lengths = {len(values) for values in sweep.parameters.values()}
    if sweep.mode == "list" and len(lengths) > 1:
        faults.append(("sweep.parameters", "in list mode every value list needs the same length"))
    for path in sweep.parameters:
        if not path.startswith("levers."):
            continue
        _, lever_id, field = path.split(".")
        levers = [lever for s in config.scenarios.values() for lever in s.levers if lever.id == lever_id]
        if not levers:
            faults.append((f'sweep.parameters."{path}"', f"no scenario has a lever with id '{lever_id}'"))
        for lever in levers:
            if field in ("kind", "id") or field not in type(lever).model_fields:
                faults.append((f'sweep.parameters."{path}"', f"a {lever.kind} lever has no field '{field}' to sweep"))
                break
    return faults


def resolve_inputs(inputs: Inputs, config_path: Path) -> Inputs:
    """Make input paths absolute (relative to the config's folder) and check that they exist."""
    base = config_path.resolve().parent
    resolved: dict[str, str | None] = {}
    for key in ("network", *INPUT_FILES):
        value = getattr(inputs, key)
        if value is None or (key == "network" and value == "default"):
            resolved[key] = value
            continue
        path = (base / value).resolve()
        if not path.is_file():
            raise VmobError(f"{config_path}: key 'inputs.{key}': file not found: {path}")
        resolved[key] = str(path)
    return Inputs.model_validate(resolved)


def resolved_toml(config: Experiment) -> str:
    """The config with every default filled in, as TOML (seeds as a list; keys without a value left out)."""
    import tomlkit

    data = config.model_dump(mode="python", exclude_none=True, exclude={"replications", "base_seed"})
    return tomlkit.dumps(_string_keys({**data, "seeds": config.seed_list()}))


def _string_keys(value: Any) -> Any:
    """A copy with every table key as text (TOML keys are strings; year-keyed tables have ints)."""
    if isinstance(value, dict):
        return {str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_string_keys(v) for v in value]
    return value
