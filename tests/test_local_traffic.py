"""Local traffic: vans, buses, the municipal fleet and background traffic on the municipal roads."""

from __future__ import annotations

import datetime as dt
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter

from model import emissions, local_traffic
from model.errors import VmobError
from model.levers import LeverConfig, MunicipalFleet
from model.parameters import load_parameters
from model.settings import PARAMETERS_DIR
from model.supply_state import SupplyState
from model.vocabulary import EXTERNAL_CLASSES
from tests.abm_fixtures import default_context, small_model

YEARS = (2019, 2025, 2030, 2040, 2050)


@pytest.fixture(scope="module")
def params():
    return load_parameters()


def flows_of(params, year: int = 2019, municipal: dict[str, float] | None = None) -> local_traffic.LocalFlows:
    ctx = default_context()
    return local_traffic.local_flows(ctx.edges, ctx.zones, ctx.anchors.zone_node, params, year, municipal)


def frame_of(flows: local_traffic.LocalFlows, params) -> pd.DataFrame:
    edges = default_context().edges
    return local_traffic.link_vkm_frame(edges, flows, edges.speed_kph * 0.8, params.assignment.peak_period_vkm_share, 365.0)


def test_local_vehicle_km_add_up_by_class_and_traffic_type(params):
    flows = flows_of(params)
    edges = default_context().edges
    frame = frame_of(flows, params)
    km = edges.length_m / 1000.0
    for vehicle in ("car", "van", "bus"):
        for traffic in ("service", "bus_service", "municipal_fleet"):
            expected = float((flows.total(vehicle, traffic) * km).sum() * 365.0)
            rows = frame[(frame["vehicle"] == vehicle) & (frame["traffic"] == traffic)]
            assert rows["vkm_per_year"].sum() == pytest.approx(expected, rel=1e-9, abs=1e-6)
            inside = float((flows.total(vehicle, traffic) * km * edges.inside_share).sum() * 365.0)
            assert rows.loc[rows["area"] == "inside", "vkm_per_year"].sum() == pytest.approx(inside, rel=1e-9, abs=1e-6)
    # every class is there, and the powertrain split of each class sums to its total
    assert set(frame["vehicle"]) == {"car", "van", "bus"}
    assert set(frame["traffic"]) == {"service", "bus_service", "municipal_fleet"}


def test_the_municipal_fleet_drives_its_stated_km(params):
    flows = flows_of(params)
    edges = default_context().edges
    km = edges.length_m / 1000.0
    own = params.local_traffic.municipal_fleet
    for vehicle in ("car", "van"):
        expected = own.vehicles[vehicle] * own.km_per_vehicle_per_year[vehicle]
        assert float((flows.total(vehicle, "municipal_fleet") * km).sum()) * 365.0 == pytest.approx(expected)


def test_van_trips_follow_households_and_jobs(params):
    base = flows_of(params)
    more = flows_of(load_parameters({"local_traffic.vans.trips_per_job_per_day": 0.36}))
    vans = "local_traffic.vans."
    none = flows_of(load_parameters({f"{vans}trips_per_household_per_day": 0.0, f"{vans}trips_per_job_per_day": 0.0}))
    km = default_context().edges.length_m
    vkm = [float((f.total("van", "service") * km).sum()) for f in (none, base, more)]
    assert vkm[0] == 0.0 and vkm[0] < vkm[1] < vkm[2]
    # the zone × zone trips: each trip has one end in a home zone
    ctx = default_context()
    od = local_traffic.van_od(ctx.zones, params.local_traffic, 17000.0, 5800.0)
    home = ctx.zones.is_home
    assert od[np.ix_(home, home)].sum() == 0.0 and od[np.ix_(~home, ~home)].sum() == 0.0
    lt = params.local_traffic.vans
    expected = 17000.0 * lt.households_per_resident * lt.trips_per_household_per_day + 5800.0 * lt.trips_per_job_per_day
    assert od.sum() == pytest.approx(expected)


def test_the_preload_is_the_daily_flow_in_pce_and_buses_count_as_long_vehicles(params):
    flows = flows_of(params)
    preload = local_traffic.daily_pce(flows, params.local_traffic)
    lt = params.local_traffic
    expected = sum(flows.total(v) * lt.pce[v] for v in ("car", "van", "truck", "bus"))
    np.testing.assert_allclose(preload, expected)
    assert (preload >= 0).all() and preload.max() > 0
    by_class = local_traffic.by_count_class(flows)
    np.testing.assert_allclose(by_class.sum(axis=1), flows.daily.sum(axis=1))
    np.testing.assert_allclose(by_class[:, EXTERNAL_CLASSES.index("truck")], flows.total("truck") + flows.total("bus"))


def _territorial_co2(params, year: int, municipal: dict[str, float] | None) -> float:
    frame = frame_of(flows_of(params, year, municipal), params)
    frame = frame[frame["traffic"] == "municipal_fleet"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emissions.SpeedClampWarning)  # residential streets below the curves' range
        _, co2 = emissions.vehicle_energy_and_co2(frame, year, params.emissions)
    return float(co2.loc[co2["area"] == "inside", "co2_t"].sum())


def test_the_municipal_fleet_lever_never_raises_co2(params):
    supply = SupplyState.initial(default_context().edges, default_context().transit, {2019: 0.0})
    lever = MunicipalFleet(kind="municipal_fleet", start=dt.date(2024, 1, 1), target_year=2030)
    lever.apply(supply, dt.date(2024, 7, 1))
    assert supply.municipal_zero_emission(2023) == {"car": 0.0, "van": 0.0}
    assert supply.municipal_zero_emission(2030) == {"car": 1.0, "van": 1.0}
    savings = []
    for year in (2019, 2024, 2027, 2030, 2040, 2050):
        with_lever = _territorial_co2(params, year, supply.municipal_zero_emission(year))
        without = _territorial_co2(params, year, None)
        assert with_lever <= without + 1e-9
        savings.append(without - with_lever)
    assert savings[3] > 0.5 * _territorial_co2(params, 2030, None)  # all-electric from 2030: only grid CO2 is left
    for share in (0.0, 0.3, 1.0):  # any share: at least as electric as the national stock
        low = _territorial_co2(params, 2040, {"car": share, "van": share})
        assert low <= _territorial_co2(params, 2040, None) + 1e-9


def test_the_lever_is_read_from_an_experiment_and_refuses_a_target_before_its_start():
    lever = TypeAdapter(LeverConfig).validate_python({"kind": "municipal_fleet", "start": dt.date(2024, 1, 1), "target_year": 2030})
    assert isinstance(lever, MunicipalFleet) and lever.vehicles == ["car", "van"]
    assert "2030" in lever.describe()
    bad = MunicipalFleet(kind="municipal_fleet", start=dt.date(2031, 1, 1), target_year=2030)
    with pytest.raises(VmobError, match=r"levers\[0\]\.target_year"):
        bad.check(default_context(), "levers[0]")


def test_a_model_year_has_vans_and_buses_without_double_counting_the_counts():
    model = small_model(end_year=2019, sample_fraction=0.05)
    model.run()
    tables = model.results()
    vkm = tables["vehicle_km"]
    inside = vkm[vkm["area"] == "inside"]
    assert {"van", "bus"} <= set(inside["vehicle"])
    assert {"service", "bus_service", "municipal_fleet"} <= set(inside["traffic"])
    co2 = tables["co2"]
    territorial = co2[co2["accounting"] == "territorial"]
    assert territorial.loc[territorial["source"] == "van", "co2_t"].sum() > 0
    # none of it is residents' traffic
    assert not (co2[co2["accounting"] == "resident"]["traffic"].isin(["service", "bus_service", "through"])).any()
    # the vans at the count points are taken out of the counts, as the agents are
    vans = model.sections.weights @ model.local_flows(2019).total("van", "service")
    assert (vans > 0).any()
    fit = model.count_fit
    assert (fit["local_daily"] >= vans - 1e-9).all()


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ("trips_per_household_per_day = 0.19", "trips_per_household_per_day = -0.19", "vans.trips_per_household_per_day",
         "greater than or equal to 0"),
        ("departures_per_day_per_direction = { 2019 = 30 }", "departures_per_day_per_direction = { 2019 = -30 }",
         "buses[0].departures_per_day_per_direction", "negative"),
    ],
)
def test_bad_local_traffic_input_is_a_one_line_error_naming_file_and_key(tmp_path: Path, old, new, key, words):
    folder = tmp_path / "parameters"
    shutil.copytree(PARAMETERS_DIR, folder)
    path = folder / "local_traffic.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(VmobError) as err:
        load_parameters(folder=folder, calibrated=False)
    message = str(err.value)
    assert "\n" not in message
    assert "local_traffic.toml" in message and key in message and words in message


def test_a_road_the_network_lacks_is_named_and_carries_nothing(params):
    # the parameter files serve any network, so a missing road warns instead of stopping the run
    line = {"name": "test", "owner": "regional", "roads": ["Nowhere Road"], "departures_per_day_per_direction": {2019: 30},
            "source": "test"}
    bad = load_parameters({"local_traffic.buses": [line]})
    named = r"local_traffic.toml: key 'buses\[0\].roads': road 'Nowhere Road'"
    with pytest.warns(local_traffic.LocalTrafficWarning, match=named):
        flows = flows_of(bad)
    assert flows.total(traffic="bus_service").sum() == 0.0
    assert flows.total(traffic="service").sum() > 0.0
