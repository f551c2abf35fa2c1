"""Small experiments on the tiny network for the runner's tests, and the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TINY_PARAMETERS = '[parameters]\n"population.gravity.target_mean_km" = 2.0\n'
#: Every output but the report (tested with model.report).
OUTPUTS = "[outputs]\nreport = false\n"
#: Only what resuming needs, to keep the tests short.
LEAN_OUTPUTS = '[outputs]\ntables = ["summary"]\nlink_volumes = false\nreport = false\n'
#: A scenario with a lever on the tiny network.
SLOW_MOTORWAY = (
    '[scenarios.slow]\nlevers = [{kind = "speed_limit", id = "motorway", start = 2020-01-01, '
    'roads = ["Køge Bugt Motorvejen"], limit_kph = 90}]\n'
)


def experiment(
    folder: Path, inputs: Path, body: str, end_year: int = 2021, seeds: str = "[1, 2]", outputs: str = OUTPUTS,
    name: str = "tiny",
) -> Path:
    """Write an experiment file on the tiny network (``inputs`` from ``osm_fixtures.write_tiny_inputs``)."""
    text = (
        f'name = "{name}"\nquestion = "Does the runner work?"\nend_year = {end_year}\nsample_fraction = 0.02\n'
        f"seeds = {seeds}\n{TINY_PARAMETERS}{body}\n{outputs}\n"
        f'[inputs]\nnetwork = "{inputs / "tiny.osm"}"\nboundary = "{inputs / "tiny.boundary.geojson"}"\n'
        f'zones = "{inputs / "zones.toml"}"\ntransit = "{inputs / "transit.toml"}"\ncounts = "{inputs / "traffic_counts.toml"}"\n'
    )
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def vmob(*args: str, **popen: object) -> subprocess.Popen:
    """Start ``vmob <args>`` from this checkout in a subprocess (stdout and stderr piped unless given)."""
    command = [sys.executable, "-c", "from model.cli import app; app()", *args]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return subprocess.Popen(command, env=env, **options)  # type: ignore[call-overload]


def wait_for(condition: Callable[[], object], timeout_s: float = 60.0, what: str = "condition") -> object:
    """Poll ``condition`` every 10 ms until it is truthy; return its value or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def pool_workers(pid: int) -> list[psutil.Process]:
    """The process-pool workers (spawned Python processes) of process ``pid``."""
    try:
        children = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    workers = []
    for child in children:
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.Error:
            continue
    return workers
