"""One writer per results folder, the combined outputs committed as one unit, no stale files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from model import experiments, output_folder
from model.cli import app
from model.experiments import git_state, run_experiment
from model.output_folder import LOCK_FILE, read_lock_record
from model.outputs import TABLES
from model.report import FIGURE_LIST
from tests.osm_fixtures import write_tiny_inputs
from tests.runner_fixtures import (
    LEAN_OUTPUTS,
    OUTPUTS,
    SLOW_MOTORWAY,
    experiment,
    vmob,
    wait_for,
)

#: Tables and link files a full run writes and a lean one does not.
LEAN_LEAVES_OUT = sorted(set(TABLES) - {"summary"})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    write_tiny_inputs(folder)
    return folder


def quiet_run(path: Path, results: Path, **options: object) -> Path:
    return run_experiment(path, results, workers=1, echo=lambda _: None, **options)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def hidden_leftovers(folder: Path) -> list[str]:
    """What an interrupted write leaves: hidden files and folders under ``folder``.

    The lock file and the report's list of its figures do not count.
    """
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*") if p.name not in {LOCK_FILE, FIGURE_LIST})


def assert_consistent(folder: Path) -> None:
    """The data package and the manifest describe the same commit, and every listed file is there."""
    manifest = json.loads((folder / "manifest.json").read_text())
    package = json.loads((folder / "datapackage.json").read_text())
    assert package["vmob"]["config_hash"] == manifest["config_hash"]
    assert all((folder / name).is_file() for name in manifest["files"])
    csv_tables = {n.removesuffix(".csv") for n in manifest["files"] if n.endswith(".csv")}
    assert {r["name"] for r in package["resources"]} == csv_tables - {"runs"}


# ------------------------------------------------------------------------------------ the lock


def test_second_writer_stops_at_once_naming_the_holder(tmp_path: Path, inputs: Path) -> None:
    path = experiment(tmp_path, inputs, "[scenarios.b]\n", end_year=2025, seeds="[1, 2]")
    results = tmp_path / "results"
    first = vmob("run", str(path), "--out", str(results), "--workers", "1", stdout=subprocess.DEVNULL)
    try:
        holder = wait_for(lambda: read_lock_record(results / "tiny" / LOCK_FILE), what="the first run's lock")
        code, output = invoke("run", str(path), "--out", str(results), "--workers", "1")
    finally:
        first.kill()
        first.communicate()
    assert holder["pid"] == first.pid
    assert code == 1 and output.count("\n") == 1
    assert output.startswith(f"error: Results folder {results / 'tiny'} is in use by pid {first.pid} on host {holder['host']} since ")
    assert not (results / "tiny" / "manifest.json").exists()
    # the first run was killed; its lock is taken over with a note and the run completes
    code, output = invoke("run", str(path), "--out", str(results), "--workers", "1")
    assert code == 0, output
    assert f"took over the lock of pid {first.pid}" in output and "that process is gone" in output
    assert "took over the lock" in (results / "tiny" / "run.log").read_text()
    assert read_lock_record(results / "tiny" / LOCK_FILE) is None  # released


def test_report_refuses_a_folder_being_written(tmp_path: Path, inputs: Path) -> None:
    folder = quiet_run(experiment(tmp_path, inputs, "[scenarios.b]\n", seeds="[1]", outputs=LEAN_OUTPUTS), tmp_path / "results")
    with output_folder.output_lock(folder, lambda _: None):
        code, output = invoke("report", str(folder))
    assert code == 1 and output.startswith(f"error: Results folder {folder} is in use by pid {os.getpid()}")


# --------------------------------------------------------------------- committing as one unit


def test_kill_during_the_combined_write_is_repaired_by_the_next_run(tmp_path: Path, inputs: Path) -> None:
    path = experiment(tmp_path, inputs, "[scenarios.b]\n", seeds="[1]")
    results, folder = tmp_path / "results", tmp_path / "results" / "tiny"
    quiet_run(path, results)  # the runs are cached: the next command goes straight to the combined write
    path.write_text(path.read_text().replace("seeds = [1]", "seeds = [1, 2]"))
    quiet_run(path, results)
    path.write_text(path.read_text().replace("seeds = [1, 2]", "seeds = [1]"))
    writer = vmob("run", str(path), "--out", str(results), "--workers", "1", start_new_session=True)
    try:
        wait_for(lambda: (folder / ".staging").exists() or (folder / ".committing").exists(), what="the combined write")
    finally:
        os.killpg(writer.pid, signal.SIGKILL)
        writer.communicate()
    lines: list[str] = []
    run_experiment(path, results, workers=1, echo=lines.append)
    assert any("interrupted run" in line for line in lines), lines
    assert hidden_leftovers(folder) == []
    assert_consistent(folder)
    assert json.loads((folder / "manifest.json").read_text())["seeds"] == [1]


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs, no cleanup."""


def interrupt_a_commit(path: Path, results: Path, monkeypatch: pytest.MonkeyPatch, change: tuple[str, str]) -> str:
    """Run ``path``, then rerun it with the text ``change`` made and "kill" it two files into the commit.

    Returns the config hash of the first, complete commit.
    """
    folder = results / "tiny"
    quiet_run(path, results)
    old_hash = json.loads((folder / "manifest.json").read_text())["config_hash"]
    path.write_text(path.read_text().replace(*change))
    moves = 0

    def replace_then_die(source: object, target: object) -> None:
        nonlocal moves
        moves += 1
        if moves == 4:  # the commit point and two files are done
            raise Killed
        os.replace(source, target)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(output_folder, "os", _OsWith(replace_then_die))
        with pytest.raises(Killed):
            quiet_run(path, results)
    assert (folder / ".committing").is_dir()
    assert json.loads((folder / "manifest.json").read_text())["config_hash"] == old_hash  # still the old commit
    return old_hash


def test_commit_interrupted_after_its_commit_point_is_rolled_forward(
    tmp_path: Path, inputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = experiment(tmp_path, inputs, "[scenarios.b]\n", seeds="[1]")
    results, folder = tmp_path / "results", tmp_path / "results" / "tiny"
    old_hash = interrupt_a_commit(path, results, monkeypatch, change=(OUTPUTS, LEAN_OUTPUTS))
    lines: list[str] = []
    run_experiment(path, results, workers=1, echo=lines.append)
    assert "finishing the combined outputs an interrupted run committed" in " ".join(lines)
    assert hidden_leftovers(folder) == []
    assert_consistent(folder)
    assert json.loads((folder / "manifest.json").read_text())["config_hash"] != old_hash


def test_report_finishes_an_interrupted_commit_first(tmp_path: Path, inputs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = experiment(tmp_path, inputs, "[scenarios.b]\n", end_year=2020, seeds="[1]")
    results, folder = tmp_path / "results", tmp_path / "results" / "tiny"
    interrupt_a_commit(path, results, monkeypatch, change=("Does the runner work?", "Does the report repair?"))
    code, output = invoke("report", str(folder))
    assert code == 0, output
    assert "finishing the combined outputs an interrupted run committed" in output
    assert hidden_leftovers(folder) == [] and (folder / "report.md").is_file()
    assert_consistent(folder)
    assert json.loads((folder / "manifest.json").read_text())["question"] == "Does the report repair?"


class _OsWith:
    """The ``os`` module with another ``replace``."""

    def __init__(self, replace: object) -> None:
        self.replace = replace

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)


# ------------------------------------------------------------------------------- stale files


def test_rerun_with_fewer_outputs_leaves_no_stale_table(tmp_path: Path, inputs: Path) -> None:
    path = experiment(tmp_path, inputs, "[scenarios.b]\n", seeds="[1]")
    results, folder = tmp_path / "results", tmp_path / "results" / "tiny"
    quiet_run(path, results)
    assert (folder / "co2.csv").is_file() and (folder / "link_volumes.parquet").is_file()
    (folder / "my_notes.txt").write_text("mine")
    path.write_text(path.read_text().replace(OUTPUTS, LEAN_OUTPUTS))
    lines: list[str] = []
    run_experiment(path, results, workers=1, echo=lines.append)
    gone = [f"{t}.{ext}" for t in LEAN_LEAVES_OUT for ext in ("csv", "parquet")] + ["link_volumes.parquet", "network_links.parquet"]
    assert not [name for name in gone if (folder / name).exists()]
    removed = f"removed {len(gone)} file(s) of an earlier run that this run does not write: co2.csv"
    assert any(line.startswith(removed) for line in lines), lines
    assert (folder / "my_notes.txt").read_text() == "mine"
    parquet = json.loads((folder / "datapackage.json").read_text())["vmob"]["parquet"]
    assert parquet == {"summary": "summary.parquet", "scenarios": "scenarios.parquet", "run_keys": "run_keys.parquet",
                       "aggregates": "aggregates.parquet"}
    assert_consistent(folder)


def test_changed_scenario_set_needs_force_and_leaves_no_stale_rows(tmp_path: Path, inputs: Path) -> None:
    two = "[scenarios.baseline]\n" + SLOW_MOTORWAY
    path = experiment(tmp_path, inputs, two, end_year=2020, seeds="[1]", outputs=LEAN_OUTPUTS)
    results, folder = tmp_path / "results", tmp_path / "results" / "tiny"
    quiet_run(path, results)
    assert set(pd.read_csv(folder / "summary.csv")["scenario"]) == {"baseline", "slow"}
    before = (folder / "summary.csv").read_bytes()

    path.write_text(path.read_text().replace(SLOW_MOTORWAY, SLOW_MOTORWAY.replace("limit_kph = 90", "limit_kph = 80")))
    code, output = invoke("run", str(path), "--out", str(results), "--workers", "1")
    assert code == 1 and output.count("\n") == 1
    assert "with changed levers or parameters in slow" in output and "Add --force" in output

    path.write_text(path.read_text().replace(SLOW_MOTORWAY.replace("limit_kph = 90", "limit_kph = 80"), ""))
    code, output = invoke("run", str(path), "--out", str(results), "--workers", "1")
    assert code == 1 and output.count("\n") == 1
    assert output.startswith(
        f"error: {folder} holds results of experiment 'tiny' (from {path.resolve()}) and this config differs: without slow."
    )
    assert (folder / "summary.csv").read_bytes() == before  # nothing replaced

    code, output = invoke("run", str(path), "--out", str(results), "--workers", "1", "--force")
    assert code == 0, output
    assert set(pd.read_csv(folder / "summary.csv")["scenario"]) == {"baseline"}
    assert set(pd.read_csv(folder / "runs.csv")["scenario"]) == {"baseline"}


def test_more_seeds_are_not_a_changed_scenario_set(tmp_path: Path, inputs: Path) -> None:
    path = experiment(tmp_path, inputs, "[scenarios.b]\n", end_year=2020, seeds="[1]", outputs=LEAN_OUTPUTS)
    quiet_run(path, tmp_path / "results")
    path.write_text(path.read_text().replace("seeds = [1]", "seeds = [1, 2]"))
    assert pd.read_csv(quiet_run(path, tmp_path / "results") / "summary.csv")["seed"].nunique() == 2


# --------------------------------------------------------------------------------- git state


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_git_state_ignores_a_new_experiment_file_but_not_changed_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    (repo / "model").mkdir(parents=True)
    (repo / "experiments").mkdir()
    (repo / "model" / "choice.py").write_text("x = 1\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "code")
    monkeypatch.setattr(experiments, "PROJECT_ROOT", repo)
    (repo / "experiments" / "my_plan.toml").write_text('name = "mine"\n')
    assert git_state()["dirty"] is False and git_state()["untracked"] == []
    (repo / "model" / "bikes.py").write_text("y = 2\n")
    assert git_state()["dirty"] is False and git_state()["untracked"] == ["model/bikes.py"]
    (repo / "model" / "choice.py").write_text("x = 2\n")
    assert git_state()["dirty"] is True
