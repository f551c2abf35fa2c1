"""Running experiments: expand a config into runs, execute them, combine and record the results.

A run is one scenario at one sweep point with one seed. Its id is a short hash of
everything that affects its result (years, sample, seed, parameter overrides,
levers, labels, and the contents of the input and parameter files), so rerunning
an experiment finds the runs already done. Runs execute in local processes or on
a Dask cluster; each finished run is written to ``runs/<run_id>/`` under a
temporary name and renamed when complete, and the combined tables, aggregates
and ``manifest.json`` are written once every run is there.

Layout of ``<out>/<experiment>/``::

    runs/<run_id>/          mode_split, vehicle_km, energy, co2, summary and
                            link_volumes (.parquet) and run.json, per run
    <table>.csv/.parquet    the combined tables, datapackage.json, summary.xlsx
    link_volumes.parquet    per run, year and edge; network_links.parquet has the edges
    runs.csv                run id, scenario, label, seed and sweep values
    aggregates.csv          mean, p5 and p95 across seeds of every summary figure
    manifest.json           provenance
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import importlib.util
import itertools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import ValidationError

from model.config import Experiment, Inputs, load_config, resolved_toml
from model.effects import paired_effects
from model.errors import VmobError
from model.files import atomic_path, file_sha256, parse_model, validation_message
from model.levers import check_levers
from model.outputs import RUN_KEYS, SCHEMAS, TABLES, check_reconciliation, write_tables
from model.parameters import ModelParameters, apply_overrides, load_parameter_data
from model.settings import CALIBRATION_DIR, PARAMETERS_DIR, PROJECT_ROOT

if TYPE_CHECKING:
    from model.simulation import ModelContext

#: Characters of the sha256 hex digest kept as a run id.
RUN_ID_LENGTH = 12
#: Seconds to wait for a Dask scheduler to answer.
SCHEDULER_TIMEOUT_S = 5
#: Year of the headline figures printed per run (the last simulated year if earlier).
HEADLINE_YEAR = 2030
#: Packages whose versions the manifest records.
MANIFEST_PACKAGES = ("mesa", "osmnx", "numpy", "pandas", "networkx", "scipy", "dask", "distributed", "pydantic")
#: Summary columns aggregated across seeds.
HEADLINE_COLUMNS = tuple(c for c in (f["name"] for f in SCHEMAS["summary"]["fields"]) if c not in RUN_KEYS)
#: File of a run folder written last; its presence marks the run complete.
RUN_RECORD = "run.json"
#: Prefix of the temporary names of run folders being written or replaced.
PARTIAL_PREFIX = ".partial-"


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs, picklable for worker processes and Dask."""

    run_id: str
    experiment: str
    scenario: str
    label: str
    seed: int
    sweep: dict[str, Any]
    levers: tuple[Any, ...]
    start_year: int
    end_year: int
    sample_fraction: float
    inputs: Inputs
    parameters: ModelParameters
    identity: dict[str, Any] = field(repr=False)


@dataclass
class RunResult:
    """A finished run's tables and diagnostics, sent back from the worker."""

    spec: RunSpec
    tables: dict[str, pd.DataFrame]
    link_volumes: pd.DataFrame
    relative_gaps: dict[int, list[float]]
    wall_time_s: float


def canonical_hash(data: Any) -> str:
    """sha256 hex digest of ``data`` as canonical JSON (sorted keys, dates as ISO text)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def input_digests(inputs: Inputs, context: "ModelContext") -> dict[str, str]:
    """Digests of every file a run reads: network with boundary, zones, transit, counts, parameters."""
    from model.through_traffic import DEFAULT_COUNTS
    from model.transit import DEFAULT_TRANSIT
    from model.zones import DEFAULT_ZONES

    parameter_files = sorted(PARAMETERS_DIR.glob("*.toml")) + sorted(CALIBRATION_DIR.glob("*.toml"))
    return {
        "network_and_boundary": context.sources["network_sha256"],
        "zones": file_sha256(Path(inputs.zones or DEFAULT_ZONES)),
        "transit": file_sha256(Path(inputs.transit or DEFAULT_TRANSIT)),
        "counts": file_sha256(Path(inputs.counts or DEFAULT_COUNTS)),
        "parameter_files": canonical_hash({p.name: file_sha256(p) for p in parameter_files}),
    }


def sweep_points(config: Experiment) -> list[dict[str, Any]]:
    """The sweep's points as ``{path: value}``: all combinations (grid) or position by position (list)."""
    if config.sweep is None:
        return [{}]
    paths = list(config.sweep.parameters)
    columns = [config.sweep.parameters[p] for p in paths]
    rows = itertools.product(*columns) if config.sweep.mode == "grid" else zip(*columns, strict=True)
    return [dict(zip(paths, row, strict=True)) for row in rows]


def scenario_points(points: list[dict[str, Any]], levers: list[Any]) -> list[dict[str, Any]]:
    """The sweep points that matter to a scenario: lever paths only for lever ids it has, no repeats."""
    ids = {lever.id for lever in levers}
    unique: dict[str, dict[str, Any]] = {}
    for point in points:
        kept = {p: v for p, v in point.items() if p.startswith("parameters.") or p.split(".")[1] in ids}
        unique.setdefault(canonical_hash(kept), kept)
    return list(unique.values())


def sweep_name(path: str) -> str:
    """Short name of a sweep path in labels: without the ``parameters.``/``levers.`` prefix."""
    return path.split(".", 1)[1]


def format_value(value: Any) -> str:
    """A sweep value as label text."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run_label(scenario: str, point: dict[str, Any]) -> str:
    """``<scenario>`` alone, or ``<scenario>__<name>=<value>...`` with unsafe characters replaced by ``_``."""
    parts = [scenario] + [f"{sweep_name(p)}={format_value(v)}" for p, v in point.items()]
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", "__".join(parts))


def swept_levers(levers: list[Any], point: dict[str, Any], source: str) -> list[Any]:
    """The levers with a sweep point's ``levers.<id>.<field>`` values put in, re-validated."""
    out = []
    for lever in levers:
        changes = {p.split(".")[2]: v for p, v in point.items() if p.startswith("levers.") and p.split(".")[1] == lever.id}
        if not changes:
            out.append(lever)
            continue
        try:
            out.append(type(lever).model_validate({**lever.model_dump(), **changes}))
        except ValidationError as err:
            raise VmobError(validation_message(err, f"{source}: sweep of lever '{lever.id}'")) from None
    return out


def model_parameters(base: dict[str, Any], overrides: dict[str, Any], source: str) -> ModelParameters:
    """Parameter files with dotted-path overrides applied and validated; errors name ``source``."""
    return parse_model(ModelParameters, apply_overrides(base, overrides, source=source), source)


def expand_runs(config: Experiment, source: Path, context: "ModelContext") -> list[RunSpec]:
    """Scenarios × sweep points × seeds, in file order, each with its stable id.

    Raises
    ------
    VmobError
        For an unknown or invalid parameter override or sweep value, or a lever that does not
        fit the network, transit lines or years.
    """
    digests = input_digests(config.inputs, context)
    base = load_parameter_data()
    model_parameters(base, config.parameters, f"{source}: parameters")
    specs = []
    for name, scenario in config.scenarios.items():
        for point in scenario_points(sweep_points(config), scenario.levers):
            levers = swept_levers(scenario.levers, point, str(source))
            where = f"{source}: scenarios.{name}.levers" if not point else f"{source}: scenarios.{name}.levers (sweep {run_label(name, point)})"
            check_levers(levers, context, config.start_year, config.end_year, where)
            overrides = {**config.parameters, **{p.split(".", 1)[1]: v for p, v in point.items() if p.startswith("parameters.")}}
            parameters = model_parameters(base, overrides, f"{source}: parameters with sweep {run_label(name, point)}")
            label = run_label(name, point)
            for seed in config.seed_list():
                identity = {
                    "experiment": config.name, "scenario": label, "seed": seed,
                    "start_year": config.start_year, "end_year": config.end_year,
                    "sample_fraction": config.sample_fraction, "parameters": overrides,
                    "levers": [lever.model_dump(mode="json") for lever in levers], "inputs": digests,
                }
                specs.append(RunSpec(
                    run_id=canonical_hash(identity)[:RUN_ID_LENGTH], experiment=config.name, scenario=name,
                    label=label, seed=seed, sweep=point, levers=tuple(levers), start_year=config.start_year,
                    end_year=config.end_year, sample_fraction=config.sample_fraction, inputs=config.inputs,
                    parameters=parameters, identity=identity,
                ))
    return specs


# --------------------------------------------------------------------------------------------
# Executing a run (in a worker process)
# --------------------------------------------------------------------------------------------

_CONTEXTS: dict[tuple[str | None, ...], "ModelContext"] = {}


def load_context(inputs: Inputs) -> "ModelContext":
    """The model context for ``inputs``, loaded once per process."""
    from model.simulation import ModelContext

    key = (inputs.network, inputs.zones, inputs.transit, inputs.counts, inputs.boundary)
    if key not in _CONTEXTS:
        _CONTEXTS[key] = ModelContext.load(
            network=inputs.network, zones=inputs.zones, transit=inputs.transit, counts=inputs.counts, boundary=inputs.boundary
        )
    return _CONTEXTS[key]


def simulate(spec: RunSpec) -> RunResult:
    """Run one model from its spec and return its tables."""
    from model.simulation import MobilityModel

    started = time.perf_counter()
    model = MobilityModel(
        load_context(spec.inputs), spec.parameters, list(spec.levers), start_year=spec.start_year,
        end_year=spec.end_year, sample_fraction=spec.sample_fraction, rng=spec.seed,
        labels={"experiment": spec.experiment, "scenario": spec.label, "seed": spec.seed},
    )
    model.run(progress=False)
    return RunResult(spec, model.results(), model.link_volumes(), model.gap_history, time.perf_counter() - started)


# --------------------------------------------------------------------------------------------
# Run folders
# --------------------------------------------------------------------------------------------


def run_dir(runs_dir: Path, run_id: str) -> Path:
    """Folder of one run's results."""
    return runs_dir / run_id


def is_complete(runs_dir: Path, run_id: str) -> bool:
    """Whether a run's folder was written completely (folders appear only when complete)."""
    return (run_dir(runs_dir, run_id) / RUN_RECORD).is_file()


def clear_partial(runs_dir: Path) -> None:
    """Remove folders left half-written by a killed run."""
    if runs_dir.is_dir():
        for path in runs_dir.glob(f"{PARTIAL_PREFIX}*"):
            shutil.rmtree(path, ignore_errors=True)


def write_run(result: RunResult, runs_dir: Path) -> Path:
    """Write a run's tables, link volumes and ``run.json`` to a temporary folder, then rename it into place."""
    spec = result.spec
    target = run_dir(runs_dir, spec.run_id)
    tmp = runs_dir / f"{PARTIAL_PREFIX}{spec.run_id}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, table in result.tables.items():
        table.to_parquet(tmp / f"{name}.parquet", index=False)
    result.link_volumes.to_parquet(tmp / "link_volumes.parquet", index=False)
    record = {
        "run_id": spec.run_id, "scenario": spec.scenario, "label": spec.label, "seed": spec.seed,
        "sweep": spec.sweep, "spec": spec.identity, "wall_time_s": round(result.wall_time_s, 3),
        "relative_gaps": {str(year): gaps for year, gaps in result.relative_gaps.items()},
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    (tmp / RUN_RECORD).write_text(json.dumps(record, indent=2, default=_json_default), encoding="utf-8")
    if target.exists():
        old = runs_dir / f"{PARTIAL_PREFIX}old-{spec.run_id}-{os.getpid()}"
        target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(target)
    return target


def read_run_record(runs_dir: Path, run_id: str) -> dict[str, Any]:
    """The ``run.json`` of a finished run."""
    return json.loads((run_dir(runs_dir, run_id) / RUN_RECORD).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# Executors
# --------------------------------------------------------------------------------------------


def run_local(specs: list[RunSpec], workers: int) -> Iterator[RunResult]:
    """Run specs in this process (one worker) or a pool of fresh processes; yield results as they finish."""
    if workers <= 1:
        for spec in specs:
            yield simulate(spec)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = [pool.submit(simulate, spec) for spec in specs]
        for future in as_completed(futures):
            yield future.result()
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown()


def stop_pool(pool: Any) -> None:
    """Cancel a process pool's queued runs and end its running ones now (after Ctrl-C or an error)."""
    if hasattr(pool, "terminate_workers"):  # Python 3.14+
        pool.terminate_workers()
        return
    processes = list(pool._processes.values())  # no public way before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()


def connect_scheduler(address: str) -> Any:
    """A Dask client for ``address``; a scheduler that does not answer is a one-line error."""
    from distributed import Client

    try:
        return Client(address, timeout=f"{SCHEDULER_TIMEOUT_S}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise VmobError(f"Dask scheduler {address} does not answer within {SCHEDULER_TIMEOUT_S} s ({reason})") from None


def run_dask(specs: list[RunSpec], address: str) -> Iterator[RunResult]:
    """Run specs on a Dask cluster; yield results as they finish (workers need this package installed)."""
    from distributed import as_completed

    client = connect_scheduler(address)
    futures = []
    try:
        with client.as_current():
            futures = client.map(simulate, specs, key=[f"vmob-run-{s.run_id}" for s in specs], pure=False)
            for future in as_completed(futures):
                yield future.result()
    finally:
        client.cancel(futures)
        client.close()


# --------------------------------------------------------------------------------------------
# Combining
# --------------------------------------------------------------------------------------------


def combine(runs_dir: Path, specs: list[RunSpec]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """All runs' tables and link volumes, sorted by their keys so any run order gives the same files."""
    tables = {}
    for name in TABLES:
        frame = pd.concat([pd.read_parquet(run_dir(runs_dir, s.run_id) / f"{name}.parquet") for s in specs], ignore_index=True)
        tables[name] = frame.sort_values(SCHEMAS[name]["primaryKey"], kind="stable", ignore_index=True)
    links = pd.concat([pd.read_parquet(run_dir(runs_dir, s.run_id) / "link_volumes.parquet") for s in specs], ignore_index=True)
    return tables, links.sort_values(list(RUN_KEYS) + ["edge"], kind="stable", ignore_index=True)


def aggregates(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean, 5th and 95th percentile across seeds of every summary figure, per scenario label and year.

    Long format: ``experiment, scenario, year, figure, seeds, mean, p5, p95``.
    """
    long = summary.melt(id_vars=list(RUN_KEYS), value_vars=list(HEADLINE_COLUMNS), var_name="figure")
    grouped = long.groupby(["experiment", "scenario", "year", "figure"], sort=True)["value"]
    out = grouped.agg(seeds="count", mean="mean").join(grouped.quantile(0.05).rename("p5")).join(grouped.quantile(0.95).rename("p95"))
    return out.reset_index()


def runs_table(specs: list[RunSpec]) -> pd.DataFrame:
    """``run_id, scenario, label, seed`` and one column per sweep path (empty where it does not apply)."""
    paths = list(dict.fromkeys(p for s in specs for p in s.sweep))
    rows = [{"run_id": s.run_id, "scenario": s.scenario, "label": s.label, "seed": s.seed,
             **{p: format_value(s.sweep[p]) if p in s.sweep else "" for p in paths}} for s in specs]
    return pd.DataFrame(rows, columns=["run_id", "scenario", "label", "seed", *paths])


def headline(result: RunResult) -> str:
    """One line of a finished run's headline figures."""
    summary = result.tables["summary"]
    year = HEADLINE_YEAR if HEADLINE_YEAR in set(summary["year"]) else int(summary["year"].max())
    row = summary[summary["year"] == year].iloc[0]
    change = row["co2_territorial_change_vs_2019_pct"]
    change_text = "" if pd.isna(change) else f" ({change:+.1f} % vs 2019)"
    return (f"{result.spec.run_id} {result.spec.label} seed {result.spec.seed}: {year} car share "
            f"{100 * row['share_car']:.1f} %, territorial CO2 {row['co2_territorial_t']:,.0f} t{change_text}; "
            f"{result.wall_time_s:.1f} s")


# --------------------------------------------------------------------------------------------
# Provenance
# --------------------------------------------------------------------------------------------


def git_state() -> dict[str, Any]:
    """Commit of the code and whether the working tree has uncommitted changes ("unknown" outside git)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=10).stdout

    try:
        return {"commit": git("rev-parse", "HEAD").strip(), "dirty": bool(git("status", "--porcelain").strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the results."""
    versions = {}
    for name in MANIFEST_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def config_hash(config: Experiment, digests: dict[str, str]) -> str:
    """Hash of the resolved config and the contents of every input file."""
    return canonical_hash({"config": config.model_dump(mode="json", exclude={"inputs"}), "inputs": digests})


def write_json(data: Any, path: Path) -> None:
    """Write JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n", encoding="utf-8")


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write a table atomically as CSV or (Geo)Parquet, by the file's suffix."""
    with atomic_path(path) as tmp:
        if path.suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)


# --------------------------------------------------------------------------------------------
# Whole experiments
# --------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """A loaded experiment and the runs it expands to."""

    config: Experiment
    source: Path
    context: "ModelContext"
    specs: list[RunSpec]
    out_dir: Path

    @property
    def runs_dir(self) -> Path:
        return self.out_dir / "runs"


def plan_experiment(config_path: Path, out: Path) -> Plan:
    """Load and check a config, load its inputs and expand its runs; nothing is written."""
    config = load_config(config_path)
    context = load_context(config.inputs)
    return Plan(config, Path(config_path), context, expand_runs(config, Path(config_path), context), Path(out) / config.name)


def prepare_out_dir(out_dir: Path) -> None:
    """Create the experiment's output folder, or say in one sentence why it cannot be used."""
    for parent in (out_dir, *out_dir.parents):
        if parent.exists() and not parent.is_dir():
            raise VmobError(f"Output folder {out_dir} cannot be used: {parent} is a file")
        if parent.exists():
            break
    try:
        (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise VmobError(f"Output folder {out_dir} cannot be created ({err.strerror or err})") from None
    if not os.access(out_dir / "runs", os.W_OK):
        raise VmobError(f"Output folder {out_dir} is not writable")


def dry_run(config_path: Path, out: Path) -> str:
    """The resolved config and the runs it expands to, with whether each is already complete."""
    plan = plan_experiment(config_path, out)
    table = runs_table(plan.specs)
    table.insert(1, "status", ["done" if is_complete(plan.runs_dir, s.run_id) else "to run" for s in plan.specs])
    done = int((table["status"] == "done").sum())
    header = (f"# {len(plan.specs)} runs ({len(plan.config.scenarios)} scenarios, {len(plan.config.seed_list())} seeds"
              f"{', sweep ' + plan.config.sweep.mode if plan.config.sweep else ''}); {done} already complete in {plan.runs_dir}")
    return "\n".join([f"# resolved config: {config_path}", resolved_toml(plan.config), header, table.to_string(index=False)])


def run_experiment(
    config_path: Path,
    out: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = True,
    echo: Callable[[str], None] = print,
) -> Path:
    """Run every missing run of an experiment, then write the combined outputs.

    Parameters
    ----------
    config_path
        The experiment file.
    out
        Results root; the experiment writes to ``out/<name>/``.
    workers
        Local worker processes (default: the number of CPUs); ignored with ``scheduler``.
    scheduler
        Address of a Dask scheduler (``tcp://host:port``) to run on instead.
    resume
        Keep runs already complete; with ``False`` every run is recomputed.
    echo
        Where the per-run lines go.

    Returns
    -------
    pathlib.Path
        The experiment's output folder.
    """
    from tqdm import tqdm

    started = dt.datetime.now(dt.timezone.utc)
    plan = plan_experiment(config_path, out)
    prepare_out_dir(plan.out_dir)
    clear_partial(plan.runs_dir)
    pending = [s for s in plan.specs if not (resume and is_complete(plan.runs_dir, s.run_id))]
    echo(f"{plan.config.name}: {len(plan.specs)} runs, {len(plan.specs) - len(pending)} already complete, {len(pending)} to run")
    processes = min(workers or os.cpu_count() or 1, max(len(pending), 1))
    if pending:
        results = run_dask(pending, scheduler) if scheduler else run_local(pending, processes)
        with tqdm(total=len(pending), desc="runs", unit="run", disable=None) as bar:
            for result in results:
                write_run(result, plan.runs_dir)
                bar.write(headline(result))
                bar.update()
    write_outputs(plan, started, executor=f"dask {scheduler}" if scheduler else f"local, {processes} process(es)")
    return plan.out_dir


def write_outputs(plan: Plan, started: dt.datetime, executor: str) -> None:
    """Combined tables, link volumes, runs.csv, aggregates.csv, manifest.json and (if asked) the report."""
    config, out_dir = plan.config, plan.out_dir
    tables, links = combine(plan.runs_dir, plan.specs)
    check_reconciliation(tables)
    digests = input_digests(config.inputs, plan.context)
    chash = config_hash(config, digests)
    wanted = {name: tables[name] for name in config.outputs.tables}
    effects = paired_effects(tables["summary"])
    if not effects.empty:
        wanted["effects"] = effects
    write_tables(wanted, out_dir, experiment_name=config.name, extra_metadata={"config_hash": chash, "manifest": "manifest.json"})
    if config.outputs.link_volumes:
        write_frame(plan.context.links_frame(), out_dir / "network_links.parquet")
        write_frame(links, out_dir / "link_volumes.parquet")
    write_frame(runs_table(plan.specs), out_dir / "runs.csv")
    write_frame(aggregates(tables["summary"]), out_dir / "aggregates.csv")
    records = [read_run_record(plan.runs_dir, s.run_id) for s in plan.specs]
    manifest = {
        "experiment": config.name,
        "question": config.question,
        "config_file": str(plan.source.resolve()),
        "config": config.model_dump(mode="json", exclude={"replications", "base_seed"}),
        "config_hash": chash,
        "git": git_state(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "inputs": {"sources": plan.context.sources, "sha256": digests},
        "seeds": config.seed_list(),
        "runs": [{k: r[k] for k in ("run_id", "scenario", "label", "seed", "sweep", "wall_time_s", "finished")} for r in records],
        "executor": executor,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "command": sys.argv,
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(manifest, out_dir / "manifest.json")
    if config.outputs.report and importlib.util.find_spec("model.report") is not None:
        from model.report import build_report

        build_report(out_dir)
