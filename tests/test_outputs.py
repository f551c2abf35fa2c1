"""Tests of model.outputs: schemas, atomic validated writing, reading back, reconciliation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from model.emissions import co2_accounting, load_emission_factors, rail_co2_table, vehicle_energy_and_co2
from model.errors import VmobError
from model.outputs import (
    MODES,
    RUN_KEYS,
    SCHEMAS,
    TABLES,
    check_reconciliation,
    columns,
    read_tables,
    summary_table,
    write_tables,
)

RUN = {"experiment": "toy", "scenario": "baseline", "seed": 1}


def _keys(df: pd.DataFrame, year: int) -> pd.DataFrame:
    return df.assign(**RUN, year=year)


def _year_tables(year: int, car_scale: float) -> dict[str, pd.DataFrame]:
    factors = load_emission_factors()
    links = pd.DataFrame(
        {
            "vehicle": ["car", "car", "car", "truck"],
            "powertrain": ["petrol", "bev", "diesel", "diesel"],
            "road_category": ["urban", "local", "motorway", "motorway"],
            "speed_limit_kph": [50, 40, 110, 110],
            "speed_kph": [42.0, 35.0, 104.0, 80.0],
            "area": ["inside", "outside", "inside", "inside"],
            "traffic": ["commute", "other_local", "through", "through"],
            "road_user": ["resident", "resident", "non_resident", "non_resident"],
            "vkm_per_year": [1e6 * car_scale, 2e6 * car_scale, 5e7, 5e6],
        }
    )
    energy, co2 = vehicle_energy_and_co2(links, year, factors)
    rail = rail_co2_table(
        pd.DataFrame({"mode": ["s_train"] * 2, "area": ["inside", "outside"],
                      "road_user": ["resident"] * 2, "pkm_per_year": [2e6, 8e6]}),
        year,
        factors,
    )
    co2_out = co2_accounting(co2, rail)
    vkm = links.drop(columns="speed_kph")
    shares = [0.5, 0.2, 0.05, 0.2, 0.05]
    in_shares = [0.7, 0.1, 0.0, 0.15, 0.05]
    mode_split = pd.DataFrame(
        {"road_user": ["resident"] * len(MODES) + ["non_resident"] * len(MODES),
         "mode": list(MODES) * 2, "commuters": [s * 1000 for s in shares + in_shares],
         "trips_per_weekday": [s * 2000 for s in shares + in_shares], "share": shares + in_shares,
         "pkm_per_year": [s * 1e7 for s in shares + in_shares]}
    )
    fleet = pd.DataFrame(
        {"vehicle": ["car"] * 4 + ["truck"] * 2, "segment": ["resident"] * 4 + ["national"] * 2,
         "powertrain": ["petrol", "diesel", "phev", "bev", "diesel", "bev"],
         "stock_share": [0.6, 0.2, 0.05, 0.15, 0.9, 0.1], "new_sales_share": [0.3, 0.05, 0.1, 0.55, 0.7, 0.3],
         "stock_vehicles": [600.0, 200.0, 50.0, 150.0, None, None], "new_vehicles": [3.0, 0.0, 1.0, 6.0, None, None]}
    )
    return {
        "mode_split": _keys(mode_split, year),
        "vehicle_km": _keys(vkm, year),
        "energy": _keys(energy, year),
        "co2": _keys(co2_out, year),
        "fleet": _keys(fleet, year),
    }


@pytest.fixture()
def tables() -> dict[str, pd.DataFrame]:
    years = [_year_tables(2019, 1.0), _year_tables(2030, 0.5)]
    out = {name: pd.concat([y[name] for y in years], ignore_index=True) for name in years[0]}
    out["summary"] = summary_table(out["mode_split"], out["co2"], out["vehicle_km"])
    return out


def test_schemas_start_with_run_keys():
    for name in TABLES:
        assert columns(name)[:4] == list(RUN_KEYS)
        assert SCHEMAS[name]["primaryKey"][:4] == list(RUN_KEYS)
    assert "road_user" in SCHEMAS["vehicle_km"]["primaryKey"]


def test_summary_values(tables):
    s = tables["summary"].set_index("year")
    assert s.loc[2019, "co2_territorial_change_vs_2019_pct"] == pytest.approx(0.0)
    assert s.loc[2030, "co2_territorial_change_vs_2019_pct"] < 0.0
    assert s.loc[2019, "share_car"] == pytest.approx(0.5)
    co2 = tables["co2"]
    assert s.loc[2019, "co2_through_t"] == pytest.approx(
        co2[(co2.year == 2019) & (co2.traffic == "through") & (co2.accounting == "territorial")]["co2_t"].sum()
    )


def test_reconciliation_passes(tables):
    check_reconciliation(tables)


def test_reconciliation_catches_co2_mismatch(tables):
    bad = dict(tables)
    bad["summary"] = tables["summary"].copy()
    bad["summary"].loc[0, "co2_territorial_t"] *= 1.001
    with pytest.raises(VmobError, match="territorial CO2 by source vs summary"):
        check_reconciliation(bad)


def test_reconciliation_catches_vkm_mismatch(tables):
    bad = dict(tables)
    bad["summary"] = tables["summary"].copy()
    bad["summary"].loc[1, "vkm_total_per_year"] *= 1.00001
    with pytest.raises(VmobError, match="vkm total vs summary"):
        check_reconciliation(bad)


def test_reconciliation_catches_fleet_shares_not_summing_to_one(tables):
    bad = dict(tables)
    bad["fleet"] = tables["fleet"].copy()
    bad["fleet"].loc[0, "stock_share"] += 0.01
    with pytest.raises(VmobError, match="fleet stock shares summed"):
        check_reconciliation(bad)


def test_write_validate_and_read_back(tables, tmp_path: Path):
    from frictionless import Package

    path = write_tables(tables, tmp_path / "toy", experiment_name="Toy run", extra_metadata={"git": "abc"})
    assert path.name == "datapackage.json"
    names = {p.name for p in (tmp_path / "toy").iterdir()}
    assert names == {f"{t}.{e}" for t in TABLES for e in ("csv", "parquet")} | {"datapackage.json", "summary.xlsx"}
    report = Package(str(path)).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "message"])
    back = read_tables(tmp_path / "toy")
    for name in TABLES:
        pd.testing.assert_frame_equal(back[name], tables[name][columns(name)].reset_index(drop=True),
                                      check_dtype=False)
    check_reconciliation(back)
    sheets = pd.read_excel(tmp_path / "toy" / "summary.xlsx", sheet_name=None)
    assert set(sheets) == set(TABLES) | {"columns"}
    assert {"table", "column", "unit", "description"} <= set(sheets["columns"].columns)
    # The workbook sums the link-level tables over road details; its totals still reconcile.
    assert "speed_limit_kph" not in sheets["vehicle_km"].columns
    assert sheets["vehicle_km"]["vkm_per_year"].sum() == pytest.approx(tables["vehicle_km"]["vkm_per_year"].sum())
    assert sheets["energy"]["amount"].sum() == pytest.approx(tables["energy"]["amount"].sum())


def test_cli_validate(tables, tmp_path: Path):
    """The datapackage validates with the frictionless command line, as docs/outputs.md says."""
    import shutil
    import subprocess
    import sys

    path = write_tables(tables, tmp_path / "toy", experiment_name="toy")
    exe = Path(sys.executable).with_name("frictionless")
    if not exe.exists():
        exe = shutil.which("frictionless")
    if exe is None:
        pytest.skip("frictionless command line not installed")
    result = subprocess.run([str(exe), "validate", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_violation_raises_and_leaves_nothing(tables, tmp_path: Path):
    bad = dict(tables)
    bad["co2"] = tables["co2"].copy()
    bad["co2"].loc[2, "source"] = "airplane"
    out = tmp_path / "bad"
    with pytest.raises(VmobError, match=r"Output table 'co2' breaks its schema.*source"):
        write_tables(bad, out, experiment_name="bad")
    assert list(out.iterdir()) == []


def test_negative_value_raises(tables, tmp_path: Path):
    bad = dict(tables)
    bad["vehicle_km"] = tables["vehicle_km"].copy()
    bad["vehicle_km"].loc[0, "vkm_per_year"] = -1.0
    with pytest.raises(VmobError, match="'vehicle_km'.*vkm_per_year"):
        write_tables(bad, tmp_path / "bad", experiment_name="bad")
    assert list((tmp_path / "bad").iterdir()) == []


def test_duplicate_key_raises(tables, tmp_path: Path):
    bad = dict(tables)
    bad["mode_split"] = pd.concat([tables["mode_split"], tables["mode_split"].head(1)], ignore_index=True)
    with pytest.raises(VmobError, match="'mode_split' breaks its schema"):
        write_tables(bad, tmp_path / "bad", experiment_name="bad")


def test_failed_write_keeps_previous_outputs(tables, tmp_path: Path):
    out = tmp_path / "run"
    write_tables(tables, out, experiment_name="toy")
    before = (out / "co2.csv").read_bytes()
    bad = dict(tables)
    bad["co2"] = tables["co2"].copy()
    bad["co2"]["co2_t"] = -1.0
    with pytest.raises(VmobError):
        write_tables(bad, out, experiment_name="toy")
    assert (out / "co2.csv").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_wrong_columns_are_named(tables, tmp_path: Path):
    bad = dict(tables)
    bad["energy"] = tables["energy"].drop(columns="carrier")
    with pytest.raises(VmobError, match="'energy' lacks the column 'carrier'"):
        write_tables(bad, tmp_path / "bad", experiment_name="bad")
    bad["energy"] = tables["energy"].assign(colour="red")
    with pytest.raises(VmobError, match="'colour'"):
        write_tables(bad, tmp_path / "bad", experiment_name="bad")


def test_unknown_table_name(tables, tmp_path: Path):
    with pytest.raises(VmobError, match="Unknown output table 'links'"):
        write_tables({"links": tables["co2"]}, tmp_path, experiment_name="x")


def test_read_tables_without_package(tmp_path: Path):
    with pytest.raises(VmobError, match="datapackage.json"):
        read_tables(tmp_path)
