"""The supply state: levers change a run's copy of the network, transit and chargers, and the skims read it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from model.levers import SpeedLimit, StationStop
from model.parameters import load_parameters
from model.skims import skim_settings
from model.supply_state import SupplyState

DATE = dt.date(2019, 7, 1)


@pytest.fixture()
def supply(context):
    return SupplyState.initial(context.edges, context.transit, {2019: 1.0, 2029: 11.0})


def settings(context):
    return skim_settings(load_parameters().choice, context.network.parameters.speeds_kph)


def test_levers_change_the_runs_copy_never_the_shared_inputs(context, supply):
    limits = context.edges.maxspeed_kph.copy()
    SpeedLimit(kind="speed_limit", start=DATE, road_category=["motorway"], limit_kph=80).apply(supply, DATE)
    motorway = context.edges.drive & (context.edges.road_category == "motorway")
    assert np.allclose(supply.edges.maxspeed_kph[motorway], 80) and not np.allclose(limits[motorway], 80)
    np.testing.assert_array_equal(context.edges.maxspeed_kph, limits)
    other = SupplyState.initial(context.edges, context.transit, {2019: 1.0})
    np.testing.assert_array_equal(other.edges.maxspeed_kph, limits)


def test_a_new_charger_path_keeps_the_years_before_it(supply):
    assert supply.chargers_in(2024) == pytest.approx(6.0)
    supply.replace_chargers({2026: 100.0}, from_year=2026)
    assert supply.chargers_in(2019) == 1.0 and supply.chargers_in(2026) == 100.0
    assert supply.chargers_in(2030) == 100.0  # the baseline's later years are replaced, not kept


def test_the_station_stop_lever_stops_the_line_and_records_the_improvements(supply):
    StationStop(kind="station_stop", start=DATE, transfer_min_saved=1.0, bike_parking_min_saved=2.0).apply(supply, DATE)
    assert supply.station_improvements["Vallensbæk St."] == (1.0, 2.0)
    assert "Vallensbæk St." in next(line for line in supply.transit.running(DATE) if line.id == "E").stops


def test_the_skims_read_the_station_improvements(context, supply):
    before = supply.skims(context.zones, context.anchors, DATE, settings(context)).transit["s_train"]
    supply.improve_station("Vallensbæk St.", transfer_min_saved=0.0, bike_parking_min_saved=2.0)
    after = supply.skims(context.zones, context.anchors, DATE, settings(context)).transit["s_train"]
    assert (after.available >= before.available).all()
    both = before.available & after.available
    assert not np.array_equal(after.access_min[both], before.access_min[both]), "the skims ignored the improvement"


def test_parking_charges_in_the_supply_state_move_commuters_out_of_cars():
    from model.vocabulary import MODES
    from tests.abm_fixtures import small_model

    base, priced = small_model(sample_fraction=0.1), small_model(sample_fraction=0.1)
    assert priced.supply.parking_dkk_per_trip == load_parameters().choice.costs.parking_dkk_per_trip
    for zone in ("albertslund", "brondby", "hvidovre", "ishoj", "glostrup"):
        priced.supply.parking_dkk_per_trip[zone] = 60.0
    base.step()
    priced.step()
    car = MODES.index("car")
    assert priced.resident_share(car) < base.resident_share(car) - 0.01
