"""Co-benefits (model/cobenefits.py), cost per tonne and the decision split (model/appraisal.py), and their bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from model.appraisal import annuity, appraise, decision_split, first_year_in_force, packages, savings
from model.cobenefits import WEEKS_PER_YEAR, car_effects, cobenefits, health_effects
from model.config import load_config
from model.errors import VmobError
from model.levers import Cycling, LeverCost, SpeedLimit
from model.parameters import load_parameters


@pytest.fixture(scope="module")
def params():
    return load_parameters().appraisal


def _mode_split(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    """``(scenario, mode, commuters, pkm_per_year)`` rows of resident commuters, seed 1, year 2030."""
    return pd.DataFrame([
        {"experiment": "t", "scenario": s, "seed": 1, "year": 2030, "road_user": "resident", "mode": m,
         "commuters": c, "trips_per_weekday": 2 * c, "share": 0.1, "pkm_per_year": pkm}
        for s, m, c, pkm in rows
    ])


def _vehicle_km(rows: list[tuple[str, str, str, int, float]], area: str = "inside") -> pd.DataFrame:
    """``(scenario, powertrain, road_category, speed_limit_kph, vkm_per_year)`` car rows, seed 1, year 2030."""
    return pd.DataFrame([
        {"experiment": "t", "scenario": s, "seed": 1, "year": 2030, "vehicle": "car", "powertrain": p,
         "road_category": r, "speed_limit_kph": v, "area": area, "traffic": "commute", "road_user": "resident",
         "vkm_per_year": vkm}
        for s, p, r, v, vkm in rows
    ])


# ------------------------------------------------------------------------------------ co-benefits


def test_more_cycling_avoids_more_deaths(params) -> None:
    table = health_effects(_mode_split([
        ("baseline", "bike", 1000.0, 1000.0 * 2000.0), ("baseline", "walk", 300.0, 300.0 * 400.0),
        ("cycling", "bike", 1400.0, 1400.0 * 2000.0), ("cycling", "walk", 300.0, 300.0 * 400.0),
    ]), params).set_index("scenario")
    assert table.at["cycling", "deaths_avoided_bike"] > table.at["baseline", "deaths_avoided_bike"] > 0
    assert table.at["cycling", "deaths_avoided_walk"] == pytest.approx(table.at["baseline", "deaths_avoided_walk"])


def test_deaths_avoided_at_the_reference_dose_match_the_relative_risk(params) -> None:
    """A commuter cycling exactly the meta-analysis's 11.25 MET-hours a week has the risk reduction 1 − RR."""
    h = params.health
    hours_per_week = h.reference_met_hours_per_week / h.met["bike"]
    km_per_person = hours_per_week * WEEKS_PER_YEAR * h.speed_kph["bike"]
    table = health_effects(_mode_split([("baseline", "bike", 500.0, 500.0 * km_per_person)]), params)
    expected = 500.0 * h.mortality_per_year * (1.0 - h.relative_risk["bike"])
    assert table["deaths_avoided_bike"].iloc[0] == pytest.approx(expected)
    # a tenfold dose is capped at the HEAT maximum risk reduction
    capped = health_effects(_mode_split([("baseline", "bike", 500.0, 5000.0 * km_per_person)]), params)
    assert capped["deaths_avoided_bike"].iloc[0] == pytest.approx(500.0 * h.mortality_per_year * h.max_risk_reduction["bike"])


def test_fewer_car_km_give_less_nox_pm_and_lower_costs(params) -> None:
    table = car_effects(_vehicle_km([
        ("baseline", "diesel", "urban", 50, 1.0e6), ("baseline", "petrol", "local", 40, 2.0e6),
        ("baseline", "bev", "motorway", 110, 3.0e6),
        ("less_car", "diesel", "urban", 50, 0.7e6), ("less_car", "petrol", "local", 40, 1.5e6),
        ("less_car", "bev", "motorway", 110, 3.0e6),
    ]), params).set_index("scenario")
    for column in ("nox_diesel_car_t", "pm25_non_exhaust_car_kg", "accident_cost_dkk", "noise_cost_dkk", "air_cost_dkk"):
        assert table.at["less_car", column] < table.at["baseline", column], column
    # NOx: only the diesel car-km, at the real-world Euro 6 factor
    assert table.at["baseline", "nox_diesel_car_t"] == pytest.approx(1.0e6 * params.nox.diesel_car_g_per_vkm / 1e6)


def test_car_km_outside_the_boundary_and_battery_cars_emit_no_local_nox(params) -> None:
    outside = car_effects(_vehicle_km([("baseline", "diesel", "urban", 50, 1.0e6)], area="outside"), params)
    assert outside["nox_diesel_car_t"].iloc[0] == 0.0 and outside["noise_cost_dkk"].iloc[0] == 0.0
    bev = car_effects(_vehicle_km([("baseline", "bev", "urban", 50, 1.0e6)]), params)
    assert bev["nox_diesel_car_t"].iloc[0] == 0.0 and bev["pm25_non_exhaust_car_kg"].iloc[0] > 0.0


def test_slower_traffic_wears_more_pm(params) -> None:
    wear = params.non_exhaust_pm25
    assert wear.tyre.pm25_g_per_vkm([30.0])[0] > wear.tyre.pm25_g_per_vkm([80.0])[0] > wear.tyre.pm25_g_per_vkm([110.0])[0]


def test_cobenefits_value_deaths_at_the_value_of_a_prevented_death(params) -> None:
    table = cobenefits(_mode_split([("baseline", "bike", 100.0, 100.0 * 2000.0), ("baseline", "walk", 10.0, 4000.0)]),
                       _vehicle_km([("baseline", "petrol", "urban", 50, 1.0e5)]), params)
    deaths = table["deaths_avoided_bike"] + table["deaths_avoided_walk"]
    assert table["health_value_dkk"].iloc[0] == pytest.approx(deaths.iloc[0] * params.values.prevented_death_dkk)


# ------------------------------------------------------------------------------------ cost per tonne


def _summary(co2: dict[str, list[float]], years: list[int], seeds: tuple[int, ...] = (1, 2)) -> pd.DataFrame:
    return pd.DataFrame([
        {"experiment": "t", "scenario": s, "seed": seed, "year": y, "co2_territorial_t": v}
        for s, values in co2.items() for seed in seeds for y, v in zip(years, values, strict=True)
    ])


def _cycling(investment: float, lifetime: int, start: dt.date, operation: float = 0.0, tag: str | None = "municipality") -> Cycling:
    return Cycling(kind="cycling", roads=["Park Allé"], start=start, decided_by=tag,
                   cost=LeverCost(investment_dkk=investment, operation_dkk_per_year=operation, lifetime_years=lifetime,
                                  source="assumption"))


def test_cost_per_tonne_by_hand() -> None:
    """1 M DKK over 10 years saves 100 t a year: 100,000 DKK a year / 100 t = 1,000 DKK/t undiscounted."""
    years = [2019, 2020, 2021, 2022, 2023, 2024]
    summary = _summary({"baseline": [1000.0] * 6, "bikes": [1000.0, 900.0, 900.0, 900.0, 900.0, 900.0]}, years)
    levers = {"baseline": [], "bikes": [_cycling(1.0e6, 10, dt.date(2020, 1, 1))]}
    saved = savings(summary)
    flat = appraise(saved, levers, rate=0.0, base_year=2019)[0]
    assert flat.cost_pv_dkk == pytest.approx(5 * 100_000.0)  # in force 2020-2024
    assert flat.saved_pv_t == pytest.approx(500.0)
    assert flat.dkk_per_t == pytest.approx(1000.0)
    discounted = appraise(saved, levers, rate=0.05, base_year=2019)[0]
    # a constant saving: the levelised cost is the annuity over the yearly tonnes
    assert discounted.dkk_per_t == pytest.approx(1.0e6 * 0.05 / (1 - 1.05**-10) / 100.0)
    assert annuity(1.0e6, 0.05, 10) == pytest.approx(129_504.575, rel=1e-6)


def test_costs_count_from_the_first_year_in_force_and_operation_adds() -> None:
    assert first_year_in_force(dt.date(2020, 7, 1)) == 2020
    assert first_year_in_force(dt.date(2020, 9, 1)) == 2021
    years = [2020, 2021, 2022]
    summary = _summary({"baseline": [500.0] * 3, "bikes": [500.0, 450.0, 450.0]}, years)
    levers = {"bikes": [_cycling(0.0, 5, dt.date(2020, 9, 1), operation=20_000.0)]}
    row = appraise(savings(summary), levers, rate=0.0, base_year=2020)[0]
    assert row.first_year == 2021
    assert row.cost_pv_dkk == pytest.approx(40_000.0)
    assert row.dkk_per_t == pytest.approx(40_000.0 / 100.0)


def test_no_cost_per_tonne_without_costs_or_without_a_saving() -> None:
    summary = _summary({"baseline": [100.0, 100.0], "worse": [100.0, 120.0], "free": [100.0, 90.0]}, [2020, 2021])
    levers = {"worse": [_cycling(1.0e5, 10, dt.date(2020, 1, 1))],
              "free": [SpeedLimit(kind="speed_limit", road_category=["urban"], limit_kph=40, start=dt.date(2020, 1, 1))]}
    rows = {r.scenario: r for r in appraise(savings(summary), levers, rate=0.03, base_year=2020)}
    assert rows["worse"].dkk_per_t is None and rows["worse"].saved_t == pytest.approx(-20.0)
    assert rows["free"].dkk_per_t is None and not rows["free"].costed and rows["free"].decided_by == "not tagged"


def test_the_saving_splits_by_who_decides_and_packages_are_left_out() -> None:
    start = dt.date(2020, 1, 1)
    bikes = _cycling(1.0e6, 10, start)
    motorway = SpeedLimit(kind="speed_limit", road_category=["motorway"], limit_kph=80, start=start, decided_by="state")
    levers = {"baseline": [], "bikes": [bikes], "motorway": [motorway], "plan": [bikes, motorway]}
    assert packages(levers) == {"plan"}
    summary = _summary({"baseline": [1000.0], "bikes": [970.0], "motorway": [910.0], "plan": [885.0]}, [2030])
    rows = appraise(savings(summary), levers, rate=0.035, base_year=2019)
    assert {r.scenario: r.decided_by for r in rows} == {"bikes": "municipality", "motorway": "state",
                                                        "plan": "municipality + state"}
    split = decision_split(rows, packages(levers)).set_index("decided_by")
    assert list(split.index) == ["municipality", "state"]
    assert split.at["state", "saved_t"] == pytest.approx(90.0)
    assert split.at["municipality", "share"] == pytest.approx(30.0 / 120.0)
    assert split["share"].sum() == pytest.approx(1.0)


# ------------------------------------------------------------------------------------ bad input


def _experiment(tmp_path: Path, extra: str = "", lever_extra: str = "") -> Path:
    path = tmp_path / "x.toml"
    path.write_text(
        f'name = "x"\nquestion = "q"\n{extra}\n[scenarios.baseline]\nlevers = []\n[scenarios.bikes]\n'
        f'levers = [{{ kind = "cycling", roads = ["Park Allé"], start = 2026-01-01{lever_extra} }}]\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(("extra", "lever_extra", "key", "words"), [
    ("", ', cost = { investment_dkk = -1.0, lifetime_years = 10, source = "assumption" }',
     "scenarios.bikes.levers[0].cost.investment_dkk", "greater than or equal to 0"),
    ("", ', cost = { operation_dkk_per_year = -5.0, lifetime_years = 10, source = "assumption" }',
     "scenarios.bikes.levers[0].cost.operation_dkk_per_year", "greater than or equal to 0"),
    ("", ', decided_by = "region"', "scenarios.bikes.levers[0].decided_by", "'municipality', 'state' or 'EU'"),
    ("discount_rate = 0.25", "", "discount_rate", "less than or equal to 0.2"),
    ("discount_rate = -0.01", "", "discount_rate", "greater than or equal to 0"),
])
def test_bad_costs_tags_and_discount_rates_are_one_line_errors(tmp_path: Path, extra: str, lever_extra: str, key: str,
                                                               words: str) -> None:
    path = _experiment(tmp_path, extra, lever_extra)
    with pytest.raises(VmobError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message and f"key '{key}'" in message and words in message


def test_a_good_cost_tag_and_rate_load(tmp_path: Path) -> None:
    config = load_config(_experiment(
        tmp_path, "discount_rate = 0.04",
        ', decided_by = "EU", cost = { investment_dkk = 2.0e6, operation_dkk_per_year = 1.0e4, lifetime_years = 25, '
        'source = "assumption: 1-3 M DKK" }'))
    lever = config.scenarios["bikes"].levers[0]
    assert config.discount_rate == 0.04 and lever.decided_by == "EU"
    assert lever.cost is not None and lever.cost.lifetime_years == 25


def test_a_bad_unit_value_names_the_appraisal_file(tmp_path: Path) -> None:
    import shutil

    from model.parameters import PARAMETERS_DIR

    folder = tmp_path / "parameters"
    shutil.copytree(PARAMETERS_DIR, folder)
    path = folder / "appraisal.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("diesel_car_g_per_vkm = 0.36", "diesel_car_g_per_vkm = -0.36"),
                    encoding="utf-8")
    with pytest.raises(VmobError, match=r"appraisal\.toml: key 'nox\.diesel_car_g_per_vkm'"):
        load_parameters(folder=folder)


def test_cobenefit_changes_inside_the_seed_noise_are_flagged() -> None:
    from model.appraisal import not_distinguishable

    table = pd.DataFrame([
        {"experiment": "t", "scenario": s, "seed": seed, "year": 2030, "nox": nox, "noise": noise}
        for s, values in {"baseline": [(10.0, 5.0), (11.0, 6.0), (9.0, 4.0)],
                          "lever": [(8.0, 6.0), (9.1, 4.0), (6.9, 5.0)]}.items()
        for seed, (nox, noise) in enumerate(values, start=1)
    ])
    assert not_distinguishable(table, ["nox", "noise"], 2030) == {("lever", "noise")}
    assert not_distinguishable(table[table["seed"] == 1], ["nox", "noise"], 2030) == set()  # one seed: not judged
