"""The ``vmob`` command line.

Each command group is a typer sub-app and each command a small function that
parses options, calls the model and prints. Every command registered on a
:class:`VmobTyper` is wrapped by :func:`user_errors`, so a
:class:`model.errors.VmobError` prints ``error: <message>`` on stderr and exits
with status 1, never a traceback. Commands import the model lazily so that
``vmob --help`` answers at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from model.errors import VmobError
from model.settings import RESULTS_DIR

if TYPE_CHECKING:
    from model.network import Network
    from model.transit import Transit

F = TypeVar("F", bound=Callable[..., Any])

#: Exit status of a command stopped with Ctrl-C (the shell convention, 128 + SIGINT).
EXIT_INTERRUPTED = 130


def user_errors(function: F) -> F:
    """Turn a :class:`VmobError` into one ``error:`` line and exit status 1.

    Ctrl-C prints one line and exits with status 130.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except VmobError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


class VmobTyper(typer.Typer):
    """A typer app whose commands all report user errors through :func:`user_errors`."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        """Register a command like :meth:`typer.Typer.command`, wrapped in :func:`user_errors`."""
        register = super().command(*args, **kwargs)
        return lambda function: register(user_errors(function))


app = VmobTyper(
    name="vmob",
    help="Vallensbæk mobility model: commuters, mode choice, levers and transport CO2.",
    no_args_is_help=True,
    add_completion=False,
)
network_app = VmobTyper(help="Inspect, download and draw the road, cycle and rail network.", no_args_is_help=True)
app.add_typer(network_app, name="network")

SOURCE_HELP = "'default' (the embedded Vallensbæk network) or a .osm, .osm.xml, .osm.pbf or .graphml file."
BOUNDARY_HELP = "Municipal boundary GeoJSON (WGS84); default: <name>.boundary.geojson beside the source, else the embedded one."
TRANSIT_HELP = "Rail lines and stations (TOML); default: the embedded transit.toml."


@network_app.command("show")
def network_show(
    source: str = typer.Option("default", help=SOURCE_HELP),
    boundary: Path | None = typer.Option(None, help=BOUNDARY_HELP),
    transit: Path | None = typer.Option(None, help=TRANSIT_HELP),
) -> None:
    """Print the network's size, road km by class, named roads, stations and lines."""
    from model.network import network_summary

    network, lines = load_network_and_transit(source, boundary, transit)
    summary = network_summary(network, lines)
    typer.echo("\n".join(format_summary(summary)))


@network_app.command("fetch")
def network_fetch(
    place: str = typer.Option("Vallensbæk Kommune", help="Place whose administrative boundary is used."),
    buffer_km: float = typer.Option(5.0, min=0.0, help="Buffer around the boundary, km."),
    cache_dir: Path | None = typer.Option(None, help="Cache folder; default: networks/cache/."),
) -> None:
    """Download the OSM network around a municipality (needs internet) and cache it as GraphML."""
    from model.network import fetch_network

    path = fetch_network(place, buffer_km, cache_dir)
    typer.echo(str(path))
    typer.echo(f"use it with: vmob network show --source {path}", err=True)


@network_app.command("map")
def network_map(
    source: str = typer.Option("default", help=SOURCE_HELP),
    boundary: Path | None = typer.Option(None, help=BOUNDARY_HELP),
    transit: Path | None = typer.Option(None, help=TRANSIT_HELP),
    out: Path = typer.Option(RESULTS_DIR / "network_map.png", help="PNG file to write."),
) -> None:
    """Draw the boundary, roads by class, cycle routes, rail lines and stations to a PNG."""
    from model import plots

    network, lines = load_network_and_transit(source, boundary, transit)
    written = plots.network_map(network, lines, out)
    typer.echo(str(written))


def load_network_and_transit(source: str, boundary: Path | None, transit: Path | None) -> tuple[Network, Transit]:
    """Read the network and the rail lines, and check that every station reaches a walkable street."""
    from model.edges import edge_arrays, snap_stations
    from model.network import load_network
    from model.transit import load_transit

    network = load_network(source, boundary=boundary)
    lines = load_transit(transit)
    snap_stations(edge_arrays(network.graph), lines)
    return network, lines


def format_summary(summary: dict[str, Any]) -> list[str]:
    """Lines of text for :func:`model.network.network_summary`'s result."""
    total_km = sum(summary["km_by_highway"].values())
    lines = [
        f"network      {summary['source']}",
        f"nodes        {summary['nodes']}",
        f"edges        {summary['edges']} (directed)",
        f"road km      {total_km:.1f} ({summary['km_inside_boundary']:.1f} inside the boundary)",
    ]
    if "extract" in summary:
        lines += ["", "read from the extract"] + [f"  {line}" for line in summary["extract"]]
    lines += ["", "km by highway class"]
    lines += [f"  {highway:<18} {km:8.2f}" for highway, km in summary["km_by_highway"].items()]
    lines += ["", "named roads (lanes per way and per direction, speed limit; drivable parts only)"]
    width = max((len(name) for name in summary["named_roads"]), default=0)
    for name, road in summary["named_roads"].items():
        classes = ",".join(road["highway"])
        if road["lanes"]:
            lanes = f"lanes {_values(road['lanes'])} ({_values(road['lanes_per_direction'])} per direction)"
            detail = f"{lanes}, {_values(road['maxspeed_kph'])} km/h"
        else:
            detail = "not drivable"
        lines.append(f"  {name:<{width}}  {classes:<22} {detail}")
    if "stations" in summary:
        lines += ["", "stations (lines; distance to the nearest walkable node)"]
        width = max(len(name) for name in summary["stations"])
        for name, station in summary["stations"].items():
            served = ", ".join(station["lines"]) or "no line"
            lines.append(f"  {name:<{width}}  {served:<14} {station['walk_snap_m']:6.0f} m")
        lines += ["", "lines"]
        for line_id, line in summary["lines"].items():
            skipped = f" (passes without stopping: {', '.join(line['skip'])})" if line["skip"] else ""
            lines.append(f"  {line_id:<4} {line['name']} [{line['mode']}]: {' – '.join(line['stops'])}{skipped}")
            lines += [f"       from {service['start']}: {_service_text(service)}" for service in line["services"]]
    return lines


def _service_text(service: dict[str, Any]) -> str:
    if service["headway_peak_min"] <= 0 and service["headway_offpeak_min"] <= 0:
        return "no service"
    until = f", runs to {service['last_stop']}" if service["last_stop"] else ""
    return f"peak {_headway(service['headway_peak_min'])}, off-peak {_headway(service['headway_offpeak_min'])}{until}"


def _headway(minutes: float) -> str:
    return f"every {minutes:g} min" if minutes > 0 else "no service"


def _values(values: list[int]) -> str:
    return "/".join(str(value) for value in values)


@app.command("run")
def run(
    config: Path = typer.Argument(..., help="Experiment file (TOML), e.g. experiments/baseline.toml."),
    out: Path = typer.Option(RESULTS_DIR, help="Results root; the experiment writes to OUT/<name>/."),
    workers: int | None = typer.Option(None, min=1, help="Local worker processes; default: the number of CPUs."),
    scheduler: str | None = typer.Option(None, help="Dask scheduler address (tcp://host:port) to run on instead."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Keep finished runs (default) or recompute them all."),
    force: bool = typer.Option(False, "--force", help="Replace results of the same experiment name with other scenarios."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config and its runs; run nothing."),
) -> None:
    """Run an experiment: every scenario × sweep point × seed, then the combined tables and manifest."""
    from model import experiments

    if dry_run:
        typer.echo(experiments.dry_run(config, out))
        return
    folder = experiments.run_experiment(
        config, out, workers=workers, scheduler=scheduler, resume=resume, force=force, echo=typer.echo
    )
    typer.echo(f"results in {folder}")


@app.command("elasticities")
def elasticities(
    config: Path = typer.Argument(..., help="Experiment file (TOML) whose baseline scenario, seeds and parameters to perturb."),
    year: int = typer.Option(2030, help="Year of the elasticities; the runs stop there."),
    step: float = typer.Option(0.1, help="Relative change of each input, up and down (0.1 = ±10 %)."),
    workers: int | None = typer.Option(None, min=1, help="Local worker processes; default: the number of CPUs."),
    sample_fraction: float | None = typer.Option(None, help="Replaces the experiment's sample fraction."),
    out: Path = typer.Option(RESULTS_DIR, help="Results root; the table goes to OUT/<name>/elasticities.csv."),
) -> None:
    """Measure the model's arc elasticities by finite differences and compare them with the literature bands."""
    from model.elasticities import format_table, run_elasticities

    table, _ = run_elasticities(
        config, out, year=year, step=step, workers=workers, sample_fraction=sample_fraction, echo=typer.echo
    )
    typer.echo(format_table(table))


@app.command("calibrate")
def calibrate(
    config: Path = typer.Argument(..., help="Experiment file whose inputs, parameters, first seed and sample fraction to use."),
    targets: Path | None = typer.Option(None, help="Target shares (default experiments/calibration/targets_2019.toml)."),
    out: Path | None = typer.Option(None, help="Where to write the constants (default experiments/calibration/constants.toml)."),
    max_iterations: int = typer.Option(40, min=1, help="Upper bound on constant updates."),
) -> None:
    """Fit the modal constants so the 2019 baseline reproduces the target commute shares."""
    import datetime as dt

    from model import calibration
    from model.config import load_config
    from model.experiments import git_state, load_context
    from model.files import file_sha256, project_relative

    experiment = load_config(config)
    target_file = targets or calibration.DEFAULT_TARGETS
    goal = calibration.load_targets(target_file)
    context = load_context(experiment.inputs)
    seed = experiment.seed_list()[0]
    result = calibration.calibrate(
        context, goal, overrides=dict(experiment.parameters), seed=seed,
        sample_fraction=experiment.sample_fraction, max_iterations=max_iterations,
    )
    for iteration, shares in enumerate(result.history, start=1):
        typer.echo(f"iteration {iteration:2d}: " + ", ".join(f"{m} {100 * share:5.1f} %" for m, share in shares.items()))
    provenance = {
        "experiment": str(config),
        "targets": f"{project_relative(target_file)} (sha256 {file_sha256(target_file)[:12]})",
        "network": f"{project_relative(context.sources['network'])} (sha256 {context.sources['network_sha256'][:12]})",
        "seed": seed,
        "sample_fraction": experiment.sample_fraction,
        "commit": git_state()["commit"],
        "written": dt.date.today().isoformat(),
    }
    path = calibration.write_constants(result, provenance, out)
    typer.echo(
        f"converged in {result.iterations} iterations (largest error {100 * result.max_error:.2f} share points); "
        f"constants written to {path}"
    )


@app.command("sensitivity")
def sensitivity(
    config: Path = typer.Argument(..., help="Sensitivity file (TOML), e.g. experiments/sensitivity/morris.toml."),
    out: Path = typer.Option(RESULTS_DIR, help="Results root; the screen writes to OUT/<name>/."),
    workers: int = typer.Option(1, min=1, help="Local worker processes."),
    sobol: bool = typer.Option(False, "--sobol", help="After the Morris screen, Sobol indices of the top parameters."),
    top: int | None = typer.Option(None, min=1, help="How many parameters Sobol takes (default: the file's sobol.top, 5)."),
) -> None:
    """Morris screen of the assumptions' influence on the headline figures (and Sobol indices with --sobol)."""
    import pandas as pd

    from model.sensitivity import ranking_text, run_sensitivity

    out_dir = run_sensitivity(config, out, workers=workers, sobol=sobol, top=top, echo=typer.echo)
    typer.echo(ranking_text(pd.read_csv(out_dir / "morris.csv")))
    typer.echo(f"written: {out_dir}/morris.csv, morris_points.csv, tornado.png" + (", sobol.csv, sobol_points.csv" if sobol else ""))


@app.command("report")
def report(
    results_dir: Path = typer.Argument(..., help="A results folder written by 'vmob run', e.g. results/climate_plan/."),
) -> None:
    """Rebuild the figures and report.md / report.html of an experiment from its tables."""
    from model.experiments import writing_folder
    from model.report import build_report

    if not results_dir.is_dir():
        raise VmobError(f"results folder not found: {results_dir}")
    with writing_folder(results_dir, lambda line: typer.echo(line, err=True)):
        written = build_report(results_dir)
    typer.echo(str(written))
    typer.echo(str(written.with_suffix(".html")))


@app.command("dashboard")
def dashboard(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 to serve other machines)."),
    port: int = typer.Option(8765, min=1, max=65535, help="Port to listen on."),
    results: Path = typer.Option(RESULTS_DIR, help="Results root whose experiment folders the page can open."),
) -> None:
    """Serve the interactive dashboard (model/app/, Solara) in the browser and print its URL.

    Ctrl-C or SIGTERM (to vmob or to the server) stops the server and exits quietly (status 0).
    """
    import importlib.util
    import os
    import signal
    import socket
    import subprocess
    import sys

    from model.app import RESULTS_ENV
    from model.settings import PROJECT_ROOT

    if importlib.util.find_spec("solara") is None:
        raise VmobError("the dashboard needs solara: pip install -e '.[dashboard]'")
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise VmobError(f"cannot listen on {host}:{port} ({err.strerror}); choose another with --port") from None
    env = {**os.environ, RESULTS_ENV: str(results.resolve())}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "solara", "run", "model.app.dashboard", "--host", host, "--port", str(port), "--production",
               "--no-open", "--no-check-version"]
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    typer.echo(f"dashboard: http://{shown}:{port}/  (results from {results}; Ctrl-C stops it)")
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        process.terminate()

    signal.signal(signal.SIGTERM, stop)  # stopping vmob stops the server
    try:
        code = process.wait()
    except KeyboardInterrupt:  # Ctrl-C reaches the server too (same process group)
        stopping = True
        code = 0
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    if stopping or code in (0, -signal.SIGINT, -signal.SIGTERM):  # stopped, not failed
        typer.echo("dashboard stopped")
        return
    raise VmobError(f"the dashboard server stopped with exit status {code}")
