"""Tests of model.inventory: the inventory and factors tables against the model's own co2 table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model.errors import VmobError
from model.experiments import aggregates
from model.inventory import GPC_CODES, IPCC_CODES, RUN_KEYS, inventory_table
from model.outputs import SCHEMAS, check_reconciliation, write_tables
from tests.abm_fixtures import small_model

ROAD = ("car", "van", "truck", "bus")  # road vehicles (bus vehicle-km; no bus commuting mode is simulated)
KEYS = list(RUN_KEYS)


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    """A small run over 2019-2021 (plug-in hybrids and electric cars in the fleet from the start)."""
    model = small_model(end_year=2021, sample_fraction=0.05)
    model.run()
    return model.results()


def _close(a: pd.Series, b: pd.Series, rtol: float = 1e-9) -> None:
    a, b = a.align(b, fill_value=0.0)
    assert np.allclose(a.to_numpy(), b.to_numpy(), rtol=rtol, atol=0.0), pd.concat([a, b], axis=1)


def test_territorial_road_rows_sum_to_the_co2_tables_road_total(tables):
    inv, co2 = tables["inventory"], tables["co2"]
    for accounting in ("territorial", "resident"):
        road = inv[(inv["accounting"] == accounting) & inv["source"].isin(ROAD)]
        expected = co2[(co2["accounting"] == accounting) & co2["source"].isin(ROAD)].groupby(KEYS)["co2_t"].sum()
        by_category = road.groupby([*KEYS, "road_category"])["co2_fossil_t"].sum().groupby(level=KEYS).sum()
        _close(by_category, expected)
    territorial = inv[(inv["accounting"] == "territorial") & inv["source"].isin(ROAD)]
    assert set(territorial["road_category"]) >= {"motorway", "urban", "local"}
    assert (territorial["area"] == "inside").all()


def test_each_territorial_row_has_one_code_and_the_codes_add_up(tables):
    inv = tables["inventory"]
    territorial = inv[inv["accounting"] == "territorial"]
    assert territorial["gpc_code"].isin(GPC_CODES).all() and territorial["ipcc_code"].isin(IPCC_CODES).all()
    assert (territorial["gpc_code"] == territorial["gpc_subsector"] + "." + territorial["gpc_scope"].astype(str)).all()
    # In the boundary: scope 1 is fuel burnt, scope 2 grid electricity; scope 3 never.
    assert set(territorial["gpc_scope"]) == {1, 2}
    assert (territorial.loc[territorial["gpc_scope"] == 1, "carrier"] != "electricity").all()
    assert (territorial.loc[territorial["source"].isin(("s_train", "light_rail")), "gpc_subsector"] == "II.2").all()
    by_code = territorial.groupby([*KEYS, "gpc_code"])["co2e_t"].sum().groupby(level=KEYS).sum()
    _close(by_code, territorial.groupby(KEYS)["co2e_t"].sum())
    # The co2 table's territorial total (road CO2 + public-transport CO2e) is the inventory's
    # road fossil CO2 plus its public-transport CO2e, code by code.
    road = territorial["source"].isin(ROAD)
    counted = territorial["co2_fossil_t"].where(road, territorial["co2e_t"])
    by_code = counted.groupby([territorial[k] for k in [*KEYS, "gpc_code"]]).sum().groupby(level=KEYS).sum()
    _close(by_code, tables["summary"].set_index(KEYS)["co2_territorial_t"])
    assert territorial.groupby([*KEYS, "gpc_code"])["co2e_t"].sum().gt(0).groupby(level=KEYS).sum().ge(2).all()


def test_outside_rows_are_scope_3_and_only_in_the_resident_accounting(tables):
    inv = tables["inventory"]
    outside = inv[inv["area"] == "outside"]
    assert len(outside) and (outside["gpc_scope"] == 3).all()
    assert (outside["accounting"] == "resident").all() and (outside["road_user"] == "resident").all()


def test_no_column_mixes_co2_and_co2e():
    for name in ("inventory", "factors"):
        for field in SCHEMAS[name]["fields"]:
            unit, col = field.get("unit", ""), field["name"]
            if "co2e" in col:
                assert "CO2e" in unit or col.startswith("gwp"), col
            elif "co2" in col or col in ("ch4_t", "n2o_t"):
                assert "CO2e" not in unit, col


def test_public_transport_lines_carry_co2e_only(tables):
    """Their source factor is g CO2e per passenger-km: no CO2 figure is made up for them."""
    inv = tables["inventory"]
    transit = inv[~inv["source"].isin(ROAD)]
    assert len(transit)
    assert transit[["energy_mj", "co2_fossil_t", "co2_biogenic_t", "co2_combustion_t", "ch4_t", "n2o_t"]].isna().all().all()
    assert transit["co2e_t"].ge(0).all() and transit["co2e_t"].gt(0).any()
    assert (transit["road_category"] == "none").all()


def test_fossil_plus_biogenic_is_combustion_co2_and_biogenic_is_the_blend_share(tables):
    inv, factors = tables["inventory"], tables["factors"].set_index(KEYS)
    fuel = inv[inv["carrier"].isin(("petrol", "diesel"))]
    assert fuel[["co2_fossil_t", "co2_biogenic_t", "co2_combustion_t", "ch4_t", "n2o_t"]].notna().all().all()
    np.testing.assert_allclose(fuel["co2_fossil_t"] + fuel["co2_biogenic_t"], fuel["co2_combustion_t"], rtol=1e-12)
    for carrier in ("petrol", "diesel"):
        rows = inv[inv["carrier"] == carrier]
        share = factors.loc[pd.MultiIndex.from_frame(rows[KEYS]), f"{carrier}_biofuel_energy_share"].to_numpy()
        np.testing.assert_allclose(rows["co2_biogenic_t"] / rows["co2_combustion_t"], share, rtol=1e-12)
        assert (share > 0).all()
    # CO2e adds CH4 and N2O with their GWP100 to the fossil CO2 only.
    gwp = factors.loc[pd.MultiIndex.from_frame(fuel[KEYS])]
    expected = fuel["co2_fossil_t"] + gwp["gwp100_ch4"].to_numpy() * fuel["ch4_t"] + gwp["gwp100_n2o"].to_numpy() * fuel["n2o_t"]
    np.testing.assert_allclose(fuel["co2e_t"], expected, rtol=1e-12)
    assert (fuel["co2e_t"] > fuel["co2_fossil_t"]).all()


def test_electricity_is_its_own_line_and_plug_in_hybrids_split(tables):
    inv, factors = tables["inventory"], tables["factors"].set_index(KEYS)
    phev = inv[(inv["powertrain"] == "phev") & (inv["accounting"] == "territorial")]
    assert set(phev["carrier"]) == {"petrol", "electricity"}
    power = inv[(inv["carrier"] == "electricity") & inv["source"].isin(ROAD)]
    assert power[["co2_biogenic_t", "ch4_t", "n2o_t"]].isna().all().all()
    g_per_kwh = factors.loc[pd.MultiIndex.from_frame(power[KEYS]), "electricity_co2_g_per_kwh"].to_numpy()
    np.testing.assert_allclose(power["co2_fossil_t"], power["energy_mj"] / 3.6 * g_per_kwh / 1e6, rtol=1e-12)
    np.testing.assert_allclose(power["energy_mwh"], power["energy_mj"] / 3600.0, rtol=1e-12)
    # The energy of each line is the energy table's, carrier by carrier.
    energy = tables["energy"]
    road = inv[(inv["accounting"] == "territorial") & inv["source"].isin(ROAD)]
    _close(road.groupby(KEYS)["energy_mj"].sum(), energy[energy["area"] == "inside"].groupby(KEYS)["energy_mj"].sum())


def test_factors_table_has_one_row_per_run_year(tables):
    factors = tables["factors"]
    assert len(factors) == len(tables["summary"]) and not factors.duplicated(KEYS).any()
    assert factors["electricity_co2_g_per_kwh"].is_monotonic_decreasing  # 157 g/kWh in 2019, less after


def test_missing_energy_column_is_one_clear_error(tables):
    with pytest.raises(VmobError, match="energy table lacks the column 'carrier'"):
        inventory_table(tables["energy"].drop(columns="carrier"), tables["co2"], None)  # type: ignore[arg-type]


def test_datapackage_with_inventory_factors_and_aggregates_validates(tables, tmp_path: Path):
    from frictionless import Package

    labelled = {name: t.assign(experiment="inventory", scenario="baseline") for name, t in tables.items()}
    check_reconciliation(labelled)
    written = write_tables({**labelled, "aggregates": aggregates(labelled["summary"])}, tmp_path, experiment_name="inventory")
    report = Package(str(written)).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "message"])
    names = [r.name for r in Package(str(written)).resources]
    assert {"inventory", "factors", "aggregates"} <= set(names)
    back = pd.read_csv(tmp_path / "inventory.csv")
    assert len(back) == len(tables["inventory"])


def test_reconciliation_catches_an_inventory_that_does_not_add_up(tables):
    bad = dict(tables)
    bad["inventory"] = tables["inventory"].copy()
    row = bad["inventory"].index[(bad["inventory"]["accounting"] == "resident") & (bad["inventory"]["carrier"] == "petrol")][0]
    bad["inventory"].loc[row, "co2_fossil_t"] *= 1.01
    with pytest.raises(VmobError, match=r"resident inventory .* vs summary"):
        check_reconciliation(bad)
