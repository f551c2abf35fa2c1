"""The planners' dashboard: set the levers, run a sampled model, compare scenarios (Solara).

Start it with ``vmob dashboard`` (or ``solara run model/app.py``). The page has

- lever controls (motorway and municipal speed limits, lane reductions on Søndre
  Ringvej and Vejlegårdsvej, the Letbane's opening date and headway, line E at
  Vallensbæk St., public chargers, better cycle routes), the population sample and
  seed, and a *Run* button with a progress bar;
- results: residents' commuting mode split by year, transport CO2 by year against
  2019 (the plan's targets as text: the 1990 baseline is not in the facts), the map of
  the change in commuters' cars vs the reference run, and a table of headline numbers;
- *Pin* keeps the current scenario on the page to compare with the next run;
- *Open results folder* shows an experiment written by ``vmob run`` without re-running;
- downloads of the tables (CSV, XLSX) and of every figure (PNG) on the page.

Everything that is not a widget is a plain function (levers from settings, runs,
headline numbers, figures, folder reading) so that it can be used and tested without
a browser. Bad input is refused on the page: sliders cannot leave their bounds, a
malformed date or seed gets a message at the field, and any failing run shows its
error in a banner.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from model.errors import VmobError
from model.settings import BASE_YEAR, RESULTS_DIR

if TYPE_CHECKING:
    import geopandas as gpd

    from model.simulation import ModelContext

#: Environment variable naming the results root that *Open results folder* lists (``vmob dashboard --results``).
RESULTS_ENV = "VMOB_DASHBOARD_RESULTS"
#: Years of the headline table (the end year is added when a run stops earlier).
HEADLINE_YEARS = (2019, 2030, 2050)
#: The plan's 2030 target, stated on the page rather than drawn (docs/emissions.md §6).
TARGET_TEXT = (
    "Plan targets: −71 % greenhouse-gas emissions in 2030 relative to 1990 for all sectors, and climate "
    "neutral in 2050. The 1990 transport figure is not in the model's facts, so the 2030 target is not drawn: "
    "a line at 29 % of 2019 would wrongly treat 2019 as 1990. The dashed line is the 2019 level of the same "
    "run; the diamond marks the 2050 climate-neutral point (0 t)."
)
MODE_COLORS = {
    "car": "#d62728", "bike": "#2ca02c", "walk": "#8c564b", "s_train": "#1f77b4", "light_rail": "#9467bd",
}
MODE_LABELS = {"car": "Car", "bike": "Bike", "walk": "Walk", "s_train": "S-train", "light_rail": "Light rail"}
ROLE_COLORS = {"baseline": "#222222", "pinned": "#ff7f0e", "current": "#1f77b4"}
_EXTRA_COLORS = ["#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]

#: Public-charger presets: label → chargers in the municipality by year (None = the baseline path of fleet.toml).
CHARGER_PRESETS: dict[str, dict[int, float] | None] = {
    "Baseline path (10 in 2030, 20 in 2050)": None,
    "Plan: 50 in 2030, 100 in 2050": {2030: 50, 2050: 100},
    "Ambitious: 150 in 2030, 300 in 2050": {2030: 150, 2050: 300},
}
MOTORWAY_KPH = (80, 130, 10, 110)          # min, max, step, posted today
MUNICIPAL_KPH = (30, 50, 10, 50)
SAMPLE = (0.02, 1.0, 0.02, 0.2)
END_YEAR = (2025, 2050, 1, 2050)
MEASURES_YEAR = (2020, 2040, 1, 2026)
HEADWAY_MIN = (3, 20, 1, 5)
LETBANE_OPENING = "2025-10-26"


# ---------------------------------------------------------------------------------------------
# Settings → levers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Everything the page's controls set; :func:`build_levers` turns it into model levers."""

    motorway_kph: int = MOTORWAY_KPH[3]
    municipal_kph: int = MUNICIPAL_KPH[3]
    lanes_sondre_ringvej: bool = False
    lanes_vejlegardsvej: bool = False
    letbane: bool = False
    letbane_opening: str = LETBANE_OPENING
    letbane_headway_min: int = HEADWAY_MIN[3]
    e_stop: bool = False
    chargers: str = next(iter(CHARGER_PRESETS))
    cycling: bool = False
    measures_year: int = MEASURES_YEAR[3]
    sample_fraction: float = SAMPLE[3]
    seed: int = 1
    end_year: int = END_YEAR[3]

    def key(self) -> tuple:
        return tuple(self.__dict__.values())


def _in_range(name: str, value: float, bounds: tuple) -> None:
    low, high = bounds[0], bounds[1]
    if not low <= value <= high:
        raise VmobError(f"{name} must be between {low:g} and {high:g}, not {value:g}")


def parse_date(text: str, name: str = "Letbane opening date") -> dt.date:
    """A ``YYYY-MM-DD`` date; a :class:`VmobError` names the field otherwise."""
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise VmobError(f"{name}: '{text}' is not a date; write it as YYYY-MM-DD, e.g. {LETBANE_OPENING}") from None


def check_settings(settings: Settings) -> None:
    """Refuse values outside the controls' bounds (a URL or API caller could send them)."""
    _in_range("Motorway speed limit (km/h)", settings.motorway_kph, MOTORWAY_KPH)
    _in_range("Municipal speed limit (km/h)", settings.municipal_kph, MUNICIPAL_KPH)
    _in_range("Sample fraction", settings.sample_fraction, SAMPLE)
    _in_range("End year", settings.end_year, END_YEAR)
    _in_range("Measures start year", settings.measures_year, MEASURES_YEAR)
    _in_range("Letbane peak headway (min)", settings.letbane_headway_min, HEADWAY_MIN)
    if settings.seed is None or not 0 <= int(settings.seed) < 2**31:
        raise VmobError(f"Seed must be a whole number from 0 to {2**31 - 1}, not {settings.seed}")
    if settings.chargers not in CHARGER_PRESETS:
        raise VmobError(f"Chargers: unknown preset '{settings.chargers}' (known: {', '.join(CHARGER_PRESETS)})")
    if settings.letbane:
        parse_date(settings.letbane_opening)


def build_levers(settings: Settings) -> list[Any]:
    """The model levers that ``settings`` asks for (none for the reference run).

    Speed limits, lane reductions, line E, chargers and cycling start on 1 January of
    the measures start year; the Letbane on its own opening date.
    """
    from model.levers import Chargers, Cycling, LaneReduction, SpeedLimit, StationStop, TransitLine
    from model.transit import Service

    check_settings(settings)
    start = dt.date(settings.measures_year, 1, 1)
    levers: list[Any] = []
    if settings.motorway_kph != MOTORWAY_KPH[3]:
        levers.append(SpeedLimit(kind="speed_limit", id="motorway", start=start, limit_kph=settings.motorway_kph,
                                 road_category=["motorway"], only_limit_kph=MOTORWAY_KPH[3], inside_only=True))
    if settings.municipal_kph != MUNICIPAL_KPH[3]:
        levers.append(SpeedLimit(kind="speed_limit", id="municipal", start=start, limit_kph=settings.municipal_kph,
                                 road_category=["urban", "local"], only_limit_kph=MUNICIPAL_KPH[3], inside_only=True))
    for on, road in ((settings.lanes_sondre_ringvej, "Søndre Ringvej"), (settings.lanes_vejlegardsvej, "Vejlegårdsvej")):
        if on:
            levers.append(LaneReduction(kind="lane_reduction", start=start, roads=[road], lanes_from=4, lanes_to=2, cycle_track=True))
    if settings.letbane:
        opening = parse_date(settings.letbane_opening)
        headway = float(settings.letbane_headway_min)
        service = Service(start=opening, headway_peak_min=headway, headway_offpeak_min=max(headway, 10.0))
        levers.append(TransitLine(kind="transit_line", start=opening, line="L", services=[service]))
    if settings.e_stop:
        levers.append(StationStop(kind="station_stop", start=start, line="E", station="Vallensbæk St."))
    path = CHARGER_PRESETS[settings.chargers]
    if path is not None:
        levers.append(Chargers(kind="chargers", start=start, path={settings.measures_year: 2.0, **path}))
    if settings.cycling:
        levers.append(Cycling(kind="cycling", start=start, all_inside=True))
    return levers


def describe(settings: Settings) -> str:
    """A short label of the levers that differ from the reference run."""
    parts = []
    if settings.motorway_kph != MOTORWAY_KPH[3]:
        parts.append(f"motorway {settings.motorway_kph}")
    if settings.municipal_kph != MUNICIPAL_KPH[3]:
        parts.append(f"municipal {settings.municipal_kph}")
    if settings.lanes_sondre_ringvej:
        parts.append("Søndre Ringvej 2 lanes")
    if settings.lanes_vejlegardsvej:
        parts.append("Vejlegårdsvej 2 lanes")
    if settings.letbane:
        parts.append(f"Letbane {settings.letbane_opening} every {settings.letbane_headway_min} min")
    if settings.e_stop:
        parts.append("E stops at Vallensbæk")
    if CHARGER_PRESETS.get(settings.chargers) is not None:
        parts.append(settings.chargers.split(":")[0].lower() + " chargers")
    if settings.cycling:
        parts.append("cycle routes")
    return ", ".join(parts) or "no levers (as the reference)"


# ---------------------------------------------------------------------------------------------
# Runs and results
# ---------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """One scenario shown on the page: its yearly summary (mean over seeds) and car volumes."""

    role: str
    label: str
    summary: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    volumes: pd.DataFrame | None = None
    reference_volumes: pd.DataFrame | None = None
    note: str = ""
    seeds: int = 1
    agents: int | None = None
    seconds: float | None = None


_context_lock = threading.Lock()
_context: "ModelContext | None" = None
_reference_lock = threading.Lock()
_reference_cache: dict[tuple, tuple[dict[str, pd.DataFrame], pd.DataFrame, int, float]] = {}


def context() -> "ModelContext":
    """The embedded Vallensbæk inputs, read once for the server's lifetime."""
    global _context
    with _context_lock:
        if _context is None:
            from model.simulation import ModelContext

            _context = ModelContext.load()
        return _context


def _simulate(levers: list[Any], settings: Settings, scenario: str, tick: Callable[[], None]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, int, float]:
    from model.simulation import MobilityModel

    started = time.perf_counter()
    model = MobilityModel(
        context(), levers=levers, start_year=BASE_YEAR, end_year=settings.end_year,
        sample_fraction=settings.sample_fraction, rng=int(settings.seed),
        labels={"experiment": "dashboard", "scenario": scenario, "seed": int(settings.seed)},
    )
    for _ in range(model.year, model.end_year + 1):
        model.step()
        tick()
    volumes = model.link_volumes()
    return model.results(), volumes, len(model.population), time.perf_counter() - started


def _mean_summary(summary: pd.DataFrame) -> pd.DataFrame:
    numeric = [c for c in summary.columns if c not in ("experiment", "scenario", "seed", "year")]
    return summary.groupby("year", as_index=False)[numeric].mean()


def _mean_volumes(volumes: pd.DataFrame) -> pd.DataFrame:
    return volumes.groupby(["year", "edge"], as_index=False)[["car_commute_daily"]].mean()


def run_scenario(settings: Settings, progress: Callable[[float], None] = lambda _: None) -> tuple[Scenario, Scenario]:
    """Run the reference (no levers; cached) and the scenario of ``settings`` with the same sample and seed.

    Returns ``(reference, current)``. Raises :class:`VmobError` for settings the model refuses
    (e.g. a Letbane opening after the end year).
    """
    from model.levers import check_levers

    levers = build_levers(settings)
    for lever in levers:
        if not BASE_YEAR <= lever.start.year <= settings.end_year:
            what = f"Letbane opening date {lever.start}" if lever.kind == "transit_line" else f"Measures start {lever.start.year}"
            raise VmobError(f"{what} is outside the run {BASE_YEAR}–{settings.end_year}; choose an earlier date or a later end year")
    ctx = context()
    check_levers(levers, ctx, BASE_YEAR, settings.end_year, "dashboard levers")
    years = settings.end_year - BASE_YEAR + 1
    key = (settings.sample_fraction, int(settings.seed), settings.end_year)
    with _reference_lock:
        cached = _reference_cache.get(key)
    total = years * (1 if cached else 2)
    done = [0]

    def tick() -> None:
        done[0] += 1
        progress(100.0 * done[0] / total)

    if cached is None:
        cached = _simulate([], settings, "reference", tick)
        with _reference_lock:
            _reference_cache[key] = cached
    ref_tables, ref_volumes, agents, ref_seconds = cached
    tables, volumes, agents, seconds = _simulate(levers, settings, describe(settings), tick)
    sample = f"{agents:,} agents ({settings.sample_fraction:.0%} sample), seed {settings.seed}, {BASE_YEAR}–{settings.end_year}"
    reference = Scenario(
        "baseline", "Reference (no levers)", _mean_summary(ref_tables["summary"]), ref_tables,
        note=sample, agents=agents, seconds=ref_seconds,
    )
    ref_mean = _mean_volumes(ref_volumes)
    current = Scenario(
        "current", describe(settings), _mean_summary(tables["summary"]), tables,
        volumes=_mean_volumes(volumes), reference_volumes=ref_mean, note=sample, agents=agents, seconds=seconds,
    )
    return reference, current


def results_folders(root: str | Path) -> list[Path]:
    """Experiment folders under ``root`` (those with a ``datapackage.json``), newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p.parent for p in root.glob("*/datapackage.json")] + [p.parent for p in root.glob("*/*/datapackage.json")]
    return sorted(set(found), key=lambda p: p.stat().st_mtime, reverse=True)


def _read_links(path: Path) -> "gpd.GeoDataFrame":
    import geopandas as gpd

    try:
        return gpd.read_parquet(path)
    except Exception:  # plain Parquet with WKB geometry
        frame = pd.read_parquet(path)
        import shapely

        return gpd.GeoDataFrame(frame, geometry=shapely.from_wkb(frame["geometry"]), crs="EPSG:25832")


@dataclass
class FolderView:
    """An experiment written by ``vmob run``: its scenarios and, when present, the network links."""

    path: Path
    scenarios: list[Scenario]
    links: "gpd.GeoDataFrame | None"
    warnings: list[str] = field(default_factory=list)


def open_results_folder(path: str | Path, reference: str = "baseline") -> FolderView:
    """Read a results folder: summary per scenario label (mean over seeds) and link volumes.

    Raises
    ------
    VmobError
        If the folder has no ``datapackage.json`` or no summary table.
    """
    from model.outputs import read_tables

    path = Path(path)
    tables = read_tables(path)
    if "summary" not in tables or tables["summary"].empty:
        raise VmobError(f"{path}: the experiment has no summary table to show")
    summary = tables["summary"]
    warnings: list[str] = []
    volumes = None
    if (path / "link_volumes.parquet").is_file():
        volumes = pd.read_parquet(path / "link_volumes.parquet", columns=["scenario", "seed", "year", "edge", "car_commute_daily"])
    else:
        warnings.append("link_volumes.parquet is missing: no car-volume map")
    links = _read_links(path / "network_links.parquet") if (path / "network_links.parquet").is_file() else None
    if links is None:
        warnings.append("network_links.parquet is missing: no car-volume map")
    labels = list(dict.fromkeys(summary["scenario"]))
    ref_label = reference if reference in labels else labels[0]
    ref_volumes = None
    if volumes is not None:
        ref_volumes = volumes[volumes["scenario"] == ref_label].groupby(["year", "edge"], as_index=False)[["car_commute_daily"]].mean()
    scenarios = []
    for label in [ref_label] + [lab for lab in labels if lab != ref_label]:
        rows = summary[summary["scenario"] == label]
        own = {name: t[t["scenario"] == label] for name, t in tables.items() if "scenario" in t.columns}
        vols = None
        if volumes is not None and label != ref_label:
            vols = volumes[volumes["scenario"] == label].groupby(["year", "edge"], as_index=False)[["car_commute_daily"]].mean()
        scenarios.append(Scenario(
            "baseline" if label == ref_label else label, label, _mean_summary(rows), own,
            volumes=vols, reference_volumes=ref_volumes, seeds=int(rows["seed"].nunique()),
            note=f"{int(rows['seed'].nunique())} seed(s)",
        ))
    return FolderView(path, scenarios, links, warnings)


def headline_years(scenarios: list[Scenario]) -> list[int]:
    """The headline years present in every scenario, plus the last common year."""
    common = set.intersection(*(set(s.summary["year"].astype(int)) for s in scenarios)) if scenarios else set()
    years = [y for y in HEADLINE_YEARS if y in common]
    if common and max(common) not in years:
        years.append(max(common))
    return years


def headline_table(scenarios: list[Scenario]) -> pd.DataFrame:
    """One row per scenario: car share, territorial CO2 and change vs 2019 in the headline years."""
    years = headline_years(scenarios)
    rows = []
    for s in scenarios:
        by_year = s.summary.set_index(s.summary["year"].astype(int))
        row: dict[str, Any] = {"role": s.role, "scenario": s.label}
        for y in years:
            row[f"car_share_{y}_pct"] = 100.0 * by_year.at[y, "share_car"]
        for y in years:
            row[f"light_rail_share_{y}_pct"] = 100.0 * by_year.at[y, "share_light_rail"]
        for y in years:
            row[f"co2_territorial_{y}_t"] = by_year.at[y, "co2_territorial_t"]
        for y in years:
            if y != BASE_YEAR:
                row[f"co2_territorial_change_vs_2019_{y}_pct"] = by_year.at[y, "co2_territorial_change_vs_2019_pct"]
        rows.append(row)
    return pd.DataFrame(rows)


def _slug(text: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(part for part in cleaned.split("-") if part)[:40] or "scenario"


def headline_html(scenarios: list[Scenario]) -> str:
    """The headline table as HTML; each number cell has ``id="hl-<role>-<metric>-<year>"`` (the tests read them)."""
    years = headline_years(scenarios)
    metrics = [
        ("car", "Car share of residents' commutes", "{:.1f} %", "share_car", 100.0),
        ("lightrail", "Light-rail share", "{:.1f} %", "share_light_rail", 100.0),
        ("co2", "Territorial transport CO2", "{:,.0f} t", "co2_territorial_t", 1.0),
        ("change", "Change vs 2019", "{:+.1f} %", "co2_territorial_change_vs_2019_pct", 1.0),
    ]
    head = "".join(f"<th colspan='{len(_metric_years(key, years))}'>{title}</th>" for key, title, *_ in metrics)
    sub = "".join(f"<th>{y}</th>" for key, *_ in metrics for y in _metric_years(key, years))
    body = []
    for s in scenarios:
        by_year = s.summary.set_index(s.summary["year"].astype(int))
        role = _slug(s.role)
        color = ROLE_COLORS.get(s.role, "#555")
        cells = [f"<td style='text-align:left'><span style='color:{color}'>■</span> <b>{_escape(s.label)}</b>"
                 f"<br><small>{_escape(s.note)}</small></td>"]
        for key, _title, fmt, column, scale in metrics:
            for y in _metric_years(key, years):
                value = float(by_year.at[y, column]) * scale
                cells.append(f"<td id='hl-{role}-{key}-{y}' data-value='{value:.6g}'>{fmt.format(value)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    style = (
        "<style>.vmob-headline{border-collapse:collapse;font-size:14px;width:100%}"
        ".vmob-headline th,.vmob-headline td{border:1px solid #ddd;padding:4px 8px;text-align:right}"
        ".vmob-headline th{background:#f3f5f8;text-align:center}</style>"
    )
    return (f"{style}<table class='vmob-headline' id='headline'><thead><tr><th rowspan='2'>Scenario</th>{head}</tr>"
            f"<tr>{sub}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _metric_years(key: str, years: list[int]) -> list[int]:
    return [y for y in years if y != BASE_YEAR] if key == "change" else years


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------------------------------------
# Figures (plain matplotlib Figures, no pyplot state: safe in a server)
# ---------------------------------------------------------------------------------------------


def _color(s: Scenario, k: int) -> str:
    return ROLE_COLORS.get(s.role, _EXTRA_COLORS[k % len(_EXTRA_COLORS)])


def mode_split_figure(scenarios: list[Scenario]) -> Figure:
    """Residents' commuting mode shares by year: one stacked-area panel per scenario, side by side."""
    shown = scenarios[:6]
    fig = Figure(figsize=(4.2 * len(shown) + 1.6, 3.6), dpi=110, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(shown), sharey=True))
    for ax, s in zip(axes, shown, strict=True):
        years = s.summary["year"].astype(int).to_numpy()
        shares = [100.0 * s.summary[f"share_{m}"].to_numpy() for m in MODE_COLORS]
        ax.stackplot(years, shares, colors=list(MODE_COLORS.values()), labels=[MODE_LABELS[m] for m in MODE_COLORS], alpha=0.85)
        car = shares[0]
        ax.text(years[0] + 0.3, car[0] / 2, f"{car[0]:.0f} %", color="white", fontsize=9, va="center", weight="bold")
        ax.text(years[-1] - 0.3, car[-1] / 2, f"{car[-1]:.0f} %", color="white", fontsize=9, va="center", ha="right", weight="bold")
        ax.set_title(_wrap(s.label, 42), fontsize=9, color=_color(s, 0))
        ax.set_xlim(years[0], years[-1])
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("share of residents' commutes, %")
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    fig.suptitle("Mode split of Vallensbæk residents' commutes", fontsize=11)
    return fig


def co2_figure(scenarios: list[Scenario]) -> Figure:
    """Territorial and resident transport CO2 by year, with the 2019 level and the 2050 climate-neutral point."""
    fig = Figure(figsize=(11, 4.0), dpi=110, layout="constrained")
    territorial, resident = fig.subplots(1, 2)
    for ax, column, title in (
        (territorial, "co2_territorial_t", "Territorial: emitted inside the municipal boundary"),
        (resident, "co2_resident_t", "Resident: emitted by Vallensbæk residents anywhere"),
    ):
        for k, s in enumerate(scenarios):
            years = s.summary["year"].astype(int)
            values = s.summary[column]
            ax.plot(years, values, color=_color(s, k), lw=2.2 if s.role != "baseline" else 1.3,
                    ls="-" if s.role != "pinned" else "--", label=_wrap(s.label, 40), zorder=4 if s.role == "baseline" else 3)
        base = scenarios[0].summary
        level = float(base.loc[base["year"].astype(int) == BASE_YEAR, column].iloc[0])
        ax.axhline(level, color="#888", ls=":", lw=1)
        ax.text(BASE_YEAR + 0.3, level, f" 2019 level {level:,.0f} t", fontsize=8, color="#555", va="bottom")
        ax.plot([2050], [0], marker="D", color="#2ca02c", ms=7, ls="none", label="2050 climate neutral (0 t)")
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("t CO2 per year")
        ax.set_ylim(bottom=0)
        ax.set_xlim(BASE_YEAR, 2050.5)
        ax.grid(alpha=0.3)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    pct = territorial.secondary_yaxis("right", functions=(lambda t, lv=_level(scenarios): 100.0 * (t / lv - 1.0),
                                                          lambda p, lv=_level(scenarios): lv * (1.0 + p / 100.0)))
    pct.set_ylabel("change vs 2019, %", fontsize=8)
    territorial.legend(fontsize=8, loc="lower left", frameon=True)
    fig.suptitle("Transport CO2 by year (the 2030 target is relative to 1990 and is not drawn: see the note)", fontsize=11)
    return fig


def _level(scenarios: list[Scenario]) -> float:
    base = scenarios[0].summary
    return max(float(base.loc[base["year"].astype(int) == BASE_YEAR, "co2_territorial_t"].iloc[0]), 1e-9)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


_boundary_cache: dict[str, Any] = {}


def _boundary() -> Any:
    if "b" not in _boundary_cache:
        try:
            from model.network import DEFAULT_BOUNDARY, load_boundary

            _boundary_cache["b"] = load_boundary(DEFAULT_BOUNDARY)
        except Exception:
            _boundary_cache["b"] = None
    return _boundary_cache["b"]


def volume_change_map(links: "gpd.GeoDataFrame", scenarios: list[Scenario], year: int) -> Figure:
    """Change in commuters' daily cars per road vs the reference run in ``year``: one panel per scenario."""
    shown = [s for s in scenarios if s.volumes is not None and s.reference_volumes is not None][:4]
    fig = Figure(figsize=(5.6 * max(len(shown), 1) + 1.2, 5.4), dpi=110, layout="constrained")
    if not shown:
        ax = fig.subplots()
        ax.text(0.5, 0.5, "No scenario to compare with the reference", ha="center", va="center")
        ax.set_axis_off()
        return fig
    boundary = _boundary()
    drive = links[links["drive"].astype(bool)] if "drive" in links.columns else links
    geoms = drive.geometry.to_numpy()
    segments = [np.asarray(g.coords)[:, :2] for g in geoms]
    if boundary is not None:
        minx, miny, maxx, maxy = boundary.bounds
        pad = 1500.0
        extent = (minx - pad, maxx + pad, miny - pad, maxy + pad)
    else:
        extent = tuple(np.r_[drive.total_bounds[[0, 2]], drive.total_bounds[[1, 3]]])
    diffs = []
    for s in shown:
        own = s.volumes[s.volumes["year"] == year].set_index("edge")["car_commute_daily"]
        ref = s.reference_volumes[s.reference_volumes["year"] == year].set_index("edge")["car_commute_daily"]
        diffs.append(own.reindex(drive["edge"]).fillna(0.0).to_numpy() - ref.reindex(drive["edge"]).fillna(0.0).to_numpy())
    scale = max(float(np.nanpercentile(np.abs(np.concatenate(diffs)), 99)), 1.0)
    norm = TwoSlopeNorm(vmin=-scale, vcenter=0.0, vmax=scale)
    axes = np.atleast_1d(fig.subplots(1, len(shown)))
    for ax, s, diff in zip(axes, shown, diffs, strict=True):
        grey = LineCollection(segments, colors="#d0d0d0", linewidths=0.6, zorder=1)
        ax.add_collection(grey)
        changed = np.abs(diff) > 0.02 * scale
        order = np.argsort(np.abs(diff[changed]))
        lines = LineCollection([segments[i] for i in np.flatnonzero(changed)[order]], cmap="RdBu_r", norm=norm,
                               linewidths=2.2, zorder=2)
        lines.set_array(diff[changed][order])
        ax.add_collection(lines)
        if boundary is not None:
            for poly in getattr(boundary, "geoms", [boundary]):
                x, y = poly.exterior.xy
                ax.plot(x, y, color="#333", lw=1.2, ls="--", zorder=3)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(_wrap(f"{s.label} vs reference, {year}", 48), fontsize=9, color=_color(s, 0))
    cbar = fig.colorbar(lines, ax=list(axes), shrink=0.8)
    cbar.set_label("change in commuters' cars per day (both directions)\nred: more cars, blue: fewer", fontsize=8)
    fig.suptitle("Car volumes: change vs the reference run (dashed line: municipal boundary)", fontsize=11)
    return fig


def figure_png(fig: Figure) -> bytes:
    """PNG bytes of a figure."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=130)
    return buffer.getvalue()


def tables_csv(scenarios: list[Scenario]) -> str:
    """The yearly summary of every scenario on screen, one CSV."""
    frames = [s.summary.assign(scenario=s.label, role=s.role) for s in scenarios]
    frame = pd.concat(frames, ignore_index=True)
    front = ["role", "scenario", "year"]
    return frame[front + [c for c in frame.columns if c not in front]].to_csv(index=False)


def tables_xlsx(scenarios: list[Scenario]) -> bytes:
    """An Excel workbook: headline, yearly summary and the long tables of every scenario on screen."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        headline_table(scenarios).to_excel(writer, sheet_name="headline", index=False)
        pd.read_csv(io.StringIO(tables_csv(scenarios))).to_excel(writer, sheet_name="summary", index=False)
        for name in ("mode_split", "co2", "vehicle_km", "energy"):
            frames = [s.tables[name].assign(role=s.role) for s in scenarios if name in s.tables]
            if frames:
                frame = pd.concat(frames, ignore_index=True)
                if len(frame) < 1_000_000:
                    frame.to_excel(writer, sheet_name=name, index=False)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# The page (Solara)
# ---------------------------------------------------------------------------------------------

import solara  # noqa: E402  (after matplotlib.use)
import solara.lab  # noqa: E402

motorway_kph = solara.reactive(MOTORWAY_KPH[3])
municipal_kph = solara.reactive(MUNICIPAL_KPH[3])
lanes_sondre_ringvej = solara.reactive(False)
lanes_vejlegardsvej = solara.reactive(False)
letbane = solara.reactive(False)
letbane_opening = solara.reactive(LETBANE_OPENING)
letbane_headway = solara.reactive(HEADWAY_MIN[3])
e_stop = solara.reactive(False)
chargers = solara.reactive(next(iter(CHARGER_PRESETS)))
cycling = solara.reactive(False)
measures_year = solara.reactive(MEASURES_YEAR[3])
sample_fraction = solara.reactive(SAMPLE[3])
seed_text = solara.reactive("1")
end_year = solara.reactive(END_YEAR[3])

last_run: solara.Reactive[tuple[Scenario, Scenario] | None] = solara.reactive(None)
pinned: solara.Reactive[Scenario | None] = solara.reactive(None)
folder_view: solara.Reactive[FolderView | None] = solara.reactive(None)
folder_error = solara.reactive("")
view_mode = solara.reactive("run")  # "run" or "folder"
RUN_SOURCE = "Dashboard run"


def current_settings() -> Settings:
    """The controls' values; a :class:`VmobError` for a seed that is not a whole number."""
    text = seed_text.value.strip()
    if not text.lstrip("-").isdigit():
        raise VmobError(f"Seed must be a whole number from 0 to {2**31 - 1}, not '{text}'")
    return Settings(
        motorway_kph=motorway_kph.value, municipal_kph=municipal_kph.value,
        lanes_sondre_ringvej=lanes_sondre_ringvej.value, lanes_vejlegardsvej=lanes_vejlegardsvej.value,
        letbane=letbane.value, letbane_opening=letbane_opening.value, letbane_headway_min=letbane_headway.value,
        e_stop=e_stop.value, chargers=chargers.value, cycling=cycling.value, measures_year=measures_year.value,
        sample_fraction=round(float(sample_fraction.value), 4), seed=int(text), end_year=end_year.value,
    )


@solara.lab.task(prefer_threaded=True)
def run_task(settings: Settings) -> tuple[Scenario, Scenario]:
    def progress(pct: float) -> None:
        run_task.progress = pct

    run_task.progress = 0.0
    result = run_scenario(settings, progress)
    last_run.set(result)
    view_mode.set("run")
    return result


def results_root() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or RESULTS_DIR)


def _field_error(check: Callable[[], Any]) -> str:
    try:
        check()
    except VmobError as err:
        return str(err)
    return ""


CSS = """
.v-input--selection-controls { margin-top: 0 !important; padding-top: 0 !important; }
.v-input--selection-controls .v-input__slot { margin-bottom: 0 !important; }
.v-input--selection-controls .v-messages { display: none; }
.v-slider__tick-label { font-size: 11px; }
.vmob-help { color: #666; font-size: 12px; margin: -4px 0 8px 0; }
"""


def Help(text: str) -> None:
    solara.Text(text, classes=["vmob-help"])


@solara.component
def LeverControls() -> None:
    solara.Style(CSS)
    solara.Markdown("### Levers")
    Help("The reference run has none of these; each lever starts on 1 January of the measures start year.")
    solara.SliderInt(f"Motorway speed limit: {motorway_kph.value} km/h", value=motorway_kph, min=MOTORWAY_KPH[0], max=MOTORWAY_KPH[1],
                     step=MOTORWAY_KPH[2], tick_labels="end_points")
    Help("Motorway links posted 110 km/h inside the municipal boundary (commuters and through traffic).")
    solara.SliderInt(f"Municipal roads: {municipal_kph.value} km/h", value=municipal_kph, min=MUNICIPAL_KPH[0], max=MUNICIPAL_KPH[1],
                     step=MUNICIPAL_KPH[2], tick_labels="end_points")
    Help("Urban and local roads posted 50 km/h inside the boundary.")
    solara.Checkbox(label="Søndre Ringvej: 4 → 2 lanes (+ cycle track)", value=lanes_sondre_ringvej)
    solara.Checkbox(label="Vejlegårdsvej: 4 → 2 lanes (+ cycle track)", value=lanes_vejlegardsvej)
    solara.Checkbox(label="Better cycle routes (all inside the municipality)", value=cycling)
    solara.Checkbox(label="S-train line E stops at Vallensbæk St.", value=e_stop)
    solara.Select("Public EV chargers", values=list(CHARGER_PRESETS), value=chargers)
    Help("Public chargers in Vallensbæk; more chargers raise EV uptake when cars are replaced.")
    solara.SliderInt(f"Measures start: {measures_year.value}", value=measures_year, min=MEASURES_YEAR[0], max=MEASURES_YEAR[1],
                     tick_labels="end_points")
    solara.Markdown("#### Letbane (light rail)")
    solara.Checkbox(label="Letbane runs", value=letbane)
    Help("Off: the line does not run (as in the reference). On: the whole line from the opening date; "
         "off-peak every 10 min or the peak headway if longer.")
    date_error = _field_error(lambda: parse_date(letbane_opening.value))
    solara.InputText("Letbane opening date (YYYY-MM-DD)", value=letbane_opening, disabled=not letbane.value,
                     error=bool(date_error), message=date_error or None, continuous_update=True)
    solara.SliderInt(f"Letbane peak headway: {letbane_headway.value} min", value=letbane_headway, min=HEADWAY_MIN[0], max=HEADWAY_MIN[1],
                     disabled=not letbane.value, tick_labels="end_points")
    solara.Markdown("### Run")
    Help("100 % is every commuter (about 13,000 agents, ~10 s a run here); 2 % to 2030 takes a few seconds. "
         "The reference run uses the same sample and seed.")
    solara.SliderFloat(f"Population sample: {sample_fraction.value:.0%}", value=sample_fraction, min=SAMPLE[0], max=SAMPLE[1], step=SAMPLE[2],
                       tick_labels="end_points")
    seed_error = _field_error(current_settings) or _field_error(lambda: check_settings(replace(current_settings(), letbane=False)))
    seed_error = seed_error if seed_error.startswith("Seed") else ""
    solara.InputText("Seed", value=seed_text, error=bool(seed_error), message=seed_error or None, continuous_update=True)
    solara.SliderInt(f"End year: {end_year.value}", value=end_year, min=END_YEAR[0], max=END_YEAR[1], tick_labels="end_points")


@solara.component
def RunButtons() -> None:
    problem = _field_error(current_settings) or (_field_error(lambda: check_settings(current_settings())) if letbane.value else "")

    def start() -> None:
        try:
            run_task(current_settings())
        except VmobError:
            pass

    with solara.Row():
        solara.Button("Run", on_click=start, color="primary", disabled=run_task.pending or bool(problem), icon_name="mdi-play")
        can_pin = last_run.value is not None and view_mode.value == "run"

        def pin() -> None:
            run = last_run.value
            if run is not None:
                current = run[1]
                pinned.set(Scenario("pinned", "Pinned: " + current.label, current.summary, current.tables,
                                    current.volumes, current.reference_volumes, current.note, agents=current.agents))

        solara.Button("Pin", on_click=pin, disabled=not can_pin, outlined=True, icon_name="mdi-pin")
        solara.Button("Unpin", on_click=lambda: pinned.set(None), disabled=pinned.value is None, text=True)
    if problem:
        solara.Error(problem, dense=True, classes=["vmob-input-error"])
    if run_task.pending:
        pct = run_task.progress or 0.0
        solara.ProgressLinear(pct if pct > 0 else True)
        solara.Text(f"Running… {pct:.0f} %", classes=["vmob-progress"])


@solara.component
def FolderPicker() -> None:
    root = results_root()
    folders = results_folders(root)
    names = [str(p.relative_to(root)) for p in folders]
    choice, set_choice = solara.use_state(names[0] if names else None)
    solara.Markdown("### Open a results folder")
    if not names:
        solara.Text(f"No experiment folders with a datapackage.json under {root}.")
        return

    def open_it() -> None:
        try:
            folder_view.set(open_results_folder(root / choice))
            folder_error.set("")
            view_mode.set("folder")
        except VmobError as err:
            folder_error.set(str(err))
        except Exception as err:  # a half-written or foreign folder
            folder_error.set(f"Could not open {root / choice}: {type(err).__name__}: {err}")

    solara.Select("Experiment", values=names, value=choice, on_value=set_choice)
    with solara.Row():
        solara.Button("Open", on_click=open_it, disabled=choice is None, outlined=True, icon_name="mdi-folder-open")
        if view_mode.value == "folder":
            solara.Button("Back to my runs", on_click=lambda: view_mode.set("run"), text=True)


def _on_screen() -> tuple[list[Scenario], "gpd.GeoDataFrame | None", str]:
    if view_mode.value == "folder" and folder_view.value is not None:
        view = folder_view.value
        return view.scenarios, view.links, f"Results folder {view.path}"
    run = last_run.value
    if run is None:
        return [], None, ""
    reference, current = run
    scenarios = [reference] + ([pinned.value] if pinned.value is not None else []) + [current]
    return scenarios, None, RUN_SOURCE


@solara.component
def Results() -> None:
    scenarios, links, source = _on_screen()
    if run_task.error:
        err = run_task.exception
        if isinstance(err, VmobError):
            solara.Error(f"The run was refused: {err}", classes=["vmob-run-error"])
        else:
            solara.Error(f"The run failed: {type(err).__name__}: {err}", classes=["vmob-run-error"])
            with solara.Details("Technical details"):
                solara.Preformatted("".join(traceback.format_exception(err)))
    if folder_error.value:
        solara.Error(folder_error.value, classes=["vmob-run-error"])
    if not scenarios:
        solara.Info("Set the levers on the left and press Run. The reference run (no levers, same sample and seed) "
                    "runs alongside the first time, so the first run takes about twice as long. "
                    "Or open an experiment written by `vmob run`.")
        return
    Dashboard(scenarios, links, source)


_links_cache: dict[str, Any] = {}


def run_links() -> "gpd.GeoDataFrame":
    """The embedded network's links (geometry for the map), built once."""
    if "links" not in _links_cache:
        _links_cache["links"] = context().links_frame()
    return _links_cache["links"]


def build_figures(scenarios: list[Scenario], links: Any, run_mode: bool) -> dict[str, Any]:
    """The page's figures; ``{"error": message}`` if one cannot be drawn (shown instead of a blank)."""
    try:
        if links is None and run_mode:
            links = run_links()
        years = headline_years(scenarios)
        map_year = 2030 if 2030 in years else years[-1]
        comparable = any(s.volumes is not None and s.reference_volumes is not None for s in scenarios)
        return {
            "co2": co2_figure(scenarios),
            "mode_split": mode_split_figure(scenarios),
            "car_volume_change": volume_change_map(links, scenarios, map_year) if links is not None and comparable else None,
            "map_year": map_year,
        }
    except Exception as err:
        return {"error": f"Could not draw the results: {type(err).__name__}: {err}"}


@solara.component
def Dashboard(scenarios: list[Scenario], links: Any, source: str) -> None:
    key = tuple(id(s) for s in scenarios)
    built = solara.use_memo(lambda: build_figures(scenarios, links, source == RUN_SOURCE), dependencies=[key, id(links)])
    if "error" in built:
        solara.Error(built["error"], classes=["vmob-run-error"])
        return
    figures = {k: v for k, v in built.items() if k != "map_year"}
    map_year = built["map_year"]
    current = scenarios[-1]
    timing = f" · last run {current.seconds:.1f} s" if current.seconds else ""
    solara.Markdown(f"**{source}** · {current.note}{timing}")
    solara.Markdown("#### Headline numbers")
    solara.HTML(tag="div", unsafe_innerHTML=headline_html(scenarios))
    solara.Markdown("#### Transport CO2")
    solara.FigureMatplotlib(figures["co2"], format="png")
    solara.Info(TARGET_TEXT, dense=True)
    solara.Markdown("#### Mode split")
    solara.FigureMatplotlib(figures["mode_split"], format="png")
    if figures["car_volume_change"] is not None:
        solara.Markdown(f"#### Car volumes {map_year}")
        solara.FigureMatplotlib(figures["car_volume_change"], format="png")
    solara.Markdown("#### Downloads")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M")
    with solara.Row(style={"flex-wrap": "wrap"}):
        solara.FileDownload(lambda: tables_csv(scenarios), filename=f"vmob-summary-{stamp}.csv", label="Summary (CSV)")
        solara.FileDownload(lambda: headline_table(scenarios).to_csv(index=False), filename=f"vmob-headline-{stamp}.csv",
                            label="Headline (CSV)")
        solara.FileDownload(lambda: tables_xlsx(scenarios), filename=f"vmob-tables-{stamp}.xlsx", label="All tables (XLSX)")
        for name, fig in figures.items():
            if fig is not None:
                solara.FileDownload(lambda fig=fig: figure_png(fig), filename=f"vmob-{name}-{stamp}.png",
                                    label=f"{name.replace('_', ' ').capitalize()} (PNG)", mime_type="image/png")


def _preload() -> None:
    try:
        context()
    except Exception:  # reported when a run needs it
        pass


threading.Thread(target=_preload, daemon=True).start()


@solara.component
def Page() -> None:
    solara.Title("Vallensbæk mobility dashboard")
    with solara.AppBar():
        solara.Text("Vallensbæk commuting and transport CO2: levers of the climate plan")
    with solara.Sidebar():
        LeverControls()
        RunButtons()
        FolderPicker()
    Results()
