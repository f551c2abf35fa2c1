"""What the dashboard shows, without Solara: runs, results folders, changes, noise, figures, messages.

A :class:`View` holds the long tables of the scenarios on screen exactly as a results folder
does (``scenario`` holds the label, the reference is labelled :data:`REFERENCE`), so the
figures come from :mod:`model.plots` and the headline table from :mod:`model.report`, the same
functions the experiment report uses. Runs are sampled :class:`~model.simulation.MobilityModel`
runs over one or more seeds; the reference run (no levers) is cached per sample, seeds and end
year for the server's lifetime.

Nothing here shows a traceback or a server path to the page: :func:`public_message` turns an
exception into one line (logging the details server-side), and :func:`resolve_results_folder`
confines a chosen results folder to the results root.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd

from model import plots, report
from model.effects import t_interval
from model.errors import VmobError
from model.settings import BASE_YEAR, PROJECT_ROOT

if TYPE_CHECKING:
    from model.levers import Lever
    from model.simulation import ModelContext

logger = logging.getLogger("model.app")

#: Label of the reference run (no levers): the reference of the report's figures.
REFERENCE = plots.REFERENCE_SCENARIO
#: Bounds of the run controls: (min, max, step, default).
SAMPLE = (0.02, 1.0, 0.02, 0.2)
SEEDS = (1, 5, 1, 2)
END_YEAR = (2025, 2050, 1, 2050)
#: Largest first seed (the model's generator takes a 31-bit seed).
MAX_SEED = 2**31 - 1
#: z-value of a two-sided 95 % interval, for the sampling error of a share.
Z95 = 1.96
#: Car-volume maps at most on the page (one per scenario against the reference).
MAX_MAPS = 3


# ----------------------------------------------------------------------------- messages


def public_message(err: BaseException, what: str = "The run") -> str:
    """One line for the page: the reason of a :class:`VmobError`, or a short note for anything else.

    A :class:`VmobError` is the user's to fix and is shown (first line only, server paths made
    relative); any other exception is an internal failure: its traceback goes to the server log
    and the page says only its kind.
    """
    if isinstance(err, VmobError):
        return f"{what} was refused: {strip_paths(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__)}"
    logger.error("%s failed", what, exc_info=err)
    return f"{what} failed ({type(err).__name__}); the details are in the server log."


_PATH = re.compile(r"(?<![\w.])(/[^\s'\"():,;]+)")


def strip_paths(text: str, roots: tuple[Path, ...] | None = None) -> str:
    """``text`` with absolute paths written relative to the results root or the project, else by their name."""
    bases = roots if roots is not None else (results_root(), PROJECT_ROOT)
    resolved = [str(b.resolve()) for b in bases] + [str(b) for b in bases]

    def relative(match: re.Match[str]) -> str:
        path = match.group(1)
        for base in sorted(resolved, key=len, reverse=True):
            if path == base:
                return "."
            if path.startswith(base.rstrip("/") + "/"):
                return path[len(base.rstrip("/")) + 1:]
        return Path(path).name or path

    return _PATH.sub(relative, text)


# ----------------------------------------------------------------------------- the inputs


_context_lock = threading.Lock()
_context: ModelContext | None = None


def context() -> ModelContext:
    """The embedded Vallensbæk inputs, read once for the server's lifetime."""
    global _context
    with _context_lock:
        if _context is None:
            from model.simulation import ModelContext

            _context = ModelContext.load()
        return _context


_links_lock = threading.Lock()
_links: Any = None


def run_links() -> Any:
    """The embedded network's links (geometry for the maps), built once."""
    global _links
    with _links_lock:
        if _links is None:
            _links = context().links_frame()
        return _links


# ----------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunSettings:
    """The run controls: population sample, number of seeds and the first one, end year."""

    sample_fraction: float = SAMPLE[3]
    seeds: int = SEEDS[3]
    first_seed: int = 1
    end_year: int = END_YEAR[3]

    def seed_list(self) -> list[int]:
        """The seeds run: ``first_seed`` and the next ``seeds - 1``."""
        return list(range(self.first_seed, self.first_seed + self.seeds))

    def check(self) -> None:
        """Refuse values outside the controls' bounds (a crafted request could send them)."""
        for name, value, bounds in (
            ("Population sample", self.sample_fraction, SAMPLE), ("Seeds", self.seeds, SEEDS), ("End year", self.end_year, END_YEAR),
        ):
            if not bounds[0] <= value <= bounds[1]:
                raise VmobError(f"{name} must be between {bounds[0]:g} and {bounds[1]:g}, not {value:g}")
        if not 0 <= self.first_seed <= MAX_SEED - self.seeds:
            raise VmobError(f"First seed must be a whole number from 0 to {MAX_SEED - self.seeds}, not {self.first_seed}")

    def describe(self) -> str:
        """E.g. ``"20% sample, seeds 1–2, 2019–2050"``."""
        seeds = self.seed_list()
        seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}–{seeds[-1]}"
        return f"{self.sample_fraction:.0%} sample, {seed_text}, {BASE_YEAR}–{self.end_year}"


@dataclass
class Run:
    """One scenario run over the seeds: its long tables and link volumes (``scenario`` = label)."""

    label: str
    tables: dict[str, pd.DataFrame]
    link_volumes: pd.DataFrame
    residents: int
    seconds: float

    def relabelled(self, label: str) -> Run:
        """The same run under another label."""
        return Run(label, {k: t.assign(scenario=label) for k, t in self.tables.items()},
                   self.link_volumes.assign(scenario=label), self.residents, self.seconds)


_reference_lock = threading.Lock()
_reference_cache: dict[RunSettings, Run] = {}


def check_run_levers(levers: list[Lever], settings: RunSettings) -> None:
    """The checks of an experiment's levers against the inputs and the run's years (one line, naming the lever)."""
    from model.levers import check_levers

    settings.check()
    check_levers(levers, context(), BASE_YEAR, settings.end_year, "levers")


def simulate(levers: list[Lever], label: str, settings: RunSettings, tick: Callable[[], None] = lambda: None) -> Run:
    """Run one scenario over every seed of ``settings``; ``tick`` is called after each simulated year."""
    from model.simulation import MobilityModel

    started = time.perf_counter()
    tables: dict[str, list[pd.DataFrame]] = {}
    volumes, residents = [], 0
    for seed in settings.seed_list():
        model = MobilityModel(
            context(), levers=levers, start_year=BASE_YEAR, end_year=settings.end_year,
            sample_fraction=settings.sample_fraction, rng=seed,
            labels={"experiment": "dashboard", "scenario": label, "seed": seed},
        )
        for _ in range(model.year, model.end_year + 1):
            model.step()
            tick()
        for name, table in model.results().items():
            tables.setdefault(name, []).append(table)
        volumes.append(model.link_volumes())
        residents = int(np.count_nonzero(model.population.resident))
    return Run(label, {k: pd.concat(v, ignore_index=True) for k, v in tables.items()}, pd.concat(volumes, ignore_index=True),
               residents, time.perf_counter() - started)


def run_scenario(levers: list[Lever], label: str, settings: RunSettings,
                 progress: Callable[[float], None] = lambda _: None) -> tuple[Run, Run]:
    """Run the reference (cached) and the scenario with the same sample and seeds: ``(reference, scenario)``.

    Raises
    ------
    VmobError
        Settings out of bounds, a lever that does not fit the inputs or the years, or a label
        equal to the reference's.
    """
    if label.strip() == REFERENCE:
        raise VmobError(f"Scenario name: '{REFERENCE}' is the reference run's; choose another name")
    check_run_levers(levers, settings)
    with _reference_lock:
        reference = _reference_cache.get(settings)
    years = settings.end_year - BASE_YEAR + 1
    total = years * settings.seeds * (1 if reference else 2)
    done = [0]

    def tick() -> None:
        done[0] += 1
        progress(100.0 * done[0] / total)

    if reference is None:
        reference = simulate([], REFERENCE, settings, tick)
        with _reference_lock:
            _reference_cache[settings] = reference
    return reference, simulate(levers, label.strip(), settings, tick)


# ----------------------------------------------------------------------------- what the page shows


@dataclass
class View:
    """The scenarios on screen: long tables as in a results folder, the reference first.

    ``roles`` maps each label to ``baseline``, ``pinned``, ``current`` (runs on the page) or a
    slug of the label (a results folder); the page's element ids use the roles.
    """

    source: str
    tables: dict[str, pd.DataFrame]
    labels: list[str]
    roles: dict[str, str]
    link_volumes: pd.DataFrame | None = None
    links: Any = None
    boundary: Any = None
    residents: int | None = None
    sample_fraction: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def reference(self) -> str:
        """The reference scenario's label (the first)."""
        return self.labels[0]

    @property
    def summary(self) -> pd.DataFrame:
        """The ``summary`` table of every scenario."""
        return self.tables["summary"]


def view_of_runs(reference: Run, others: list[tuple[str, Run]], settings: RunSettings) -> View:
    """The page's own runs as a :class:`View`; ``others`` are ``(role, run)`` with distinct labels."""
    runs = [reference] + [run for _, run in others]
    names = set().union(*(run.tables for run in runs))
    tables = {name: pd.concat([run.tables[name] for run in runs if name in run.tables], ignore_index=True) for name in names}
    ctx = context()
    return View(
        source=f"Dashboard runs: {reference.residents:,} resident agents per seed ({settings.describe()})",
        tables=tables, labels=[run.label for run in runs],
        roles={reference.label: "baseline", **{run.label: role for role, run in others}},
        link_volumes=pd.concat([run.link_volumes for run in runs], ignore_index=True),
        links=run_links(), boundary=ctx.network.boundary, residents=reference.residents,
        sample_fraction=settings.sample_fraction,
    )


def results_root() -> Path:
    """The results root the page may open (``vmob dashboard --results``; default ``results/``)."""
    import os

    from model.app import RESULTS_ENV
    from model.settings import RESULTS_DIR

    return Path(os.environ.get(RESULTS_ENV) or RESULTS_DIR)


def results_folders(root: Path) -> list[str]:
    """Experiment folders under ``root`` (one or two levels, with a ``datapackage.json``), newest first.

    Names are relative to ``root`` (``/``-separated); a folder whose real path leaves ``root``
    (a symbolic link out of it) is not listed, nor a hidden one (a run's ``.staging`` or
    ``.committing`` folder while it writes, the ``.runs`` cache).
    """
    if not root.is_dir():
        return []
    real_root = root.resolve()
    found = {p.parent for p in [*root.glob("*/datapackage.json"), *root.glob("*/*/datapackage.json")]}
    visible = [p for p in found if not any(part.startswith(".") for part in p.relative_to(root).parts)]
    inside = [p for p in visible if p.resolve().is_relative_to(real_root)]
    return [p.relative_to(root).as_posix() for p in sorted(inside, key=lambda p: p.stat().st_mtime, reverse=True)]


def resolve_results_folder(root: Path, name: str) -> Path:
    """The folder ``name`` under ``root``, checked on the server whatever the page sent.

    Raises
    ------
    VmobError
        ``name`` is empty, absolute, has a ``..`` part, leaves ``root`` through a symbolic link,
        or is not an experiment folder (no ``datapackage.json``). The message names the folder
        as the page gave it, never a server path.
    """
    text = str(name or "").strip()
    parts = Path(text).parts
    if Path(text).is_absolute():
        raise VmobError("Results folder: a full path is not allowed; give a folder inside the results folder, by its name")
    if not text or ".." in parts or "\\" in text:
        raise VmobError(f"Results folder '{text}': give a folder inside the results folder, by its name")
    path = root / text
    if not path.resolve().is_relative_to(root.resolve()):
        raise VmobError(f"Results folder '{text}' is outside the results folder")
    if not (path / "datapackage.json").is_file():
        raise VmobError(f"Results folder '{text}' is not an experiment folder (no datapackage.json)")
    return path


def open_results_folder(root: Path, name: str) -> View:
    """Read an experiment folder written by ``vmob run`` (validated by :func:`resolve_results_folder`)."""
    path = resolve_results_folder(root, name)
    results = report.load_results(path)
    labels = results.labels
    sample = results.config.get("sample_fraction") if isinstance(results.config, dict) else None
    return View(
        source=f"Results folder {name}", tables=results.tables, labels=labels,
        roles={label: plots.slug(label) for label in labels},
        link_volumes=results.link_volumes, links=results.links, boundary=results.boundary,
        sample_fraction=float(sample) if isinstance(sample, (int, float)) else None,
        notes=[strip_paths(note, (root, PROJECT_ROOT)) for note in results.notes],
    )


# ----------------------------------------------------------------------------- change vs baseline


#: The change-vs-baseline metrics: id, words, summary column, scale, unit.
CHANGE_METRICS = (
    ("car", "Car share of resident commuters", "share_car", 100.0, "points"),
    ("lightrail", "Light-rail share", "share_light_rail", 100.0, "points"),
    ("co2", "Territorial transport CO2", "co2_territorial_t", 1.0, "t/year"),
    ("co2pct", "Territorial transport CO2", "co2_territorial_t", None, "%"),
    ("resident", "Residents' transport CO2", "co2_resident_t", 1.0, "t/year"),
)


def change_vs_baseline(view: View) -> pd.DataFrame:
    """Each scenario minus the reference in the headline years, paired seed by seed.

    Returns one row per scenario label, metric (see :data:`CHANGE_METRICS`) and year with the
    mean change across seeds and its smallest and largest value (``mean, low, high, seeds``),
    the 95 % interval of the mean paired change (``ci_low, ci_high``, Student t over the seeds,
    as :mod:`model.effects`; NaN with one seed) and ``distinguishable``: ``yes`` or ``no``
    (whether the interval excludes zero), ``one seed`` when there is no interval.
    A relative (``%``) change is the scenario's value over the reference's, minus one.
    """
    summary, ref = view.summary, view.reference
    years = report.headline_years(summary)
    base = summary[summary["scenario"] == ref].set_index(["seed", "year"])
    rows = []
    for label in view.labels[1:]:
        own = summary[summary["scenario"] == label].set_index(["seed", "year"])
        paired = own.index.intersection(base.index)
        if paired.empty:  # no common seed: the means are compared
            own, base_part = own.groupby(level="year").mean(numeric_only=True), base.groupby(level="year").mean(numeric_only=True)
            own = own.assign(seed=0).set_index("seed", append=True).reorder_levels(["seed", "year"])
            base_part = base_part.assign(seed=0).set_index("seed", append=True).reorder_levels(["seed", "year"])
            paired = own.index.intersection(base_part.index)
        else:
            base_part = base
        for key, title, column, scale, unit in CHANGE_METRICS:
            a, b = own.loc[paired, column], base_part.loc[paired, column]
            diff = (a / b.where(b != 0) - 1.0) * 100.0 if scale is None else (a - b) * scale
            for year in years:
                values = diff[diff.index.get_level_values("year") == year].dropna()
                if values.empty:
                    continue
                rows.append({"scenario": label, "metric": key, "title": title, "unit": unit, "year": int(year),
                             "mean": float(values.mean()), "low": float(values.min()), "high": float(values.max()),
                             "seeds": int(len(values)), **_interval(values.to_numpy(float))})
    return pd.DataFrame(rows, columns=["scenario", "metric", "title", "unit", "year", "mean", "low", "high", "seeds",
                                       "ci_low", "ci_high", "distinguishable"])


def _interval(diffs: np.ndarray) -> dict[str, Any]:
    """95 % interval of the mean of paired differences and whether it excludes zero (model.effects' rule)."""
    n = len(diffs)
    if n < 2:
        return {"ci_low": np.nan, "ci_high": np.nan, "distinguishable": "one seed"}
    mean = float(diffs.mean())
    low, high = t_interval(mean, float(diffs.std(ddof=1) / np.sqrt(n)), n - 1, 0.95)
    return {"ci_low": low, "ci_high": high, "distinguishable": "yes" if low > 0 or high < 0 else "no"}


# ----------------------------------------------------------------------------- noise


def noise_notes(view: View) -> list[str]:
    """How much chance alone moves the numbers on screen, measured on the runs shown.

    - the spread of the residents' car share across the seeds shown (largest max − min over
      scenarios and headline years), or a word that one seed cannot show it;
    - the binomial sampling error of that share for the number of resident agents in the sample
      (±1.96 √(p(1−p)/n)), which the full population does not have;
    - per scenario, which of its changes in the last headline year are not distinguishable from
      zero for this sample and these seeds: the 95 % interval of the mean paired change contains
      zero (the report's rule, :mod:`model.effects`), or, with one seed, the car-share change is
      smaller than the sampling error.
    """
    summary = view.summary
    years = report.headline_years(summary)
    seeds = int(summary["seed"].nunique())
    notes = []
    spread = None
    if seeds > 1:
        by = summary[summary["year"].isin(years)].groupby(["scenario", "year"])["share_car"]
        ranges = (by.max() - by.min()) * 100.0
        (label, year), spread = ranges.idxmax(), float(ranges.max())
        notes.append(f"The {seeds} seeds shown differ by up to {spread:.1f} points in the residents' car share "
                     f"('{label}', {year}).")
    else:
        notes.append("One seed: run two or more seeds to see how far chance alone moves these numbers.")
    error = None
    if view.residents:
        first = summary[(summary["scenario"] == view.reference) & (summary["year"] == summary["year"].min())]
        p = float(first["share_car"].mean())
        error = Z95 * math.sqrt(p * (1.0 - p) / view.residents) * 100.0
        sample = f"this {view.sample_fraction:.0%} sample" if view.sample_fraction else "this sample"
        notes.append(f"The {view.residents:,} resident agents of {sample} give a car share near {100 * p:.0f} % a "
                     f"sampling error of about ±{error:.1f} points (95 %), against the full population.")
    changes = change_vs_baseline(view)
    if years and not changes.empty:
        notes.extend(_verdict_notes(changes, years[-1], seeds, error, view.sample_fraction))
    notes.append("Compare scenarios with the same sample and seeds (the page does); for numbers to report, use "
                 "vmob run with the full population and more seeds.")
    return notes


def _verdict_notes(changes: pd.DataFrame, year: int, seeds: int, error: float | None,
                   sample_fraction: float | None) -> list[str]:
    """Per scenario, the changes in ``year`` that are not distinguishable from zero, or a word that all are."""
    sample = f"this {sample_fraction:.0%} sample" if sample_fraction else "this sample"
    part = changes[(changes["year"] == year) & (changes["metric"] != "co2pct")]
    notes = []
    for label, rows in part.groupby("scenario", sort=False):
        if seeds > 1:
            unclear = [f"{row.title.lower()} ({row.mean:+,.1f} {row.unit})" for row in rows.itertuples()
                       if row.distinguishable == "no"]
            if unclear:
                notes.append(f"'{label}', {year}: the change in {', '.join(unclear)} is not distinguishable from zero "
                             f"with {sample} and {seeds} seeds (its 95 % interval contains 0).")
            else:
                notes.append(f"'{label}', {year}: every change shown is distinguishable from zero with {sample} "
                             f"and {seeds} seeds (95 % intervals).")
            continue
        car = rows[rows["metric"] == "car"]
        if not car.empty and error is not None and abs(float(car["mean"].iloc[0])) < error:
            notes.append(f"'{label}', {year}: the change in the car share is within this noise: not distinguishable "
                         "from zero.")
    return notes


# ----------------------------------------------------------------------------- figures and downloads


@dataclass(frozen=True)
class PageFigure:
    """A figure drawn by :mod:`model.plots`, as PNG bytes."""

    key: str
    title: str
    png: bytes


def draw_figures(view: View) -> list[PageFigure]:
    """The report's figures for the scenarios on screen: CO2 saved vs the reference, CO2, mode split, maps."""
    summary, order, ref = view.summary, view.labels, view.reference
    drawn: list[tuple[str, str, Callable[[Path], Path | None]]] = [
        ("co2_saved", f"Change vs baseline: territorial CO2 saved against '{ref}'",
         lambda out: plots.co2_saved_chart(summary, out, order=order, reference=ref, source=view.source)),
        ("co2", "Transport CO2", lambda out: plots.co2_chart(summary, out, order=order, reference=ref, source=view.source)),
    ]
    if "mode_split" in view.tables:
        drawn.append(("mode_split", "Mode split of resident commuters",
                      lambda out: plots.mode_split_chart(view.tables["mode_split"], out, order=order, source=view.source)))
    if view.link_volumes is not None and view.links is not None:
        years = np.sort(view.link_volumes["year"].unique())
        year = int(years[np.argmin(np.abs(years - report.MAP_YEAR))])
        present = set(view.link_volumes["scenario"])
        for label in [label for label in order[1:] if label in present][:MAX_MAPS]:
            draw_map = functools.partial(
                plots.car_volume_change_map, view.link_volumes, view.links, scenario=label, year=year, reference=ref,
                boundary=view.boundary, source=view.source)
            drawn.append((f"map_{plots.slug(label)}", f"Car traffic {year}: '{label}' against '{ref}'", draw_map))
    figures = []
    with tempfile.TemporaryDirectory(prefix="vmob-dashboard-") as tmp:
        for key, title, draw in drawn:
            path = draw(Path(tmp))
            if path is not None:
                figures.append(PageFigure(key, title, path.read_bytes()))
    return figures


def summary_csv(view: View) -> str:
    """The yearly summary of every scenario on screen."""
    return view.summary.to_csv(index=False)


def tables_xlsx(view: View) -> bytes:
    """The workbook ``vmob run`` writes (``summary.xlsx``), for the scenarios on screen."""
    from model.outputs import TABLES, write_tables

    with tempfile.TemporaryDirectory(prefix="vmob-dashboard-") as tmp:
        write_tables({k: t for k, t in view.tables.items() if k in TABLES}, tmp, experiment_name="dashboard")
        return (Path(tmp) / "summary.xlsx").read_bytes()


# ----------------------------------------------------------------------------- the results pane


@dataclass
class Screen:
    """Everything the results pane shows for a :class:`View`, computed off the page's thread."""

    view: View
    headline: pd.DataFrame
    changes: pd.DataFrame
    notes: list[str]
    figures: list[PageFigure]


def screen_of(view: View) -> Screen:
    """The headline table (:func:`model.report.headline_table`), changes, noise notes and figures of a view."""
    return Screen(view, report.headline_table(view.summary, view.labels), change_vs_baseline(view), noise_notes(view),
                  draw_figures(view))


_TABLE_STYLE = (
    "<style>.vmob-table{border-collapse:collapse;font-size:13px;margin-bottom:8px}"
    ".vmob-table th,.vmob-table td{border:1px solid #ddd;padding:3px 8px;text-align:right}"
    ".vmob-table th{background:#f3f5f8;text-align:center}.vmob-table td:first-child{text-align:left}</style>"
)


def headline_html(screen: Screen) -> str:
    """The report's headline table as HTML (every cell escaped)."""
    return _TABLE_STYLE + screen.headline.to_html(index=False, escape=True, classes="vmob-table", table_id="headline", border=0)


def change_html(screen: Screen) -> str:
    """The change-vs-baseline table as HTML.

    Each number cell has ``id="chg-<role>-<metric>-<year>"`` and the mean change in
    ``data-value`` (the tests read them); with several seeds the seeds' range follows in brackets.
    """
    import html

    changes, view = screen.changes, screen.view
    if changes.empty:
        return "<p>No scenario to compare with the reference yet.</p>"
    years = sorted(changes["year"].unique())
    metrics = list(dict.fromkeys(zip(changes["metric"], changes["title"], changes["unit"], strict=True)))
    head = "".join(f"<th colspan='{len(years)}'>{html.escape(title)} ({html.escape(unit)})</th>" for _, title, unit in metrics)
    sub = "".join(f"<th>{y}</th>" for _ in metrics for y in years)
    cells = changes.set_index(["scenario", "metric", "year"])
    body = []
    for label in view.labels[1:]:
        role = html.escape(plots.slug(view.roles.get(label, label)))
        row = [f"<td><b>{html.escape(label)}</b></td>"]
        for key, _title, unit in metrics:
            for year in years:
                if (label, key, year) not in cells.index:
                    row.append("<td>–</td>")
                    continue
                cell = cells.loc[(label, key, year)]
                fmt = "{:+,.0f}" if unit == "t/year" else "{:+.1f}"
                text = fmt.format(cell["mean"])
                if cell["seeds"] > 1:
                    text += f" <small>[{fmt.format(cell['ci_low'])} to {fmt.format(cell['ci_high'])}]</small>"
                marker = ""
                if cell["distinguishable"] == "no":
                    text += " †"
                    marker = " class='vmob-not-distinguishable'"
                row.append(f"<td id='chg-{role}-{key}-{year}' data-value='{cell['mean']:.6g}'{marker}>{text}</td>")
        body.append(f"<tr>{''.join(row)}</tr>")
    seeds = int(changes["seeds"].max())
    foot = (f"<p><small>Mean paired change over {seeds} seeds with its 95 % interval in brackets; † not "
            "distinguishable from zero with this sample and these seeds (the interval contains 0).</small></p>"
            if seeds > 1 else "<p><small>One seed: no interval; run two or more seeds to see which changes are "
            "distinguishable from zero.</small></p>")
    return (f"{_TABLE_STYLE}<table class='vmob-table' id='changes'><thead><tr><th rowspan='2'>Scenario − "
            f"{html.escape(view.reference)}</th>{head}</tr><tr>{sub}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            + foot)
