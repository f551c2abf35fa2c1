"""Policy levers: direction and timing of each lever's effect, and clear errors for bad input.

Runs use 30 % of the commuters and stop by 2026, so the module takes well under
a minute. Every lever run shares seed 1 with the baseline, so the years before a
lever's start must give identical tables.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter, ValidationError

from model.config import load_config
from model.errors import VmobError
from model.fleet import BEV
from model.levers import (
    Chargers,
    Cycling,
    LaneReduction,
    LeverConfig,
    SpeedLimit,
    StationStop,
    TransitLine,
    check_levers,
)
from model.parameters import ModelParameters, load_parameters
from model.simulation import MobilityModel, ModelContext

FRACTION = 0.3
SEED = 1
LONG_END = 2026  # past the Letbane's opening
SHORT_END = 2022
START = dt.date(2021, 1, 1)  # first applied in 2021
WHERE = "scenarios.plan.levers"
LEVER = TypeAdapter(LeverConfig)


@pytest.fixture(scope="module")
def ctx() -> ModelContext:
    return ModelContext.load()


@pytest.fixture(scope="module")
def params() -> ModelParameters:
    return load_parameters()  # read once: every run of the module compares like with like


def simulate(ctx: ModelContext, levers: list, end_year: int, parameters: ModelParameters | None = None) -> MobilityModel:
    model = MobilityModel(ctx, parameters, levers=levers, end_year=end_year, rng=SEED, sample_fraction=FRACTION)
    model.run()
    return model


@pytest.fixture(scope="module")
def baseline(ctx: ModelContext, params: ModelParameters) -> MobilityModel:
    return simulate(ctx, [], LONG_END, params)


@pytest.fixture(scope="module")
def baseline_short(ctx: ModelContext, params: ModelParameters) -> MobilityModel:
    return simulate(ctx, [], SHORT_END, params)


def assert_same_before(model: MobilityModel, base: MobilityModel, year: int) -> None:
    """Every table and the link volumes are identical to the baseline's for years before ``year``."""
    got, expected = model.results(), base.results()
    for name in ("mode_split", "vehicle_km", "energy", "co2", "summary"):
        a = got[name][got[name]["year"] < year].reset_index(drop=True)
        b = expected[name][expected[name]["year"] < year].reset_index(drop=True)
        assert len(a) > 0, name
        pd.testing.assert_frame_equal(a, b, obj=name)
    a, b = model.link_volumes(), base.link_volumes()
    pd.testing.assert_frame_equal(a[a["year"] < year].reset_index(drop=True), b[b["year"] < year].reset_index(drop=True))


def summary(model: MobilityModel) -> pd.DataFrame:
    return model.results()["summary"].set_index("year")


def car_commuters(model: MobilityModel, year: int) -> float:
    """Weighted car commuters of all road users (residents and in-commuters) in ``year``."""
    split = model.results()["mode_split"]
    return float(split.loc[(split["year"] == year) & (split["mode"] == "car"), "commuters"].sum())


def links(model: MobilityModel, year: int) -> pd.DataFrame:
    volumes = model.link_volumes()
    return volumes[volumes["year"] == year].set_index("edge")


def resident_ev_share(model: MobilityModel) -> float:
    pop = model.population
    cars = pop.resident & (pop.powertrain >= 0)
    return float(model.weights[cars & (pop.powertrain == BEV)].sum() / model.weights[cars].sum())


# ------------------------------------------------------------------------------ effects


def test_lane_reduction_lowers_volume_and_speed_on_the_narrowed_roads(ctx, params, baseline_short) -> None:
    lever = LaneReduction(kind="lane_reduction", start=START)
    model = simulate(ctx, [lever], SHORT_END, params)
    assert_same_before(model, baseline_short, START.year)
    e = ctx.edges
    narrowed = e.road_mask(["Søndre Ringvej", "Vejlegårdsvej"]) & e.drive & (e.inside_share > 0.5)
    assert narrowed.any()
    assert (model.edges.lanes_total[narrowed] == 2).all() and (model.edges.lanes[narrowed] == 1).all()
    assert np.allclose(model.edges.capacity_vph[narrowed], e.capacity_vph[narrowed] / 2)
    outside = e.road_mask(["Søndre Ringvej"]) & (e.inside_share <= 0.5)
    assert (model.edges.lanes_total[outside] == e.lanes_total[outside]).all()  # Brøndby's part is not narrowed
    for year in (2021, 2022):
        got, base = links(model, year), links(baseline_short, year)
        # congested speed down = travel time up on the narrowed links
        assert got["congested_speed_kph"][narrowed].mean() < base["congested_speed_kph"][narrowed].mean()
        # no more cars on the links the narrowing slows (commuters and through traffic may move to another
        # narrowed road that stays uncongested, e.g. from Søndre Ringvej to Vejlegårdsvej), and the through
        # traffic whose trips got slower evaporates a little (docs/levers.md compares it with Cairns et al.)
        slowed = narrowed & (got["congested_speed_kph"] < base["congested_speed_kph"] - 1.0).to_numpy()
        assert slowed.any()
        cars = ["car_commute_daily", "through_daily"]
        assert got[cars][slowed].to_numpy().sum() <= base[cars][slowed].to_numpy().sum() + 1e-6
        assert summary(model).loc[year, "vkm_evaporated_per_year"] > summary(baseline_short).loc[year, "vkm_evaporated_per_year"]
        assert (got["lanes_total"][narrowed] == 2).all()


def test_lane_reduction_with_cycle_track_marks_the_road_for_bikes(ctx) -> None:
    lever = LaneReduction(kind="lane_reduction", start=START, roads=["Park Allé"], inside_only=False, cycle_track=True)
    model = MobilityModel(ctx, levers=[lever], end_year=2019, rng=SEED, sample_fraction=0.05)
    model.edges.cycleway[:] = False
    lever.apply(model.supply, START)
    road = ctx.edges.road_mask(["Park Allé"])
    assert model.edges.cycleway[road & ctx.edges.bike].all() and not model.edges.cycleway[~road].any()


def test_motorway_limit_lowers_speed_shifts_cars_and_through_traffic_co2(ctx, params, baseline_short) -> None:
    lever = SpeedLimit(kind="speed_limit", start=START, limit_kph=80, road_category=["motorway"], only_limit_kph=110)
    model = simulate(ctx, [lever], SHORT_END, params)
    assert_same_before(model, baseline_short, START.year)
    e = ctx.edges
    posted_110 = (e.road_category == "motorway") & np.isclose(e.maxspeed_kph, 110) & e.drive
    assert np.allclose(model.edges.maxspeed_kph[posted_110], 80)
    assert (model.edges.speed_kph[posted_110] < e.speed_kph[posted_110]).all()
    # drivers take up the network's compliance share of the cut: 115.5 → 104.5 km/h, not 84
    compliance = params.network.limit_change.compliance
    assert np.allclose(model.edges.speed_kph[posted_110], e.speed_kph[posted_110] * (1 - compliance * (1 - 80 / 110)))
    assert np.allclose(model.edges.speed_kph[posted_110], 110 * 1.05 * (1 - 0.35 * 30 / 110))
    assert np.array_equal(model.edges.speed_kph[~posted_110], e.speed_kph[~posted_110])
    got, base = links(model, 2021), links(baseline_short, 2021)
    # route choice: commuters' cars leave the slower motorways
    assert got["car_commute_daily"][posted_110].sum() < base["car_commute_daily"][posted_110].sum()
    # mode choice: no more car commuters in 2021 (residents and in-commuters together), and no higher resident car share
    s, b = summary(model), summary(baseline_short)
    # (drivers take up 35 % of the cut, so motorway times rise 10 %: at this sample no commuter may
    # switch in 2021; that a slower network never adds car commuters is tests/test_car_routes.py's property)
    car_got, car_base = car_commuters(model, 2021), car_commuters(baseline_short, 2021)
    assert car_got <= car_base
    assert s.loc[2021, "share_car"] <= b.loc[2021, "share_car"]
    # through traffic: less CO2 at the lower speed; it is routed, so some of it leaves the slower motorways,
    # and with longer travel times some of it evaporates (elastic demand)
    assert s.loc[2021, "co2_through_t"] < b.loc[2021, "co2_through_t"]
    assert got["through_daily"][posted_110].sum() < base["through_daily"][posted_110].sum()
    assert s.loc[2021, "vkm_evaporated_per_year"] > b.loc[2021, "vkm_evaporated_per_year"]
    assert s.loc[2021, "co2_evaporated_t"] > b.loc[2021, "co2_evaporated_t"]
    # the leakage columns add up: the change inside plus the change outside is the total change
    cols = ["vkm_inside_per_year", "vkm_outside_per_year", "vkm_total_per_year"]
    change = s.loc[2021, cols] - b.loc[2021, cols]
    assert change["vkm_inside_per_year"] + change["vkm_outside_per_year"] == pytest.approx(change["vkm_total_per_year"], rel=1e-9)
    assert s.loc[2021, "co2_outside_t"] > 0
    assert s.loc[2021, "co2_territorial_t"] < b.loc[2021, "co2_territorial_t"]


def test_municipal_speed_limit_touches_only_50_roads_inside(ctx, params, baseline_short) -> None:
    lever = SpeedLimit(
        kind="speed_limit", start=START, limit_kph=40, road_category=["urban", "local"], only_limit_kph=50, inside_only=True
    )
    model = simulate(ctx, [lever], 2021, params)
    assert_same_before(model, baseline_short, START.year)
    e = ctx.edges
    target = e.drive & np.isin(e.road_category, ["urban", "local"]) & np.isclose(e.maxspeed_kph, 50) & (e.inside_share > 0.5)
    assert target.any()
    assert np.allclose(model.edges.maxspeed_kph[target], 40)
    assert np.array_equal(model.edges.maxspeed_kph[~target], e.maxspeed_kph[~target])
    # free-flow generalised car minutes (time and per-km cost) rise for some pairs, fall for none
    from model.skims import build_skims

    date = dt.date(2021, 7, 1)
    after = build_skims(model.edges, ctx.zones, model.transit, ctx.anchors, date, model.skim_settings).car_generalised_min
    before = build_skims(ctx.edges, ctx.zones, model.transit, ctx.anchors, date, model.skim_settings).car_generalised_min
    assert (after >= before - 1e-9).all() and (after > before + 1e-6).any()


def test_letbane_share_is_zero_before_opening_and_positive_after(ctx, params, baseline) -> None:
    lever = TransitLine(kind="transit_line", start=dt.date(2025, 10, 26))
    model = simulate(ctx, [lever], LONG_END, params)
    # 1 July 2025 stands for 2025: before the opening, so 2025 is still the baseline
    assert_same_before(model, baseline, 2026)
    s = summary(model)
    assert (s.loc[:2025, "share_light_rail"] == 0).all()
    assert s.loc[2026, "share_light_rail"] > 0
    assert s.loc[2026, "share_car"] < summary(baseline).loc[2026, "share_car"]
    assert (summary(baseline)["share_light_rail"] == 0).all()  # planned = true: no Letbane without the lever


def test_letbane_opened_late_runs_the_latest_service() -> None:
    from model.transit import Service

    phase1 = Service(start=dt.date(2025, 10, 26), headway_peak_min=10, headway_offpeak_min=10, last_stop="Rødovre Nord")
    full = Service(start=dt.date(2026, 8, 22), headway_peak_min=5, headway_offpeak_min=10)
    late = TransitLine(kind="transit_line", start=dt.date(2027, 3, 1)).services_from_start([phase1, full])
    assert late == [full.model_copy(update={"start": dt.date(2027, 3, 1)})]
    early = TransitLine(kind="transit_line", start=dt.date(2025, 1, 1)).services_from_start([phase1, full])
    assert early == [phase1, full]


def test_line_e_at_vallensbaek_raises_the_s_train_share(ctx, params, baseline_short) -> None:
    lever = StationStop(kind="station_stop", start=START, transfer_min_saved=1.0, bike_parking_min_saved=1.0)
    model = simulate(ctx, [lever], SHORT_END, params)
    assert_same_before(model, baseline_short, START.year)
    e_line = next(line for line in model.transit.running(dt.date(2021, 7, 1)) if line.id == "E")
    assert "Vallensbæk St." in e_line.stops
    s, b = summary(model), summary(baseline_short)
    assert s.loc[SHORT_END, "share_s_train"] > b.loc[SHORT_END, "share_s_train"]
    # those boarding at Vallensbæk St. wait less (A + E: 12 an hour)
    station = model.skims.stations.index("Vallensbæk St.")
    got, base = model.skims.transit["s_train"], baseline_short.skims.transit["s_train"]
    at = (got.board_station == station) & (base.board_station == station)
    assert at.any()
    assert (got.wait_min[at] < base.wait_min[at]).all()


def test_more_chargers_raise_the_ev_share_of_residents_cars(ctx, params, baseline) -> None:
    lever = Chargers(kind="chargers", start=START, path={2021: 60, 2026: 200})
    model = simulate(ctx, [lever], LONG_END, params)
    assert_same_before(model, baseline, START.year)
    assert model.chargers_in(2026) == 200 and baseline.chargers_in(2026) < 20
    assert resident_ev_share(model) > resident_ev_share(baseline)


def test_charger_path_scales_and_keeps_years_before_start(ctx) -> None:
    model = MobilityModel(ctx, end_year=2019, rng=SEED, sample_fraction=0.05)
    before = model.chargers_in(2023)
    Chargers(kind="chargers", start=dt.date(2025, 1, 1), path={2021: 99, 2030: 100}, scale=2.0).apply(model.supply, dt.date(2025, 7, 1))
    assert model.chargers_in(2023) == before and model.chargers_in(2030) == 200


def test_better_cycling_raises_the_bike_share(ctx, params, baseline_short) -> None:
    lever = Cycling(kind="cycling", start=START, all_inside=True, speed_factor=1.2)
    model = simulate(ctx, [lever], SHORT_END, params)
    assert_same_before(model, baseline_short, START.year)
    assert (model.skims.bike_time_min <= baseline_short.skims.bike_time_min + 1e-9).all()
    s, b = summary(model), summary(baseline_short)
    assert s.loc[SHORT_END, "share_bike"] > b.loc[SHORT_END, "share_bike"]
    assert s.loc[SHORT_END, "share_car"] < b.loc[SHORT_END, "share_car"]


# ------------------------------------------------------------------------------ bad input


def error_of(ctx: ModelContext, levers: list, end_year: int = 2050) -> str:
    with pytest.raises(VmobError) as info:
        check_levers(levers, ctx, 2019, end_year, WHERE)
    return str(info.value)


def test_valid_plan_levers_pass(ctx) -> None:
    check_levers(
        [
            TransitLine(kind="transit_line", start=dt.date(2025, 10, 26)),
            StationStop(kind="station_stop", start=dt.date(2025, 10, 26)),
            LaneReduction(kind="lane_reduction", start=dt.date(2027, 1, 1)),
            SpeedLimit(kind="speed_limit", start=dt.date(2027, 1, 1), limit_kph=50, roads=["Søndre Ringvej", "Vejlegårdsvej"]),
            SpeedLimit(kind="speed_limit", start=dt.date(2028, 1, 1), limit_kph=80, road_category=["motorway"], only_limit_kph=110),
            # same target, same date, same value: not a contradiction
            SpeedLimit(kind="speed_limit", start=dt.date(2028, 1, 1), limit_kph=80, roads=["Køge Bugt Motorvejen"], only_limit_kph=110),
            Chargers(kind="chargers", start=dt.date(2022, 1, 1), path={2021: 0, 2030: 100}),
            Cycling(kind="cycling", start=dt.date(2026, 1, 1), roads=["Park Allé", "Vejlegårdsvej"]),
        ],
        ctx, 2019, 2050, WHERE,
    )


def test_unknown_road_lists_the_closest_names(ctx) -> None:
    message = error_of(ctx, [LaneReduction(kind="lane_reduction", start=START, roads=["Vejlegårdsvej", "Sondre Ringvej"])])
    assert message.startswith(f"{WHERE}[0].roads[1]: road 'Sondre Ringvej' is not in the network")
    assert "closest: Søndre Ringvej" in message
    message = error_of(ctx, [Cycling(kind="cycling", start=START, roads=["Park Alle"])])
    assert f"{WHERE}[0].roads[0]" in message and "Park Allé" in message
    message = error_of(ctx, [SpeedLimit(kind="speed_limit", start=START, limit_kph=40, roads=["Vallensbækvejj"])])
    assert f"{WHERE}[0].roads[0]" in message and "Vallensbækvej" in message


def test_road_without_the_starting_lanes(ctx) -> None:
    message = error_of(ctx, [LaneReduction(kind="lane_reduction", start=START, roads=["Vallensbækvej"])])
    assert message == f"{WHERE}[0].lanes_from: road 'Vallensbækvej' has 2 lanes inside the boundary, not 4"
    message = error_of(ctx, [LaneReduction(kind="lane_reduction", start=START, roads=["Park Allé"])])
    assert f"{WHERE}[0].roads: road 'Park Allé' has no drivable link inside the boundary" in message


def test_unknown_osm_way(ctx) -> None:
    message = error_of(ctx, [LaneReduction(kind="lane_reduction", start=START, osm_ids=[987654321])])
    assert message.startswith(f"{WHERE}[0].osm_ids[0]: OSM way 987654321")


def test_date_outside_the_run(ctx) -> None:
    assert error_of(ctx, [Chargers(kind="chargers", start=dt.date(2018, 1, 1), path={2030: 10})]).startswith(
        f"{WHERE}[0].start: 2018-01-01 is outside the run 2019–2050"
    )
    message = error_of(ctx, [Cycling(kind="cycling", start=dt.date(2030, 9, 1), all_inside=True)], end_year=2030)
    assert message.startswith(f"{WHERE}[0].start: 2030-09-01 is after 2030-07-01") and "never apply" in message


def test_contradicting_levers_on_the_same_road_and_date(ctx) -> None:
    day = dt.date(2027, 1, 1)
    message = error_of(ctx, [
        LaneReduction(kind="lane_reduction", start=day),
        LaneReduction(kind="lane_reduction", start=day, roads=["Søndre Ringvej"], lanes_to=3),
    ])
    assert message.startswith(f"{WHERE}[1].lanes_to: contradicts {WHERE}[0]") and "'Søndre Ringvej'" in message
    message = error_of(ctx, [
        SpeedLimit(kind="speed_limit", start=day, limit_kph=80, road_category=["motorway"]),
        SpeedLimit(kind="speed_limit", start=day, limit_kph=90, roads=["Køge Bugt Motorvejen"]),
    ])
    assert message.startswith(f"{WHERE}[1].limit_kph: contradicts {WHERE}[0]") and "Køge Bugt Motorvejen" in message
    message = error_of(ctx, [
        Chargers(kind="chargers", start=day, path={2030: 50}),
        Chargers(kind="chargers", start=day, path={2030: 80}),
    ])
    assert message.startswith(f"{WHERE}[1].path: contradicts {WHERE}[0]")
    # different dates, or roads that do not overlap, are fine
    check_levers([
        SpeedLimit(kind="speed_limit", start=day, limit_kph=80, road_category=["motorway"]),
        SpeedLimit(kind="speed_limit", start=dt.date(2030, 1, 1), limit_kph=90, road_category=["motorway"]),
        LaneReduction(kind="lane_reduction", start=day, roads=["Søndre Ringvej"]),
        LaneReduction(kind="lane_reduction", start=day, roads=["Vejlegårdsvej"], lanes_to=3),
    ], ctx, 2019, 2050, WHERE)


def test_unknown_station_or_line(ctx) -> None:
    message = error_of(ctx, [StationStop(kind="station_stop", start=START, station="Valensbæk St.")])
    assert message.startswith(f"{WHERE}[0].station: unknown station 'Valensbæk St.'") and "Vallensbæk St." in message
    message = error_of(ctx, [StationStop(kind="station_stop", start=START, line="F")])
    assert message.startswith(f"{WHERE}[0].line: unknown transit line 'F'") and "E" in message
    message = error_of(ctx, [StationStop(kind="station_stop", start=START, line="B")])
    assert message.startswith(f"{WHERE}[0].station: 'Vallensbæk St.' is not on line B")
    message = error_of(ctx, [TransitLine(kind="transit_line", start=START, line="M3")])
    assert message.startswith(f"{WHERE}[0].line: unknown transit line 'M3'")
    message = error_of(ctx, [TransitLine(kind="transit_line", start=START, line="A")])
    assert message.startswith(f"{WHERE}[0].line: line A already runs")


@pytest.mark.parametrize(
    ("entry", "key", "text"),
    [
        ({"kind": "lane_reduction", "start": START, "lanes_from": 2, "lanes_to": 2}, "lanes_to", "must be below lanes_from"),
        ({"kind": "lane_reduction", "start": START, "lane_to": 1}, "lane_to", "Extra inputs are not permitted"),
        ({"kind": "speed_limit", "start": START, "limit_kph": 80}, "speed_limit", "give roads or road_category"),
        ({"kind": "speed_limit", "start": START, "limit_kph": 80, "road_category": ["highway"]}, "road_category", "Input should be"),
        ({"kind": "chargers", "start": START, "path": {2030: -5}}, "chargers", "negative"),
        ({"kind": "cycling", "start": START}, "cycling", "give roads or all_inside"),
        ({"kind": "bus_lane", "start": START}, "", "does not match any of the expected tags"),
    ],
)
def test_schema_errors(entry: dict, key: str, text: str) -> None:
    with pytest.raises(ValidationError) as info:
        LEVER.validate_python(entry)
    first = info.value.errors()[0]
    assert key in [str(p) for p in first["loc"]] or not key
    assert text in first["msg"]


def test_bad_lever_in_an_experiment_file_names_the_key_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'name = "bad"\nquestion = "?"\n[scenarios.plan]\n'
        'levers = [{ kind = "chargers", start = 2022-01-01, path = { 2030 = 100 } },\n'
        '          { kind = "lane_reduction", start = 2027-01-01, lanes_to = 5 }]\n',
        encoding="utf-8",
    )
    with pytest.raises(VmobError) as info:
        load_config(path)
    message = str(info.value)
    assert "scenarios.plan.levers[1]" in message and "lanes_to" in message and "must be below lanes_from" in message


@pytest.mark.parametrize("compliance", [1.05, -0.2])
def test_speed_limit_compliance_outside_0_1_is_one_line_naming_file_and_key(tmp_path: Path, compliance: float) -> None:
    path = tmp_path / "bad_compliance.toml"
    path.write_text(
        'name = "bad"\nquestion = "?"\n[scenarios.plan]\n'
        'levers = [{ kind = "speed_limit", start = 2028-01-01, road_category = ["motorway"], limit_kph = 80, '
        f'compliance = {compliance} }}]\n',
        encoding="utf-8",
    )
    with pytest.raises(VmobError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "scenarios.plan.levers[0]" in message and "compliance" in message


def test_experiment_files_in_the_repository_are_valid(ctx) -> None:
    folder = Path(__file__).resolve().parents[1] / "experiments"
    files = sorted(folder.glob("*.toml"))
    assert {"letbane.toml", "climate_plan.toml", "sweep_speed_chargers.toml"} <= {f.name for f in files}
    for file in files:
        config = load_config(file)
        for name, scenario in config.scenarios.items():
            check_levers(list(scenario.levers), ctx, config.start_year, config.end_year, f"{file.name}: scenarios.{name}.levers")
