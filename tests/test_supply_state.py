"""The supply state: levers change a run's copy of the network, transit and chargers, and the skims read it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from model.levers import Cycling, SpeedLimit, StationStop
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


def _skim_arrays(skims):
    """Every array of a Skims, transit skims included, by name."""
    arrays = {name: value for name, value in vars(skims).items() if isinstance(value, np.ndarray)}
    for mode, transit in skims.transit.items():
        arrays.update({f"{mode}.{name}": value for name, value in vars(transit).items() if isinstance(value, np.ndarray)})
    return arrays


def assert_same_skims(a, b):
    a, b = _skim_arrays(a), _skim_arrays(b)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_unchanged_supply_reuses_the_skims_across_years(context, supply):
    first = supply.skims(context.zones, context.anchors, DATE, settings(context))
    later = supply.skims(context.zones, context.anchors, dt.date(2020, 7, 1), settings(context))
    assert later is first and supply.skim_builds == 1
    # A cached skim cannot be changed by whoever reads it.
    with pytest.raises(ValueError, match="read-only"):
        first.bike_time_min[0, 1] = 0.0
    congested = supply.skims(context.zones, context.anchors, DATE, settings(context), context.edges.free_flow_time_s * 2)
    off_diagonal = ~np.eye(len(context.zones.ids), dtype=bool)
    assert supply.skim_builds == 2
    np.testing.assert_allclose(congested.car_time_min[off_diagonal], 2 * first.car_time_min[off_diagonal])
    assert supply.skims(context.zones, context.anchors, DATE, settings(context)) is first


@pytest.mark.parametrize("lever", [
    SpeedLimit(kind="speed_limit", start=DATE, road_category=["motorway"], limit_kph=80),
    Cycling(kind="cycling", start=DATE, all_inside=True, speed_factor=1.2),
    StationStop(kind="station_stop", start=DATE, transfer_min_saved=1.0, bike_parking_min_saved=2.0),
])
def test_a_lever_rebuilds_the_skims_as_an_uncached_build_would(context, supply, lever):
    before = supply.skims(context.zones, context.anchors, DATE, settings(context))
    lever.apply(supply, DATE)
    after = supply.skims(context.zones, context.anchors, DATE, settings(context))
    assert after is not before and supply.skim_builds == 2
    uncached = SupplyState.initial(context.edges, context.transit, {2019: 1.0})
    lever.apply(uncached, DATE)
    uncached.cache_skims = False
    assert_same_skims(after, uncached.skims(context.zones, context.anchors, DATE, settings(context)))
    changed = [name for name, value in _skim_arrays(after).items()
               if not np.array_equal(value, _skim_arrays(before)[name], equal_nan=value.dtype.kind == "f")]
    assert changed, "the lever should change some skim"


def test_a_new_transit_service_on_the_calendar_rebuilds_the_skims(context, supply):
    from model.transit import Service

    line = supply.transit.line("E")
    start = dt.date(2021, 1, 1)
    supply.transit.add_service("E", Service(start=start, headway_peak_min=2 * line.services[-1].headway_peak_min,
                                            headway_offpeak_min=line.services[-1].headway_offpeak_min))
    before = supply.skims(context.zones, context.anchors, DATE, settings(context))
    assert supply.skims(context.zones, context.anchors, dt.date(2020, 7, 1), settings(context)) is before
    after = supply.skims(context.zones, context.anchors, dt.date(2021, 7, 1), settings(context))
    assert after is not before and supply.skim_builds == 2
    uncached = SupplyState.initial(context.edges, supply.transit, {2019: 1.0})
    uncached.cache_skims = False
    assert_same_skims(after, uncached.skims(context.zones, context.anchors, dt.date(2021, 7, 1), settings(context)))
    # Half the trains on line E: door-to-door times by S-train get no shorter, some longer.
    total_before, total_after = before.transit["s_train"].total_min, after.transit["s_train"].total_min
    both = before.transit["s_train"].available & after.transit["s_train"].available
    assert np.all(total_after[both] >= total_before[both] - 1e-9) and np.any(total_after[both] > total_before[both])


def test_a_run_with_cached_skims_equals_an_uncached_run():
    from tests.abm_fixtures import small_model

    levers = [Cycling(kind="cycling", start=dt.date(2021, 1, 1), all_inside=True, speed_factor=1.3)]
    cached, uncached = (small_model(end_year=2022, sample_fraction=0.1, levers=levers) for _ in range(2))
    uncached.supply.cache_skims = False
    cached.run()
    uncached.run()
    for name, table in uncached.results().items():
        pd.testing.assert_frame_equal(cached.results()[name], table, check_exact=True)
    pd.testing.assert_frame_equal(cached.link_volumes(), uncached.link_volumes(), check_exact=True)
    # Built at set-up and once more when the lever applies; the uncached run builds one every year and one
    # for each base-year round of the through-traffic estimate (model/simulation.py _fit_external).
    rounds = uncached.params.traffic.estimation_rounds + 1
    assert cached.supply.skim_builds == 2 and uncached.supply.skim_builds == 1 + 4 + rounds
