"""Tests of model.emissions: COPERT curves, unit conversions, accountings, bad input."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from model.emissions import (
    LINK_VKM_COLUMNS,
    TRANSIT_MODES,
    SpeedClampWarning,
    _carriers_per_km,
    biofuel_energy_share,
    co2_accounting,
    co2_g_per_km,
    electricity_intensity_g_per_kwh,
    energy_co2_t,
    energy_mj_per_km,
    load_emission_factors,
    rail_co2_t,
    rail_co2_table,
    split_link_vkm,
    split_rail_pkm,
    vehicle_energy_and_co2,
)
from model.errors import VmobError
from model.settings import PARAMETERS_DIR
from model.vocabulary import AREAS, PURPOSES, ROAD_CATEGORIES, ROAD_USERS, TRAFFIC_TYPES, VEHICLE_POWERTRAINS, VEHICLES

SPEEDS = np.array([50.0, 80.0, 90.0, 110.0, 130.0])


@pytest.fixture(scope="module")
def factors():
    return load_emission_factors()


# ---- speed curves: published test points, parameters.md §1 -----------------------------------


@pytest.mark.parametrize(
    ("powertrain", "expected", "divisor"),
    [
        ("petrol", [2.458, 2.313, 2.351, 2.522, 2.817], 1.0),  # MJ/km
        ("diesel", [1.960, 1.852, 1.881, 2.055, 2.530], 1.0),  # MJ/km
        ("bev", [0.154, 0.186, 0.210, 0.279, 0.375], 3.6),  # PHEV electric mode, kWh/km
    ],
)
def test_curve_reproduces_published_points(factors, powertrain, expected, divisor):
    got = energy_mj_per_km(powertrain, SPEEDS, factors) / divisor
    np.testing.assert_allclose(got, expected, atol=1e-3)


@pytest.mark.parametrize("powertrain", ["petrol", "diesel"])
def test_fuel_curve_minimum_near_75(factors, powertrain):
    v = np.arange(20.0, 130.0, 0.5)
    v_min = v[np.argmin(energy_mj_per_km(powertrain, v, factors))]
    assert 65.0 <= v_min <= 85.0


def test_phev_is_utility_factor_mix(factors):
    uf = factors.cars.phev_utility_factor
    mix = uf * energy_mj_per_km("bev", SPEEDS, factors) + (1 - uf) * energy_mj_per_km("petrol", SPEEDS, factors)
    np.testing.assert_allclose(energy_mj_per_km("phev", SPEEDS, factors), mix)


def test_clamping_warns_once_with_count(factors):
    speeds = np.array([1.0, 2.0, 50.0, 150.0, 200.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = energy_mj_per_km("petrol", speeds, factors)
    clamp = [w for w in caught if issubclass(w.category, SpeedClampWarning)]
    assert len(clamp) == 1
    assert "4 speed value(s)" in str(clamp[0].message)
    np.testing.assert_allclose(got[3:], energy_mj_per_km("petrol", np.array([130.0, 130.0]), factors))


def test_no_warning_inside_range(factors):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpeedClampWarning)
        energy_mj_per_km("diesel", SPEEDS, factors)


def test_nan_speed_is_an_error(factors):
    with pytest.raises(VmobError, match="NaN"):
        energy_mj_per_km("petrol", np.array([50.0, np.nan]), factors)


# ---- unit conversions --------------------------------------------------------------------------


def test_fuel_conversion_chain(factors):
    """MJ -> kg -> litres -> kg CO2, by hand for petrol at 50 km/h.

    parameters.md §1: ~180 g/km for fossil fuel, times the fossil share of the 2019 blend
    (E5: 3.34 %, B7: 6.44 % bio energy).
    """
    mj = energy_mj_per_km("petrol", np.array([50.0]), factors)[0]
    kg_fuel = mj / 43.2
    litres = kg_fuel / 0.745
    kg_co2 = litres * 0.745 * 3.169
    assert co2_g_per_km("petrol", 50.0, 2019, factors) == pytest.approx(kg_co2 * 1000 * (1 - 0.0334), rel=1e-12)
    assert co2_g_per_km("petrol", 50.0, 2019, factors) == pytest.approx(180.3 * (1 - 0.0334), abs=0.1)
    assert co2_g_per_km("diesel", 50.0, 2019, factors) == pytest.approx(144.1 * (1 - 0.0644), abs=0.1)
    assert factors.fuels.petrol.co2_kg_per_l == pytest.approx(2.36, abs=0.01)
    assert factors.fuels.diesel.co2_kg_per_l == pytest.approx(2.64, abs=0.01)


def test_bev_kwh_times_intensity(factors):
    kwh_grid = energy_mj_per_km("bev", np.array([80.0]), factors)[0] / 3.6 / factors.cars.charging_efficiency
    assert co2_g_per_km("bev", 80.0, 2019, factors) == pytest.approx(kwh_grid * 157.0)
    assert co2_g_per_km("bev", 80.0, 2023, factors) == pytest.approx(kwh_grid * 96.0)


def test_bev_co2_falls_with_intensity(factors):
    years = [2013, 2015, 2017, 2019, 2020, 2023, 2030, 2035]
    g = [float(co2_g_per_km("bev", 80.0, y, factors)) for y in years]
    assert all(b < a for a, b in itertools.pairwise(g))


def test_truck_factor(factors):
    # 30 l/100 km x 0.832 kg/l x 3.169 kg CO2/kg x fossil share of B7
    assert co2_g_per_km("diesel", 80.0, 2019, factors, vehicle="truck") == pytest.approx(
        0.30 * 0.832 * 3169 * (1 - 0.0644)
    )


# ---- biofuel blending ---------------------------------------------------------------------------


def test_biofuel_share_series_step_wise(factors):
    """E5/B7 until 2019, E10/B7 from 2020, x 7/6 from 2030 (displacement 6 -> 7 %), held after (emissions.toml [biofuel])."""
    assert biofuel_energy_share("petrol", 2012, factors) == 0.0334
    assert biofuel_energy_share("petrol", 2019, factors) == 0.0334
    assert biofuel_energy_share("petrol", 2020, factors) == 0.0679
    assert biofuel_energy_share("petrol", 2029, factors) == 0.0679
    assert biofuel_energy_share("petrol", 2050, factors) == pytest.approx(0.0679 * 7 / 6, abs=1e-4)
    assert biofuel_energy_share("diesel", 2019, factors) == 0.0644
    assert biofuel_energy_share("diesel", 2029, factors) == 0.0644
    assert biofuel_energy_share("diesel", 2035, factors) == pytest.approx(0.0644 * 7 / 6, abs=1e-4)


def test_biofuel_volume_to_energy_share():
    """The listed shares follow from E5/E10/B7 volumes and the calorific values per litre."""
    petrol, diesel, ethanol, fame = 43.2 * 0.745, 43.1 * 0.832, 21.1, 32.8
    assert 0.05 * ethanol / (0.05 * ethanol + 0.95 * petrol) == pytest.approx(0.0334, abs=5e-4)
    assert 0.10 * ethanol / (0.10 * ethanol + 0.90 * petrol) == pytest.approx(0.0679, abs=5e-4)
    assert 0.07 * fame / (0.07 * fame + 0.93 * diesel) == pytest.approx(0.0644, abs=5e-4)


def test_biofuel_only_fossil_co2_counts(factors):
    """E10 (2020) lowers petrol CO2 per km against E5 (2019); energy and litres do not change."""
    g19 = float(co2_g_per_km("petrol", 80.0, 2019, factors))
    g20 = float(co2_g_per_km("petrol", 80.0, 2020, factors))
    assert g20 / g19 == pytest.approx((1 - 0.0679) / (1 - 0.0334))
    links = pd.DataFrame([_link("car", "petrol", "inside", "commute", "resident", 1000.0)])
    e19, c19 = vehicle_energy_and_co2(links, 2019, factors)
    e20, c20 = vehicle_energy_and_co2(links, 2020, factors)
    assert e19["amount"].sum() == pytest.approx(e20["amount"].sum())
    assert c20["co2_t"].sum() / c19["co2_t"].sum() == pytest.approx((1 - 0.0679) / (1 - 0.0334))
    # the per-row helper reproduces the co2 table
    assert energy_co2_t(e19, 2019, factors).sum() == pytest.approx(c19["co2_t"].sum())


def test_biofuel_bad_input(factors):
    with pytest.raises(VmobError, match="starts in 2012"):
        biofuel_energy_share("petrol", 2011, factors)
    with pytest.raises(VmobError, match="fuel 'lpg'"):
        biofuel_energy_share("lpg", 2019, factors)


def test_biofuel_table_validation(tmp_path):
    text = (PARAMETERS_DIR / "emissions.toml").read_text(encoding="utf-8")
    bad = text.replace("diesel_energy_share = [0.0644, 0.0644, 0.0751]", "diesel_energy_share = [0.0644]")
    path = tmp_path / "emissions.toml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(VmobError, match="biofuel"):
        load_emission_factors(path)


# ---- electricity intensity ----------------------------------------------------------------------


def test_electricity_known_interpolated_and_projected(factors):
    assert electricity_intensity_g_per_kwh(2019, factors) == 157.0
    assert electricity_intensity_g_per_kwh(2018, factors) == pytest.approx((190 + 157) / 2)
    # after 2023: BR18 Annex 2 Table 8's relative path applied to the 2023 value (96 g/kWh)
    assert electricity_intensity_g_per_kwh(2030, factors) == pytest.approx(96.0 * 47 / 187, abs=0.05)
    assert electricity_intensity_g_per_kwh(2035, factors) == pytest.approx(96.0 * 41.4 / 187, abs=0.05)
    assert electricity_intensity_g_per_kwh(2050, factors) == pytest.approx(96.0 * 40.3 / 187, abs=0.05)


def test_electricity_year_outside_series(factors):
    with pytest.raises(VmobError, match="2012"):
        electricity_intensity_g_per_kwh(2012, factors)
    with pytest.raises(VmobError, match="2051"):
        electricity_intensity_g_per_kwh(2051, factors)


def test_electricity_without_projection(tmp_path: Path):
    text = (PARAMETERS_DIR / "emissions.toml").read_text(encoding="utf-8")
    start = text.index("[electricity.projection]")
    last = "g_per_kwh = [69.3, 24.1, 21.3, 20.7, 20.7]"
    end = text.index(last) + len(last)
    path = tmp_path / "emissions.toml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    f = load_emission_factors(path)
    with pytest.raises(VmobError, match="2024"):
        electricity_intensity_g_per_kwh(2024, f)


# ---- loader ---------------------------------------------------------------------------------------


def test_unknown_key_is_named(tmp_path: Path):
    text = (PARAMETERS_DIR / "emissions.toml").read_text(encoding="utf-8")
    path = tmp_path / "emissions.toml"
    path.write_text(text.replace("[curves.diesel]", "[curves.hydrogen]\nalpha = 1.0\n\n[curves.diesel]"))
    with pytest.raises(VmobError, match=r"emissions\.toml: key 'curves\.hydrogen': unknown key"):
        load_emission_factors(path)


def test_missing_file(tmp_path: Path):
    with pytest.raises(VmobError, match="file not found"):
        load_emission_factors(tmp_path / "nope.toml")


# ---- tables and accountings -------------------------------------------------------------------------


def _link(vehicle, powertrain, area, traffic, road_user, vkm, speed=80.0, road_category="urban"):
    return {
        "vehicle": vehicle,
        "powertrain": powertrain,
        "road_category": road_category,
        "speed_limit_kph": 80,
        "speed_kph": speed,
        "area": area,
        "traffic": traffic,
        "road_user": road_user,
        "vkm_per_year": vkm,
    }


def test_territorial_vs_resident_by_hand(factors):
    """Four petrol links at 80 km/h; the g/km is one number, so the answer is known by hand."""
    links = pd.DataFrame(
        [
            _link("car", "petrol", "inside", "commute", "resident", 1000.0),
            _link("car", "petrol", "outside", "commute", "resident", 3000.0),
            _link("car", "petrol", "inside", "through", "non_resident", 5000.0),
            _link("car", "petrol", "outside", "commute", "non_resident", 7000.0),
        ]
    )
    g = float(co2_g_per_km("petrol", 80.0, 2019, factors))
    energy, co2 = vehicle_energy_and_co2(links, 2019, factors)
    rail = rail_co2_table(
        pd.DataFrame(
            {"mode": ["s_train", "s_train"], "area": ["inside", "outside"],
             "road_user": ["resident", "resident"], "pkm_per_year": [1e6, 9e6]}
        ),
        2023,
        factors,
    )
    acc = co2_accounting(co2, rail)
    totals = acc.groupby("accounting")["co2_t"].sum()
    # territorial: inside links (1000 + 5000 vkm) + 1 M pkm of S-tog at 11 g (2023 = reference year)
    assert totals["territorial"] == pytest.approx(6000 * g / 1e6 + 11.0)
    # resident: residents' links anywhere (1000 + 3000 vkm) + all 10 M pkm
    assert totals["resident"] == pytest.approx(4000 * g / 1e6 + 110.0)
    through = acc[(acc["accounting"] == "territorial") & (acc["traffic"] == "through")]["co2_t"].sum()
    assert through == pytest.approx(5000 * g / 1e6)
    assert set(energy["carrier"]) == {"petrol_l"}
    fossil = 1 - biofuel_energy_share("petrol", 2019, factors)
    assert energy["amount"].sum() == pytest.approx(16000 * g / 1000 / factors.fuels.petrol.co2_kg_per_l / fossil)


def test_energy_and_co2_consistent_across_powertrains(factors):
    links = pd.DataFrame(
        [
            _link("car", "petrol", "inside", "commute", "resident", 100.0, speed=30.0),
            _link("car", "diesel", "inside", "commute", "resident", 200.0, speed=110.0, road_category="motorway"),
            _link("car", "phev", "outside", "other_local", "resident", 300.0, speed=50.0),
            _link("car", "bev", "inside", "through", "non_resident", 400.0, speed=110.0, road_category="motorway"),
            _link("truck", "diesel", "inside", "through", "non_resident", 500.0, speed=80.0, road_category="motorway"),
        ]
    )
    energy, co2 = vehicle_energy_and_co2(links, 2019, factors)
    expected = sum(
        float(co2_g_per_km(r.powertrain, r.speed_kph, 2019, factors, vehicle=r.vehicle)) * r.vkm_per_year / 1e6
        for r in links.itertuples()
    )
    assert co2["co2_t"].sum() == pytest.approx(expected)
    phev = energy[energy["powertrain"] == "phev"]
    assert set(phev["carrier"]) == {"petrol_l", "electricity_kwh"}
    assert set(co2["source"]) == {"car", "truck"}
    assert (energy["energy_mj"] > 0).all()


def test_clamping_in_table_warns_once(factors):
    links = pd.DataFrame(
        [_link("car", "petrol", "inside", "commute", "resident", 1.0, speed=2.0),
         _link("car", "diesel", "inside", "commute", "resident", 1.0, speed=5.0),
         _link("car", "bev", "inside", "commute", "resident", 1.0, speed=10.0)]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vehicle_energy_and_co2(links, 2019, factors)
    clamp = [w for w in caught if issubclass(w.category, SpeedClampWarning)]
    assert len(clamp) == 1 and "3 speed value(s)" in str(clamp[0].message)


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("powertrain", "hydrogen", "Unknown powertrain 'hydrogen'"),
        ("road_category", "highway", "Unknown road category 'highway'"),
        ("vehicle", "tram", "Unknown vehicle 'tram'"),
    ],
)
def test_unknown_values_are_named(factors, column, value, match):
    links = pd.DataFrame([_link("car", "petrol", "inside", "commute", "resident", 1.0)])
    links[column] = value
    with pytest.raises(VmobError, match=match):
        vehicle_energy_and_co2(links, 2019, factors)


def test_truck_petrol_is_an_error(factors):
    links = pd.DataFrame([_link("truck", "petrol", "inside", "through", "non_resident", 1.0)])
    with pytest.raises(VmobError, match="truck powertrain 'petrol'"):
        vehicle_energy_and_co2(links, 2019, factors)


def test_missing_year_in_table(factors):
    links = pd.DataFrame([_link("car", "bev", "inside", "commute", "resident", 1.0)])
    with pytest.raises(VmobError, match="2060"):
        vehicle_energy_and_co2(links, 2060, factors)


# ---- rail and other local ---------------------------------------------------------------------------


def test_rail_factors(factors):
    got = rail_co2_t({"s_train": 1e6, "light_rail": 2e6, "bus": 1e6}, 2023, factors)
    assert got == pytest.approx({"s_train": 11.0, "light_rail": 22.0, "bus": 4.0})
    scaled = rail_co2_t({"s_train": 1e6}, 2019, factors)["s_train"]
    assert scaled == pytest.approx(11.0 * 157.0 / 96.0)
    with pytest.raises(VmobError, match="'tram'"):
        rail_co2_t({"tram": 1.0}, 2023, factors)


def test_split_rail_pkm():
    df = split_rail_pkm({"s_train": 100.0}, {"s_train": 0.25})
    assert df.set_index("area")["pkm_per_year"].to_dict() == {"inside": 25.0, "outside": 75.0}


# ---- the coded tables equal a plain pandas groupby (issue 20, item 3) ------------------------------


def _reference_energy_and_co2(links: pd.DataFrame, year: int, factors) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tables by the textbook route: per-row carrier use, melt to carriers, groupby on the text keys."""
    keys = ["vehicle", "powertrain", "road_category", "area", "traffic", "road_user"]
    rows = []
    for row in links.itertuples(index=False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SpeedClampWarning)
            per_km, _ = _carriers_per_km(row.vehicle, row.powertrain, np.array([row.speed_kph]), factors)
        for carrier, value in per_km.items():
            rows.append({**{k: getattr(row, k) for k in keys}, "carrier": carrier, "amount": float(value[0]) * row.vkm_per_year})
    long = pd.DataFrame(rows, columns=[*keys, "carrier", "amount"])
    energy = long.groupby([*keys, "carrier"], as_index=False, sort=True)["amount"].sum()
    mj_per_unit = {"electricity_kwh": 3.6, "petrol_l": 1 / factors.fuels.petrol.litres_per_mj,
                   "diesel_l": 1 / factors.fuels.diesel.litres_per_mj}
    energy["energy_mj"] = energy["amount"] * energy["carrier"].map(mj_per_unit)
    co2 = (
        energy.assign(source=energy["vehicle"], co2_t=energy_co2_t(energy, year, factors))
        .groupby(["source", "area", "traffic", "road_user", "powertrain"], as_index=False, sort=True)["co2_t"].sum()
    )
    return energy, co2


def _random_links(seed: int, n_extra: int) -> pd.DataFrame:
    """Every vehicle/powertrain pair on every road category, then random rows, shuffled.

    Speeds span the curves' valid ranges and beyond (clamped), a tenth of the vehicle-km are zero.
    """
    rng = np.random.default_rng(seed)
    pairs = [(v, p) for v in VEHICLES for p in VEHICLE_POWERTRAINS[v]]
    full = [(v, p, r) for (v, p), r in itertools.product(pairs, ROAD_CATEGORIES)]
    drawn = [(*pairs[i], ROAD_CATEGORIES[j]) for i, j in zip(rng.integers(len(pairs), size=n_extra),
                                                            rng.integers(len(ROAD_CATEGORIES), size=n_extra), strict=True)]
    vehicle, powertrain, road = (np.array(c, dtype=object) for c in zip(*(full + drawn), strict=True))
    n = len(vehicle)
    links = pd.DataFrame({
        "vehicle": vehicle, "powertrain": powertrain, "road_category": road,
        "speed_limit_kph": rng.choice([30, 50, 80, 110, 130], size=n),
        "speed_kph": rng.uniform(1.0, 140.0, size=n),
        "area": rng.choice(np.array(AREAS, dtype=object), size=n),
        "traffic": rng.choice(np.array(TRAFFIC_TYPES, dtype=object), size=n),
        "road_user": rng.choice(np.array(ROAD_USERS, dtype=object), size=n),
        "vkm_per_year": np.where(rng.random(n) < 0.1, 0.0, rng.lognormal(8.0, 2.0, size=n)),
    })
    return links.iloc[rng.permutation(n)].reset_index(drop=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_coded_tables_equal_a_pandas_groupby(factors, seed):
    links = _random_links(seed, n_extra=600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpeedClampWarning)
        energy, co2 = vehicle_energy_and_co2(links, 2030, factors)
    want_energy, want_co2 = _reference_energy_and_co2(links, 2030, factors)
    # same columns, dtypes, row order and values (sums in another order: the last bits may differ)
    pd.testing.assert_frame_equal(energy, want_energy, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(co2, want_co2, check_exact=False, rtol=1e-12)
    assert set(zip(energy["vehicle"], energy["powertrain"], energy["road_category"], strict=True)) == {
        (v, p, r) for v in VEHICLES for p in VEHICLE_POWERTRAINS[v] for r in ROAD_CATEGORIES
    }
    # the accountings of the coded tables equal those of the plain ones, rail rows included
    rng = np.random.default_rng(seed)
    n = 40
    rail_pkm = pd.DataFrame({
        "mode": rng.choice(np.array(TRANSIT_MODES, dtype=object), size=n),
        "area": rng.choice(np.array(AREAS, dtype=object), size=n),
        "road_user": rng.choice(np.array(ROAD_USERS, dtype=object), size=n),
        "traffic": rng.choice(np.array(PURPOSES, dtype=object), size=n),
        "pkm_per_year": rng.uniform(0.0, 1e6, size=n),
    })
    rail = rail_co2_table(rail_pkm, 2030, factors)
    g = rail_pkm["mode"].map({m: rail_co2_t({m: 1e6}, 2030, factors)[m] for m in TRANSIT_MODES})
    want_rail = (
        rail_pkm.assign(source=rail_pkm["mode"], powertrain="electric", co2_t=rail_pkm["pkm_per_year"] * g / 1e6)
        .groupby(["source", "area", "traffic", "road_user", "powertrain"], as_index=False, sort=True)["co2_t"].sum()
    )
    pd.testing.assert_frame_equal(rail, want_rail, check_exact=False, rtol=1e-12)
    both = pd.concat([want_co2, want_rail], ignore_index=True)
    stacked = pd.concat([both[both["area"] == "inside"].assign(accounting="territorial"),
                         both[both["road_user"] == "resident"].assign(accounting="resident")])
    keys = ["source", "powertrain", "area", "traffic", "road_user", "accounting"]
    want_accounts = stacked.groupby(keys, as_index=False, sort=True)["co2_t"].sum()
    pd.testing.assert_frame_equal(co2_accounting(co2, rail), want_accounts, check_exact=False, rtol=1e-12)


def test_categorical_keys_give_the_same_tables(factors):
    links = _random_links(4, n_extra=100)
    coded = links.astype({k: "category" for k in ("vehicle", "powertrain", "road_category", "area", "traffic", "road_user")})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpeedClampWarning)
        for got, want in zip(vehicle_energy_and_co2(coded, 2030, factors), vehicle_energy_and_co2(links, 2030, factors), strict=True):
            pd.testing.assert_frame_equal(got, want)
    coded["traffic"] = coded["traffic"].cat.add_categories(["ferry"])
    coded.loc[3, "traffic"] = "ferry"
    with pytest.raises(VmobError, match="Unknown traffic type 'ferry' in column 'traffic'"):
        vehicle_energy_and_co2(coded, 2030, factors)


def test_tables_without_rows(factors):
    links = pd.DataFrame({c: pd.Series(dtype=float if c.endswith(("kph", "year")) else object) for c in LINK_VKM_COLUMNS})
    energy, co2 = vehicle_energy_and_co2(links, 2030, factors)
    assert energy.empty and co2.empty
    assert list(energy.columns) == ["vehicle", "powertrain", "road_category", "area", "traffic", "road_user", "carrier",
                                    "amount", "energy_mj"]
    assert energy["amount"].dtype == float and co2["co2_t"].dtype == float
    accounts = co2_accounting(co2)
    assert accounts.empty and list(accounts.columns)[-2:] == ["accounting", "co2_t"]


def test_unknown_value_in_a_later_row_is_named(factors):
    links = _random_links(5, n_extra=50)
    links.loc[len(links) - 1, "area"] = "abroad"
    with pytest.raises(VmobError, match="Unknown area 'abroad' in column 'area'; expected one of inside, outside"):
        vehicle_energy_and_co2(links, 2030, factors)
    rail = pd.DataFrame({"mode": ["s_train", "tram"], "area": ["inside"] * 2, "road_user": ["resident"] * 2, "pkm_per_year": [1.0, 2.0]})
    with pytest.raises(VmobError, match="Unknown public-transport mode 'tram' in column 'mode'"):
        rail_co2_table(rail, 2030, factors)


# ---- the link vehicle-km splitter -------------------------------------------------------------------


def test_split_link_vkm_keeps_the_km_and_splits_them(factors):
    edges = SimpleNamespace(
        inside_share=np.array([1.0, 0.25, 0.0]), speed_kph=np.array([50.0, 80.0, 110.0]),
        road_category=np.array(["local", "urban", "motorway"], dtype=object), maxspeed_kph=np.array([50.0, 79.6, 110.0]),
    )
    vkm = np.array([[100.0, 10.0, 0.0], [200.0, 20.0, 0.0], [300.0, 0.0, 0.0]])
    groups = [("car", "bev", "commute", "resident"), ("truck", "diesel", "through", "non_resident"),
              ("van", "diesel", "service", "non_resident")]
    congested = np.array([30.0, 60.0, 90.0])
    rows = split_link_vkm(edges, vkm, groups, congested, 0.4)
    assert list(rows.columns) == list(LINK_VKM_COLUMNS)
    commute = rows[rows["traffic"] == "commute"]
    assert commute["vkm_per_year"].sum() == pytest.approx(600.0)  # every km, inside or outside
    by_area = commute.groupby("area")["vkm_per_year"].sum()
    assert by_area["inside"] == pytest.approx(100.0 + 0.25 * 200.0)
    at_peak = commute[commute["speed_kph"] == commute["road_category"].map({"local": 30.0, "urban": 60.0, "motorway": 90.0})]
    assert at_peak["vkm_per_year"].sum() == pytest.approx(0.4 * 600.0)
    through = rows[rows["traffic"] == "through"]
    assert through.groupby("area")["vkm_per_year"].sum().to_dict() == pytest.approx({"inside": 10.0 + 0.25 * 20.0, "outside": 15.0})
    assert "service" not in set(rows["traffic"])  # a group without km gives no rows
    assert set(rows["speed_limit_kph"]) == {50, 80, 110} and (rows["vkm_per_year"] > 0).all()
    # the rows are what vehicle_energy_and_co2 takes
    energy, _ = vehicle_energy_and_co2(rows, 2030, factors)
    assert set(energy["vehicle"]) == {"car", "truck"}
    empty = split_link_vkm(edges, np.zeros((3, 1)), groups[:1], congested, 0.4)
    assert empty.empty and list(empty.columns) == list(LINK_VKM_COLUMNS)
