"""One pipeline for every source, and the rules that turn OSM tags into edge attributes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import geopandas as gpd
import osmnx as ox
import pytest
import shapely.geometry
from osm_fixtures import (
    extract_network_xml,
    grid_node_id,
    tiny_network_xml,
    write_pbf,
    write_tiny_network,
)

from model import network as net
from model.network import load_network, load_parameters, read_graph, save_cached
from model.zones import load_zones

COMPARED = (
    "length", "lanes", "lanes_total", "maxspeed_kph", "speed_kph", "capacity_vph", "travel_time",
    "inside_share", "road_category", "drive_allowed", "bike_allowed", "walk_allowed", "cycleway",
)


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> tuple[Path, Path]:
    return write_tiny_network(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tiny(tiny_files):
    osm, boundary = tiny_files
    return load_network(osm, boundary=boundary)


def normalised_edges(network: net.Network) -> dict[tuple[int, int, int], tuple]:
    return {(u, v, k): tuple(data[name] for name in COMPARED) for u, v, k, data in network.graph.edges(keys=True, data=True)}


def edges_named(network: net.Network, name: str) -> list[dict]:
    return [data for _, _, data in network.graph.edges(data=True) if data["name"] == name]


def assert_same_edges(actual: net.Network, expected: net.Network) -> None:
    got, want = normalised_edges(actual), normalised_edges(expected)
    assert got.keys() == want.keys()
    for key, values in want.items():
        for name, a, b in zip(COMPARED, got[key], values, strict=True):
            if isinstance(b, float):
                assert a == pytest.approx(b, rel=1e-9, abs=1e-9), (key, name)
            else:
                assert a == b, (key, name)


def test_pbf_gives_the_same_raw_graph_as_xml(tiny_files, tmp_path):
    osm, _ = tiny_files
    from_xml = read_graph(osm)
    from_pbf = read_graph(write_pbf(osm, tmp_path / "tiny.osm.pbf"))
    assert sorted(from_pbf.nodes) == sorted(from_xml.nodes)
    for node, data in from_xml.nodes(data=True):
        assert from_pbf.nodes[node] == {k: pytest.approx(v, abs=1e-7) for k, v in data.items()}, node
    xml_edges = {(u, v, k): d for u, v, k, d in from_xml.edges(keys=True, data=True)}
    pbf_edges = {(u, v, k): d for u, v, k, d in from_pbf.edges(keys=True, data=True)}
    assert pbf_edges.keys() == xml_edges.keys()
    for key, data in xml_edges.items():
        assert pbf_edges[key] == {**data, "length": pytest.approx(data["length"], rel=1e-12)}, key


@pytest.fixture(scope="module")
def extract_files(tiny_files, tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("extract")
    xml = folder / "extract.osm"
    xml.write_text(extract_network_xml(), encoding="utf-8")
    return write_pbf(xml, folder / "extract.osm.pbf"), tiny_files[1]


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def extract_and_log(extract_files):
    pbf, boundary = extract_files
    logger = logging.getLogger("model.network")
    recorder, level = Recorder(), logger.level
    logger.addHandler(recorder)
    logger.setLevel(logging.INFO)
    try:
        return load_network(pbf, boundary=boundary, buffer_km=1.0), recorder.messages
    finally:
        logger.removeHandler(recorder)
        logger.setLevel(level)


@pytest.fixture(scope="module")
def extract(extract_and_log):
    return extract_and_log[0]


def test_extract_keeps_the_streets_inside_the_buffer(extract):
    report = extract.extract_report
    names = {data["name"] for _, _, data in extract.graph.edges(data=True)}
    assert {"Søndre Ringvej", "Bend Street", "North Road", "Pocket Street"} <= names
    assert not names & {"Far Road", "Planned Road", "Square", "Island Path"}
    assert report.ways_not_streets == 2, "the proposed road and the pedestrian area"
    # Far Road's two segments and North Road's last one (about 2.3 km) lie beyond the 1 km buffer.
    assert report.segments_outside == 3
    assert report.km_outside == pytest.approx(2.3 + 0.63, abs=0.1)
    assert 9001 in extract.graph and 9002 not in extract.graph


def test_extract_drops_pieces_outside_the_largest_strongly_connected_component(extract):
    graph = extract.graph
    report = extract.extract_report
    assert 9201 not in graph and 9202 not in graph, "the footway island is dropped"
    # The tiny motorway's one-way carriageways end at the edge of the data: cars enter and cannot leave.
    assert not any(data["highway"] == "motorway" for _, _, data in graph.edges(data=True))
    assert report.pieces_disconnected >= 2
    assert report.nodes_disconnected >= 2 + 2 * 5
    island_km = 0.1 * 0.004 * 111.2 + 0.3 * 0.007 * 63.0
    assert report.km_disconnected > island_km
    import networkx as nx

    assert nx.is_strongly_connected(graph)


def test_extract_is_simplified_where_no_normalised_tag_changes(extract):
    graph = extract.graph
    report = extract.extract_report
    assert 9301 not in graph and 9302 not in graph, "the bend nodes are interstitial"
    bend = [data for u, v, data in graph.edges(data=True) if data["name"] == "Bend Street"]
    # One edge each way, as long as the three segments together (188 + 221 + 221 m).
    assert len(bend) == 2 and all(data["length"] == pytest.approx(630.0, abs=15.0) for data in bend)
    assert report.nodes_simplified == graph.number_of_nodes() < report.nodes_read
    # Grid corners where two differently named streets meet stay, though only two streets meet there.
    assert grid_node_id(4, 4) in graph


def test_extract_closes_car_pockets_and_keeps_them_for_walkers(extract):
    report = extract.extract_report
    pocket = [data for _, _, data in extract.graph.edges(data=True) if data["name"] == "Pocket Street"]
    assert len(pocket) == 1, "one-way, simplified to one edge"
    assert not pocket[0]["drive_allowed"] and pocket[0]["capacity_vph"] == 0.0
    assert pocket[0]["walk_allowed"]
    assert report.drive_edges_closed == 1
    assert report.drive_km_closed == pytest.approx(pocket[0]["length"] / 1000.0)
    lines = "\n".join(report.lines())
    assert "closed to cars    1 edges, 0.4 km" in lines


def test_extract_report_is_logged(extract_and_log, extract_files):
    network, messages = extract_and_log
    assert messages == [f"{extract_files[0]}: {line}" for line in network.extract_report.lines()]


def test_graphml_gives_the_same_edges_as_xml(tiny, tiny_files, tmp_path):
    osm, boundary = tiny_files
    graphml = tmp_path / "tiny.graphml"
    ox.save_graphml(read_graph(osm), graphml)
    assert_same_edges(load_network(graphml, boundary=boundary), tiny)


def boundary_frame(path: Path) -> gpd.GeoDataFrame:
    """The boundary as the GeoDataFrame osmnx's geocoder returns."""
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    return gpd.GeoDataFrame(geometry=[shapely.geometry.shape(f["geometry"]) for f in features], crs="EPSG:4326")


def test_cached_download_round_trip(tiny, tiny_files, tmp_path):
    osm, boundary = tiny_files
    target = tmp_path / "cache" / "tiny_5km.graphml"
    target.parent.mkdir()
    save_cached(read_graph(osm), boundary_frame(boundary), target)
    cached = load_network(target)  # finds tiny_5km.boundary.geojson beside it
    assert Path(cached.source) == target
    assert_same_edges(cached, tiny)


def test_fetch_caches_what_osmnx_returns(tiny, tiny_files, tmp_path, monkeypatch):
    osm, boundary = tiny_files
    monkeypatch.setattr(ox, "geocode_to_gdf", lambda place: boundary_frame(boundary))
    monkeypatch.setattr(ox, "graph_from_polygon", lambda polygon, **kwargs: read_graph(osm))
    path = net.fetch_network("Test Kommune", 2.5, tmp_path)
    assert path == tmp_path / "test_kommune_2p5km.graphml"
    assert (tmp_path / "test_kommune_2p5km.boundary.geojson").is_file()
    assert_same_edges(load_network(path), tiny)


def test_ring_road_lanes_are_split_by_direction(tiny):
    ring = edges_named(tiny, "Søndre Ringvej")
    assert ring and all(d["lanes_total"] == 4 and d["lanes"] == 2 for d in ring)
    assert all(d["capacity_vph"] == 2 * 1200 for d in ring)


def test_motorway_is_oneway_and_closed_to_bikes_and_walkers(tiny):
    graph = tiny.graph
    motorway = [(u, v, d) for u, v, d in graph.edges(data=True) if d["highway"] == "motorway"]
    assert motorway
    for u, v, data in motorway:
        assert not any(d["highway"] == "motorway" for d in graph.get_edge_data(v, u, default={}).values())
        assert data["lanes"] == 3 and data["drive_allowed"]
        assert not data["bike_allowed"] and not data["walk_allowed"]


def test_cycleway_is_bike_only(tiny):
    path = edges_named(tiny, "Diagonal Cycle Path")
    assert path and all(d["bike_allowed"] and d["cycleway"] for d in path)
    assert not any(d["drive_allowed"] or d["walk_allowed"] for d in path)
    assert all(d["capacity_vph"] == 0 for d in path)
    assert all(d["cycleway"] for d in edges_named(tiny, "Vejlegårdsvej"))  # cycleway:right=track


def test_inside_share_whole_none_and_crossing(tiny):
    shares = {name: {round(d["inside_share"], 6) for d in edges_named(tiny, name)} for name in ("Column Street 0", "Column Street 4")}
    assert shares == {"Column Street 0": {1.0}, "Column Street 4": {0.0}}
    # The boundary's east side runs halfway between columns 2 and 3.
    graph = tiny.graph
    crossing = [d["inside_share"] for u, v, d in graph.edges(data=True) if {u, v} == {1022, 1023}]
    assert crossing and all(d == pytest.approx(0.5, abs=0.05) for d in crossing)


def test_road_categories(tiny):
    category = {d["name"] or d["highway"]: d["road_category"] for _, _, d in tiny.graph.edges(data=True)}
    assert category["Køge Bugt Motorvejen"] == "motorway"
    assert category["motorway_link"] == "motorway"
    assert category["Søndre Ringvej"] == "ring"
    assert category["Vejlegårdsvej"] == "urban"
    assert category["Row Street 0"] == "local"


def test_ring_road_by_name_whatever_its_class(tiny_files):
    osm, boundary = tiny_files
    parameters = load_parameters()
    rules = dict(parameters.road_category)
    rules["ring"] = [h for h in rules["ring"] if h != "primary"]
    rules["urban"] = [*rules["urban"], "primary"]
    network = load_network(osm, boundary=boundary, parameters=parameters.model_copy(update={"road_category": rules}))
    assert {d["road_category"] for d in edges_named(network, "Søndre Ringvej")} == {"ring"}


def test_free_flow_speed_is_limit_times_compliance(tiny):
    compliance = load_parameters().compliance
    for _, _, data in tiny.graph.edges(data=True):
        assert data["speed_kph"] == pytest.approx(data["maxspeed_kph"] * compliance[data["road_category"]])
        assert data["travel_time"] == pytest.approx(data["length"] / (data["speed_kph"] / 3.6))
    assert {d["maxspeed_kph"] for d in edges_named(tiny, "Køge Bugt Motorvejen")} == {110.0}
    assert all(d["speed_kph"] == pytest.approx(110 * compliance["motorway"]) for d in edges_named(tiny, "Køge Bugt Motorvejen"))


def test_missing_maxspeed_is_imputed_from_the_same_class(tmp_path):
    osm = tmp_path / "slow.osm"
    osm.write_text(tiny_network_xml().replace('k="maxspeed" v="50"', 'k="maxspeed" v="40"'), encoding="utf-8")
    boundary = tmp_path / "slow.boundary.geojson"
    write_tiny_network(tmp_path / "b")[1].replace(boundary)
    network = load_network(osm)
    assert {d["maxspeed_kph"] for d in edges_named(network, "Column Street 1")} == {40.0}


def test_summary_counts_each_way_once(tiny):
    summary = net.network_summary(tiny)
    ring_km = sum(d["length"] for d in edges_named(tiny, "Søndre Ringvej")) / 1000.0
    assert summary["km_by_highway"]["primary"] == pytest.approx(ring_km / 2)
    assert summary["named_roads"]["Søndre Ringvej"]["lanes"] == [4]
    assert summary["named_roads"]["Søndre Ringvej"]["lanes_per_direction"] == [2]
    assert summary["named_roads"]["Diagonal Cycle Path"] == {
        "highway": ["cycleway"], "lanes": [], "lanes_per_direction": [], "maxspeed_kph": []
    }
    assert 0 < summary["km_inside_boundary"] < sum(summary["km_by_highway"].values())


def test_boundary_without_polygon_is_an_error(tiny_files, tmp_path):
    osm, _ = tiny_files
    empty = tmp_path / "empty.geojson"
    empty.write_text(json.dumps({"type": "FeatureCollection", "features": []}), encoding="utf-8")
    with pytest.raises(net.VmobError, match="empty.geojson"):
        load_network(osm, boundary=empty)


@pytest.fixture(scope="module")
def embedded():
    return load_network()


def test_embedded_boundary_has_the_official_area(embedded):
    """Territorial CO2 depends on it: 9.5 km² official (geography.md §3, Trap)."""
    assert embedded.boundary.area / 1e6 == pytest.approx(9.5, rel=0.02)


def test_embedded_home_zones_lie_inside_the_boundary(embedded):
    zones = load_zones()
    points = shapely.points(zones.x[zones.home], zones.y[zones.home])
    assert shapely.contains(embedded.boundary, points).all()


def test_embedded_motorway_lengths_inside_match_the_noise_wall(embedded):
    """Holbækmotorvejen has a 2,020 m noise wall along Vallensbækvej inside Vallensbæk (geography.md §3a)."""
    km = {}
    for _, _, data in embedded.graph.edges(data=True):
        if data.get("highway") == "motorway":
            km[data["name"]] = km.get(data["name"], 0.0) + data["length"] * data["inside_share"] / 2000.0  # per direction
    assert km["Holbækmotorvejen"] == pytest.approx(2.02, rel=0.15)
    assert 1.0 < km["Køge Bugt Motorvejen"] < 2.5
    assert sum(km.values()) < 5.0
