"""Figures for planners, drawn with matplotlib's object API (no global pyplot state).

Every function writes its PNG to a temporary name beside the target and renames
it into place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmnx as ox
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from model.files import atomic_path
from model.network import Network
from model.settings import CRS_METRIC, CRS_WGS84
from model.transit import Transit


@dataclass(frozen=True)
class _Style:
    label: str
    color: str
    width: float
    linestyle: str = "-"


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
    with atomic_path(out_path) as tmp:
        figure.savefig(tmp, format="png")
    return out_path


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
