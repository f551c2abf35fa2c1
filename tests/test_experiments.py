"""The experiment runner: run expansion, identical results for any executor, resume, outputs, bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psutil
import pytest
from typer.testing import CliRunner

from model.cli import app
from model.config import load_config
from model.errors import VmobError
from model.experiments import expand_runs, load_context, run_experiment
from model.outputs import TABLES
from tests.osm_fixtures import write_tiny_inputs
from tests.runner_fixtures import (
    LEAN_OUTPUTS,
    PROJECT_ROOT,
    experiment,
    pool_workers,
    vmob,
    wait_for,
)

#: Files that must be identical whatever ran the runs.
COMPARED = [f"{t}.csv" for t in TABLES] + ["runs.csv", "aggregates.csv"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    write_tiny_inputs(folder)
    return folder


SWEPT = (
    '[scenarios.baseline]\ndescription = "no levers"\n[scenarios.other]\n'
    '[sweep]\nparameters = {"parameters.choice.coefficients.habit" = [0.5, 1.0]}\n'
)
#: What the executor tests run: one scenario at two sweep points with two seeds.
RUN = '[scenarios.baseline]\n[sweep]\nparameters = {"parameters.choice.coefficients.habit" = [0.5, 1.0]}\n'


def expand(path: Path) -> list:
    config = load_config(path)
    return expand_runs(config, path, load_context(config.inputs))


# ---------------------------------------------------------------------------------- expansion


def test_runs_expand_scenarios_sweep_and_seeds(tmp_path: Path, inputs: Path) -> None:
    specs = expand(experiment(tmp_path, inputs, SWEPT))
    assert len(specs) == 2 * 2 * 2
    assert [s.label for s in specs[:4]] == ["baseline__choice.coefficients.habit=0.5"] * 2 + ["baseline__choice.coefficients.habit=1.0"] * 2
    assert [s.seed for s in specs[:4]] == [1, 2, 1, 2]
    assert specs[0].parameters.choice.coefficients.habit == 0.5
    assert specs[0].parameters.population.gravity.target_mean_km == 2.0
    assert len({s.run_id for s in specs[:4]}) == 4
    # "other" has the same (no) levers as "baseline": the same runs, computed once, under two labels
    assert [s.run_id for s in specs[4:]] == [s.run_id for s in specs[:4]]
    assert specs[4].label == "other__choice.coefficients.habit=0.5"


def test_list_sweep_pairs_values(tmp_path: Path, inputs: Path) -> None:
    body = ('[scenarios.b]\n[sweep]\nmode = "list"\nparameters = {"parameters.choice.coefficients.habit" = [0.5, 1.0], '
            '"parameters.assignment.car_occupancy" = [1.1, 1.2]}\n')
    specs = expand(experiment(tmp_path, inputs, body, seeds="[1]"))
    assert [s.label for s in specs] == ["b__choice.coefficients.habit=0.5__assignment.car_occupancy=1.1",
                                        "b__choice.coefficients.habit=1.0__assignment.car_occupancy=1.2"]


def test_run_ids_are_stable_and_depend_only_on_what_affects_results(tmp_path: Path, inputs: Path) -> None:
    first = [s.run_id for s in expand(experiment(tmp_path, inputs, SWEPT))]
    again = [s.run_id for s in expand(experiment(tmp_path, inputs, SWEPT))]
    described = [s.run_id for s in expand(experiment(tmp_path, inputs, SWEPT.replace("no levers", "other words")))]
    longer = [s.run_id for s in expand(experiment(tmp_path, inputs, SWEPT, end_year=2022))]
    renamed = experiment(tmp_path, inputs, SWEPT.replace("[scenarios.baseline]", "[scenarios.business_as_usual]"), name="other_name")
    assert first == again == described == [s.run_id for s in expand(renamed)]
    assert not set(first) & set(longer)


def test_unknown_parameter_override_names_the_file(tmp_path: Path, inputs: Path) -> None:
    body = '[scenarios.b]\n[sweep]\nparameters = {"parameters.choice.coefficients.habbit" = [0.5]}\n'
    path = experiment(tmp_path, inputs, body)
    with pytest.raises(VmobError, match=re.escape("unknown parameter 'choice.coefficients.habbit'")) as info:
        expand(path)
    assert str(path) in str(info.value)


def test_lever_sweeps_apply_only_to_scenarios_with_the_lever(tmp_path: Path, inputs: Path) -> None:
    body = (
        '[scenarios.baseline]\n[scenarios.slow]\nlevers = [{kind = "speed_limit", id = "motorway", start = 2020-01-01, '
        'roads = ["Køge Bugt Motorvejen"], limit_kph = 90}]\n'
        '[sweep]\nparameters = {"levers.motorway.limit_kph" = [80, 90], "parameters.choice.coefficients.habit" = [0.5, 1.0]}\n'
    )
    specs = expand(experiment(tmp_path, inputs, body, seeds="[1]"))
    labels = [s.label for s in specs]
    assert labels[:2] == ["baseline__choice.coefficients.habit=0.5", "baseline__choice.coefficients.habit=1.0"]
    assert labels[2] == "slow__motorway.limit_kph=80__choice.coefficients.habit=0.5" and len(specs) == 6
    assert specs[2].levers[0].limit_kph == 80


# ------------------------------------------------------------------------------------ running


@pytest.fixture(scope="module")
def local_one(tmp_path_factory: pytest.TempPathFactory, inputs: Path) -> Path:
    folder = tmp_path_factory.mktemp("one")
    return run_experiment(experiment(folder, inputs, RUN), folder / "results", workers=1, echo=lambda _: None)


def test_outputs_layout(local_one: Path) -> None:
    written = COMPARED + [f"{t}.parquet" for t in TABLES] + ["aggregates.parquet", "scenarios.csv", "scenarios.parquet",
        "run_keys.csv", "run_keys.parquet", "datapackage.json", "summary.xlsx", "manifest.json", "link_volumes.parquet",
        "network_links.parquet"]
    for name in [*written, "run.log"]:
        assert (local_one / name).is_file(), name
    assert not [p.name for p in local_one.iterdir() if p.name.startswith(".") and p.name != ".vmob.lock"]
    runs = pd.read_csv(local_one / "runs.csv", dtype={"run_id": str})
    assert len(runs) == 4 and list(runs.columns) == ["run_id", "scenario", "label", "seed", "parameters.choice.coefficients.habit"]
    for run_id in runs["run_id"]:
        folder = local_one.parent / ".runs" / run_id
        assert {p.name for p in folder.iterdir()} == {f"{t}.parquet" for t in TABLES} | {"link_volumes.parquet", "run.json"}
        assert json.loads((folder / "run.json").read_text())["run_id"] == run_id
    manifest = json.loads((local_one / "manifest.json").read_text())
    assert manifest["seeds"] == [1, 2] and len(manifest["runs"]) == 4
    assert sorted(manifest["files"]) == sorted(written) and manifest["run_cache"] == "../.runs"
    log = (local_one / "run.log").read_text()
    assert "inputs loaded" in log and "finished" in log and f"committed {len(written)} files" in log
    assert {"commit", "dirty"} <= set(manifest["git"]) and "mesa" in manifest["packages"]
    assert len(manifest["inputs"]["sha256"]["network_and_boundary"]) == 64
    summary = pd.read_csv(local_one / "summary.csv")
    assert set(summary["scenario"]) == set(runs["label"]) and set(summary["year"]) == {2019, 2020, 2021}
    aggregates = pd.read_csv(local_one / "aggregates.csv")
    assert (aggregates["seeds"] == 2).all()
    assert (aggregates["p5"] <= aggregates["mean"] + 1e-9).all() and (aggregates["mean"] <= aggregates["p95"] + 1e-9).all()
    links = pd.read_parquet(local_one / "link_volumes.parquet")
    assert len(links) == 4 * 3 * len(pd.read_parquet(local_one / "network_links.parquet"))


def assert_same_outputs(a: Path, b: Path) -> None:
    for name in COMPARED:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    pd.testing.assert_frame_equal(pd.read_parquet(a / "link_volumes.parquet"), pd.read_parquet(b / "link_volumes.parquet"))


def test_two_workers_give_identical_tables(tmp_path: Path, inputs: Path, local_one: Path) -> None:
    out = run_experiment(experiment(tmp_path, inputs, RUN), tmp_path / "results", workers=2, echo=lambda _: None)
    assert_same_outputs(local_one, out)


def test_dask_cluster_gives_identical_tables(tmp_path: Path, inputs: Path, local_one: Path) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        out = run_experiment(experiment(tmp_path, inputs, RUN), tmp_path / "results",
                             scheduler=cluster.scheduler_address, echo=lambda _: None)
    assert_same_outputs(local_one, out)


def test_rerun_resumes_without_recomputing(tmp_path: Path, inputs: Path) -> None:
    path = experiment(tmp_path, inputs, "[scenarios.b]\n", seeds="[1]", outputs=LEAN_OUTPUTS)
    out = run_experiment(path, tmp_path / "results", workers=1, echo=lambda _: None)
    run_file = next((out.parent / ".runs").glob("*/summary.parquet"))
    before = run_file.stat().st_mtime_ns
    lines: list[str] = []
    run_experiment(path, tmp_path / "results", workers=1, echo=lines.append)
    assert run_file.stat().st_mtime_ns == before and "1 already complete, 0 to run" in lines[0]
    run_experiment(path, tmp_path / "results", workers=1, resume=False, echo=lambda _: None)
    assert run_file.stat().st_mtime_ns != before


def test_killed_run_loses_nothing_and_resumes(tmp_path: Path, inputs: Path) -> None:
    path = experiment(tmp_path, inputs, "[scenarios.b]\n", end_year=2025, seeds=str(list(range(1, 7))), outputs=LEAN_OUTPUTS)
    out = tmp_path / "results" / "tiny"
    cache = tmp_path / "results" / ".runs"
    command = [
        sys.executable,
        "-c",
        "from model.cli import app; app()",
        "run",
        str(path),
        "--out",
        str(tmp_path / "results"),
        "--workers",
        "1",
    ]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not list(cache.glob("*/run.json")) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finished = {p.parent.name: p.parent for p in cache.glob("*/run.json")}
    assert 1 <= len(finished) < 6
    assert not (out / "manifest.json").exists()
    mtimes = {run_id: {f.name: f.stat().st_mtime_ns for f in folder.iterdir()} for run_id, folder in finished.items()}
    run_experiment(path, tmp_path / "results", workers=1, echo=lambda _: None)
    runs = pd.read_csv(out / "runs.csv", dtype={"run_id": str})
    assert len(runs) == 6 and all((cache / r / "run.json").is_file() for r in runs["run_id"])
    assert {run_id: {f.name: f.stat().st_mtime_ns for f in (cache / run_id).iterdir()} for run_id in finished} == mtimes
    assert not list(cache.glob(".partial-*"))
    assert pd.read_csv(out / "summary.csv")["seed"].nunique() == 6


# ------------------------------------------------------------------------------------- the CLI


def test_dry_run_prints_defaults_and_runs_without_writing(tmp_path: Path, inputs: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(experiment(tmp_path, inputs, SWEPT)), "--out", str(tmp_path / "results"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert 'mode = "grid"' in result.output and "link_volumes = true" in result.output
    assert "8 runs" in result.output and result.output.count("to run") == 8
    assert "other__choice.coefficients.habit=1.0" in result.output
    assert not (tmp_path / "results").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_silent_scheduler_is_a_clear_error_within_seconds(tmp_path: Path, inputs: Path) -> None:
    path = experiment(tmp_path, inputs, "[scenarios.b]\n", seeds="[1]")
    started = time.monotonic()
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "results"), "--scheduler", f"tcp://127.0.0.1:{free_port()}"])
    assert time.monotonic() - started < 15
    assert result.exit_code == 1 and "error: Dask scheduler tcp://127.0.0.1:" in result.output and "does not answer" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("problem", ["out_is_file", "missing_config"])
def test_bad_command_line_input_is_one_error_line(tmp_path: Path, inputs: Path, problem: str) -> None:
    path = experiment(tmp_path, inputs, "[scenarios.b]\n", seeds="[1]")
    out = tmp_path / "results"
    if problem == "out_is_file":
        out.write_text("not a folder", encoding="utf-8")
    else:
        path = tmp_path / "missing.toml"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert ("is a file" in result.output) if problem == "out_is_file" else ("file not found" in result.output)


def test_bad_scheduler_address_is_one_line_without_traceback(tmp_path: Path, inputs: Path) -> None:
    path = experiment(tmp_path, inputs, "[scenarios.b]\n", seeds="[1]")
    process = vmob("run", str(path), "--out", str(tmp_path / "results"), "--scheduler", "not a url")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stderr.startswith("error: Dask scheduler address 'not a url' is not valid") and stderr.count("\n") == 1, stderr
    assert "expected tcp://host:port" in stderr


# ---------------------------------------------------------------------------- worker processes


@pytest.fixture
def busy_run(tmp_path: Path, inputs: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    """``vmob run --workers 2`` of six runs in a subprocess, once both pool workers run."""
    path = experiment(tmp_path, inputs, "[scenarios.b]\n", end_year=2024, seeds="[1, 2, 3, 4, 5, 6]", outputs=LEAN_OUTPUTS)
    process = vmob("run", str(path), "--out", str(tmp_path / "results"), "--workers", "2")
    try:
        wait_for(lambda: len(pool_workers(process.pid)) == 2, what="two pool workers")
        yield process, tmp_path / "results"
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_killed_worker_is_a_one_line_error_with_a_resume_hint(busy_run: tuple[subprocess.Popen, Path]) -> None:
    process, results = busy_run
    pool_workers(process.pid)[0].kill()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stderr.startswith("error: a worker process died before its run finished") and stderr.count("\n") == 1, stderr
    assert "run the same command again to resume" in stderr and str(results / ".runs") in stderr
    assert not (results / "tiny" / "manifest.json").exists()


def test_pool_workers_end_when_the_parent_is_killed(busy_run: tuple[subprocess.Popen, Path]) -> None:
    process, results = busy_run
    wait_for(lambda: list((results / ".runs").glob("*/run.json")), what="a finished run")  # workers are busy
    workers = pool_workers(process.pid)
    assert len(workers) == 2
    process.kill()
    process.wait()
    gone, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive and len(gone) == 2


# ----------------------------------------------------------------------------- the run cache


def small_copy(name: str, folder: Path) -> Path:
    """experiments/<name>.toml as it is, on 2 % of the commuters in 2025–2026, writing only the summary."""
    text = (PROJECT_ROOT / "experiments" / f"{name}.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^sample_fraction = .*$", "sample_fraction = 0.02", text)
    text = re.sub(r"(?m)^start_year = .*$", "start_year = 2025", text)
    text = re.sub(r"(?m)^end_year = .*$", "end_year = 2026", text)
    path = folder / f"{name}.toml"
    path.write_text(text.split("\n[outputs]")[0] + "\n" + LEAN_OUTPUTS, encoding="utf-8")
    return path


def test_letbane_after_baseline_reuses_the_baseline_run(tmp_path: Path) -> None:
    results = tmp_path / "results"
    baseline_lines: list[str] = []
    baseline = run_experiment(small_copy("baseline", tmp_path), results, workers=1, echo=baseline_lines.append)
    (run_id,) = pd.read_csv(baseline / "runs.csv", dtype={"run_id": str})["run_id"]
    record = results / ".runs" / run_id / "run.json"
    written = record.stat().st_mtime_ns
    lines: list[str] = []
    letbane = run_experiment(small_copy("letbane", tmp_path), results, workers=1, echo=lines.append)
    assert lines[0] == "letbane: 2 runs, 1 already complete, 1 to run"
    assert record.stat().st_mtime_ns == written
    assert (
        f"reusing run {run_id} (baseline seed 1) from the run cache, computed for experiment 'baseline'"
        in (letbane / "run.log").read_text()
    )
    runs = pd.read_csv(letbane / "runs.csv", dtype={"run_id": str})
    assert runs.loc[runs["scenario"] == "baseline", "run_id"].tolist() == [run_id]
    # the reused run's rows carry this experiment's name, and its figures are the baseline's
    summary = pd.read_csv(letbane / "summary.csv")
    assert set(summary["experiment"]) == {"letbane"} and set(summary["scenario"]) == {"baseline", "letbane"}
    reused = summary[summary["scenario"] == "baseline"].drop(columns="experiment").reset_index(drop=True)
    original = pd.read_csv(baseline / "summary.csv")
    assert set(original["experiment"]) == {"baseline"}
    pd.testing.assert_frame_equal(reused, original.drop(columns="experiment"), check_exact=True)
    manifest = json.loads((letbane / "manifest.json").read_text())
    assert {r["label"]: r["computed_for"] for r in manifest["runs"]} == {"baseline": "baseline", "letbane": "letbane"}
