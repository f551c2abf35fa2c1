"""Running experiments: expand a config into runs, execute them, combine and record the results.

A run is one scenario at one sweep point with one seed. Its id is a short hash of
everything that determines its tables (years, sample, seed, parameter overrides,
levers, the contents of the input and parameter files, the model's code and the
versions of the packages it computes with) and of nothing else: not the
experiment's or the scenario's name. Runs live in a cache shared by every
experiment under the same results root, ``<out>/.runs/<run_id>/``, so a run that
several experiments share (their baseline) is computed once, and rerunning an
experiment finds the runs already done. Runs execute in local processes or on a
Dask cluster; each finished run is written under a temporary name and renamed
when complete. The combined tables, aggregates and ``manifest.json`` are written
once every run is there, relabelled with this experiment's name and scenario
labels, and committed as one unit (:mod:`model.output_folder`), under a lock that
lets one process at a time write the experiment's folder.

Layout of ``<out>/``::

    .runs/<run_id>/         mode_split, vehicle_km, energy, co2, summary and
                            link_volumes (.parquet) and run.json, per run
    <experiment>/
        <table>.csv/.parquet    the combined tables, datapackage.json, summary.xlsx
        link_volumes.parquet    per run, year and edge; network_links.parquet has the edges
        runs.csv                run id, scenario, label, seed and sweep values
        aggregates.csv          mean, p5 and p95 across seeds of every summary figure
        manifest.json           provenance, the runs used and the list of current files
        run.log                 what every run of the command did, with times
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import functools
import hashlib
import importlib.metadata
import importlib.util
import itertools
import json
import logging
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import ValidationError

from model.config import Experiment, Inputs, load_config, resolved_toml
from model.effects import paired_effects
from model.errors import VmobError
from model.files import atomic_path, file_sha256, validation_message
from model.levers import APPRAISAL_FIELDS, check_levers
from model.output_folder import commit, new_staging, output_lock, process_alive, recover
from model.outputs import RUN_KEYS, SCHEMAS, TABLES, check_reconciliation, run_tables, write_tables
from model.parameters import ModelParameters, load_parameter_data, validate_parameters
from model.settings import CALIBRATION_DIR, PARAMETERS_DIR, PROJECT_ROOT

if TYPE_CHECKING:
    from model.simulation import ModelContext

log = logging.getLogger(__name__)

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
#: Folder of the run cache under the results root, shared by every experiment there.
RUN_CACHE = ".runs"
#: The run log in an experiment's folder (appended to by every command that writes the folder).
RUN_LOG = "run.log"
#: Modules of ``model/`` that present results and do not shape a run's tables (a new one belongs here too).
PRESENTATION_MODULES = frozenset({"app", "appraisal", "cli", "cobenefits", "elasticities", "plots", "report"})
#: Paths whose uncommitted changes make results "from modified code" (inputs shipped with the model).
CODE_PATHS = ("model", "pyproject.toml", "experiments/parameters", "experiments/calibration", "networks")
#: Seconds between a pool worker's checks that the process that started it is alive.
PARENT_POLL_S = 1.0
#: Linux ``prctl`` option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1
#: Address schemes of Dask's communication backends.
DASK_SCHEMES = ("tcp", "tls", "inproc", "ucx", "ws", "wss")


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs, picklable for worker processes and Dask.

    ``identity`` is what ``run_id`` hashes; ``experiment`` and ``label`` only name the run's rows.
    """

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


def input_digests(inputs: Inputs, context: ModelContext) -> dict[str, str]:
    """Digests of every file a run reads: network with boundary, zones, transit, counts, parameters."""
    from model.external_demand import DEFAULT_COUNTS
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


@functools.cache
def code_version() -> dict[str, Any]:
    """What of the code a run's tables depend on: a digest of the model's source and package versions.

    The presentation modules (:data:`PRESENTATION_MODULES`) are left out, so editing the report or
    the dashboard keeps the run cache.
    """
    package = Path(__file__).parent
    sources = sorted(
        path for path in package.rglob("*.py")
        if path.relative_to(package).parts[0].removesuffix(".py") not in PRESENTATION_MODULES
    )
    digests = {str(path.relative_to(package)): file_sha256(path) for path in sources}
    return {"model_sha256": canonical_hash(digests), "packages": package_versions(), "python": platform.python_version()}


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
    return validate_parameters(base, overrides, source)


def expand_runs(config: Experiment, source: Path, context: ModelContext) -> list[RunSpec]:
    """Scenarios × sweep points × seeds, in file order, each with its stable id.

    Two runs that differ only in their names (scenarios with the same levers) get the same id
    and are computed once.

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
            where = (
                f"{source}: scenarios.{name}.levers" if not point else f"{source}: scenarios.{name}.levers (sweep {run_label(name, point)})"
            )
            check_levers(levers, context, config.start_year, config.end_year, where)
            overrides = {**config.parameters, **{p.split(".", 1)[1]: v for p, v in point.items() if p.startswith("parameters.")}}
            parameters = model_parameters(base, overrides, f"{source}: parameters with sweep {run_label(name, point)}")
            label = run_label(name, point)
            for seed in config.seed_list():
                identity = {
                    "seed": seed, "start_year": config.start_year, "end_year": config.end_year,
                    "sample_fraction": config.sample_fraction, "parameters": overrides,
                    "levers": [lever.model_dump(mode="json", exclude=APPRAISAL_FIELDS) for lever in levers], "inputs": digests,
                    "code": code_version(),
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

_CONTEXTS: dict[tuple[str | None, ...], ModelContext] = {}


def load_context(inputs: Inputs) -> ModelContext:
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
    """Folder of one run's results in the run cache."""
    return runs_dir / run_id


def is_complete(runs_dir: Path, run_id: str) -> bool:
    """Whether a run's folder was written completely (folders appear only when complete)."""
    return (run_dir(runs_dir, run_id) / RUN_RECORD).is_file()


def partial_name(run_id: str) -> str:
    """Temporary name of a run folder this process writes: ``.partial-<host>-<pid>-<run_id>``."""
    return f"{PARTIAL_PREFIX}{socket.gethostname()}-{os.getpid()}-{run_id}"


def clear_partial(runs_dir: Path) -> None:
    """Remove run folders left half-written by killed processes of this host.

    The cache is shared by every experiment under the results root, so folders that a live
    process (another experiment running now) is writing are left alone.
    """
    if not runs_dir.is_dir():
        return
    host = socket.gethostname()
    for path in runs_dir.glob(f"{PARTIAL_PREFIX}*"):
        parts = path.name.removeprefix(PARTIAL_PREFIX).removeprefix("old-").rsplit("-", 2)
        if len(parts) == 3 and parts[0] == host and parts[1].isdigit() and not process_alive(int(parts[1])):
            shutil.rmtree(path, ignore_errors=True)


def write_run(result: RunResult, runs_dir: Path, replace: bool = False) -> Path:
    """Write a run's tables, link volumes and ``run.json`` to a temporary folder, then rename it into place.

    Another process may have finished the same run meanwhile (two experiments sharing a run,
    started at the same time); its folder holds the same tables and is kept unless ``replace``
    (``--no-resume``), so an experiment combining it never finds it gone.
    """
    spec = result.spec
    target = run_dir(runs_dir, spec.run_id)
    if not replace and is_complete(runs_dir, spec.run_id):
        log.info("run %s was finished meanwhile by another process; its folder is kept", spec.run_id)
        return target
    tmp = runs_dir / partial_name(spec.run_id)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, table in result.tables.items():
        table.to_parquet(tmp / f"{name}.parquet", index=False)
    result.link_volumes.to_parquet(tmp / "link_volumes.parquet", index=False)
    record = {
        "run_id": spec.run_id, "experiment": spec.experiment, "scenario": spec.scenario, "label": spec.label,
        "seed": spec.seed, "sweep": spec.sweep, "spec": spec.identity, "wall_time_s": round(result.wall_time_s, 3),
        "relative_gaps": {str(year): gaps for year, gaps in result.relative_gaps.items()},
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (tmp / RUN_RECORD).write_text(json.dumps(record, indent=2, default=_json_default), encoding="utf-8")
    old = runs_dir / f"{PARTIAL_PREFIX}old-{partial_name(spec.run_id).removeprefix(PARTIAL_PREFIX)}"
    if target.exists():
        target.rename(old)
    try:
        tmp.rename(target)
    except OSError:
        if not is_complete(runs_dir, spec.run_id):
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # written by another process meanwhile
    shutil.rmtree(old, ignore_errors=True)
    return target


def read_run_record(runs_dir: Path, run_id: str) -> dict[str, Any]:
    """The ``run.json`` of a finished run."""
    return json.loads((run_dir(runs_dir, run_id) / RUN_RECORD).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# Executors
# --------------------------------------------------------------------------------------------


class WorkerDied(VmobError):
    """A worker process ended (killed by the operating system, or crashed) before its run finished."""


def run_local(specs: list[RunSpec], workers: int) -> Iterator[RunResult]:
    """Run specs in this process (one worker) or a pool of fresh processes; yield results as they finish.

    Pool workers end themselves when this process dies (:func:`exit_with_parent`).

    Raises
    ------
    WorkerDied
        When a pool worker is killed; the pool is stopped, results already yielded stay valid.
    """
    if workers <= 1:
        for spec in specs:
            log.info("run %s (%s seed %s) started in this process", spec.run_id, spec.label, spec.seed)
            yield simulate(spec)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=exit_with_parent,
        initargs=(os.getpid(), threading.current_thread() is threading.main_thread()),
    )
    try:
        futures = [pool.submit(simulate, spec) for spec in specs]
        for future in as_completed(futures):
            yield future.result()
    except BrokenProcessPool:
        stop_pool(pool)
        raise WorkerDied("a worker process died before its run finished (killed by the operating system, "
                         "often for lack of memory)") from None
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown()


def exit_with_parent(parent_pid: int, death_signal: bool) -> None:
    """Pool worker initializer: end this worker as soon as the process that started it dies.

    On Linux the kernel sends SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``; only when
    the parent's main thread started the worker, as the signal follows the starting thread);
    everywhere a daemon thread checks the parent every :data:`PARENT_POLL_S` seconds.
    """
    if death_signal and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # else the watchdog below still ends the worker
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if not parent_alive(parent_pid):  # died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="vmob-parent-watchdog", daemon=True).start()


def parent_alive(parent_pid: int) -> bool:
    """Whether this process's parent is still ``parent_pid`` and alive (an orphan is re-parented)."""
    return os.getppid() == parent_pid and process_alive(parent_pid)


def _watch_parent(parent_pid: int) -> None:
    while parent_alive(parent_pid):
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def stop_pool(pool: Any) -> None:
    """Cancel a process pool's queued runs and end its running ones now (after Ctrl-C or an error)."""
    if hasattr(pool, "terminate_workers"):  # Python 3.14+
        pool.terminate_workers()
        return
    processes = list(pool._processes.values())  # no public way before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()


def check_scheduler_address(address: str) -> None:
    """Refuse an address that is not ``<scheme>://host:port`` before a Dask client is made of it.

    A Dask client built on a malformed address fails, and its half-built object then times out
    again when it is garbage-collected, printing a traceback; checking first avoids both.
    """
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme not in DASK_SCHEMES:
            raise ValueError(f"unknown scheme '{scheme}'")
        if scheme != "inproc":
            parse_host_port(location)
    except ValueError as err:
        raise VmobError(f"Dask scheduler address '{address}' is not valid ({err}); expected tcp://host:port") from None


def connect_scheduler(address: str) -> Any:
    """A Dask client for ``address``; a malformed address or a scheduler that does not answer is a one-line error."""
    from distributed import Client

    check_scheduler_address(address)
    try:
        return Client(address, timeout=f"{SCHEDULER_TIMEOUT_S}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise VmobError(f"Dask scheduler {address} does not answer within {SCHEDULER_TIMEOUT_S} s ({reason})") from None


def run_dask(specs: list[RunSpec], client: Any) -> Iterator[RunResult]:
    """Run specs on a Dask cluster; yield results as they finish (workers need this package installed).

    Raises
    ------
    WorkerDied
        When Dask gives up on a run whose workers kept dying.
    """
    from distributed import KilledWorker, as_completed

    futures = []
    try:
        with client.as_current():
            futures = client.map(simulate, specs, key=[f"vmob-run-{s.run_id}" for s in specs], pure=False)
            for future in as_completed(futures):
                yield future.result()
    except KilledWorker as err:
        raise WorkerDied(f"Dask workers died while running a run ({str(err).splitlines()[0]})") from None
    finally:
        client.cancel(futures)


# --------------------------------------------------------------------------------------------
# Combining
# --------------------------------------------------------------------------------------------


def combine(runs_dir: Path, specs: list[RunSpec]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """All runs' tables and link volumes, labelled with each spec's experiment and label, sorted by their keys.

    A cached run may have been computed for another experiment or scenario name; its rows are
    relabelled here. Sorting makes any run order give the same files.
    """
    def read(spec: RunSpec, name: str) -> pd.DataFrame:
        frame = pd.read_parquet(run_dir(runs_dir, spec.run_id) / f"{name}.parquet")
        return frame.assign(experiment=spec.experiment, scenario=spec.label)

    tables = {}
    for name in TABLES:
        frame = pd.concat([read(s, name) for s in specs], ignore_index=True)
        tables[name] = frame.sort_values(SCHEMAS[name]["primaryKey"], kind="stable", ignore_index=True)
    links = pd.concat([read(s, "link_volumes") for s in specs], ignore_index=True)
    return tables, links.sort_values([*list(RUN_KEYS), "edge"], kind="stable", ignore_index=True)


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
    """Commit of the code and whether the files that shape results differ from it ("unknown" outside git).

    ``dirty`` counts uncommitted changes to tracked files under :data:`CODE_PATHS` only, so a
    planner's new experiment file does not mark results as coming from modified code; untracked
    files under those paths (a new module) are listed apart in ``untracked``.
    """
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=10).stdout

    try:
        commit_id = git("rev-parse", "HEAD").strip()
        status = git("status", "--porcelain", "--untracked-files=all", "--", *CODE_PATHS).splitlines()
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None, "untracked": []}
    return {
        "commit": commit_id,
        "dirty": any(not line.startswith("??") for line in status),
        "untracked": sorted(line[3:] for line in status if line.startswith("??")),
    }


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
    context: ModelContext
    specs: list[RunSpec]
    out_dir: Path

    @property
    def runs_dir(self) -> Path:
        """The run cache, shared by every experiment under the same results root."""
        return self.out_dir.parent / RUN_CACHE


def plan_experiment(config_path: Path, out: Path, config: Experiment | None = None) -> Plan:
    """Load and check a config (unless given), load its inputs and expand its runs; nothing is written."""
    config = config or load_config(config_path)
    started = time.perf_counter()
    log.info("loading inputs: network %s, zones %s, transit %s, counts %s", *(
        value or "embedded" for value in (config.inputs.network, config.inputs.zones, config.inputs.transit, config.inputs.counts)))
    context = load_context(config.inputs)
    log.info("inputs loaded in %.1f s; expanding the runs", time.perf_counter() - started)
    specs = expand_runs(config, Path(config_path), context)
    log.info("%d runs: %s", len(specs), ", ".join(f"{s.run_id} {s.label} seed {s.seed}" for s in specs))
    return Plan(config, Path(config_path), context, specs, Path(out) / config.name)


def prepare_out_dir(out_dir: Path) -> None:
    """Create the experiment's output folder and the run cache beside it, or say in one sentence why not."""
    for parent in (out_dir, *out_dir.parents):
        if parent.exists() and not parent.is_dir():
            raise VmobError(f"Output folder {out_dir} cannot be used: {parent} is a file")
        if parent.exists():
            break
    for folder in (out_dir, out_dir.parent / RUN_CACHE):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise VmobError(f"Output folder {folder} cannot be created ({err.strerror or err})") from None
        if not os.access(folder, os.W_OK):
            raise VmobError(f"Output folder {folder} is not writable")


def dry_run(config_path: Path, out: Path) -> str:
    """The resolved config and the runs it expands to, with whether each is already in the run cache."""
    plan = plan_experiment(config_path, out)
    table = runs_table(plan.specs)
    table.insert(1, "status", ["done" if is_complete(plan.runs_dir, s.run_id) else "to run" for s in plan.specs])
    done = int((table["status"] == "done").sum())
    header = (f"# {len(plan.specs)} runs ({len(plan.config.scenarios)} scenarios, {len(plan.config.seed_list())} seeds"
              f"{', sweep ' + plan.config.sweep.mode if plan.config.sweep else ''}); {done} already complete in {plan.runs_dir}")
    return "\n".join([f"# resolved config: {config_path}", resolved_toml(plan.config), header, table.to_string(index=False)])


@contextmanager
def run_log(out_dir: Path) -> Iterator[Path]:
    """Append what the ``model`` package logs (INFO and up) to ``out_dir/run.log`` while the block runs."""
    path = out_dir / RUN_LOG
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger("model")
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield path
    except BaseException as err:
        log.error("stopped: %s", str(err) or type(err).__name__)
        raise
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()


@contextmanager
def writing_folder(out_dir: Path, echo: Callable[[str], None]) -> Iterator[Callable[[str], None]]:
    """Lock an experiment's folder, log to its run log and repair what a killed writer left.

    Yields the function that prints a line and logs it.

    Raises
    ------
    VmobError
        When another process writes the folder now.
    """
    def say(message: str) -> None:
        echo(message)
        log.info(message)

    notes: list[str] = []
    with output_lock(out_dir, notes.append) as holder, run_log(out_dir):
        log.info("---- %s (pid %s on %s)", holder["command"], holder["pid"], holder["host"])
        for note in notes:
            say(note)
        recover(out_dir, say)
        yield say


def scenario_set(specs: list[RunSpec]) -> dict[str, str]:
    """Run label → hash of its levers and parameters: what a rerun under the same name must keep."""
    return {s.label: canonical_hash({k: s.identity[k] for k in ("levers", "parameters")}) for s in specs}


def check_scenario_set(plan: Plan, force: bool) -> None:
    """Refuse (without ``force``) to replace the results of other scenarios under the same experiment name.

    Raises
    ------
    VmobError
        Naming the folder, the scenarios added, removed or changed, and the way out.
    """
    try:
        previous = json.loads((plan.out_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    old = previous.get("scenario_set") if isinstance(previous, dict) else None
    new = scenario_set(plan.specs)
    if force or not isinstance(old, dict) or old == new:
        return
    changes = [f"{what} {', '.join(sorted(labels))}" for what, labels in (
        ("without", set(old) - set(new)), ("with new", set(new) - set(old)),
        ("with changed levers or parameters in", {k for k in set(old) & set(new) if old[k] != new[k]})) if labels]
    raise VmobError(
        f"{plan.out_dir} holds results of experiment '{plan.config.name}' (from {previous.get('config_file', '?')}) "
        f"and this config differs: {'; '.join(changes)}. Add --force to replace them, or give the experiment another name"
    )


def run_experiment(
    config_path: Path,
    out: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = True,
    force: bool = False,
    echo: Callable[[str], None] = print,
) -> Path:
    """Run every run of an experiment not yet in the run cache, then write the combined outputs.

    Parameters
    ----------
    config_path
        The experiment file.
    out
        Results root; the experiment writes to ``out/<name>/``, runs to ``out/.runs/``.
    workers
        Local worker processes (default: the number of CPUs); ignored with ``scheduler``.
    scheduler
        Address of a Dask scheduler (``tcp://host:port``) to run on instead.
    resume
        Keep runs already complete; with ``False`` every run is recomputed.
    force
        Replace the results of an experiment of the same name with other scenarios.
    echo
        Where the per-run lines go.

    Returns
    -------
    pathlib.Path
        The experiment's output folder.

    Raises
    ------
    VmobError
        For bad input, a folder another process writes, a changed scenario set without
        ``force``, an unreachable scheduler, or a worker that died (finished runs are kept).
    """
    started = dt.datetime.now(dt.UTC)
    config = load_config(config_path)
    out_dir = Path(out) / config.name
    prepare_out_dir(out_dir)
    with writing_folder(out_dir, echo) as say:
        plan = plan_experiment(config_path, out, config)
        check_scenario_set(plan, force)
        clear_partial(plan.runs_dir)
        distinct = list({s.run_id: s for s in plan.specs}.values())
        pending = [s for s in distinct if not (resume and is_complete(plan.runs_dir, s.run_id))]
        pending_ids = {s.run_id for s in pending}
        for spec in (s for s in distinct if s.run_id not in pending_ids):
            computed_for = read_run_record(plan.runs_dir, spec.run_id).get("experiment", "?")
            log.info("reusing run %s (%s seed %s) from the run cache, computed for experiment '%s'",
                     spec.run_id, spec.label, spec.seed, computed_for)
        done = sum(1 for s in plan.specs if s.run_id not in pending_ids)
        shared = f" ({len(distinct)} distinct)" if len(distinct) < len(plan.specs) else ""
        client = connect_scheduler(scheduler) if scheduler and pending else None
        say(f"{config.name}: {len(plan.specs)} runs{shared}, {done} already complete, {len(pending)} to run")
        processes = min(workers or os.cpu_count() or 1, max(len(pending), 1))
        executor = f"dask {scheduler}" if scheduler else f"local, {processes} process(es)"
        try:
            execute(pending, plan.runs_dir, client, processes, replace=not resume)
        finally:
            if client is not None:
                client.close()
        write_outputs(plan, started, executor=executor, note=say)
    return plan.out_dir


def execute(pending: list[RunSpec], runs_dir: Path, client: Any, processes: int, replace: bool) -> None:
    """Run the pending specs on Dask (``client``) or local processes and write each run as it finishes.

    ``replace`` replaces runs another process finished meanwhile (:func:`write_run`).

    Raises
    ------
    VmobError
        When a worker died; the runs finished before are kept and the message says how to resume.
    """
    from tqdm import tqdm

    if not pending:
        return
    log.info("running %d runs on %s", len(pending), "dask" if client is not None else f"{processes} local process(es)")
    finished = 0
    results = run_dask(pending, client) if client is not None else run_local(pending, processes)
    try:
        with tqdm(total=len(pending), desc="runs", unit="run", disable=None) as bar:
            for result in results:
                write_run(result, runs_dir, replace)
                finished += 1
                line = headline(result)
                bar.write(line)
                log.info("finished %s", line)
                bar.update()
    except WorkerDied as err:
        raise VmobError(f"{err}; {finished} of {len(pending)} runs finished and are kept in {runs_dir}: "
                        "run the same command again to resume (with fewer --workers if memory is short)") from None


def write_outputs(plan: Plan, started: dt.datetime, executor: str, note: Callable[[str], None] = log.info) -> None:
    """Combined tables, link volumes, runs.csv, aggregates.csv and manifest.json, committed as one unit; then the report.

    Call it holding the folder's lock (:func:`writing_folder`).
    """
    config, out_dir = plan.config, plan.out_dir
    log.info("combining %d runs", len(plan.specs))
    tables, links = combine(plan.runs_dir, plan.specs)
    check_reconciliation(tables)
    digests = input_digests(config.inputs, plan.context)
    chash = config_hash(config, digests)
    wanted = {name: tables[name] for name in config.outputs.tables} | {"aggregates": aggregates(tables["summary"])}
    wanted |= run_tables(runs_table(plan.specs), config.name, {n: s.description for n, s in config.scenarios.items()})
    effects = paired_effects(tables["summary"])
    if not effects.empty:
        wanted["effects"] = effects
    staging = new_staging(out_dir)
    log.info("writing %s and the data package", ", ".join(wanted))
    write_tables(wanted, staging, experiment_name=config.name, extra_metadata={"config_hash": chash, "manifest": "manifest.json"})
    if config.outputs.link_volumes:
        log.info("writing link volumes")
        write_frame(plan.context.links_frame(), staging / "network_links.parquet")
        write_frame(links, staging / "link_volumes.parquet")
    write_frame(runs_table(plan.specs), staging / "runs.csv")
    records = {s.run_id: read_run_record(plan.runs_dir, s.run_id) for s in plan.specs}
    manifest = {
        "experiment": config.name,
        "question": config.question,
        "config_file": str(plan.source.resolve()),
        "config": config.model_dump(mode="json", exclude={"replications", "base_seed"}),
        "config_hash": chash,
        "scenario_set": scenario_set(plan.specs),
        "git": git_state(),
        "code": code_version(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "inputs": {"sources": plan.context.sources, "sha256": digests},
        "seeds": config.seed_list(),
        "run_cache": os.path.relpath(plan.runs_dir, out_dir),
        "runs": [{"run_id": s.run_id, "scenario": s.scenario, "label": s.label, "seed": s.seed, "sweep": s.sweep,
                  "wall_time_s": records[s.run_id]["wall_time_s"], "finished": records[s.run_id]["finished"],
                  "computed_for": records[s.run_id].get("experiment", "?")} for s in plan.specs],
        "executor": executor,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "command": sys.argv,
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    write_json(manifest, staging / "manifest.json")
    files = commit(out_dir, note)
    log.info("committed %d files to %s", len(files), out_dir)
    if config.outputs.report and importlib.util.find_spec("model.report") is not None:
        from model.report import build_report

        log.info("writing the report")
        build_report(out_dir)
        log.info("report written")
