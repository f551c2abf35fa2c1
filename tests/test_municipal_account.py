"""Tests of model.municipal_account: the municipal account's method beside the model's COPERT figures."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model.errors import VmobError
from model.municipal_account import comparison, comparison_markdown, municipal_account_table, national_factors
from model.parameters import PARAMETER_FILES, load_parameters, load_section
from model.settings import PARAMETERS_DIR
from model.vocabulary import VEHICLES
from tests.abm_fixtures import small_model

KEYS = ["experiment", "scenario", "seed", "year"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    model = small_model(end_year=2019, sample_fraction=0.05)
    model.run()
    return model.results()


def test_the_account_counts_every_vehicle_km_inside_the_boundary(tables):
    account, vkm = tables["municipal_account"], tables["vehicle_km"]
    inside = vkm[vkm["area"] == "inside"]
    assert account["vkm_per_year"].sum() == pytest.approx(inside["vkm_per_year"].sum(), rel=1e-12)
    assert set(account["road_category"]) == set(inside["road_category"])
    assert np.allclose(account["co2_t"], account["vkm_per_year"] * account["co2_g_per_vkm"] / 1e6, rtol=1e-12)


def test_the_model_column_is_the_territorial_road_co2(tables):
    account, co2 = tables["municipal_account"], tables["co2"]
    road = co2[(co2["accounting"] == "territorial") & co2["source"].isin(list(VEHICLES))]
    assert account["co2_model_t"].sum() == pytest.approx(road["co2_t"].sum(), rel=1e-9)


def test_comparison_totals_come_from_the_table(tables):
    account = tables["municipal_account"]
    table = comparison(account, 2019)
    total = table[table["vehicle"] == "total"].iloc[0]
    assert total["co2_t"] == pytest.approx(account["co2_t"].sum(), rel=1e-12)
    assert total["co2_model_t"] == pytest.approx(account["co2_model_t"].sum(), rel=1e-12)
    assert total["difference_t"] == pytest.approx(total["co2_t"] - total["co2_model_t"])
    assert table[table["vehicle"] != "total"]["co2_t"].sum() == pytest.approx(total["co2_t"])
    with pytest.raises(VmobError, match="no rows for 2031"):
        comparison(account, 2031)


def test_a_greener_national_fleet_lowers_the_car_factor_not_the_activity(tables):
    params = load_parameters()
    fleet = tables["fleet"].copy()
    national_car = (fleet["segment"] == "national") & (fleet["vehicle"] == "car")
    greener = fleet.copy()
    greener.loc[national_car, "stock_share"] = greener.loc[national_car, "powertrain"].map(
        {"petrol": 0.3, "diesel": 0.2, "phev": 0.1, "bev": 0.4})
    before = national_factors(fleet, params.emissions, params.municipal_account)
    after = national_factors(greener, params.emissions, params.municipal_account)
    cars = before["vehicle"] == "car"
    assert (after.loc[cars, "co2_g_per_vkm"].to_numpy() < before.loc[cars, "co2_g_per_vkm"].to_numpy()).all()
    assert np.allclose(after.loc[~cars, "co2_g_per_vkm"], before.loc[~cars, "co2_g_per_vkm"])
    account = municipal_account_table(tables["vehicle_km"], greener, tables["inventory"], params.emissions,
                                      params.municipal_account)
    assert account["vkm_per_year"].sum() == pytest.approx(tables["municipal_account"]["vkm_per_year"].sum())


def test_urban_car_factor_is_above_the_rural_one(tables):
    """COPERT's car curve has its minimum near 70 km/h: stop-and-go urban driving costs more per km."""
    params = load_parameters()
    f = national_factors(tables["fleet"], params.emissions, params.municipal_account)
    car = f[f["vehicle"] == "car"].set_index("road_type")["co2_g_per_vkm"]
    assert car["urban"] > car["rural"]


def test_every_factor_number_has_a_source_or_is_an_assumption():
    text = (PARAMETERS_DIR / PARAMETER_FILES["municipal_account"]).read_text(encoding="utf-8")
    speeds = text.split("[speed_kph]", 1)[1]
    for line in speeds.splitlines():
        if re.match(r"^\w+\s*=", line):
            comment = line.split("#", 1)[1] if "#" in line else ""
            assert "assumption" in comment or re.search(r"§\d|R\)|https?://", comment), line
    ring = next(line for line in text.splitlines() if line.startswith("ring"))
    assert "assumption" in ring


def test_an_unknown_road_type_is_one_line_naming_file_and_key(tmp_path):
    bad = tmp_path / "municipal_account.toml"
    text = (PARAMETERS_DIR / "municipal_account.toml").read_text(encoding="utf-8")
    bad.write_text(text.replace('ring = "rural"', 'ring = "gravel"'), encoding="utf-8")
    with pytest.raises(VmobError, match=r"municipal_account\.toml.*road_type.*gravel") as err:
        load_section("municipal_account", bad)
    assert "\n" not in str(err.value)


def test_the_docs_comparison_is_the_generator_output():
    """The comparison in docs/emissions.md is what `python -m model.municipal_account` prints.

    Same layout, and its total row adds up its rows (the numbers are not typed in by hand).
    """
    text = (ROOT / "docs" / "emissions.md").read_text(encoding="utf-8")
    block = text.split("<!-- municipal-account-2019:start -->\n", 1)[1].split("<!-- municipal-account-2019:end -->", 1)[0]
    rows = [line.strip("|").split("|") for line in block.strip().splitlines()[2:]]
    parsed = pd.DataFrame(
        [[c.strip() for c in r] for r in rows],
        columns=["vehicle", "road_type", "vkm", "factor", "co2_t", "co2_model_t", "difference_t", "difference_pct"],
    )
    number = lambda s: float(s.replace(",", "").replace("+", ""))  # noqa: E731
    body, total = parsed.iloc[:-1], parsed.iloc[-1]
    assert total["vehicle"] == "total"
    for col in ("co2_t", "co2_model_t"):
        assert abs(sum(map(number, body[col])) - number(total[col])) <= len(body)  # rounding to whole tonnes
    assert abs(number(total["co2_t"]) - number(total["co2_model_t"]) - number(total["difference_t"])) <= 1
    rebuilt = pd.DataFrame({
        "vehicle": parsed["vehicle"], "road_type": parsed["road_type"],
        "vkm_per_year": parsed["vkm"].map(number) * 1e6, "co2_g_per_vkm": parsed["factor"].map(number),
        "co2_t": parsed["co2_t"].map(number), "co2_model_t": parsed["co2_model_t"].map(number),
        "difference_t": parsed["difference_t"].map(number), "difference_pct": parsed["difference_pct"].map(number),
    })
    assert comparison_markdown(rebuilt).splitlines()[:2] == block.strip().splitlines()[:2]
