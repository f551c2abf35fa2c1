"""The experiment report: figures, ``report.md`` and ``report.html`` rebuilt from a results folder.

:func:`build_report` reads only what the runner wrote into ``results/<experiment>/`` (the long
tables through their data package, ``runs.csv``, ``manifest.json``, ``network_links.parquet``
and ``link_volumes.parquet``), redraws every figure into ``figures/`` and writes the report
beside the tables. The same tables always give the same report (no timestamps), so a report
can be rebuilt at any time with ``vmob report results/<experiment>/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from model import plots
from model.appraisal import (
    SAVED_FIGURE,
    appraise,
    cobenefit_changes,
    decision_split,
    not_distinguishable,
    packages,
    savings,
)
from model.cobenefits import COBENEFIT_COLUMNS, NOT_COMPUTED, cobenefits
from model.effects import SHOWN_FIGURES, paired_effects
from model.errors import VmobError
from model.files import atomic_path
from model.outputs import (
    REFERENCE_SCENARIO,
    SCHEMAS,
    change_vs_baseline,
    columns,
    inside_folder,
    read_csv,
    read_json_object,
    read_parquet,
    read_tables,
)

#: Tables the report cannot do without.
REQUIRED_TABLES = ("summary", "mode_split")
#: Years of the headline table (the plan's base year, its 2030 milestone and 2050); the last
#: simulated year stands in for a later one the run did not reach.
HEADLINE_YEARS = (2019, 2030, 2050)
#: Year of the car-volume maps and the sweep heat map, or the nearest simulated one.
MAP_YEAR = 2030
#: Car-volume maps at most (one per scenario against the reference).
MAX_MAPS = 6
#: Folder of the figures, relative to the results folder.
FIGURES_DIR = "figures"
#: The list of figure files the report drew, inside :data:`FIGURES_DIR`: the only files it ever deletes.
FIGURE_LIST = ".report-files.json"
FIGURE_SUFFIXES = (".png", ".svg")
#: Columns of ``link_volumes.parquet`` and ``network_links.parquet`` the car-volume maps read.
VOLUME_COLUMNS = ("scenario", "seed", "year", "edge", *plots.TRAFFIC_COLUMNS, "lanes_total", "maxspeed_kph")
VOLUME_NUMBERS = ("seed", "year", *plots.TRAFFIC_COLUMNS, "lanes_total", "maxspeed_kph")
LINK_COLUMNS = ("edge", "name", "road_category", "drive", "geometry")
#: Numeric columns that may be empty (the change vs 2019 of a run without a 2019 row).
MAY_BE_EMPTY = ("co2_territorial_change_vs_2019_pct",)
#: Names of the effect figures in the report's effects table.
EFFECT_NAMES = {"share_car": "car share of resident commuters", "co2_territorial_t": "territorial CO2"}
#: Jinja2 templates of report.md and report.html (package data).
TEMPLATES_DIR = Path(__file__).with_name("templates")


@dataclass
class Results:
    """What a results folder holds, as read by :func:`load_results`."""

    path: Path
    tables: dict[str, pd.DataFrame]
    manifest: dict[str, Any]
    runs: pd.DataFrame | None
    links: Any | None = None
    link_volumes: pd.DataFrame | None = None
    boundary: Any | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def config(self) -> dict[str, Any]:
        """The experiment configuration: the manifest's ``config`` table, or the manifest itself when it has none."""
        config = self.manifest.get("config")
        return config if isinstance(config, dict) else self.manifest

    @property
    def name(self) -> str:
        """The experiment's name: from the manifest, else the configuration, else the folder name."""
        return str(self.manifest.get("experiment") or self.config.get("name") or self.path.name)

    @property
    def labels(self) -> list[str]:
        """Scenario labels in the experiment's order, the reference first."""
        order = list(dict.fromkeys(self.runs["label"])) if self.runs is not None and "label" in self.runs else None
        return plots._labels(self.tables["summary"], order)


@dataclass(frozen=True)
class FigureEntry:
    """A figure in the report: heading, PNG path relative to the results folder, caption."""

    title: str
    path: str
    caption: str


def load_results(results_dir: str | Path) -> Results:
    """Read a results folder for the report.

    Every file is read from inside the folder (a path or link leading out is refused, see
    :func:`model.outputs.inside_folder`).

    Raises
    ------
    VmobError
        One line naming the file: the folder does not exist; ``datapackage.json``, a required
        table's Parquet file or ``network_links.parquet`` (when ``link_volumes.parquet`` is
        there) is missing, damaged or lacks a column; ``manifest.json`` is not a JSON object;
        ``runs.csv`` is not readable CSV or lacks a column.
    """
    path = Path(results_dir)
    if not path.is_dir():
        raise VmobError(f"results folder not found: {path}")
    tables = read_tables(path)
    for name in REQUIRED_TABLES:
        table_path = path / f"{name}.parquet"
        if name not in tables:
            raise VmobError(f"{table_path} is missing: the report needs the {name} table.")
        if tables[name].empty:
            raise VmobError(f"{table_path} has no rows.")
        _check_table(name, tables[name], table_path)
    if not (tables["mode_split"]["road_user"] == "resident").any():
        raise VmobError(f"{path / 'mode_split.parquet'} has no rows for resident commuters.")
    notes: list[str] = []
    manifest: dict[str, Any] = {}
    manifest_path = inside_folder(path, "manifest.json", "manifest.json")
    if manifest_path.is_file():
        manifest = read_json_object(manifest_path)
    else:
        notes.append("No manifest.json in the results folder: the question, levers and provenance are not recorded.")
    runs = None
    runs_path = inside_folder(path, "runs.csv", "runs.csv")
    if runs_path.is_file():
        runs = read_csv(runs_path)
        _require_columns(runs, ("scenario", "label", "seed"), runs_path)
    results = Results(path, tables, manifest, runs, notes=notes)
    volumes_path = inside_folder(path, "link_volumes.parquet", "link_volumes.parquet")
    links_path = inside_folder(path, "network_links.parquet", "network_links.parquet")
    if volumes_path.is_file():
        if not links_path.is_file():
            raise VmobError(f"{links_path} is missing: the car-volume maps need it beside link_volumes.parquet.")
        import geopandas as gpd

        results.link_volumes = _require_numbers(
            _require_columns(read_parquet(volumes_path), VOLUME_COLUMNS, volumes_path), VOLUME_NUMBERS, volumes_path)
        results.links = _require_columns(read_parquet(links_path, reader=gpd.read_parquet), LINK_COLUMNS, links_path)
        results.boundary = _boundary(results)
    else:
        notes.append("No link_volumes.parquet in the results folder: the car-volume maps are left out.")
    return results


def _require_columns(frame: pd.DataFrame, wanted: Iterable[str], path: Path) -> pd.DataFrame:
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise VmobError(f"{path}: column '{missing[0]}' is missing.")
    return frame


def _require_numbers(frame: pd.DataFrame, numeric: Iterable[str], path: Path, may_be_empty: Iterable[str] = ()) -> pd.DataFrame:
    """Numeric columns must hold finite numbers (those in ``may_be_empty`` may be missing, never infinite)."""
    for column in numeric:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise VmobError(f"{path}: column '{column}' is not numeric.")
        bad = np.isinf(values) if column in may_be_empty else ~np.isfinite(values)
        if bad.any():
            raise VmobError(f"{path}: column '{column}' has a missing or infinite value in row {int(np.argmax(bad.to_numpy())) + 1}.")
    return frame


def _check_table(name: str, frame: pd.DataFrame, path: Path) -> None:
    """A table the report needs has its schema's columns, numbers where the schema says so."""
    _require_columns(frame, columns(name), path)
    numeric = [f["name"] for f in SCHEMAS[name]["fields"] if f["type"] in ("integer", "number")]
    _require_numbers(frame, numeric, path, may_be_empty=MAY_BE_EMPTY)


def _boundary(results: Results) -> Any:
    """The municipal boundary for the maps: the config's ``inputs.boundary``, else the one beside the network."""
    from model.network import DEFAULT_BOUNDARY, load_boundary

    manifest = results.manifest
    inputs = _dict(_dict(manifest.get("config")).get("inputs"))
    config_dir = Path(str(manifest.get("config_file") or results.path / "x")).parent
    candidates = [results.path / "boundary.geojson"]
    if inputs.get("boundary"):
        candidates.append(config_dir / str(inputs["boundary"]))
    network = provenance(manifest)["network"]
    if network in ("default", "?"):
        candidates.append(DEFAULT_BOUNDARY)
    else:
        path = Path(network)
        candidates += [path.with_name(path.name.split(".")[0] + ".boundary.geojson"), path.parent / "boundary.geojson"]
    for candidate in candidates:
        if candidate.is_file():
            try:
                return load_boundary(candidate)
            except VmobError:
                continue
    results.notes.append("The municipal boundary was not found, so the maps are drawn without it.")
    return None


# --------------------------------------------------------------------------------- provenance


def provenance(manifest: dict[str, Any]) -> dict[str, str]:
    """Experiment, config hash, git commit, network source and seeds from a manifest (``?`` if absent)."""
    config = _dict(manifest.get("config"))
    git = _dict(manifest.get("git"))
    sources = _dict(_dict(manifest.get("inputs")).get("sources"))
    seeds = manifest.get("seeds", config.get("seeds"))
    commit = str(git.get("commit") or manifest.get("git_commit") or "?")
    if git.get("dirty"):
        commit += " (with uncommitted changes)"
    return {
        "experiment": str(manifest.get("experiment") or manifest.get("name") or config.get("name") or "?"),
        "config_hash": str(manifest.get("config_hash") or "?"),
        "commit": commit,
        "network": str(sources.get("network") or _dict(config.get("inputs")).get("network") or "?"),
        "network_sha256": str(sources.get("network_sha256") or "?"),
        "seeds": ", ".join(str(s) for s in seeds) if isinstance(seeds, list) else str(seeds or "?"),
    }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def source_line(manifest: dict[str, Any], experiment: str) -> str:
    """The one-line provenance printed under every figure."""
    p = provenance(manifest)
    name = p["experiment"] if p["experiment"] != "?" else experiment
    network = Path(p["network"]).name if p["network"] != "?" else "?"
    return (f"Source: vmob experiment '{name}', config {p['config_hash'][:12]}, commit {p['commit'][:10]}, "
            f"network {network}.")


# ------------------------------------------------------------------------------------ figures


def build_figures(results: Results) -> list[FigureEntry]:
    """Draw every figure the folder supports into ``figures/``; remove the report's own stale figures.

    Only files listed in ``figures/.report-files.json`` (the figures an earlier report drew)
    are ever deleted; a user's own files in ``figures/`` stay. ``figures/`` must lie inside the
    results folder (a link out of it is refused).

    Raises
    ------
    VmobError
        ``figures/`` leads out of the results folder or is not a folder, or a figure cannot be written.
    """
    out = _figures_dir(results.path)
    drawn_before = _figure_list(out)
    source = source_line(results.manifest, results.name)
    summary, order = results.tables["summary"], results.labels
    ref = plots.REFERENCE_SCENARIO
    entries: list[FigureEntry] = []
    drawn: set[str] = set()

    def add(title: str, path: Path | None, caption: str) -> None:
        if path is not None:
            drawn.update({path.name, path.with_suffix(".svg").name})
            entries.append(FigureEntry(title, f"{FIGURES_DIR}/{path.name}", caption))

    try:
        add("Mode split of resident commuters",
            plots.mode_split_chart(results.tables["mode_split"], out, order=order, source=source),
            "Share of Vallensbæk's resident commuters by main mode, year by year (mean across seeds). "
            "The numbers on the red band are the car share in the first and the last year.")
        add("Transport CO2", plots.co2_chart(summary, out, order=order, source=source),
            "Left: territorial transport CO2, everything emitted inside the municipal boundary, including "
            "motorway through traffic; the dashed line is the 2019 level and the right-hand axis the change "
            "against it; the green star is the plan's climate-neutral point in 2050. Right: the residents' "
            "transport CO2 wherever it is emitted. " + plots.TARGET_2030_TEXT)
        saved = plots.co2_saved_chart(summary, out, order=order, source=source)
        if saved is None:
            results.notes.append(f"No scenario labelled '{ref}' (or no other scenario), so the CO2-saved chart is left out.")
        add("CO2 saved against the baseline", saved,
            f"Left: territorial CO2 saved each year by each scenario against '{ref}' (above zero: less CO2). "
            "Right: the total over all simulated years in kilotonnes. Scenarios are whole packages of levers and "
            "must not be added to each other.")
        if "fleet" in results.tables and "co2" in results.tables:
            add("Fleet", plots.fleet_chart(results.tables["fleet"], results.tables["co2"], out, source=source),
                f"Left: battery-electric share of each fleet segment's stock in '{ref}' (residents' cars choose with "
                "Vallensbæk's charging access, the others with the national average; the EU rule ends new petrol, "
                "diesel and plug-in sales from 2035). Right: what remains of the territorial CO2 in the last simulated "
                "year, by vehicle class and powertrain (docs/emissions.md §2).")
        if results.link_volumes is not None and results.links is not None:
            for title, path, caption in _maps(results, out, source):
                add(title, path, caption)
        if results.runs is not None:
            heat = plots.sweep_heatmap(summary, results.runs, out, year=MAP_YEAR, source=source)
            add("Sweep", heat,
                "Territorial transport CO2 for every combination of the two swept parameters (mean across seeds); "
                "the second number in each cell is the change against 2019. Darker cells emit more.")
    except BaseException:
        _write_figure_list(out, drawn_before | drawn)  # whatever was drawn stays ours to clean up
        raise
    for name in sorted(drawn_before - drawn):
        stale = out / name
        if stale.is_file() and not stale.is_symlink():
            stale.unlink()
    _write_figure_list(out, drawn)
    return entries


def _figures_dir(results_dir: Path) -> Path:
    """``figures/`` inside the results folder, created if needed; a link out of the folder is refused."""
    out = inside_folder(results_dir, FIGURES_DIR, f"the {FIGURES_DIR} folder")
    if out.exists() and not out.is_dir():
        raise VmobError(f"{out} is not a folder; the report draws its figures into {FIGURES_DIR}/.")
    try:
        out.mkdir(exist_ok=True)
    except OSError as err:
        raise VmobError(f"cannot create {out}: {err.strerror or err}") from None
    return out


def _figure_list(out: Path) -> set[str]:
    """Names of the figures an earlier report drew (plain PNG/SVG names only; a damaged list counts as empty)."""
    path = out / FIGURE_LIST
    if not path.is_file() or path.is_symlink():
        return set()
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return set()
    if not isinstance(names, list):
        return set()
    return {n for n in names if isinstance(n, str) and n == Path(n).name and not n.startswith(".")
            and Path(n).suffix in FIGURE_SUFFIXES}


def _write_figure_list(out: Path, names: set[str]) -> None:
    _write_text(out / FIGURE_LIST, json.dumps(sorted(names), indent=1) + "\n")


def _write_text(path: Path, text: str) -> None:
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as err:
        raise VmobError(f"cannot write {path}: {err.strerror or err}") from None


def _maps(results: Results, out: Path, source: str) -> list[tuple[str, Path, str]]:
    volumes = results.link_volumes
    assert volumes is not None  # the caller draws maps only when the run wrote link volumes
    ref = plots.REFERENCE_SCENARIO
    labels = [label for label in results.labels if label in set(volumes["scenario"])]
    if ref not in labels:
        results.notes.append(f"link_volumes.parquet has no scenario labelled '{ref}', so the car-volume maps are left out.")
        return []
    years = np.sort(volumes["year"].unique())
    year = int(years[np.argmin(np.abs(years - MAP_YEAR))])
    others = [label for label in labels if label != ref]
    if len(others) > MAX_MAPS:
        results.notes.append(f"Car-volume maps are drawn for the first {MAX_MAPS} of {len(others)} scenarios.")
    maps = []
    for label in others[:MAX_MAPS]:
        path = plots.car_volume_change_map(volumes, results.links, out, scenario=label, reference=ref, year=year,
                                           boundary=results.boundary, source=source)
        maps.append((
            f"Car traffic on the network, {label} against {ref}, {year}", path,
            f"Change in vehicles per day on each road in {year} (both directions together: commuters' and residents' "
            f"cars and the routed through traffic): red roads carry more in '{label}' than in '{ref}', blue roads "
            "fewer, grey roads about the same, so diverted traffic shows where it went. Roads outlined in "
            "yellow have fewer lanes, roads outlined in violet a lower speed limit than in the baseline. "
            "Motorways and ring roads have a dark edge and their names.",
        ))
    return maps


# -------------------------------------------------------------------------------- headline table


def _band_text(values: pd.Series, fmt: str, scale: float = 1.0) -> str:
    values = values.dropna() * scale
    if values.empty:
        return "–"
    mean = fmt.format(values.mean())
    low, high = fmt.format(values.quantile(0.05)), fmt.format(values.quantile(0.95))
    if len(values) < 2 or low == high:
        return mean
    return f"{mean} ({low} to {high})"


def headline_years(summary: pd.DataFrame) -> list[int]:
    """:data:`HEADLINE_YEARS` that were simulated; the last year stands in for a later one."""
    simulated = sorted(int(y) for y in summary["year"].unique())
    years = [y for y in HEADLINE_YEARS if y in simulated]
    if simulated and simulated[-1] < HEADLINE_YEARS[-1] and simulated[-1] not in years:
        years.append(simulated[-1])
    return years


def headline_table(summary: pd.DataFrame, labels: Iterable[str], reference: str = REFERENCE_SCENARIO) -> pd.DataFrame:
    """Per scenario label and headline year: car share, territorial CO2 and their change vs the reference.

    Columns: car share of resident commuters, its change against the reference scenario in
    percentage points, territorial CO2, its change against the reference in t/year and in %,
    the change vs the same run's 2019, through-traffic CO2. Level cells are the mean across
    seeds with, for two or more seeds, the 5–95 % range in brackets; the changes against the
    reference compare the means (see :func:`model.outputs.change_vs_baseline`), "–" for the
    reference itself or without one. Shares and per cents have one decimal.
    """
    compared = change_vs_baseline(summary, reference).set_index(["scenario", "year", "measure"])
    change, pct = compared["change"], compared["change_pct"]

    def versus(label: str, year: int, measure: str, series: pd.Series, fmt: str) -> str:
        value = series.get((label, year, measure), np.nan)
        return "–" if pd.isna(value) else fmt.format(value)

    rows = []
    years = headline_years(summary)
    for label in labels:
        part = summary[summary["scenario"] == label]
        for year in years:
            cell = part[part["year"] == year]
            if cell.empty:
                continue
            rows.append({
                "Scenario": label,
                "Year": str(year),
                "Car share of resident commuters": _band_text(cell["share_car"], "{:.1f} %", 100.0),
                f"Car share vs {reference}": versus(label, year, "share_car", 100.0 * change, "{:+.1f} points"),
                "Territorial transport CO2 (t/year)": _band_text(cell["co2_territorial_t"], "{:,.0f}"),
                f"CO2 vs {reference} (t/year)": versus(label, year, "co2_territorial_t", change, "{:+,.0f}"),
                f"CO2 vs {reference} (%)": versus(label, year, "co2_territorial_t", pct, "{:+.1f} %"),
                "CO2 change vs 2019": _band_text(cell["co2_territorial_change_vs_2019_pct"], "{:+.1f} %"),
                "Through-traffic CO2 (t/year)": _band_text(cell["co2_through_t"], "{:,.0f}"),
            })
    return pd.DataFrame(rows)


#: Leakage columns of the report: summary measure, heading, scale (to millions for vehicle-km).
LEAKAGE_MEASURES: tuple[tuple[str, str, float], ...] = (
    ("vkm_inside_per_year", "Vehicle-km inside (M/year)", 1e-6),
    ("vkm_outside_per_year", "Vehicle-km outside (M/year)", 1e-6),
    ("vkm_evaporated_per_year", "Vehicle-km evaporated (M/year)", 1e-6),
    ("co2_territorial_t", "CO2 inside (t/year)", 1.0),
    ("co2_outside_t", "CO2 outside (t/year)", 1.0),
    ("co2_evaporated_t", "CO2 evaporated (t/year)", 1.0),
)


def leakage_table(summary: pd.DataFrame, reference: str = REFERENCE_SCENARIO) -> pd.DataFrame:
    """Per scenario and headline year: change against the reference inside and outside the boundary, and evaporated.

    A fall inside with a rise outside is traffic (and CO2) moved across the boundary (leakage); the
    evaporated change is through traffic no longer driven because its travel times rose (its
    whole trips' kilometres, on the modelled network inside and outside the boundary).
    """
    compared = change_vs_baseline(summary, reference)
    compared = compared[compared["year"].isin(headline_years(summary))].set_index(["scenario", "year", "measure"])["change"]
    rows = []
    for label, year in dict.fromkeys((s, y) for s, y, _ in compared.index):
        row = {"Scenario": label, "Year": str(year)}
        for measure, title, scale in LEAKAGE_MEASURES:
            value = compared.get((label, year, measure), np.nan)
            row[title] = "–" if pd.isna(value) else f"{value * scale:+,.{1 if scale < 1 else 0}f}"
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------- effects, co-benefits, costs


def focus_year(summary: pd.DataFrame, wanted: int = MAP_YEAR) -> int:
    """The simulated year nearest ``wanted`` (2030, the plan's milestone)."""
    years = np.sort(summary["year"].unique())
    return int(years[np.argmin(np.abs(years - wanted))])


def lever_effects(results: Results) -> pd.DataFrame:
    """The ``effects`` table of the folder, else the paired effects computed from the summary (empty with one seed)."""
    effects = results.tables.get("effects")
    if effects is None or effects.empty:
        effects = paired_effects(results.tables["summary"])
    return effects


def _verdict(row: Any) -> str:
    return "yes" if row.distinguishable_from_zero == "yes" else "**no: not distinguishable from zero**"


def effects_rows(effects: pd.DataFrame, year: int, labels: Iterable[str]) -> list[list[str]]:
    """Rows of the report's effects table: paired effect on car share and territorial CO2 in ``year``, with verdicts."""
    order = {label: i for i, label in enumerate(labels)}
    part = effects[(effects["year"] == year) & effects["figure"].isin(list(SHOWN_FIGURES))]
    part = part.sort_values(["scenario", "figure"], key=lambda s: s.map(order) if s.name == "scenario" else s)
    rows = []
    for row in part.itertuples():
        scale, unit = SHOWN_FIGURES[row.figure]
        rows.append([
            str(row.scenario), EFFECT_NAMES.get(str(row.figure), str(row.figure)),
            f"{scale * row.effect_mean:+,.2f} {unit}",
            f"{scale * row.effect_ci_low:+,.2f} to {scale * row.effect_ci_high:+,.2f}",
            str(int(row.seeds)), _verdict(row),
        ])
    return rows


def _not_distinguishable(effects: pd.DataFrame, label: str, year: int, figure: str) -> bool:
    part = effects[(effects["scenario"] == label) & (effects["year"] == year) & (effects["figure"] == figure)]
    return not part.empty and bool((part["distinguishable_from_zero"] == "no").all())


def scenario_levers(results: Results) -> dict[str, list[Any]]:
    """Scenario name → its levers as lever objects (records that are no longer valid levers are skipped)."""
    from pydantic import ValidationError

    scenarios = results.config.get("scenarios")
    if isinstance(scenarios, list):
        scenarios = {str(s.get("name", i)): s for i, s in enumerate(scenarios) if isinstance(s, dict)}
    out: dict[str, list[Any]] = {}
    for name, spec in _dict(scenarios).items():
        records = _dict(spec).get("levers") or []
        levers = []
        for record in records if isinstance(records, list) else [records]:
            try:
                levers.append(_lever_adapter().validate_python(record, strict=False))
            except ValidationError:
                continue
        out[str(name)] = levers
    return out


def _appraisal_parameters(results: Results) -> Any:
    from model.parameters import load_parameters

    overrides = _dict(results.config.get("parameters"))
    try:
        return load_parameters(overrides or None).appraisal
    except VmobError:
        results.notes.append("The experiment's parameter overrides no longer load: the co-benefits use the "
                             "unit values of experiments/parameters/appraisal.toml as they are.")
        return load_parameters().appraisal


def _signed(value: float, digits: int) -> str:
    """``+1.23`` / ``-1.23``; a value that rounds to zero is ``0.00`` without a sign."""
    rounded = round(float(value), digits) + 0.0
    return f"{rounded:,.{digits}f}" if rounded == 0 else f"{rounded:+,.{digits}f}"


def _money(value: float) -> str:
    return _signed(value / 1e6, 2)


def _discount_rate(results: Results) -> float:
    from model.config import DEFAULT_DISCOUNT_RATE

    rate = results.config.get("discount_rate", DEFAULT_DISCOUNT_RATE)
    return float(rate) if isinstance(rate, (int, float)) and not isinstance(rate, bool) else DEFAULT_DISCOUNT_RATE


def appraisal_context(results: Results) -> dict[str, Any]:
    """Lever effects with verdicts, co-benefits, cost per tonne and the decision split, as template values."""
    summary = results.tables["summary"]
    year = focus_year(summary)
    effects = lever_effects(results)
    labels = results.labels
    context: dict[str, Any] = {"year": year, "effects": effects_rows(effects, year, labels),
                               "effect_seeds": int(effects["seeds"].max()) if not effects.empty else 0,
                               "cobenefits": [], "not_computed": list(NOT_COMPUTED), "costs": [], "split": [],
                               "discount_rate": f"{100 * _discount_rate(results):g} %", "uncosted": [],
                               "cobenefits_left_out": "", "packages": [],
                               "cobenefit_marks": False}
    saved = savings(summary)
    if saved.empty:
        return context
    value = None
    if "vehicle_km" in results.tables:
        params = _appraisal_parameters(results)
        table = cobenefits(results.tables["mode_split"], results.tables["vehicle_km"], params)
        columns_ = [*COBENEFIT_COLUMNS, "health_value_dkk"]
        changes = cobenefit_changes(table, columns_)
        changes["value_dkk"] = (changes["health_value_dkk"] - changes["accident_cost_dkk"] - changes["noise_cost_dkk"]
                                - changes["air_cost_dkk"])
        value = changes[["scenario", "year", "value_dkk"]]
        at = changes[changes["year"] == year].set_index("scenario")
        table["deaths_avoided"] = table["deaths_avoided_bike"] + table["deaths_avoided_walk"]
        table["value_dkk"] = table["health_value_dkk"] - table["accident_cost_dkk"] - table["noise_cost_dkk"] - table["air_cost_dkk"]
        shown = ["deaths_avoided", "nox_diesel_car_t", "pm25_non_exhaust_car_kg", "accident_cost_dkk", "noise_cost_dkk",
                 "air_cost_dkk", "health_value_dkk", "value_dkk"]
        unclear = not_distinguishable(table, shown, year)
        for label in labels:
            if label not in at.index:
                continue
            c = at.loc[label]
            cells = [_signed(c["deaths_avoided_bike"] + c["deaths_avoided_walk"], 3), _signed(c["nox_diesel_car_t"], 2),
                     _signed(c["pm25_non_exhaust_car_kg"], 1), _money(-c["accident_cost_dkk"]), _money(-c["noise_cost_dkk"]),
                     _money(-c["air_cost_dkk"]), _money(c["health_value_dkk"]), _money(c["value_dkk"])]
            context["cobenefits"].append([label] + [
                f"{cell} †" if (label, column) in unclear else cell for cell, column in zip(cells, shown, strict=True)
            ])
            context["cobenefit_marks"] = context["cobenefit_marks"] or any(label == u[0] for u in unclear)
    else:
        context["cobenefits_left_out"] = "No vehicle_km table in the folder: the co-benefits are left out."
    levers = scenario_levers(results)
    start = int(results.config.get("start_year") or summary["year"].min())
    rows = appraise(saved, levers, _discount_rate(results), start, value, year)
    for row in sorted(rows, key=lambda r: labels.index(r.scenario) if r.scenario in labels else len(labels)):
        per_t = row.dkk_per_t
        flag = " (not distinguishable from zero)" if _not_distinguishable(effects, row.scenario, year, SAVED_FIGURE) else ""
        if per_t is not None:
            per_t_text = f"{per_t:,.0f}"
        elif not row.costed:
            per_t_text = "no costs given"
        else:
            per_t_text = "no saving"
        context["costs"].append([
            row.scenario, row.decided_by, f"{row.saved_t:+,.0f}{flag}", f"{row.saved_pv_t:,.0f}",
            f"{row.cost_pv_dkk / 1e6:,.2f}" if row.costed else "–", per_t_text,
            _money(row.cobenefit_pv_dkk) if value is not None else "–",
        ])
        if not row.costed:
            context["uncosted"].append(row.scenario)
    context["packages"] = sorted(packages(levers))
    split = decision_split([r for r in rows if r.scenario in set(saved["scenario"])], set(context["packages"]))
    context["split"] = [[str(r.decided_by), str(r.groups), f"{r.saved_t:+,.0f}",
                         "–" if pd.isna(r.share) else f"{100 * r.share:.0f} %"] for r in split.itertuples()]
    return context
def purpose_table(mode_split: pd.DataFrame, labels: Iterable[str], year: int) -> pd.DataFrame:
    """Residents' travel by purpose in ``year``, per scenario label (mean across seeds).

    Columns: trips per resident and day of the purpose, and the purpose's mode shares (of trips).
    Residents are the persons of the purpose most residents make (every person group makes leisure
    trips with the default rates, docs/model.md §9c). Empty without a ``purpose`` column.
    """
    if "purpose" not in mode_split or "trips_per_day" not in mode_split:
        return pd.DataFrame()
    rows = []
    residents = mode_split[(mode_split["road_user"] == "resident") & (mode_split["year"] == year)]
    modes = list(dict.fromkeys(residents["mode"]))
    for label in labels:
        part = residents[residents["scenario"] == label]
        if part.empty:
            continue
        per_seed = part.groupby(["seed", "purpose"])[["commuters", "trips_per_day"]].sum()
        persons = per_seed["commuters"].groupby(level="seed").max()
        trips = part.pivot_table(index=["seed", "purpose"], columns="mode", values="trips_per_day", aggfunc="sum")
        for purpose in [*dict.fromkeys(part["purpose"]), "all"]:
            if purpose == "all":
                day = (per_seed["trips_per_day"].groupby(level="seed").sum() / persons).mean()
                by_mode = trips.groupby(level="seed").sum().reindex(columns=modes, fill_value=0.0)
            else:
                day = (per_seed.xs(purpose, level="purpose")["trips_per_day"] / persons).mean()
                by_mode = trips.xs(purpose, level="purpose").reindex(columns=modes, fill_value=0.0)
            shares = (by_mode.div(by_mode.sum(axis=1), axis=0)).mean()
            rows.append({
                "Scenario": label, "Purpose": purpose, "Trips per resident and day": f"{day:.2f}",
                **{f"{m}": f"{100.0 * shares[m]:.1f} %" for m in modes},
            })
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ the report


@dataclass(frozen=True)
class ScenarioText:
    """A scenario in the report: its name, description and levers in words."""

    name: str
    description: str
    levers: list[str]


@dataclass(frozen=True)
class Finding:
    """One sentence of the headline numbers: a scenario in a year."""

    label: str
    year: int
    text: str


def _scenarios(results: Results) -> list[ScenarioText] | None:
    """The scenarios recorded in the manifest, in file order; None when the manifest has none."""
    scenarios = results.config.get("scenarios")
    if isinstance(scenarios, list):
        scenarios = {str(s.get("name", i)): s for i, s in enumerate(scenarios) if isinstance(s, dict)}
    if not isinstance(scenarios, dict) or not scenarios:
        return None
    texts = []
    for name, spec in scenarios.items():
        spec = _dict(spec)
        levers = spec.get("levers") or []
        levers = levers if isinstance(levers, list) else [levers]
        description = spec.get("description") or spec.get("label") or ""
        texts.append(ScenarioText(str(name), str(description), [lever_description(lever) for lever in levers]))
    return texts


@cache
def _lever_adapter() -> Any:
    from pydantic import TypeAdapter

    from model.levers import LeverConfig

    return TypeAdapter(LeverConfig)


def lever_description(lever: Any) -> str:
    """A lever recorded in the manifest, in words (the lever class's ``describe``).

    A record that is no longer a valid lever (an older manifest, another version) is listed
    as its kind, start and fields.
    """
    from pydantic import ValidationError

    if isinstance(lever, dict):
        try:
            return _lever_adapter().validate_python(lever, strict=False).describe()
        except ValidationError:
            pass
    return _lever_fields_text(lever)


def _lever_fields_text(lever: Any) -> str:
    if not isinstance(lever, dict):
        return str(lever)
    kind = str(lever.get("kind", "lever")).replace("_", " ")
    start = lever.get("start")
    rest = ", ".join(
        f"{k}: {_value_text(v)}" for k, v in lever.items() if k not in ("kind", "start", "id") and v not in (None, [], {}, "")
    )
    return f"{kind}" + (f" from {start}" if start else "") + (f"; {rest}" if rest else "")


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def _sweep_parameters(results: Results) -> dict[str, list[Any]]:
    if results.runs is None:
        return {}
    columns_ = [c for c in results.runs.columns if c not in ("run_id", "scenario", "label", "seed")]
    return {c: plots._sorted_values(results.runs[c]) for c in columns_ if results.runs[c].nunique() > 0}


def _findings(results: Results) -> list[Finding]:
    """One sentence per scenario and headline year after 2019, with the saving against the reference."""
    summary = results.tables["summary"]
    ref = REFERENCE_SCENARIO
    focus = [y for y in headline_years(summary) if y != plots.PLAN_BASE_YEAR]
    effects = lever_effects(results)
    findings = []
    for label in results.labels:
        part = summary[summary["scenario"] == label]
        for year in focus:
            cell = part[part["year"] == year]
            if cell.empty:
                continue
            co2 = cell["co2_territorial_t"].mean()
            change = cell["co2_territorial_change_vs_2019_pct"].mean()
            text = f"territorial transport CO2 {co2:,.0f} t/year"
            if not np.isnan(change):
                text += f" ({change:+.1f} % vs 2019)"
            text += f"; car share of resident commuters {100 * cell['share_car'].mean():.1f} %"
            if label != ref and ref in set(summary["scenario"]):
                base = summary[(summary["scenario"] == ref) & (summary["year"] == year)]["co2_territorial_t"].mean()
                if not np.isnan(base):
                    text += f"; {abs(base - co2):,.0f} t/year {'less' if base >= co2 else 'more'} than '{ref}'"
                    if _not_distinguishable(effects, label, year, SAVED_FIGURE):
                        text += " (not distinguishable from zero)"
            findings.append(Finding(label, year, text))
    return findings


def report_context(results: Results, figures: list[FigureEntry]) -> dict[str, Any]:
    """Everything the report templates show, as plain values (the templates escape them)."""
    summary = results.tables["summary"]
    seeds = int(summary["seed"].nunique())
    years = sorted(int(y) for y in summary["year"].unique())
    question = results.config.get("question") or results.manifest.get("question")
    headline = headline_table(summary, results.labels)
    appraisal = appraisal_context(results)
    versions = results.manifest.get("packages")
    return {
        "name": results.name,
        "title": f"{results.name}: mobility and transport CO2 in Vallensbæk",
        "question": str(question) if question else "",
        "first_year": years[0],
        "last_year": years[-1],
        "scenario_count": _count(len(results.labels), "scenario"),
        "seed_count": _count(seeds, "seed"),
        "scenarios": _scenarios(results),
        "labels": results.labels,
        "sweep": {name: [str(v) for v in values] for name, values in _sweep_parameters(results).items()},
        "findings": _findings(results),
        "band_note": "Mean across seeds" + (", with the 5–95 % range across seeds in brackets." if seeds > 1
                                            else " (one seed, no range)."),
        "headline": {
            "columns": list(headline.columns),
            "rows": [[str(v) for v in row] for row in headline.itertuples(index=False)],
            "rule": "|" + "|".join("---" if i < 2 else "---:" for i in range(len(headline.columns))) + "|",
        },
        "leakage": _table_context(leakage_table(summary)),
        "purposes": _table_context(purpose_table(results.tables["mode_split"], results.labels, years[-1])),
        "purpose_year": years[-1],
        "figures": [
            {"title": f.title, "path": f.path, "caption": f.caption, "svg": Path(f.path).with_suffix(".svg").as_posix(),
             "svg_name": Path(f.path).with_suffix(".svg").name}
            for f in figures
        ],
        "appraisal": appraisal,
        "notes": list(results.notes),
        "provenance": provenance(results.manifest),
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()) if isinstance(versions, dict) else "",
        "tables": ", ".join(sorted(results.tables)),
        "rebuild": f"vmob report {results.path.as_posix()}",
    }


def _table_context(table: pd.DataFrame) -> dict[str, Any]:
    """Columns, rows as text and the Markdown rule line of a report table."""
    return {
        "columns": list(table.columns),
        "rows": [[str(v) for v in row] for row in table.itertuples(index=False)],
        "rule": "|" + "|".join("---" if i < 2 else "---:" for i in range(len(table.columns))) + "|",
    }


def _markdown_text(value: Any) -> str:
    """Text from the results folder made inert in Markdown: no raw HTML tag, link or image can open."""
    return str(value).replace("<", "&lt;").replace("[", "\\[")


def _markdown_cell(value: Any) -> str:
    return _markdown_text(value).replace("|", "\\|")


def _markdown_code(value: Any) -> str:
    return str(value).replace("`", "'")


def _markdown_to_html(text: str) -> Markup:
    """Our own Markdown (``how_to_read.md``) as HTML; never used on text from the results folder."""
    import markdown

    return Markup(markdown.markdown(text))


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(md=_markdown_text, md_cell=_markdown_cell, md_code=_markdown_code,
                               markdown=_markdown_to_html)
    return environment


def render_markdown(results: Results, figures: list[FigureEntry]) -> str:
    """``report.md`` from ``templates/report.md.j2``: question, scenarios, headline numbers, figures, provenance."""
    return _environment().get_template("report.md.j2").render(report_context(results, figures))


def render_html(results: Results, figures: list[FigureEntry]) -> str:
    """``report.html`` from ``templates/report.html.j2``, every value from the folder HTML-escaped."""
    return _environment().get_template("report.html.j2").render(report_context(results, figures))


def build_report(results_dir: str | Path) -> Path:
    """Rebuild all figures and write ``report.md`` and ``report.html`` into a results folder.

    Parameters
    ----------
    results_dir
        ``results/<experiment>/`` as written by the runner.

    Returns
    -------
    Path
        The written ``report.md`` (``report.html`` lies beside it).

    Raises
    ------
    VmobError
        One line naming the file: the folder, a table it needs or a column is missing, a file is
        damaged or leads out of the folder, or a file cannot be written.
    """
    results = load_results(results_dir)
    figures = build_figures(results)
    md_path = results.path / "report.md"
    _write_text(md_path, render_markdown(results, figures))
    _write_text(results.path / "report.html", render_html(results, figures))
    return md_path


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
