"""``vmob network show|map``: output on good inputs, one ``error:`` line on bad ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from osm_fixtures import (
    extract_network_xml,
    grid_point,
    tiny_transit_toml,
    write_pbf,
    write_tiny_inputs,
)
from typer.testing import CliRunner

from model import network as network_module
from model.cli import app
from model.network import DEFAULT_BOUNDARY, DEFAULT_OSM
from model.settings import PROJECT_ROOT
from model.transit import DEFAULT_TRANSIT

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FOOTWAY_ONLY = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
  <node id="1" version="1" lat="55.620" lon="12.360"/>
  <node id="2" version="1" lat="55.621" lon="12.361"/>
  <way id="10" version="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/></way>
</osm>
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    return write_tiny_inputs(tmp_path_factory.mktemp("cli"))


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_user_error(result, *names: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for name in names:
        assert name in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_show_prints_roads_stations_and_lines(tiny):
    result = invoke("network", "show", "--source", tiny["osm"], "--transit", tiny["transit"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "nodes        35" in out
    assert "inside the boundary" in out
    assert "Søndre Ringvej" in out and "lanes 4 (2 per direction), 60 km/h" in out
    assert "Diagonal Cycle Path" in out and "not drivable" in out
    assert "West St." in out and "99 m" in out
    assert "passes without stopping: South St." in out
    assert "from 2025-10-26: peak every 10 min" in out


def test_map_writes_a_png(tiny, tmp_path):
    out = tmp_path / "maps" / "network.png"
    result = invoke("network", "map", "--source", tiny["osm"], "--transit", tiny["transit"], "--out", out)
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 20_000
    assert [p.name for p in out.parent.iterdir()] == ["network.png"]  # no temporary file left


def far_station_transit() -> str:
    lat, lon = grid_point(12, 2)  # about 3.6 km north of the grid
    return tiny_transit_toml() + f'\n[stations."Far Away St."]\nlat = {lat}\nlon = {lon}\nsource = "test"\n'


BAD_INPUTS = {
    "missing file": ("nothing.osm", None, None, ["network file not found", "nothing.osm"]),
    "malformed xml": ("broken.osm", "<osm><node id='1'", None, ["broken.osm", "malformed OSM XML"]),
    "no drivable edge": ("paths.osm", FOOTWAY_ONLY, None, ["paths.osm", "no drivable edge"]),
    "unknown file type": ("roads.shp", "not a network", None, ["roads.shp", "unknown network file type"]),
    "stop not a station": (None, None, tiny_transit_toml().replace('"North St."]\nminutes', '"Nord St."]\nminutes'), ["line A", "Nord St."]),
    "station far from streets": (None, None, far_station_transit(), ["Far Away St.", "km from the nearest walkable street"]),
}


@pytest.mark.parametrize("command", ["show", "map"])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_error_line(tiny, tmp_path, case, command):
    source_name, source_text, transit_text, names = BAD_INPUTS[case]
    source, transit = tiny["osm"], tiny["transit"]
    if source_name:
        source = tmp_path / source_name
        if source_text is not None:
            source.write_text(source_text, encoding="utf-8")
    if transit_text:
        transit = tmp_path / "transit.toml"
        transit.write_text(transit_text, encoding="utf-8")
    args = ["network", command, "--source", source, "--boundary", tiny["boundary"], "--transit", transit]
    if command == "map":
        args += ["--out", tmp_path / "map.png"]
    assert_user_error(invoke(*args), *names)
    assert not (tmp_path / "map.png").exists()


def test_interrupt_is_one_line(tiny, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(network_module, "load_network", interrupted)
    result = invoke("network", "show", "--source", tiny["osm"])
    assert result.exit_code == 130
    assert result.stderr.strip() == "interrupted"


def test_real_process_prints_no_traceback(tmp_path):
    missing = tmp_path / "nothing.osm.pbf"
    process = subprocess.run(
        [sys.executable, "-c", "from model.cli import app; app()", "network", "show", "--source", str(missing)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert process.returncode == 1
    assert process.stderr.strip() == f"error: network file not found: {missing}"
    assert "Traceback" not in process.stdout + process.stderr


def test_fetch_prints_the_cached_path(tiny, tmp_path, monkeypatch):
    cached = tmp_path / "place_5km.graphml"
    monkeypatch.setattr(network_module, "fetch_network", lambda place, buffer_km, cache_dir: cached)
    result = invoke("network", "fetch", "--place", "Vallensbæk Kommune", "--buffer-km", "5", "--cache-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(cached)


DEFAULT_FILES = (DEFAULT_OSM, DEFAULT_BOUNDARY, DEFAULT_TRANSIT)
needs_default = pytest.mark.skipif(
    not all(path.is_file() for path in DEFAULT_FILES),
    reason="the embedded network (networks/vallensbaek/vallensbaek.osm, boundary.geojson, transit.toml) is not there yet",
)


@needs_default
def test_show_default_network():
    result = invoke("network", "show")
    assert result.exit_code == 0, result.output
    for road in ("Søndre Ringvej", "Køge Bugt Motorvejen", "Holbækmotorvejen", "Vallensbækvej"):
        assert road in result.stdout
    assert "Vallensbæk St." in result.stdout


@needs_default
def test_map_default_network(tmp_path):
    out = tmp_path / "network_map.png"
    result = invoke("network", "map", "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_show_reports_what_reading_an_extract_dropped(tiny, tmp_path):
    xml = tmp_path / "extract.osm"
    xml.write_text(extract_network_xml(), encoding="utf-8")
    pbf = write_pbf(xml, tmp_path / "extract.osm.pbf")
    result = invoke("network", "show", "--source", pbf, "--boundary", tiny["boundary"], "--transit", tiny["transit"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "read from the extract" in out
    assert "skipped 2 not drive, bike or walk ways" in out
    assert "2 way segments" in out and "beyond the boundary + 5 km" in out, "only Far Road lies beyond 5 km"
    assert "outside the largest strongly connected component, dropped" in out
    assert "closed to cars    1 edges" in out
    assert "Island Path" not in out and "Bend Street" in out
