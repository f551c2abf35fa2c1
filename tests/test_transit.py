"""Transit file validation, dated services and the stop lever."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from model.errors import VmobError
from model.transit import Service, load_transit
from tests.osm_fixtures import tiny_transit_toml

STATIONS = """
[stations."Ishøj St."]
lat = 55.6133
lon = 12.3574
source = "test"

[stations."Vallensbæk St."]
lat = 55.6231
lon = 12.3857
source = "test"

[stations."Brøndby Strand St."]
lat = 55.6219
lon = 12.4183
source = "test"
"""

LINE_E = """
[[lines]]
id = "E"
name = "S-train E"
mode = "s_train"
source = "test"
stops = ["Ishøj St.", "Vallensbæk St.", "Brøndby Strand St."]
minutes = {minutes}
skip = ["Vallensbæk St."]

[[lines.services]]
start = 2007-01-07
headway_peak_min = 10.0
headway_offpeak_min = 20.0
last_stop = "{last_stop}"
"""


def write(folder: Path, text: str) -> Path:
    path = folder / "transit.toml"
    path.write_text(text, encoding="utf-8")
    return path


def line_e(minutes: str = "[3.0, 3.0]", last_stop: str = "Brøndby Strand St.") -> str:
    return STATIONS + LINE_E.format(minutes=minutes, last_stop=last_stop)


def running_stops(transit, date: dt.date) -> dict[str, tuple[str, ...]]:
    return {line.id: line.stops for line in transit.running(date)}


def test_light_rail_runs_from_its_opening_date(tmp_path):
    transit = load_transit(write(tmp_path, tiny_transit_toml()))
    assert "L" not in running_stops(transit, dt.date(2025, 10, 25))
    opening = {line.id: line for line in transit.running(dt.date(2025, 10, 26))}
    assert opening["L"].headway_min == 10.0
    full = {line.id: line for line in transit.running(dt.date(2026, 8, 22))}
    assert full["L"].headway_min == 5.0
    assert {line.id: line.headway_min for line in transit.running(dt.date(2026, 8, 22), peak=False)}["L"] == 10.0


def test_skip_list_removes_a_stop_and_set_stop_restores_it(tmp_path):
    transit = load_transit(write(tmp_path, line_e()))
    date = dt.date(2020, 1, 1)
    (passing,) = transit.running(date)
    assert passing.stops == ("Ishøj St.", "Brøndby Strand St.")
    assert passing.minutes == (6.0,)
    lever = transit.copy()
    lever.set_stop("E", "Vallensbæk St.", True)
    (stopping,) = lever.running(date)
    assert stopping.stops == ("Ishøj St.", "Vallensbæk St.", "Brøndby Strand St.")
    assert sum(stopping.minutes) >= sum(passing.minutes)  # a served stop may add dwell time
    assert transit.running(date)[0] == passing  # the copy is independent
    lever.set_stop("E", "Vallensbæk St.", False)
    assert lever.running(date)[0] == passing


def test_added_service_applies_from_its_start(tmp_path):
    transit = load_transit(write(tmp_path, line_e()))
    transit.add_service("E", Service(start=dt.date(2030, 1, 1), headway_peak_min=5.0, headway_offpeak_min=10.0))
    assert transit.running(dt.date(2029, 12, 31))[0].headway_min == 10.0
    assert transit.running(dt.date(2030, 1, 1))[0].headway_min == 5.0


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (
            line_e(last_stop="Brøndby St.").replace('"Brøndby Strand St."]\nminutes', '"Brøndby St."]\nminutes'),
            ["line E", "stop 'Brøndby St.' is not in [stations]"],
        ),
        (line_e(minutes="[3.0]"), ["line E", "3 stops need 2 'minutes' values, not 1"]),
        (line_e(last_stop="Køge St."), ["line E", "last_stop 'Køge St.'"]),
        (line_e().replace('skip = ["Vallensbæk St."]', 'skip = ["Glostrup St."]'), ["line E", "Glostrup St."]),
        (line_e().replace("headway_peak_min", "headway_peak"), ["transit.toml", "headway_peak"]),
    ],
)
def test_validation_errors_name_the_line_and_stop(tmp_path, text, names):
    with pytest.raises(VmobError) as raised:
        load_transit(write(tmp_path, text))
    message = str(raised.value)
    assert "\n" not in message and str(tmp_path / "transit.toml") in message
    for name in names:
        assert name in message


def test_lever_errors_name_the_line_or_station(tmp_path):
    transit = load_transit(write(tmp_path, line_e()))
    with pytest.raises(VmobError, match="unknown transit line 'F'"):
        transit.set_stop("F", "Vallensbæk St.", True)
    with pytest.raises(VmobError, match=re.escape("unknown station 'Køge St.'")):
        transit.set_stop("E", "Køge St.", True)


def test_missing_transit_file(tmp_path):
    with pytest.raises(VmobError, match="file not found"):
        load_transit(tmp_path / "nothing.toml")
