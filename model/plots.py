"""Figures for planners, drawn with matplotlib's object API (no global pyplot state).

Every function writes its PNG to a temporary name beside the target and renames
it into place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib
import numpy as np
import osmnx as ox
import pandas as pd
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter
from matplotlib.typing import LineStyleType

from model.errors import VmobError
from model.files import atomic_path
from model.network import Network
from model.outputs import REFERENCE_SCENARIO
from model.settings import CRS_METRIC, CRS_WGS84
from model.transit import Transit


@dataclass(frozen=True)
class _Style:
    label: str
    color: str
    width: float
    linestyle: LineStyleType = "-"


#: Road classes from the emissions road category, drawn from local (bottom) to motorway (top).
ROAD_STYLES = {
    "path": _Style("foot and cycle path", "#9a9a9a", 0.6, ":"),
    "local": _Style("local street", "#a6a6a6", 0.6),
    "urban": _Style("urban road", "#5f6b73", 1.3),
    "ring": _Style("ring road / primary", "#e08a1e", 2.4),
    "motorway": _Style("motorway", "#c0392b", 3.0),
}
#: Cycle routes are a light band under the road, so the road keeps its class colour.
CYCLE_STYLE = _Style("cycle track, lane or path", "#8fd19e", 5.0)
RAIL_STYLES = {
    "s_train": _Style("S-train", "#6a1b6e", 2.6),
    "light_rail": _Style("light rail (Letbane)", "#1f6fb2", 2.6, (0, (4, 2))),
}
#: Columns of ``link_volumes`` summed for the road-traffic change maps: vehicles per day on each edge.
TRAFFIC_COLUMNS: tuple[str, ...] = ("car_commute_daily", "car_purposes_daily", "through_daily")
#: Scale bar lengths to choose from, m: the longest that fits a fifth of the panel (1 km in the municipality panel).
SCALE_BARS_M = (1000.0, 2000.0, 5000.0, 10000.0)
#: Stations closer than this to an already labelled one get their label below the marker, m.
LABEL_CLASH_M = 500.0
#: Margin around the municipality in the zoomed panel, m.
ZOOM_MARGIN_M = 1500.0


def network_map(network: Network, transit: Transit, out_path: str | Path) -> Path:
    """Draw the network: boundary, roads by class, cycle routes, rail lines and stations.

    Two panels in EPSG:25832: the whole network (commuting corridors) and the
    municipality with its stations labelled, each with a scale bar (1 km in the
    municipality panel), and one legend below them.

    Parameters
    ----------
    network
        A normalised network (:func:`model.network.load_network`).
    transit
        Rail lines and stations; every stop of every line is drawn, whatever its dates.
    out_path
        PNG file to write.

    Returns
    -------
    Path
        ``out_path``.
    """
    edges = _unique_ways(ox.convert.graph_to_gdfs(network.graph, nodes=False, fill_edge_geometry=True))
    stations = _stations(transit)
    boundary = gpd.GeoSeries([network.boundary], crs=CRS_METRIC)
    whole = _bounds(edges.total_bounds, stations.total_bounds, boundary.total_bounds, margin=300.0)
    zoom = _intersect(_bounds(boundary.total_bounds, margin=ZOOM_MARGIN_M), whole)
    figure = Figure(figsize=(16, 8.5), dpi=130, layout="constrained")
    overview, detail = figure.subplots(1, 2)
    for ax, extent, labelled, title in (
        (overview, whole, False, "Network and commuting corridors"),
        (detail, zoom, True, "Municipality"),
    ):
        _draw(ax, edges, boundary, transit, stations, labelled)
        _frame(ax, extent, title)
        _scale_bar(ax, extent)
    if zoom != whole:
        overview.add_patch(_extent_patch(zoom))
    figure.legend(handles=_legend_handles(), loc="outside lower center", ncol=5, fontsize=8, frameon=False)
    figure.suptitle(f"{Path(network.source).name}  (EPSG:25832)", fontsize=11)
    out_path = Path(out_path)
    _savefig(figure, out_path, "png")
    return out_path


def _savefig(figure: Figure, path: Path, fmt: str) -> None:
    """Write a figure atomically; a path that cannot be written is a one-line error naming it."""
    try:
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=fmt, dpi=figure.dpi)
    except OSError as err:
        raise VmobError(f"cannot write {path}: {err.strerror or err}") from None


def _unique_ways(edges: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One row per way segment: the reverse edge of a two-way street is dropped."""
    u = edges.index.get_level_values("u").to_numpy()
    v = edges.index.get_level_values("v").to_numpy()
    osmid = edges["osmid"].map(lambda value: str(value[0] if isinstance(value, list) else value)).to_numpy()
    key = [(min(a, b), max(a, b), o) for a, b, o in zip(u, v, osmid, strict=True)]
    return edges.loc[~gpd.pd.Series(key).duplicated().to_numpy()]


def _stations(transit: Transit) -> gpd.GeoDataFrame:
    names = sorted(transit.stations)
    lon = [transit.stations[name].lon for name in names]
    lat = [transit.stations[name].lat for name in names]
    modes = {name: {line.mode for line in transit.lines.values() if name in line.stops} for name in names}
    frame = gpd.GeoDataFrame(
        {"name": names, "light_rail_only": [modes[name] == {"light_rail"} for name in names]},
        geometry=gpd.points_from_xy(lon, lat),
        crs=CRS_WGS84,
    )
    return frame.to_crs(CRS_METRIC)


def _bounds(*boxes: np.ndarray, margin: float) -> tuple[float, float, float, float]:
    stacked = np.array([box for box in boxes if np.all(np.isfinite(box))])
    return (
        float(stacked[:, 0].min() - margin),
        float(stacked[:, 1].min() - margin),
        float(stacked[:, 2].max() + margin),
        float(stacked[:, 3].max() + margin),
    )


def _intersect(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def _road_class(edges: gpd.GeoDataFrame) -> np.ndarray:
    drivable = edges["drive_allowed"].astype(bool).to_numpy()
    return np.where(drivable, edges["road_category"].to_numpy(), "path")


def _draw(
    ax: Axes,
    edges: gpd.GeoDataFrame,
    boundary: gpd.GeoSeries,
    transit: Transit,
    stations: gpd.GeoDataFrame,
    labelled: bool,
) -> None:
    boundary.plot(ax=ax, facecolor="#f3efe4", edgecolor="#4d4d4d", linewidth=1.4, linestyle="--", zorder=0)
    classes = _road_class(edges)
    for order, (road_class, style) in enumerate(ROAD_STYLES.items()):
        subset = edges[classes == road_class]
        if len(subset):
            subset.plot(ax=ax, color=style.color, linewidth=style.width, linestyle=style.linestyle, zorder=1 + order)
    cycle = edges[edges["cycleway"].astype(bool).to_numpy()]
    if len(cycle):
        cycle.plot(ax=ax, color=CYCLE_STYLE.color, linewidth=CYCLE_STYLE.width, alpha=0.7, zorder=0.5)
    position = dict(zip(stations["name"], zip(stations.geometry.x, stations.geometry.y, strict=True), strict=True))
    for line in transit.lines.values():
        style = RAIL_STYLES[line.mode]
        xy = np.array([position[stop] for stop in line.stops])
        ax.plot(xy[:, 0], xy[:, 1], color=style.color, linewidth=style.width, linestyle=style.linestyle, zorder=11)
    for light_rail_only, marker_color in ((False, RAIL_STYLES["s_train"].color), (True, RAIL_STYLES["light_rail"].color)):
        subset = stations[stations["light_rail_only"] == light_rail_only]
        ax.scatter(subset.geometry.x, subset.geometry.y, s=30, color="white", edgecolor=marker_color, linewidth=1.6, zorder=12)
    if labelled:
        halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
        placed: list[tuple[float, float]] = []
        for name, (x, y) in position.items():
            clash = any(np.hypot(x - px, y - py) < LABEL_CLASH_M for px, py in placed)
            offset = (5, -11) if clash else (5, 4)
            ax.annotate(name, (x, y), xytext=offset, textcoords="offset points", fontsize=7.5, zorder=13, path_effects=halo, clip_on=True)
            placed.append((x, y))


def _frame(ax: Axes, extent: tuple[float, float, float, float], title: str) -> None:
    ax.set_xlim(extent[0], extent[2])
    ax.set_ylim(extent[1], extent[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(title, fontsize=10)


def _scale_bar(ax: Axes, extent: tuple[float, float, float, float]) -> None:
    """A scale bar with end ticks in the lower-left corner (see :data:`SCALE_BARS_M`)."""
    width, height = extent[2] - extent[0], extent[3] - extent[1]
    length = max([m for m in SCALE_BARS_M if m <= 0.2 * width], default=SCALE_BARS_M[0])
    x0, y0 = extent[0] + 0.04 * width, extent[1] + 0.04 * height
    tick = 0.008 * height
    halo = [patheffects.withStroke(linewidth=4, foreground="white")]
    ax.plot([x0, x0 + length], [y0, y0], color="black", linewidth=2.5, zorder=20, path_effects=halo, solid_capstyle="butt")
    for x in (x0, x0 + length):
        ax.plot([x, x], [y0 - tick, y0 + tick], color="black", linewidth=1.2, zorder=20)
    ax.text(x0 + length / 2, y0 + 2 * tick, f"{length / 1000:g} km", ha="center", va="bottom", fontsize=8, zorder=20, path_effects=halo)


def _extent_patch(extent: tuple[float, float, float, float]) -> Rectangle:
    return Rectangle(
        (extent[0], extent[1]), extent[2] - extent[0], extent[3] - extent[1],
        fill=False, edgecolor="#333333", linewidth=0.8, linestyle=":", zorder=21,
    )


def _legend_handles() -> list[Line2D]:
    handles = [Line2D([], [], color="#4d4d4d", linewidth=1.4, linestyle="--", label="municipal boundary")]
    for style in (*reversed(ROAD_STYLES.values()), CYCLE_STYLE, *RAIL_STYLES.values()):
        handles.append(Line2D([], [], color=style.color, linewidth=style.width, linestyle=style.linestyle, label=style.label))
    handles.append(
        Line2D([], [], marker="o", color="none", markerfacecolor="white", markeredgecolor="#333333", markersize=6, label="station")
    )
    return handles


# ============================================================================================
# Experiment figures: mode split, CO2, CO2 saved, car-volume change, sweep heat map.
# Each function reads the long tables (``model.outputs.read_tables``) and writes
# ``<stem>.png`` and ``<stem>.svg`` into ``out_dir`` atomically; it returns the PNG path.
# ============================================================================================

#: Colours of the commuting modes (rail colours as on the network map).
MODE_STYLES = {
    "car": ("car", "#c0392b"),
    "s_train": ("S-train", RAIL_STYLES["s_train"].color),
    "light_rail": ("light rail (Letbane)", RAIL_STYLES["light_rail"].color),
    "bike": ("bike", "#1e9e4a"),
    "walk": ("walk", "#b8b08d"),
}
#: Base year of the climate plan's inventory: the horizontal reference line.
PLAN_BASE_YEAR = 2019
#: The plan's climate-neutral year, drawn as a 0 t marker on the territorial panel.
CLIMATE_NEUTRAL_YEAR = 2050
#: The plan's 2030 target, stated in captions (relative to 1990, which the facts do not hold).
TARGET_2030_TEXT = (
    "Plan target 2030: −71 % vs 1990 for all sectors. The 1990 transport figure is not available, "
    "so the 2030 target is not drawn (a line at 29 % of 2019 would wrongly treat 2019 as 1990)."
)
#: Panels at most in a small-multiples figure; more labels are left out and said so.
MAX_PANELS = 12
#: Lines at most in a line chart.
MAX_LINES = 10
_SCENARIO_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
_DPI = 130
_thousands = FuncFormatter(lambda value, _position: f"{value:,.0f}")


def scenario_colors(labels: list[str], reference: str = REFERENCE_SCENARIO) -> dict[str, str]:
    """A stable colour per scenario label; the reference scenario is black."""
    colors, others = {}, iter(_SCENARIO_COLORS * (len(labels) // len(_SCENARIO_COLORS) + 1))
    for label in labels:
        colors[label] = "#222222" if label == reference else next(others)
    return colors


def seed_band(summary: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean and 5–95 % range across seeds of a summary column, per scenario label and year.

    Returns columns ``scenario, year, mean, p5, p95, seeds``.
    """
    grouped = summary.groupby(["scenario", "year"], sort=False)[column]
    band = pd.DataFrame({
        "mean": grouped.mean(),
        "p5": grouped.quantile(0.05),
        "p95": grouped.quantile(0.95),
        "seeds": grouped.count(),
    })
    return band.reset_index()


def _labels(frame: pd.DataFrame, order: list[str] | None) -> list[str]:
    present = list(dict.fromkeys(frame["scenario"]))
    ordered = [label for label in (order or []) if label in present]
    ordered += [label for label in present if label not in ordered]
    if REFERENCE_SCENARIO in ordered:
        ordered.remove(REFERENCE_SCENARIO)
        ordered.insert(0, REFERENCE_SCENARIO)
    return ordered


def _save(figure: Figure, out_dir: str | Path, stem: str) -> Path:
    """Write ``stem.png`` and ``stem.svg`` into ``out_dir``, each atomically, laying the figure out once.

    The constrained layout (most of a figure's cost: measuring every text) runs while the PNG is
    drawn; the SVG then keeps those positions instead of measuring everything again.
    """
    out_dir = Path(out_dir)
    png = out_dir / f"{stem}.png"
    _savefig(figure, png, "png")
    figure.set_layout_engine("none")
    _savefig(figure, out_dir / f"{stem}.svg", "svg")
    return png


def _footer(figure: Figure, *lines: str) -> None:
    """Grey notes and the provenance line along the bottom edge of a figure."""
    text = "\n".join(line for line in lines if line)
    if text:
        figure.text(0.005, 0.005, text, ha="left", va="bottom", fontsize=7, color="#555555", wrap=True)


def _figure(width: float, height: float, footer_lines: int) -> Figure:
    """A constrained-layout figure leaving ``footer_lines`` lines of notes free at the bottom."""
    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    bottom = (0.15 * footer_lines + 0.05) / height
    engine = figure.get_layout_engine()
    assert isinstance(engine, ConstrainedLayoutEngine)
    engine.set(rect=(0, bottom, 1, 1 - bottom))
    return figure


def slug(text: str) -> str:
    """A file-name-safe form of a scenario label."""
    cleaned = "".join(c if c.isalnum() else "_" for c in text.lower())
    return "_".join(part for part in cleaned.split("_") if part)[:80] or "scenario"


def _seeds_text(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _limit(labels: list[str], most: int, what: str) -> tuple[list[str], str]:
    if len(labels) <= most:
        return labels, ""
    return labels[:most], f"Showing the first {most} of {len(labels)} {what}; every one is in the tables."


def mode_split_chart(
    mode_split: pd.DataFrame, out_dir: str | Path, *, order: list[str] | None = None, source: str = ""
) -> Path:
    """Residents' commuting mode shares by year: one stacked-area panel per scenario.

    Shares are the mean across seeds of ``mode_split.share`` for ``road_user = resident``;
    the car share of the first and last year is written on the car band.

    Parameters
    ----------
    mode_split
        The ``mode_split`` table.
    out_dir
        Folder for ``mode_split.png`` and ``mode_split.svg``.
    order
        Scenario labels in the order wanted (the experiment's order); the reference comes first.
    source
        Provenance line written under the figure.
    """
    frame = mode_split
    if "road_user" in frame.columns:
        frame = frame[frame["road_user"] == "resident"]
    if "purpose" in frame.columns:  # the commuters' split (other purposes: docs/model.md)
        frame = frame[frame["purpose"] == "commute"]
    seeds = int(frame["seed"].nunique())
    shares = frame.groupby(["scenario", "year", "mode"], sort=False)["share"].mean().unstack("mode").fillna(0.0)
    labels, note = _limit(_labels(frame, order), MAX_PANELS, "scenarios")
    ncols = min(len(labels), 3)
    nrows = -(-len(labels) // ncols)
    figure = _figure(4.6 * ncols + 1.8, 3.1 * nrows + 1.2, 2)
    axes = np.atleast_1d(figure.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).ravel()
    modes = [mode for mode in MODE_STYLES if mode in shares.columns]
    for ax, label in zip(axes, labels, strict=False):
        data = shares.loc[label].sort_index()
        years = data.index.to_numpy()
        ax.stackplot(
            years, *[100.0 * data[mode].to_numpy() for mode in modes],
            colors=[MODE_STYLES[mode][1] for mode in modes], labels=[MODE_STYLES[mode][0] for mode in modes],
            alpha=0.9, linewidth=0.3, edgecolor="white",
        )
        car = 100.0 * data["car"].to_numpy() if "car" in data else None
        if car is not None:
            halo = [patheffects.withStroke(linewidth=2.5, foreground="#c0392b")]
            for x, y, ha, dx in ((years[0], car[0], "left", 4), (years[-1], car[-1], "right", -4)):
                ax.annotate(f"{y:.1f} %", (x, y / 2), xytext=(dx, 0), textcoords="offset points", ha=ha, va="center",
                            fontsize=8.5, color="white", fontweight="bold", path_effects=halo)
        ax.set_title(label, fontsize=9.5)
        ax.set_xlim(years[0], years[-1])
        ax.set_ylim(0, 100)
        ax.grid(axis="y", color="white", linewidth=0.6, alpha=0.6)
    for ax in axes[len(labels):]:
        ax.set_visible(False)
    for ax in axes[:len(labels)]:
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("share of resident commuters (%)")
        if ax.get_subplotspec().is_last_row() or ax is axes[len(labels) - 1]:
            ax.set_xlabel("year")
            ax.tick_params(labelbottom=True)
    handles, names = axes[0].get_legend_handles_labels()
    figure.legend(handles[::-1], names[::-1], loc="outside right center", fontsize=8.5, title="main mode", title_fontsize=8.5)
    figure.suptitle(f"Commuting mode split of Vallensbæk residents (mean of {_seeds_text(seeds)})", fontsize=11)
    _footer(figure, note, source)
    return _save(figure, out_dir, "mode_split")


def co2_chart(
    summary: pd.DataFrame,
    out_dir: str | Path,
    *,
    order: list[str] | None = None,
    reference: str = REFERENCE_SCENARIO,
    source: str = "",
) -> Path:
    """Transport CO2 by year per scenario with the 5–95 % seed band, in two accountings.

    Left: territorial (emitted inside the boundary by anyone), with the 2019 level as a
    dashed line, the change vs 2019 on the right-hand axis and the plan's 2050
    climate-neutral point (0 t). Right: the residents' CO2 wherever emitted. The 2030 target
    (−71 % vs 1990) is stated in the caption only: the 1990 transport figure is not in the facts.
    """
    seeds = int(summary["seed"].nunique())
    labels, note = _limit(_labels(summary, order), MAX_LINES, "scenarios")
    colors = scenario_colors(labels, reference)
    figure = _figure(13.5, 5.6, 3)
    territorial, resident = figure.subplots(1, 2)
    base_level = None
    for ax, column, title in (
        (territorial, "co2_territorial_t", "Territorial: emitted inside the municipal boundary"),
        (resident, "co2_resident_t", "Resident: emitted by Vallensbæk residents anywhere"),
    ):
        band = seed_band(summary, column)
        for label in labels:
            rows = band[band["scenario"] == label].sort_values("year")
            color = colors[label]
            if seeds > 1:
                ax.fill_between(rows["year"], rows["p5"], rows["p95"], color=color, alpha=0.18, linewidth=0)
            ax.plot(rows["year"], rows["mean"], color=color, linewidth=2.2 if label == reference else 1.6, label=label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("year")
        ax.set_ylabel("CO2 (t per year)")
        ax.grid(color="#dddddd", linewidth=0.6)
        ax.yaxis.set_major_formatter(_thousands)
        first = band[band["year"] == band["year"].min()]
        level_rows = first[first["scenario"] == reference] if reference in set(first["scenario"]) else first
        level = float(level_rows["mean"].mean()) if len(level_rows) and int(band["year"].min()) == PLAN_BASE_YEAR else None
        if level is not None:
            ax.axhline(level, color="#555555", linestyle="--", linewidth=1.0, zorder=0)
            ax.annotate(f"{PLAN_BASE_YEAR} level: {level:,.0f} t", (1.0, level), xycoords=("axes fraction", "data"),
                        xytext=(-4, 4), textcoords="offset points", ha="right", va="bottom", fontsize=8, color="#555555")
        if column == "co2_territorial_t":
            base_level = level
        top = max(float(band["p95"].max()), level or 0.0)
        ax.set_ylim(0, top * 1.12)
        ax.set_xlim(
            int(band["year"].min()), max(int(band["year"].max()), CLIMATE_NEUTRAL_YEAR if column == "co2_territorial_t" else 0) + 0.5
        )
    territorial.set_xlim(resident.get_xlim()[0], max(resident.get_xlim()[1], CLIMATE_NEUTRAL_YEAR + 0.5))
    resident.set_xlim(territorial.get_xlim())
    territorial.plot([CLIMATE_NEUTRAL_YEAR], [0], marker="*", markersize=15, color="#1e9e4a", clip_on=False, zorder=5,
                     linestyle="none", label=f"plan: climate neutral by {CLIMATE_NEUTRAL_YEAR} (0 t)")
    if base_level:
        axis = territorial.secondary_yaxis(
            "right", functions=(lambda t: 100.0 * (t / base_level - 1.0), lambda p: base_level * (1.0 + p / 100.0))
        )
        axis.set_ylabel(f"change vs {PLAN_BASE_YEAR} (%)")
    territorial.legend(fontsize=8, loc="lower left", framealpha=0.9)
    band_text = f"Lines: mean of {_seeds_text(seeds)}" + ("; shaded: 5–95 % range across seeds." if seeds > 1 else "; one seed, no range.")
    figure.suptitle("Transport CO2 by scenario", fontsize=11)
    _footer(figure, band_text + " Territorial and resident accountings overlap; never add them.", TARGET_2030_TEXT,
            note, source)
    return _save(figure, out_dir, "co2")


#: Fleet segments drawn in the fleet chart: (vehicle, segment) → legend label.
_FLEET_LINES = {
    ("car", "resident"): "residents' cars",
    ("car", "in_commuter"): "in-commuters' cars",
    ("car", "national"): "national car stock (through traffic)",
    ("truck", "national"): "heavy trucks (through traffic)",
    ("van", "national"): "vans (national stock)",
    ("bus", "municipal"): "municipally owned bus lines (bus-km)",
    ("bus", "regional"): "regional bus lines (bus-km)",
}


def fleet_chart(
    fleet: pd.DataFrame,
    co2: pd.DataFrame,
    out_dir: str | Path,
    *,
    reference: str = REFERENCE_SCENARIO,
    source: str = "",
) -> Path | None:
    """The reference scenario's fleet: zero-emission share of each segment's stock, and the last year's CO2 by class.

    Left: battery-electric share of the stock by year (mean across seeds) for residents' and
    in-commuters' cars, the national car stock, heavy trucks, vans and buses. Right: territorial CO2 of the
    last simulated year by vehicle class and powertrain (electricity apart from fuel). ``None``
    without rows of the reference scenario.
    """
    fleet = fleet[fleet["scenario"] == reference]
    co2 = co2[(co2["scenario"] == reference) & (co2["accounting"] == "territorial")]
    if fleet.empty or co2.empty:
        return None
    seeds = int(fleet["seed"].nunique())
    figure = _figure(13.5, 5.2, 2)
    shares, remaining = figure.subplots(1, 2)
    bev = fleet[fleet["powertrain"] == "bev"].groupby(["vehicle", "segment", "year"])["stock_share"].mean()
    for (vehicle, segment), label in _FLEET_LINES.items():
        if (vehicle, segment) in bev.index.droplevel("year"):
            rows = bev.loc[(vehicle, segment)]
            shares.plot(rows.index, 100.0 * rows.to_numpy(), linewidth=2.0 if vehicle == "car" else 1.6,
                        linestyle="-" if vehicle == "car" else "--", label=label)
    shares.set_title("Battery-electric share of the stock", fontsize=10)
    shares.set_xlabel("year")
    shares.set_ylabel("% of vehicles")
    shares.set_ylim(0, 100)
    shares.grid(color="#dddddd", linewidth=0.6)
    shares.legend(fontsize=8, loc="upper left", framealpha=0.9)
    last = int(co2["year"].max())
    final = co2[co2["year"] == last]
    per_seed = final.groupby(["source", "powertrain", "seed"])["co2_t"].sum()
    by_class = per_seed.groupby(level=["source", "powertrain"]).mean().sort_values()
    labels = [f"{s} {p}" for s, p in by_class.index]
    colors = ["#4c9a2a" if p in ("bev", "electric") else "#8c564b" for _, p in by_class.index]
    remaining.barh(labels, by_class.to_numpy(), color=colors)
    for y, value in enumerate(by_class.to_numpy()):
        remaining.annotate(f"{value:,.0f} t", (value, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    remaining.set_title(f"Territorial CO2 in {last} by class ({by_class.sum():,.0f} t)", fontsize=10)
    remaining.set_xlabel("CO2 (t per year)")
    remaining.xaxis.set_major_formatter(_thousands)
    remaining.set_xlim(0, float(by_class.max()) * 1.25 if len(by_class) else 1.0)
    remaining.grid(axis="x", color="#dddddd", linewidth=0.6)
    figure.suptitle(f"Fleet of scenario '{reference}'", fontsize=11)
    _footer(figure, f"Mean of {_seeds_text(seeds)}. Green: electricity (grid CO2 of the year); brown: fuel (fossil part).", source)
    return _save(figure, out_dir, "fleet")


def co2_saved_chart(
    summary: pd.DataFrame,
    out_dir: str | Path,
    *,
    order: list[str] | None = None,
    reference: str = REFERENCE_SCENARIO,
    source: str = "",
) -> Path | None:
    """CO2 saved by each scenario against the reference scenario: yearly wedges and the cumulative total.

    Savings are territorial, ``reference − scenario``, taken seed by seed where the seeds
    match (paired, so common noise cancels), then averaged; the band is the 5–95 % range of
    the paired savings. Scenarios are whole packages, so their wedges overlap rather than stack.

    Returns
    -------
    Path or None
        ``None`` when the reference scenario or any other scenario is missing.
    """
    labels = _labels(summary, order)
    if reference not in labels or len(labels) < 2:
        return None
    others, note = _limit([label for label in labels if label != reference], MAX_LINES, "scenarios")
    colors = scenario_colors([reference, *others], reference)
    column = "co2_territorial_t"
    ref = summary[summary["scenario"] == reference].set_index(["seed", "year"])[column]
    ref_mean = ref.groupby("year").mean()
    figure = _figure(13.5, 5.4, 2)
    wedges, totals = figure.subplots(1, 2, width_ratios=(1.6, 1))
    cumulative = []
    for label in others:
        own = summary[summary["scenario"] == label].set_index(["seed", "year"])[column]
        paired = (ref - own).dropna()
        if paired.empty:  # no common seeds: compare means
            own_mean = own.groupby("year").mean()
            paired = (ref_mean - own_mean).dropna().to_frame(column).assign(seed=0).set_index("seed", append=True)[column]
            paired = paired.reorder_levels(["seed", "year"])
        per_year = paired.groupby("year")
        mean, p5, p95 = per_year.mean(), per_year.quantile(0.05), per_year.quantile(0.95)
        color = colors[label]
        wedges.fill_between(mean.index, 0, mean.to_numpy(), color=color, alpha=0.13, linewidth=0)
        if paired.index.get_level_values("seed").nunique() > 1:
            wedges.fill_between(mean.index, p5.to_numpy(), p95.to_numpy(), color=color, alpha=0.35, linewidth=0)
        wedges.plot(mean.index, mean.to_numpy(), color=color, linewidth=1.8, label=label)
        by_seed = paired.groupby("seed").sum() / 1000.0
        first, last = int(mean.index.min()), int(mean.index.max())
        cumulative.append((label, float(by_seed.mean()), float(by_seed.quantile(0.05)), float(by_seed.quantile(0.95)), color))
    wedges.axhline(0, color="#222222", linewidth=1.0)
    wedges.set_xlabel("year")
    wedges.set_ylabel(f"CO2 saved vs {reference} (t per year)")
    wedges.yaxis.set_major_formatter(_thousands)
    wedges.set_title("Yearly territorial CO2 saved (above 0) or added (below 0)", fontsize=10)
    wedges.grid(color="#dddddd", linewidth=0.6)
    wedges.legend(fontsize=8, loc="upper left", framealpha=0.9)
    y = np.arange(len(cumulative))[::-1]
    values = np.array([c[1] for c in cumulative])
    err = np.array([[c[1] - c[2], c[3] - c[1]] for c in cumulative]).T
    totals.barh(y, values, height=0.6, color=[c[4] for c in cumulative], alpha=0.85, xerr=err if len(err) else None,
                error_kw={"ecolor": "#333333", "capsize": 3, "linewidth": 1})
    totals.set_yticks(y, [c[0] for c in cumulative], fontsize=8.5)
    totals.axvline(0, color="#222222", linewidth=1.0)
    low, high = min(0.0, float(np.min(values - err[0]))), max(0.0, float(np.max(values + err[1])))
    span = (high - low) or 1.0
    totals.set_xlim(low - (0.2 * span if low < 0 else 0.0), high + 0.2 * span)
    totals.set_ylim(-0.7, len(cumulative) - 0.3)
    totals.set_xlabel(f"cumulative CO2 saved {first}–{last} (kt)")
    totals.set_title(f"Total saved {first}–{last}, vs {reference}", fontsize=10)
    totals.grid(axis="x", color="#dddddd", linewidth=0.6)
    for yi, value, lo, hi in zip(y, values, err[0], err[1], strict=True):
        end = value + hi if value >= 0 else value - lo
        totals.annotate(f"{value:,.1f} kt", (end, yi), xytext=(5 if value >= 0 else -5, 0), textcoords="offset points",
                        ha="left" if value >= 0 else "right", va="center", fontsize=8.5)
    seeds = int(summary["seed"].nunique())
    figure.suptitle(f"Territorial transport CO2 saved by each scenario against '{reference}'", fontsize=11)
    band = (f"Mean of {_seeds_text(seeds)}, paired seed by seed; darker band and error bars: 5–95 % range. "
            if seeds > 1 else "One seed, no range. ")
    _footer(figure, band + "Each scenario is a whole package of levers; the wedges overlap and must not be added.",
            note, source)
    return _save(figure, out_dir, "co2_saved")


def _way_key(geometry: Any) -> tuple:
    coords = np.asarray(geometry.coords)
    a, b = tuple(np.round(coords[0], 1)), tuple(np.round(coords[-1], 1))
    middle = tuple(np.round(coords[len(coords) // 2], 1))
    return (min(a, b), max(a, b), middle if len(coords) > 2 else None)


#: Roads whose change is below this share of the colour scale are drawn grey as "no change".
UNCHANGED_SHARE = 0.01
UNCHANGED_COLOR = "#bdbdbd"


def car_volume_change_map(
    link_volumes: pd.DataFrame,
    links: gpd.GeoDataFrame,
    out_dir: str | Path,
    *,
    scenario: str,
    year: int,
    reference: str = REFERENCE_SCENARIO,
    boundary: Any = None,
    source: str = "",
) -> Path:
    """Map the change in daily road vehicles between a scenario and the reference in one year.

    Each road is coloured by its vehicles per day, :data:`TRAFFIC_COLUMNS` summed (commuters'
    and residents' cars and the routed through traffic; mean across seeds, both directions
    summed), of ``scenario`` minus ``reference``: red more vehicles, blue fewer, so diverted
    traffic shows where it went. Motorways and ring roads
    have a dark casing and their names; roads with fewer lanes than in the reference are
    outlined in yellow, roads with a lower speed limit in violet.

    Parameters
    ----------
    link_volumes
        The runner's ``link_volumes`` table (``scenario`` holds the label).
    links
        ``network_links``: edge geometry and attributes in EPSG:25832.
    scenario, reference
        Labels compared.
    year
        Year mapped.
    boundary
        Municipal boundary (a shapely geometry in EPSG:25832), drawn when given.
    """
    from matplotlib.colors import TwoSlopeNorm

    def mean_of(label: str) -> pd.DataFrame:
        rows = link_volumes[(link_volumes["scenario"] == label) & (link_volumes["year"] == year)]
        if rows.empty:
            raise VmobError(f"link_volumes.parquet has no rows for scenario '{label}' in {year}.")
        means = rows.groupby("edge")[[*TRAFFIC_COLUMNS, "lanes_total", "maxspeed_kph"]].mean()
        return means.assign(vehicles=means[list(TRAFFIC_COLUMNS)].sum(axis=1))[["vehicles", "lanes_total", "maxspeed_kph"]]

    own, ref = mean_of(scenario), mean_of(reference)
    static = links[["edge", "name", "road_category", "drive", "geometry"]].set_index("edge")
    edges = static.join(own).join(ref, rsuffix="_ref")
    edges["diff"] = edges["vehicles"].fillna(0.0) - edges["vehicles_ref"].fillna(0.0)
    edges["narrowed"] = edges["lanes_total"] < edges["lanes_total_ref"] - 1e-9
    edges["slower"] = edges["maxspeed_kph"] < edges["maxspeed_kph_ref"] - 1e-9
    edges["key"] = [_way_key(g) for g in edges.geometry]
    drive = edges[edges["drive"].astype(bool)]
    ways = drive.groupby("key", sort=False).agg(
        diff=("diff", "sum"), narrowed=("narrowed", "any"), slower=("slower", "any"),
        road_category=("road_category", "first"), name=("name", "first"), geometry=("geometry", "first"),
    )
    ways = gpd.GeoDataFrame(ways, geometry="geometry", crs=links.crs)
    other = edges[~edges["drive"].astype(bool)]
    widths = {"motorway": 4.0, "ring": 3.2, "urban": 2.0, "local": 1.1}
    figure = _figure(11.5, 10.0, 2)
    ax = figure.subplots()
    if boundary is not None:
        gpd.GeoSeries([boundary], crs=CRS_METRIC).plot(ax=ax, facecolor="#f3efe4", edgecolor="#4d4d4d", linewidth=1.3,
                                                       linestyle="--", zorder=0)
    if len(other):
        other.plot(ax=ax, color="#c9c9c9", linewidth=0.5, linestyle=":", zorder=1)
    scale = float(np.nanquantile(np.abs(ways["diff"]), 0.98)) if len(ways) else 0.0
    scale = max(scale, 1.0)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-scale, vmax=scale)
    cmap = matplotlib.colormaps["RdBu_r"]
    lw = ways["road_category"].map(widths).fillna(1.1).to_numpy()
    major = ways["road_category"].isin(["motorway", "ring"]).to_numpy()
    if major.any():
        ways[major].plot(ax=ax, color="#2b2b2b", linewidth=lw[major] + 2.4, zorder=2)
    narrowed = ways["narrowed"].to_numpy(dtype=bool)
    for sel, color in ((narrowed, "#f5c400"), (ways["slower"].to_numpy(dtype=bool) & ~narrowed, "#8e44ad")):
        if sel.any():
            ways[sel].plot(ax=ax, color=color, linewidth=lw[sel] + 6.5, alpha=0.9, zorder=3)
    colors = cmap(norm(np.clip(ways["diff"].to_numpy(), -scale, scale)))
    unchanged = np.abs(ways["diff"].to_numpy()) < UNCHANGED_SHARE * scale
    colors[unchanged] = matplotlib.colors.to_rgba(UNCHANGED_COLOR)
    ways.plot(ax=ax, color=colors, linewidth=lw, zorder=4)
    halo = [patheffects.withStroke(linewidth=3, foreground="white")]
    named = ways[major & (ways["name"].astype(str) != "")]
    for name, group in named.groupby("name"):
        union = group.geometry.union_all()
        point = (
            union.interpolate(0.5, normalized=True)
            if hasattr(union, "interpolate") and union.geom_type == "LineString"
            else union.representative_point()
        )
        ax.annotate(str(name), (point.x, point.y), xytext=(6, 6), textcoords="offset points", fontsize=8.5,
                    fontweight="bold", path_effects=halo, zorder=6)
    xmin, ymin, xmax, ymax = ways.total_bounds if len(ways) else links.total_bounds
    if boundary is not None:
        bx = boundary.bounds
        xmin, ymin = max(xmin, bx[0] - ZOOM_MARGIN_M), max(ymin, bx[1] - ZOOM_MARGIN_M)
        xmax, ymax = min(xmax, bx[2] + ZOOM_MARGIN_M), min(ymax, bx[3] + ZOOM_MARGIN_M)
    pad = 0.04 * max(xmax - xmin, ymax - ymin)
    extent = (xmin - pad, ymin - pad, xmax + pad, ymax + pad)
    _frame(ax, extent, "")
    _scale_bar(ax, extent)
    colorbar = figure.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.7, extend="both")
    colorbar.set_label(f"change in vehicles per day, both directions\n({scenario} − {reference})")
    colorbar.ax.yaxis.set_major_formatter(_thousands if scale >= 20 else FuncFormatter(lambda v, _p: f"{v:,.1f}"))
    handles = [
        Line2D([], [], color="#2b2b2b", linewidth=5, label="motorway / ring road (casing)"),
        Line2D([], [], color="#f5c400", linewidth=6, label=f"fewer lanes than in {reference}"),
        Line2D([], [], color="#8e44ad", linewidth=6, label=f"lower speed limit than in {reference}"),
        Line2D([], [], color="#c9c9c9", linewidth=1, linestyle=":", label="foot and cycle path"),
    ]
    if boundary is not None:
        handles.insert(0, Line2D([], [], color="#4d4d4d", linewidth=1.3, linestyle="--", label="municipal boundary"))
    handles.append(Line2D([], [], color=UNCHANGED_COLOR, linewidth=2, label="road, (almost) no change"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncols=3, fontsize=8.5, frameon=False)
    if not np.any(np.abs(ways["diff"].to_numpy()) >= UNCHANGED_SHARE * scale) or float(np.abs(ways["diff"]).max()) < 0.5:
        ax.text(0.5, 0.98, "No change in road traffic on any road", transform=ax.transAxes, ha="center",
                va="top", fontsize=10, bbox={"facecolor": "white", "edgecolor": "#999999", "alpha": 0.9}, zorder=30)
    seeds = int(link_volumes.loc[link_volumes["scenario"] == scenario, "seed"].nunique())
    ax.set_title(f"Road traffic in {year}: '{scenario}' against '{reference}' (mean of {_seeds_text(seeds)})",
                 fontsize=11)
    _footer(figure, "Commuters' and residents' cars and the routed through traffic (cars, vans, trucks); "
            "visitors, local vans and buses are not drawn. "
            f"Colour scale clipped at ±{scale:,.0f} cars/day (98th percentile of the changes). EPSG:25832.", source)
    return _save(figure, out_dir, f"car_volume_change_{slug(scenario)}_{year}")


def sweep_heatmap(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    out_dir: str | Path,
    *,
    year: int = 2030,
    column: str = "co2_territorial_t",
    source: str = "",
) -> Path | None:
    """A heat map of one summary figure over a two-parameter sweep, one panel per base scenario.

    ``runs`` is the runner's ``runs.csv``: ``run_id, scenario, label, seed`` and one column
    per sweep parameter. The first two parameters with more than one value span the grid;
    each cell is the mean over seeds (and over any further parameters) of ``column`` in
    ``year`` (the nearest simulated year if absent). Cells also show the change vs 2019.

    Returns
    -------
    Path or None
        ``None`` when the sweep has fewer than two varying parameters.
    """
    params = [c for c in runs.columns if c not in ("run_id", "scenario", "label", "seed") and runs[c].nunique() > 1]
    if len(params) < 2:
        return None
    x_param, y_param = params[0], params[1]
    years = np.sort(summary["year"].unique())
    shown_year = int(years[np.argmin(np.abs(years - year))])
    keyed = runs.drop_duplicates(["label"]).set_index("label")[["scenario", x_param, y_param]]
    rows = summary[summary["year"] == shown_year].join(keyed, on="scenario", rsuffix="_base")
    rows = rows.dropna(subset=[x_param, y_param])
    base_col = "scenario_base"
    change = "co2_territorial_change_vs_2019_pct" if column == "co2_territorial_t" else None
    bases = list(dict.fromkeys(runs["scenario"]))
    ncols = min(len(bases), 3)
    nrows = -(-len(bases) // ncols)
    x_values, y_values = _sorted_values(runs[x_param]), _sorted_values(runs[y_param])
    figure = _figure(max(5.2, 1.3 * len(x_values) + 2.8) * ncols, (0.9 * len(y_values) + 2.4) * nrows, 3)
    axes = np.atleast_1d(figure.subplots(nrows, ncols, squeeze=False)).ravel()
    vmin, vmax = float(rows[column].min()), float(rows[column].max())
    image = None
    for ax, base in zip(axes, bases, strict=False):
        part = rows[rows[base_col] == base]
        grid = part.groupby([y_param, x_param])[column].mean().unstack(x_param).reindex(index=y_values, columns=x_values)
        image = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis_r", vmin=vmin, vmax=vmax, aspect="auto", origin="lower")
        pct = part.groupby([y_param, x_param])[change].mean().unstack(x_param).reindex(index=y_values, columns=x_values) if change else None
        for i in range(len(y_values)):
            for j in range(len(x_values)):
                value = grid.iat[i, j]
                if np.isnan(value):
                    continue
                text = f"{value:,.0f} t"
                if pct is not None and not np.isnan(pct.iat[i, j]):
                    text += f"\n{pct.iat[i, j]:+.1f} %"
                shade = (value - vmin) / (vmax - vmin) if vmax > vmin else 0.5
                ax.text(j, i, text, ha="center", va="center", fontsize=8.5, color="white" if shade > 0.55 else "black")
        ax.set_xticks(range(len(x_values)), [str(v) for v in x_values])
        ax.set_yticks(range(len(y_values)), [str(v) for v in y_values])
        ax.set_xlabel(_param_label(x_param))
        ax.set_ylabel(_param_label(y_param))
        ax.set_title(f"scenario '{base}'", fontsize=10)
    for ax in axes[len(bases):]:
        ax.set_visible(False)
    assert image is not None  # bases is never empty: runs has rows
    colorbar = figure.colorbar(image, ax=list(axes[: len(bases)]), shrink=0.85)
    colorbar.set_label(_column_label(column))
    colorbar.ax.yaxis.set_major_formatter(_thousands)
    seeds = int(runs["seed"].nunique())
    extra = [p for p in params[2:]]
    notes = [f"Each cell: mean of {_seeds_text(seeds)}" + (f", averaged over {', '.join(extra)}" if extra else "")
             + (f"; second line: change vs {PLAN_BASE_YEAR} (%)." if change else ".")]
    if shown_year != year:
        notes.append(f"{year} was not simulated; showing {shown_year}.")
    figure.suptitle(f"Sweep: {_column_label(column).split(' (')[0]} in {shown_year}", fontsize=11)
    _footer(figure, " ".join(notes), source)
    return _save(figure, out_dir, f"sweep_{column}_{shown_year}")


def _sorted_values(series: pd.Series) -> list[Any]:
    values = list(dict.fromkeys(series.dropna()))
    try:
        return sorted(values)
    except TypeError:
        return values


#: Axis labels of summary columns.
COLUMN_LABELS = {
    "co2_territorial_t": "territorial transport CO2 (t per year)",
    "co2_resident_t": "residents' transport CO2 (t per year)",
    "co2_through_t": "through-traffic CO2 (t per year)",
    "share_car": "car share of resident commuters (1)",
}


def _column_label(column: str) -> str:
    return COLUMN_LABELS.get(column, column)


def _param_label(name: str) -> str:
    """A sweep parameter as an axis label, its unit spelled out from the name's suffix."""
    units = {"_kph": "km/h", "_pct": "%", "_t": "t", "_km": "km", "_min": "min", "_dkk": "DKK"}
    if name.startswith(("parameters.", "levers.")):
        name = name.split(".", 1)[1]
    for suffix, unit in units.items():
        if name.endswith(suffix):
            return f"{name} ({unit})"
    return name
