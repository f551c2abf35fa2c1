"""Road, cycle and foot network: one osmnx pipeline for every source.

Sources are the embedded OSM XML of Vallensbæk (``networks/vallensbaek``), any
local ``.osm``/``.osm.xml``/``.osm.pbf``/``.graphml`` file, or a download by
:func:`fetch_network` that is cached as GraphML. Whatever the source, the graph
is read by osmnx and normalised by :func:`normalise` into the edge attributes
listed in ``docs/network.md``. A ``.osm.pbf`` extract is read as a real extract
(:mod:`model.extract`): filtered to the street network inside the boundary plus
a buffer, cut to its largest strongly connected component and simplified.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import shapely
import shapely.errors
import shapely.geometry
from pyproj import Transformer

from model import extract
from model.edges import EdgeArrays, edge_arrays, snap_stations
from model.errors import VmobError
from model.files import atomic_path
from model.parameters import BUILD_TIME_PARAMETERS, NetworkParameters, load_section
from model.settings import CRS_METRIC, CRS_WGS84, DEFAULT_NETWORK_DIR, NETWORK_CACHE_DIR
from model.transit import Transit
from model.vocabulary import ROAD_CATEGORIES

DEFAULT_OSM = DEFAULT_NETWORK_DIR / "vallensbaek.osm"
DEFAULT_BOUNDARY = DEFAULT_NETWORK_DIR / "boundary.geojson"
CAR_EXCLUDED = {"cycleway", "footway", "path", "pedestrian", "steps", "track", "bridleway", "corridor", "platform"}
BIKE_EXCLUDED = {"motorway", "motorway_link", "steps"}
WALK_EXCLUDED = {"motorway", "motorway_link", "trunk", "trunk_link", "cycleway"}
#: OSM way tags kept on edges beyond osmnx's defaults: the bike and foot permissions
#: and cycle infrastructure that :func:`normalise` reads.
EXTRA_WAY_TAGS = (
    "bicycle", "foot", "motor_vehicle", "motorcar",
    "cycleway", "cycleway:both", "cycleway:right", "cycleway:left",
)
#: Every way tag :func:`normalise` reads: an extract's simplification keeps the nodes where one changes.
NORMALISED_TAGS = ("highway", "name", "ref", "lanes", "maxspeed", "access", "oneway", *EXTRA_WAY_TAGS)
#: Buffer around the boundary within which an extract's ways are kept, km.
EXTRACT_BUFFER_KM = 5.0

logger = logging.getLogger(__name__)


@dataclass
class Network:
    """A normalised network and where it came from.

    Attributes
    ----------
    graph
        osmnx ``MultiDiGraph`` in EPSG:25832 with the normalised edge attributes.
    boundary
        Municipal boundary polygon in EPSG:25832.
    source
        The file the graph was read from.
    digest
        SHA-256 of the source file and boundary file, for the run manifest.
    extract_report
        For a ``.osm.pbf`` extract, what reading it kept and dropped; None otherwise.
    """

    graph: nx.MultiDiGraph
    boundary: shapely.Geometry
    source: str
    digest: str
    parameters: NetworkParameters = field(repr=False, default=None)  # type: ignore[assignment]
    extract_report: extract.ExtractReport | None = None


def load_network(
    source: str | Path = "default",
    boundary: str | Path | None = None,
    parameters: NetworkParameters | None = None,
    buffer_km: float = EXTRACT_BUFFER_KM,
) -> Network:
    """Read a network from any supported source and normalise it.

    Parameters
    ----------
    source
        ``"default"`` for the embedded Vallensbæk network, or a path to an
        ``.osm``/``.osm.xml``/``.osm.pbf``/``.graphml`` file.
    boundary
        GeoJSON of the municipal boundary in WGS84; defaults to a
        ``*.boundary.geojson`` next to a cached download, else the embedded one.
    parameters
        Normalisation rules; defaults to ``network.toml`` (``model.parameters.load_section("network")``).
    buffer_km
        For a ``.osm.pbf`` extract: ways farther than this from the boundary are cut off.

    Returns
    -------
    Network
    """
    path = DEFAULT_OSM if str(source) == "default" else Path(source)
    boundary_path = Path(boundary) if boundary else _boundary_for(path)
    parameters = parameters or load_section("network")
    if _is_pbf(path):
        boundary_polygon = load_boundary(boundary_path)
        graph, report = read_extract(path, boundary_polygon, parameters, buffer_km)
        return Network(graph, boundary_polygon, str(path), _digest(path, boundary_path), parameters, report)
    raw = read_graph(path)
    boundary_polygon = load_boundary(boundary_path)
    graph = normalise(raw, boundary_polygon, parameters, source_name=str(path))
    check_boundary_overlap(graph, boundary_path, str(path))
    return Network(graph, boundary_polygon, str(path), _digest(path, boundary_path), parameters)


def check_boundary_overlap(graph: nx.MultiDiGraph, boundary_path: Path, source_name: str) -> None:
    """Raise a :class:`VmobError` if no drivable road lies inside the boundary.

    Without any, every vehicle-km is "outside" and the territorial CO2 would be 0 t without a word.
    """
    inside_km = sum(d["length"] * d["inside_share"] for _, _, d in graph.edges(data=True) if d["drive_allowed"]) / 1000.0
    if inside_km <= 0.0:
        raise VmobError(
            f"{boundary_path}: the boundary does not overlap the drivable roads of {source_name}; "
            "check that both cover the same area (the boundary is read as WGS84 lon/lat)"
        )


def apply_network_parameters(edges: EdgeArrays, built: NetworkParameters, wanted: NetworkParameters) -> None:
    """Give a run's edges the compliance and lane capacities of its own network parameters.

    The network is normalised once with ``network.toml`` (``built``); an experiment may override
    ``network.compliance`` and ``network.capacity_per_lane_vph`` per run, and this recomputes the
    driven speed and the capacity of every drivable edge from them, as :func:`normalise` does.

    Raises
    ------
    VmobError
        If ``wanted`` changes a rule that is read only while the graph is built (default limits
        and lanes, road categories): those need a changed ``network.toml``.
    """
    for path in BUILD_TIME_PARAMETERS:
        key = path.removeprefix("network.")
        if getattr(wanted, key) != getattr(built, key):
            raise VmobError(f"parameters: key '{path}': read once while the network is built; change network.toml instead")
    if wanted.compliance != built.compliance:
        compliance = np.array([wanted.compliance.get(str(c), 1.0) for c in edges.road_category])
        edges.speed_kph[:] = edges.maxspeed_kph * compliance
    if wanted.capacity_per_lane_vph != built.capacity_per_lane_vph:
        per_lane = wanted.capacity_per_lane_vph
        lane_capacity = np.array([per_lane.get(str(h), per_lane.get("road", 600.0)) for h in edges.highway])
        edges.capacity_vph[:] = np.where(edges.drive, edges.lanes * lane_capacity, 0.0)
def read_extract(
    path: Path, boundary: shapely.Geometry, parameters: NetworkParameters, buffer_km: float = EXTRACT_BUFFER_KM
) -> tuple[nx.MultiDiGraph, extract.ExtractReport]:
    """Read a ``.osm.pbf`` extract into a normalised, connected, simplified network.

    Steps (see :mod:`model.extract`): street ways within ``buffer_km`` of the boundary;
    the largest strongly connected component; osmnx simplification that keeps every
    node where a tag the normalisation reads changes; :func:`normalise`; drivable edges
    outside the largest strongly connected car network closed to cars. The report of
    what was dropped is logged and returned.

    Parameters
    ----------
    path
        The extract.
    boundary
        Municipal boundary in EPSG:25832.
    parameters
        Normalisation rules.
    buffer_km
        Ways farther than this from the boundary are cut off.
    """
    to_wgs84 = Transformer.from_crs(CRS_METRIC, CRS_WGS84, always_xy=True)
    within = shapely.transform(
        shapely.buffer(boundary, buffer_km * 1000.0), lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1]))
    )
    raw = _read_pbf(path, within)
    graph, dropped = extract.keep_largest_component(extract.build_graph(raw))
    _project_nodes(graph)
    nodes_read = graph.number_of_nodes()
    graph = extract.simplify(graph, NORMALISED_TAGS)
    graph = normalise(graph, boundary, parameters, source_name=str(path))
    report = extract.ExtractReport(
        buffer_km=buffer_km, ways_kept=len(raw.ways), ways_not_streets=raw.ways_not_streets,
        segments_outside=raw.segments_outside, km_outside=raw.km_outside, nodes_read=nodes_read,
        nodes_simplified=graph.number_of_nodes(), **dropped,
    )
    report = extract.close_car_pockets(graph, report)
    for line in report.lines():
        logger.info("%s: %s", path, line)
    return graph, report


def read_graph(path: Path) -> nx.MultiDiGraph:
    """Read a raw osmnx graph from OSM XML, OSM PBF or GraphML.

    Parameters
    ----------
    path
        Input file; the suffix picks the reader.

    Raises
    ------
    VmobError
        If the file is missing, unreadable, malformed or of an unknown type.
    """
    path = Path(path)
    if not path.is_file():
        raise VmobError(f"network file not found: {path}")
    name = path.name.lower()
    if name.endswith(".graphml"):
        try:
            return ox.load_graphml(path)
        except Exception as err:  # networkx/lxml raise many types for a bad file
            raise VmobError(f"{path}: not a readable GraphML network ({_short(err)})") from None
    if _is_pbf(path):
        return extract.build_graph(_read_pbf(path, None))
    if name.endswith(".osm") or name.endswith(".xml"):
        return _read_osm_xml(path, shown_as=path)
    raise VmobError(f"{path}: unknown network file type (use .osm, .osm.xml, .osm.pbf or .graphml)")


@contextmanager
def _way_tags() -> Iterator[None]:
    """Make osmnx keep :data:`EXTRA_WAY_TAGS` while reading or downloading."""
    saved = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = saved + [tag for tag in EXTRA_WAY_TAGS if tag not in saved]
    try:
        yield
    finally:
        ox.settings.useful_tags_way = saved


def _read_osm_xml(path: Path, shown_as: Path) -> nx.MultiDiGraph:
    try:
        ET.parse(path)
    except ET.ParseError as err:
        raise VmobError(f"{shown_as}: malformed OSM XML ({err})") from None
    except OSError as err:
        raise VmobError(f"{shown_as}: cannot read file ({err.strerror})") from None
    try:
        with warnings.catch_warnings(), _way_tags():
            warnings.simplefilter("ignore")
            return ox.graph_from_xml(path, bidirectional=False, simplify=False, retain_all=True)
    except Exception as err:  # osmnx raises ValueError/KeyError/InsufficientResponseError
        raise VmobError(f"{shown_as}: no usable street network in this OSM file ({_short(err)})") from None


def _project_nodes(graph: nx.MultiDiGraph) -> None:
    """Project a raw graph's nodes to EPSG:25832 in place, in one vectorised call.

    Edge lengths must be in place already (they are great-circle lengths from lon/lat);
    simplification then draws merged edges' geometry in metres directly.
    """
    to_metric = Transformer.from_crs(CRS_WGS84, CRS_METRIC, always_xy=True)
    nodes = list(graph.nodes(data=True))
    lon = np.fromiter((data["x"] for _, data in nodes), dtype=float, count=len(nodes))
    lat = np.fromiter((data["y"] for _, data in nodes), dtype=float, count=len(nodes))
    x, y = to_metric.transform(lon, lat)
    for (_, data), x_m, y_m in zip(nodes, np.asarray(x).tolist(), np.asarray(y).tolist(), strict=True):
        data["x"], data["y"] = x_m, y_m
    graph.graph["crs"] = CRS_METRIC


def _is_pbf(path: Path) -> bool:
    return Path(path).name.lower().endswith(".pbf")


def _read_pbf(path: Path, within: shapely.Geometry | None) -> extract.RawExtract:
    """The extract's street ways inside ``within`` (WGS84; whole file when None), with osmnx's and our way tags."""
    if not Path(path).is_file():
        raise VmobError(f"network file not found: {path}")
    with _way_tags():
        way_tags, node_tags = list(ox.settings.useful_tags_way), list(ox.settings.useful_tags_node)
    try:
        return extract.read_pbf(str(path), within, way_tags, node_tags)
    except Exception as err:  # osmium raises RuntimeError (and others) for bad input
        raise VmobError(f"{path}: not a readable OSM PBF file ({_short(err)})") from None


def load_boundary(path: Path) -> shapely.Geometry:
    """Read the municipal boundary (GeoJSON, WGS84 as the format prescribes) in EPSG:25832.

    Plain JSON and shapely: a boundary needs no GIS file driver.
    """
    path = Path(path)
    if not path.is_file():
        raise VmobError(f"boundary file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        features = data["features"] if data.get("type") == "FeatureCollection" else [data]
        shapes = [shapely.geometry.shape(f.get("geometry", f)) for f in features]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError,
            shapely.errors.GEOSException) as err:
        raise VmobError(f"{path}: not a readable GeoJSON boundary ({_short(err)})") from None
    polygons = [g for g in shapes if g.geom_type in ("Polygon", "MultiPolygon") and not g.is_empty]
    if not polygons:
        raise VmobError(f"{path}: the boundary file has no polygon")
    to_metric = Transformer.from_crs(CRS_WGS84, CRS_METRIC, always_xy=True)
    return shapely.transform(shapely.union_all(polygons), lambda xy: np.column_stack(to_metric.transform(xy[:, 0], xy[:, 1])))


def normalise(
    graph: nx.MultiDiGraph,
    boundary: shapely.Geometry,
    parameters: NetworkParameters,
    source_name: str = "graph",
) -> nx.MultiDiGraph:
    """Project a raw osmnx graph and give every edge the normalised attributes.

    Parameters
    ----------
    graph
        Raw osmnx graph (any CRS).
    boundary
        Municipal boundary in EPSG:25832, for ``inside_share``.
    parameters
        Normalisation rules.
    source_name
        Shown in error messages.

    Returns
    -------
    networkx.MultiDiGraph
        A new projected graph (the input itself, changed, when it is already in
        EPSG:25832 with edge lengths, as :func:`read_extract` makes it); see
        ``docs/network.md`` for the attributes.
    """
    if graph.number_of_edges() == 0:
        raise VmobError(f"{source_name}: the network has no edges")
    if graph.graph.get("crs") != CRS_METRIC:
        graph = ox.project_graph(graph, to_crs=CRS_METRIC)
    if "length" not in next(iter(graph.edges(data=True)))[2]:
        graph = ox.distance.add_edge_lengths(graph)
    categories = _category_lookup(parameters)
    for _, _, data in graph.edges(data=True):
        _normalise_tags(data, parameters, categories)
    if not any(d["drive_allowed"] for _, _, d in graph.edges(data=True)):
        raise VmobError(f"{source_name}: the network has no drivable edge")
    hwy_speeds = _default_speeds_for_untagged_classes(graph, parameters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = ox.routing.add_edge_speeds(graph, hwy_speeds=hwy_speeds, fallback=50.0)
    for _, _, data in graph.edges(data=True):
        _set_speed_and_capacity(data, parameters)
    _set_inside_share(graph, boundary)
    graph.graph["crs"] = CRS_METRIC
    graph.graph["vmob_normalised"] = True
    return graph


def _default_speeds_for_untagged_classes(graph: nx.MultiDiGraph, parameters: NetworkParameters) -> dict[str, float]:
    """Default limits for the highway classes where no edge has a usable ``maxspeed``.

    Classes with at least one tagged edge are left out, so that osmnx imputes
    their gaps from the mean of the tagged edges of the same class.
    """
    tagged = {
        data["highway"]
        for _, _, data in graph.edges(data=True)
        if _parse_int(_first(data.get("maxspeed"))) is not None
    }
    return {k: float(v) for k, v in parameters.default_maxspeed_kph.items() if k not in tagged}


def _category_lookup(parameters: NetworkParameters) -> dict[str, str]:
    lookup = {}
    for category in ROAD_CATEGORIES:
        for highway in parameters.road_category.get(category, []):
            lookup[highway] = category
    return lookup


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def _as_bool_tag(value: Any) -> str:
    return str(_first(value)).lower() if value is not None else ""


def _normalise_tags(data: dict, parameters: NetworkParameters, categories: dict[str, str]) -> None:
    highway = str(_first(data.get("highway", "road")))
    data["highway"] = highway
    data["name"] = str(_first(data["name"])) if data.get("name") else ""
    data["ref"] = str(_first(data["ref"])) if data.get("ref") else ""
    oneway = _as_bool_tag(data.get("oneway")) in {"yes", "true", "1", "-1"} or highway in {"motorway"}
    lanes_total = _parse_int(_first(data.get("lanes")))
    default_dir = parameters.default_lanes_per_direction.get(
        highway.removesuffix("_link") if highway.endswith("_link") and highway != "motorway_link" else highway,
        parameters.default_lanes_per_direction.get("other", 1),
    )
    if lanes_total is None:
        lanes_total = default_dir if oneway else 2 * default_dir
    data["lanes_total"] = int(lanes_total)
    data["lanes"] = max(1, lanes_total if oneway else lanes_total // 2)
    access = _as_bool_tag(data.get("access"))
    motor = _as_bool_tag(data.get("motor_vehicle")) or _as_bool_tag(data.get("motorcar"))
    bicycle = _as_bool_tag(data.get("bicycle"))
    foot = _as_bool_tag(data.get("foot"))
    data["drive_allowed"] = highway not in CAR_EXCLUDED and access != "no" and motor != "no"
    bike_ok_on_foot = highway in {"footway", "pedestrian"} and bicycle in {"yes", "designated"}
    data["bike_allowed"] = (
        highway not in BIKE_EXCLUDED
        and bicycle != "no"
        and (highway not in {"footway", "pedestrian"} or bike_ok_on_foot)
        and not (highway in {"trunk", "trunk_link"} and bicycle not in {"yes", "designated"} and not _has_cycleway(data))
    )
    data["walk_allowed"] = (highway not in WALK_EXCLUDED or foot in {"yes", "designated"}) and foot != "no"
    data["cycleway"] = highway == "cycleway" or _has_cycleway(data) or bicycle == "designated"
    ring_names = set(parameters.road_category.get("ring_roads", []))
    category = categories.get(highway, "local")
    if data["drive_allowed"] and (data["ref"] in ring_names or data["name"] in ring_names):
        category = "ring"
    data["road_category"] = category


def _has_cycleway(data: dict) -> bool:
    for key in ("cycleway", "cycleway:both", "cycleway:right", "cycleway:left"):
        value = _as_bool_tag(data.get(key))
        if value and value not in {"no", "none", "separate"}:
            return True
    return False


def _parse_int(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(float(str(value).split(";")[0]))
    except ValueError:
        return None


def _set_speed_and_capacity(data: dict, parameters: NetworkParameters) -> None:
    limit = float(data.pop("speed_kph"))
    data["maxspeed_kph"] = limit
    compliance = parameters.compliance.get(data["road_category"], 1.0)
    data["speed_kph"] = limit * compliance
    per_lane = parameters.capacity_per_lane_vph.get(data["highway"], parameters.capacity_per_lane_vph.get("road", 600.0))
    data["capacity_vph"] = float(data["lanes"]) * per_lane if data["drive_allowed"] else 0.0
    data["travel_time"] = data["length"] / (data["speed_kph"] / 3.6)


def _set_inside_share(graph: nx.MultiDiGraph, boundary: shapely.Geometry) -> None:
    """Share of each edge's geometry (its straight segment where it has none) inside ``boundary``.

    The straight segments are built in one vectorised call rather than one shapely object per edge.
    """
    rows = list(map(itemgetter(2), graph.edges(data=True)))
    xy = {node: (data["x"], data["y"]) for node, data in graph.nodes(data=True)}
    ends = np.array([(xy[u], xy[v]) for u, v in graph.edges()], dtype=float).reshape(-1, 2, 2)
    geometry = shapely.linestrings(ends)
    curved = [i for i, data in enumerate(rows) if "geometry" in data]
    geometry[curved] = [rows[i]["geometry"] for i in curved]
    lengths = shapely.length(geometry)
    inside = shapely.length(shapely.intersection(geometry, boundary))
    share = np.where(lengths > 0, np.clip(inside / np.maximum(lengths, 1e-9), 0.0, 1.0), 0.0)
    for data, value in zip(rows, share.tolist(), strict=True):
        data["inside_share"] = value


def network_summary(network: Network, transit: Transit | None = None) -> dict[str, Any]:
    """Figures a planner checks first: size, km by class, km inside, named roads, rail.

    Parameters
    ----------
    network
        A normalised network.
    transit
        Rail lines and stations; when given, each station is snapped to the
        nearest walkable node (a :class:`VmobError` names a station farther
        than 1 km) and the lines are listed with their dated services.

    Returns
    -------
    dict
        ``source``, ``nodes``, ``edges``, ``km_by_highway`` and ``km_inside_boundary``
        (road km: each OSM way counted once, not once per direction of travel),
        ``named_roads`` (name → its ``highway`` classes, and the ``lanes`` (way
        total), ``lanes_per_direction`` and ``maxspeed_kph`` values of its
        drivable edges), ``extract`` (for a ``.osm.pbf`` extract: lines saying what
        reading it dropped, :class:`model.extract.ExtractReport`), and with ``transit``:
        ``stations`` (name → ``lat``, ``lon``, ``lines``, ``walk_snap_m``) and
        ``lines`` (id → ``name``, ``mode``, ``stops``, ``skip``, ``services``).
    """
    graph = network.graph
    km_by_highway: dict[str, float] = {}
    km_inside = 0.0
    named: dict[str, dict[str, set]] = {}
    counted: set[tuple] = set()
    for u, v, data in graph.edges(data=True):
        segment = (min(u, v), max(u, v), str(_first(data.get("osmid"))))
        if segment not in counted:
            counted.add(segment)
            km = data["length"] / 1000.0
            km_by_highway[data["highway"]] = km_by_highway.get(data["highway"], 0.0) + km
            km_inside += km * data["inside_share"]
        if data["name"]:
            entry = named.setdefault(
                data["name"], {"highway": set(), "lanes": set(), "lanes_per_direction": set(), "maxspeed_kph": set()}
            )
            entry["highway"].add(data["highway"])
            if data["drive_allowed"]:
                entry["lanes"].add(data["lanes_total"])
                entry["lanes_per_direction"].add(data["lanes"])
                entry["maxspeed_kph"].add(int(round(data["maxspeed_kph"])))
    summary = {
        "source": network.source,
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "km_by_highway": dict(sorted(km_by_highway.items(), key=lambda item: -item[1])),
        "km_inside_boundary": km_inside,
        "named_roads": {name: {k: sorted(v) for k, v in entry.items()} for name, entry in sorted(named.items())},
    }
    if network.extract_report is not None:
        summary["extract"] = network.extract_report.lines()
    if transit is not None:
        summary.update(_transit_summary(network, transit))
    return summary


def _transit_summary(network: Network, transit: Transit) -> dict[str, Any]:
    snaps = snap_stations(edge_arrays(network.graph), transit)
    served: dict[str, list[str]] = {name: [] for name in transit.stations}
    for line in transit.lines.values():
        for stop in line.stops:
            if line.id not in served[stop]:
                served[stop].append(line.id)
    stations = {
        name: {"lat": station.lat, "lon": station.lon, "lines": served[name], "walk_snap_m": float(snaps.distance_m[i])}
        for i, (name, station) in enumerate(zip(snaps.names, (transit.stations[n] for n in snaps.names), strict=True))
    }
    lines = {
        line.id: {
            "name": line.name,
            "mode": line.mode,
            "stops": list(line.stops),
            "skip": list(line.skip),
            "services": [service.model_dump() for service in sorted(line.services, key=lambda s: s.start)],
        }
        for line in transit.lines.values()
    }
    return {"stations": stations, "lines": lines}


def fetch_network(place: str, buffer_km: float, cache_dir: Path | None = None) -> Path:
    """Download the drive + bike + walk network around a municipality and cache it.

    Uses the administrative boundary polygon of ``place`` from Nominatim,
    buffered by ``buffer_km``, and ``osmnx.graph_from_polygon`` with
    ``network_type="all"``. Needs internet.

    Parameters
    ----------
    place
        Place query, e.g. ``"Vallensbæk Kommune"``.
    buffer_km
        Buffer around the boundary in km.
    cache_dir
        Folder for ``<slug>.graphml`` and ``<slug>.boundary.geojson``.

    Returns
    -------
    Path
        The cached GraphML file, loadable with :func:`load_network`.
    """
    cache_dir = Path(cache_dir or NETWORK_CACHE_DIR)
    cache_dir.mkdir(parents=True, exist_ok=True)
    slug = "".join(c if c.isalnum() else "_" for c in place.lower()).strip("_") + f"_{buffer_km:g}km".replace(".", "p")
    target = cache_dir / f"{slug}.graphml"
    try:
        boundary = ox.geocode_to_gdf(place)
        buffered = boundary.to_crs(CRS_METRIC).buffer(buffer_km * 1000.0).to_crs(CRS_WGS84).union_all()
        with _way_tags():
            graph = ox.graph_from_polygon(buffered, network_type="all", simplify=True, retain_all=False)
    except Exception as err:  # network errors, Nominatim misses
        raise VmobError(f"could not download the network for '{place}' ({_short(err)}); this needs internet") from None
    save_cached(graph, boundary, target)
    return target


def save_cached(graph: nx.MultiDiGraph, boundary: gpd.GeoDataFrame, target: Path) -> None:
    """Write a downloaded graph and its boundary atomically into the cache.

    The boundary goes first, so a graph in the cache always has its boundary beside it.
    """
    target = Path(target)
    polygon = boundary.to_crs(CRS_WGS84).geometry.union_all()
    feature = {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(polygon)}
    with atomic_path(_boundary_path(target)) as tmp:
        tmp.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    with atomic_path(target) as tmp:
        ox.save_graphml(graph, tmp)


def _boundary_path(path: Path) -> Path:
    """The boundary file that belongs to a network file (``<stem>.boundary.geojson``)."""
    return Path(path).with_name(Path(path).name.split(".")[0] + ".boundary.geojson")


def _boundary_for(path: Path) -> Path:
    candidate = _boundary_path(path)
    return candidate if candidate.is_file() else DEFAULT_BOUNDARY


def _digest(*paths: Path) -> str:
    sha = hashlib.sha256()
    for path in paths:
        sha.update(Path(path).read_bytes())
    return sha.hexdigest()


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
