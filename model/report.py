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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model import plots
from model.errors import VmobError
from model.files import atomic_path
from model.outputs import read_tables

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
        config = self.manifest.get("config")
        return config if isinstance(config, dict) else self.manifest

    @property
    def name(self) -> str:
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

    Raises
    ------
    VmobError
        The folder does not exist, or ``datapackage.json``, a required table's Parquet file or
        ``network_links.parquet`` (when ``link_volumes.parquet`` is there) is missing; the
        message names the file.
    """
    path = Path(results_dir)
    if not path.is_dir():
        raise VmobError(f"results folder not found: {path}")
    tables = read_tables(path)
    for name in REQUIRED_TABLES:
        if name not in tables:
            raise VmobError(f"{path / (name + '.parquet')} is missing: the report needs the {name} table.")
        if tables[name].empty:
            raise VmobError(f"{path / (name + '.parquet')} has no rows.")
    notes: list[str] = []
    manifest: dict[str, Any] = {}
    manifest_path = path / "manifest.json"
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise VmobError(f"{manifest_path}: not readable JSON ({err})") from None
    else:
        notes.append("No manifest.json in the results folder: the question, levers and provenance are not recorded.")
    runs = None
    runs_path = path / "runs.csv"
    if runs_path.is_file():
        runs = pd.read_csv(runs_path)
        missing = [c for c in ("scenario", "label", "seed") if c not in runs.columns]
        if missing:
            raise VmobError(f"{runs_path}: column '{missing[0]}' is missing.")
    results = Results(path, tables, manifest, runs, notes=notes)
    volumes_path, links_path = path / "link_volumes.parquet", path / "network_links.parquet"
    if volumes_path.is_file():
        if not links_path.is_file():
            raise VmobError(f"{links_path} is missing: the car-volume maps need it beside link_volumes.parquet.")
        import geopandas as gpd

        results.link_volumes = pd.read_parquet(volumes_path)
        results.links = gpd.read_parquet(links_path)
        results.boundary = _boundary(results)
    else:
        notes.append("No link_volumes.parquet in the results folder: the car-volume maps are left out.")
    return results


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
    """Draw every figure the folder supports into ``figures/``; remove stale figure files."""
    out = results.path / FIGURES_DIR
    out.mkdir(parents=True, exist_ok=True)
    source = source_line(results.manifest, results.name)
    summary, order = results.tables["summary"], results.labels
    ref = plots.REFERENCE_SCENARIO
    entries: list[FigureEntry] = []

    def add(title: str, path: Path | None, caption: str) -> None:
        if path is not None:
            entries.append(FigureEntry(title, f"{FIGURES_DIR}/{path.name}", caption))

    add("Mode split of resident commuters", plots.mode_split_chart(results.tables["mode_split"], out, order=order, source=source),
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
        entries += _maps(results, out, source)
    if results.runs is not None:
        heat = plots.sweep_heatmap(summary, results.runs, out, year=MAP_YEAR, source=source)
        add("Sweep", heat,
            "Territorial transport CO2 for every combination of the two swept parameters (mean across seeds); "
            "the second number in each cell is the change against 2019. Darker cells emit more.")
    written = {Path(e.path).stem for e in entries}
    for stale in list(out.glob("*.png")) + list(out.glob("*.svg")):
        if stale.stem not in written:
            stale.unlink()
    return entries


def _maps(results: Results, out: Path, source: str) -> list[FigureEntry]:
    volumes = results.link_volumes
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
    entries = []
    for label in others[:MAX_MAPS]:
        path = plots.car_volume_change_map(volumes, results.links, out, scenario=label, reference=ref, year=year,
                                           boundary=results.boundary, source=source)
        entries.append(FigureEntry(
            f"Car traffic on the network, {label} against {ref}, {year}", f"{FIGURES_DIR}/{path.name}",
            f"Change in commuters' cars per day on each road in {year} (both directions together): red roads carry "
            f"more cars in '{label}' than in '{ref}', blue roads fewer, grey roads about the same. Roads outlined in "
            "yellow have fewer lanes, roads outlined in violet a lower speed limit than in the baseline. "
            "Motorways and ring roads have a dark edge and their names.",
        ))
    return entries


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


def headline_table(summary: pd.DataFrame, labels: Iterable[str]) -> pd.DataFrame:
    """Per scenario label and headline year: car share, territorial CO2, change vs 2019, through-traffic CO2.

    Each cell is the mean across seeds and, with two or more seeds, the 5–95 % range in brackets.
    """
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
                "Territorial transport CO2 (t/year)": _band_text(cell["co2_territorial_t"], "{:,.0f}"),
                "Change vs 2019": _band_text(cell["co2_territorial_change_vs_2019_pct"], "{:+.1f} %"),
                "Through-traffic CO2 (t/year)": _band_text(cell["co2_through_t"], "{:,.0f}"),
            })
    return pd.DataFrame(rows)


def _markdown_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_No rows._"
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" if i < 2 else "---:" for i in range(len(frame.columns))) + "|"
    body = ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


# ------------------------------------------------------------------------------------ the report


def _scenarios_section(results: Results) -> list[str]:
    scenarios = results.config.get("scenarios")
    if isinstance(scenarios, list):
        scenarios = {str(s.get("name", i)): s for i, s in enumerate(scenarios) if isinstance(s, dict)}
    lines = []
    if isinstance(scenarios, dict) and scenarios:
        for name, spec in scenarios.items():
            spec = spec if isinstance(spec, dict) else {}
            description = spec.get("description") or spec.get("label") or ""
            lines.append(f"- **{name}**" + (f": {description}" if description else ""))
            levers = spec.get("levers") or []
            if not levers:
                lines.append("  - no levers beyond the inputs (lines and services as planned in the transit file)")
            for lever in levers:
                lines.append(f"  - {_lever_text(lever)}")
    else:
        lines += [f"- **{label}**" for label in results.labels]
        lines.append("")
        lines.append("_The levers are not recorded (no scenarios in manifest.json)._")
    sweep = _sweep_parameters(results)
    if sweep:
        lines += ["", "Sweep (every combination is run for every scenario):", ""]
        lines += [f"- `{name}`: {', '.join(str(v) for v in values)}" for name, values in sweep.items()]
    return lines


def _lever_text(lever: Any) -> str:
    if not isinstance(lever, dict):
        return str(lever)
    kind = str(lever.get("kind", "lever")).replace("_", " ")
    start = lever.get("start")
    rest = ", ".join(
        f"{k} = {_value_text(v)}" for k, v in lever.items() if k not in ("kind", "start", "id") and v not in (None, [], {}, "")
    )
    return f"{kind}" + (f" from {start}" if start else "") + (f": {rest}" if rest else "")


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def _sweep_parameters(results: Results) -> dict[str, list[Any]]:
    if results.runs is None:
        return {}
    columns = [c for c in results.runs.columns if c not in ("run_id", "scenario", "label", "seed")]
    return {c: plots._sorted_values(results.runs[c]) for c in columns if results.runs[c].nunique() > 0}


def _findings(results: Results) -> list[str]:
    """One sentence per scenario on its last headline year, and the saving against the reference."""
    summary = results.tables["summary"]
    years = headline_years(summary)
    if not years:
        return []
    lines = []
    ref = plots.REFERENCE_SCENARIO
    focus = [y for y in years if y != plots.PLAN_BASE_YEAR]
    for label in results.labels:
        part = summary[summary["scenario"] == label]
        for year in focus:
            cell = part[part["year"] == year]
            if cell.empty:
                continue
            co2 = cell["co2_territorial_t"].mean()
            change = cell["co2_territorial_change_vs_2019_pct"].mean()
            text = f"- **{label}**, {year}: territorial transport CO2 {co2:,.0f} t/year"
            if not np.isnan(change):
                text += f" ({change:+.0f} % vs 2019)"
            text += f"; car share of resident commuters {100 * cell['share_car'].mean():.0f} %"
            if label != ref and ref in set(summary["scenario"]):
                base = summary[(summary["scenario"] == ref) & (summary["year"] == year)]["co2_territorial_t"].mean()
                if not np.isnan(base):
                    text += f"; {abs(base - co2):,.0f} t/year {'less' if base >= co2 else 'more'} than '{ref}'"
            lines.append(text + ".")
    return lines


HOW_TO_READ = """\
- **Territorial** CO2 is what is emitted inside the municipal boundary, by anyone: residents, in-commuters
  and the through traffic on the motorways. It is the accounting of the climate plan's inventory (52,009 t
  for all sectors in 2019, almost 60 % of it transport). **Resident** CO2 is what Vallensbæk's residents emit
  on their commutes and other trips, wherever they drive. The two overlap; never add them.
- The model is run several times with different random seeds (the commuters drawn, their car purchases
  and job changes). Figures and the table show the **mean**; the shaded bands and the numbers in brackets
  show the **5–95 % range** across seeds, the spread from chance alone, not the uncertainty of the
  model's assumptions.
- The **mode split** covers commuting trips of residents (the agents of the model), not all travel.
- **Through traffic** on the motorways is a background flow from traffic counts: levers change its speed
  and so its CO2 per km, but not its volume.
- **Targets.** The plan aims at −71 % in 2030 against **1990** for all sectors and climate neutrality by
  2050. The 1990 transport figure is not available, so the 2030 target is not drawn and the change shown
  is against **2019**; the 2050 point is 0 t.
- Scenarios are **whole packages**: the saving of two scenarios cannot be added to get the saving of both.
"""


def render_markdown(results: Results, figures: list[FigureEntry]) -> str:
    """The report as Markdown: question, scenarios, headline numbers, figures, how to read, provenance."""
    config = results.config
    p = provenance(results.manifest)
    summary = results.tables["summary"]
    seeds = int(summary["seed"].nunique())
    years = sorted(int(y) for y in summary["year"].unique())
    lines = [f"# {results.name}: mobility and transport CO2 in Vallensbæk", ""]
    question = config.get("question") or results.manifest.get("question")
    lines += ["## The question", "", str(question) if question else "_No question recorded in manifest.json._", ""]
    lines += [f"Simulated years {years[0]}–{years[-1]}, {_count(len(results.labels), 'scenario')}, {_count(seeds, 'seed')} each.", ""]
    lines += ["## Scenarios and their levers", "", *_scenarios_section(results), ""]
    lines += ["## Headline numbers", ""]
    findings = _findings(results)
    if findings:
        lines += [*findings, ""]
    lines += [
        "Mean across seeds" + (", with the 5–95 % range across seeds in brackets." if seeds > 1 else " (one seed, no range)."),
        "",
        _markdown_table(headline_table(summary, results.labels)),
        "",
    ]
    lines += ["## Figures", ""]
    for entry in figures:
        lines += [f"### {entry.title}", "", f"![{entry.title}]({entry.path})", "", entry.caption, "",
                  f"Vector version: [{Path(entry.path).with_suffix('.svg').name}]({Path(entry.path).with_suffix('.svg').as_posix()})", ""]
    if results.notes:
        lines += ["### Left out", "", *[f"- {note}" for note in results.notes], ""]
    lines += ["## How to read this", "", HOW_TO_READ]
    lines += [
        "## Provenance",
        "",
        f"- Experiment: `{p['experiment']}`",
        f"- Config hash: `{p['config_hash']}`",
        f"- Git commit: `{p['commit']}`",
        f"- Network: `{p['network']}` (sha256 `{p['network_sha256']}`)",
        f"- Seeds: {p['seeds']}",
    ]
    versions = results.manifest.get("packages")
    if isinstance(versions, dict) and versions:
        lines.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    lines += [
        f"- Tables: {', '.join(sorted(results.tables))} (CSV and Parquet in this folder; `summary.xlsx` for Excel; "
        "columns explained in `datapackage.json` and the workbook's `columns` sheet)",
        "",
        f"Rebuild this report from the tables with `vmob report {results.path.as_posix()}`.",
        "",
    ]
    return "\n".join(lines)


HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; line-height: 1.45; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; }}
th {{ background: #f3f3f3; }}
img {{ max-width: 100%; border: 1px solid #eee; }}
code {{ background: #f5f5f5; padding: 0 0.2em; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""


def render_html(markdown_text: str, title: str) -> str:
    """The Markdown report as a standalone HTML page (figures stay relative links)."""
    import html

    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables"])
    return HTML_TEMPLATE.format(title=html.escape(title), body=body)


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
        The folder or a table it needs is missing (the message names the file).
    """
    results = load_results(results_dir)
    figures = build_figures(results)
    text = render_markdown(results, figures)
    md_path = results.path / "report.md"
    with atomic_path(md_path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    with atomic_path(results.path / "report.html") as tmp:
        tmp.write_text(render_html(text, f"{results.name}: report"), encoding="utf-8")
    return md_path


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
