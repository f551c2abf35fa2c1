"""Tests of model.outputs: schemas, atomic validated writing, reading back, reconciliation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from model.emissions import co2_accounting, load_emission_factors, rail_co2_table, vehicle_energy_and_co2
from model.errors import VmobError
from model.inventory import factors_table, inventory_table
from model.municipal_account import municipal_account_table
from model.outputs import (
    MODES,
    RUN_KEYS,
    SCHEMAS,
    TABLES,
    change_vs_baseline,
    check_reconciliation,
    columns,
    read_tables,
    run_tables,
    summary_table,
    write_tables,
)
from model.parameters import load_section

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
    vkm = links.drop(columns="speed_kph").assign(purpose=["commute", "none", "none", "none"])
    shares = [0.5, 0.2, 0.05, 0.2, 0.05]
    in_shares = [0.7, 0.1, 0.0, 0.15, 0.05]
    mode_split = pd.DataFrame(
        {"road_user": ["resident"] * len(MODES) + ["non_resident"] * len(MODES),
         "purpose": "commute", "mode": list(MODES) * 2, "commuters": [s * 1000 for s in shares + in_shares],
         "trips_per_weekday": [s * 2000 for s in shares + in_shares],
         "trips_per_day": [s * 2000 * 225 / 365 for s in shares + in_shares], "share": shares + in_shares,
         "pkm_per_year": [s * 1e7 for s in shares + in_shares]}
    )
    fleet = pd.DataFrame(
        {"vehicle": ["car"] * 8 + ["truck"] * 2, "segment": ["resident"] * 4 + ["national"] * 6,
         "powertrain": ["petrol", "diesel", "phev", "bev"] * 2 + ["diesel", "bev"],
         "stock_share": [0.6, 0.2, 0.05, 0.15, 0.7, 0.2, 0.05, 0.05, 0.9, 0.1],
         "new_sales_share": [0.3, 0.05, 0.1, 0.55, 0.3, 0.05, 0.1, 0.55, 0.7, 0.3],
         "stock_vehicles": [600.0, 200.0, 50.0, 150.0, *[None] * 6], "new_vehicles": [3.0, 0.0, 1.0, 6.0, *[None] * 6]}
    )
    return {
        "mode_split": _keys(mode_split, year),
        "vehicle_km": _keys(vkm, year),
        "energy": _keys(energy, year),
        "co2": _keys(co2_out, year),
        "fleet": _keys(fleet, year),
        "ridership": _keys(pd.DataFrame({
            "line": ["A", "A"], "station": ["Vallensbæk St.", "all"], "commuters": [900.0, 1000.0],
            "boardings_per_weekday": [765.0, 1700.0], "boardings_per_year": [172125.0, 382500.0],
        }), year),
    }


@pytest.fixture()
def tables() -> dict[str, pd.DataFrame]:
    years = [_year_tables(2019, 1.0), _year_tables(2030, 0.5)]
    out = {name: pd.concat([y[name] for y in years], ignore_index=True) for name in years[0]}
    out["summary"] = summary_table(out["mode_split"], out["co2"], out["vehicle_km"])
    out["inventory"] = inventory_table(out["energy"], out["co2"], load_emission_factors())
    out["factors"] = factors_table(out["summary"], load_emission_factors())
    out["municipal_account"] = municipal_account_table(out["vehicle_km"], out["fleet"], out["inventory"],
                                                       load_emission_factors(), load_section("municipal_account"))
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
    with pytest.raises(VmobError, match=r"'vehicle_km'.*vkm_per_year"):
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
    with pytest.raises(VmobError, match=re.escape("datapackage.json")):
        read_tables(tmp_path)


# -------------------------------------------------------------------------------- reading confined


@pytest.fixture()
def written(tables, tmp_path: Path) -> Path:
    folder = tmp_path / "toy"
    write_tables(tables, folder, experiment_name="toy")
    return folder


def _edit_package(folder: Path, edit) -> None:
    path = folder / "datapackage.json"
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    edit(descriptor)
    path.write_text(json.dumps(descriptor), encoding="utf-8")


def _one_line_error(folder: Path, *fragments: str) -> str:
    with pytest.raises(VmobError) as caught:
        read_tables(folder)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    return message


@pytest.mark.parametrize("name", ["../outside", "/tmp/outside", "sub/../../outside"])
def test_read_tables_refuses_a_resource_name_leading_out(written: Path, name: str):
    outside = written.parent / "outside.parquet"
    outside.write_bytes((written / "co2.parquet").read_bytes())

    def rename(descriptor):
        descriptor["resources"][3]["name"] = name
    _edit_package(written, rename)
    _one_line_error(written, str(written), name, "refused")


def test_read_tables_refuses_a_csv_path_or_parquet_entry_leading_out(written: Path):
    def csv_out(descriptor):
        descriptor["resources"][0]["path"] = "../elsewhere.csv"
    _edit_package(written, csv_out)
    _one_line_error(written, "resource 'mode_split'", "../elsewhere.csv")

    def parquet_out(descriptor):
        descriptor["resources"][0]["path"] = "mode_split.csv"
        descriptor["vmob"]["parquet"]["summary"] = "/etc/passwd"
    _edit_package(written, parquet_out)
    _one_line_error(written, "resource 'summary'", "/etc/passwd")


def test_read_tables_refuses_a_symlink_out_of_the_folder(written: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (written / "co2.parquet").rename(elsewhere / "co2.parquet")
    (written / "co2.parquet").symlink_to(elsewhere / "co2.parquet")
    _one_line_error(written, "resource 'co2'", "symbolic link")
    # a link that stays inside the folder is fine
    (written / "co2.parquet").unlink()
    (elsewhere / "co2.parquet").rename(written / "co2_real.parquet")
    (written / "co2.parquet").symlink_to("co2_real.parquet")
    assert len(read_tables(written)["co2"]) > 0


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda f: (f / "datapackage.json").write_text("{not json", encoding="utf-8"), "not readable JSON"),
        (lambda f: (f / "datapackage.json").write_text("[1, 2]", encoding="utf-8"), "expected a JSON object, found list"),
        (lambda f: _edit_package(f, lambda d: d["resources"][1].pop("name")), "resources[1] has no name"),
        (lambda f: _edit_package(f, lambda d: d.update(resources={"a": 1})), "'resources' must be a list"),
        (lambda f: (f / "energy.parquet").write_bytes(b"PAR1 garbage, not a table"), "energy.parquet: not a readable Parquet file"),
        (lambda f: (f / "co2.parquet").unlink(), "co2.parquet named in"),
    ],
    ids=["malformed", "json-list", "nameless-resource", "resources-not-a-list", "garbage-parquet", "missing-table"],
)
def test_read_tables_damaged_folder_gives_one_line(written: Path, damage, fragment: str):
    damage(written)
    _one_line_error(written, fragment)


# -------------------------------------------------------------------------------- the planner workbook


@pytest.fixture()
def two_scenarios(tables) -> dict[str, pd.DataFrame]:
    """The toy tables for 'baseline' and a 'plan' whose territorial CO2 is 10 % lower, two seeds each."""
    frames = {name: [] for name in tables}
    for scenario, seed, factor in (("baseline", 1, 1.0), ("baseline", 2, 1.02), ("plan", 1, 0.9), ("plan", 2, 0.9 * 1.02)):
        for name, df in tables.items():
            df = df.assign(scenario=scenario, seed=seed)
            if name == "summary":
                df = df.assign(co2_territorial_t=df["co2_territorial_t"] * factor)
            frames[name].append(df)
    return {name: pd.concat(parts, ignore_index=True) for name, parts in frames.items()}


def test_change_vs_baseline_values(two_scenarios):
    change = change_vs_baseline(two_scenarios["summary"])
    assert set(change["scenario"]) == {"plan"}
    summary = two_scenarios["summary"]
    for year in (2019, 2030):
        row = change[(change["year"] == year) & (change["measure"] == "co2_territorial_t")].iloc[0]
        base = summary[(summary["scenario"] == "baseline") & (summary["year"] == year)]["co2_territorial_t"].mean()
        plan = summary[(summary["scenario"] == "plan") & (summary["year"] == year)]["co2_territorial_t"].mean()
        assert (row["baseline"], row["value"], row["seeds"]) == (pytest.approx(base), pytest.approx(plan), 2)
        assert row["change"] == pytest.approx(plan - base) and row["change"] < 0
        assert row["change_pct"] == pytest.approx(-10.0)
        assert row["unit"] == "t/year"
    share = change[(change["year"] == 2030) & (change["measure"] == "share_car")].iloc[0]
    assert share["change"] == pytest.approx(0.0) and share["unit"] == "1"
    assert change_vs_baseline(summary[summary["scenario"] == "plan"]).empty  # no baseline, no comparison


def test_workbook_is_formatted_for_people(two_scenarios, tmp_path: Path):
    import openpyxl

    write_tables(two_scenarios, tmp_path / "wb", experiment_name="wb")
    book = openpyxl.load_workbook(tmp_path / "wb" / "summary.xlsx")
    assert book.sheetnames == [*TABLES, "change_vs_baseline", "columns"]
    for sheet in book:
        assert sheet.freeze_panes == "A2", sheet.title  # the header row stays in view
        assert sheet.auto_filter.ref.startswith("A1:")

    def cell(sheet_name: str, column: str, row: int = 2):
        sheet = book[sheet_name]
        header = [c.value for c in sheet[1]]
        return sheet.cell(row=row, column=header.index(column) + 1)

    assert cell("summary", "share_car").number_format == "0.0%"  # shares as per cent, one decimal
    assert cell("summary", "co2_territorial_t").number_format == '#,##0.0" t"'  # tonnes, thousands separators
    assert cell("summary", "co2_territorial_change_vs_2019_pct").number_format.startswith('+0.0" %"')
    assert cell("vehicle_km", "vkm_per_year").number_format == '#,##0" vkm"'
    assert isinstance(cell("summary", "co2_territorial_t").value, float)  # formats show units; cells stay numbers
    widths = book["columns"].column_dimensions
    assert widths["G"].width > 40  # descriptions get room
    change = pd.read_excel(tmp_path / "wb" / "summary.xlsx", sheet_name="change_vs_baseline")
    expected = change_vs_baseline(two_scenarios["summary"])
    pd.testing.assert_frame_equal(change, expected, check_dtype=False)
    row = next(r for r in range(2, len(change) + 2) if book["change_vs_baseline"].cell(row=r, column=4).value == "share_car")
    assert book["change_vs_baseline"].cell(row=row, column=8).number_format.startswith("+0.0%")


def test_workbook_without_a_baseline_has_no_change_sheet(tables, tmp_path: Path):
    plan = {name: df.assign(scenario="plan") for name, df in tables.items()}
    write_tables(plan, tmp_path / "wb", experiment_name="wb")
    assert "change_vs_baseline" not in pd.read_excel(tmp_path / "wb" / "summary.xlsx", sheet_name=None)


def _with_run_tables(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables plus the runner's ``scenarios`` and ``run_keys`` for the runs they hold."""
    runs = tables["summary"][["scenario", "seed"]].drop_duplicates().reset_index(drop=True)
    runs = runs.assign(run_id=[f"r{i}" for i in range(len(runs))], label=runs["scenario"])[["run_id", "scenario", "label", "seed"]]
    return dict(tables) | run_tables(runs, "toy", {"baseline": "No levers.", "plan": "The plan's levers."})


def test_package_has_licence_sources_version_and_foreign_keys(two_scenarios, tmp_path: Path):
    from model import __version__

    path = write_tables(_with_run_tables(two_scenarios), tmp_path / "pkg", experiment_name="toy")
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    assert descriptor["version"] == __version__
    assert descriptor["licenses"][0]["name"] == "ODbL-1.0" and descriptor["licenses"][0]["path"].startswith("https://")
    assert any("OpenStreetMap" in s["title"] for s in descriptor["sources"])
    schemas = {r["name"]: r["schema"] for r in descriptor["resources"]}
    to_runs = {"fields": ["experiment", "scenario", "seed"],
               "reference": {"resource": "run_keys", "fields": ["experiment", "scenario", "seed"]}}
    for name in TABLES:
        assert to_runs in schemas[name]["foreignKeys"], name
    assert schemas["run_keys"]["foreignKeys"][0]["reference"]["resource"] == "scenarios"
    scenarios = pd.read_csv(tmp_path / "pkg" / "scenarios.csv")
    assert scenarios.set_index("scenario")["description"].to_dict() == {"baseline": "No levers.", "plan": "The plan's levers."}
    assert set(scenarios["seeds"]) == {2}


def test_a_row_of_an_unknown_run_is_refused(two_scenarios, tmp_path: Path):
    tables = _with_run_tables(two_scenarios)
    tables["run_keys"] = tables["run_keys"][tables["run_keys"]["seed"] != 2]
    with pytest.raises(VmobError, match=r"'mode_split' row \d+: \(toy, baseline, 2\) is not in the 'run_keys' table"):
        write_tables(tables, tmp_path / "bad", experiment_name="toy")
    assert list((tmp_path / "bad").iterdir()) == []


def test_without_run_tables_no_foreign_keys_are_written(tables, tmp_path: Path):
    path = write_tables(tables, tmp_path / "plain", experiment_name="toy")
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    assert all("foreignKeys" not in r["schema"] for r in descriptor["resources"])


def test_workbook_sheets_are_means_across_seeds(two_scenarios, tmp_path: Path):
    write_tables(two_scenarios, tmp_path / "wb", experiment_name="wb")
    sheets = pd.read_excel(tmp_path / "wb" / "summary.xlsx", sheet_name=None)
    summary = sheets["summary"]
    assert "seed" not in summary.columns and set(summary["seeds"]) == {2}
    got = summary.set_index(["scenario", "year"])["co2_territorial_t"]
    expected = two_scenarios["summary"].groupby(["scenario", "year"])["co2_territorial_t"].mean()
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    vkm = sheets["vehicle_km"]
    assert vkm["vkm_per_year"].sum() == pytest.approx(two_scenarios["vehicle_km"]["vkm_per_year"].sum() / 2)


def test_schema_checks_name_row_and_column(tables):
    from model.outputs import _conform, check_table

    bad = tables["fleet"].copy()
    bad.loc[3, "stock_share"] = 1.5
    with pytest.raises(VmobError, match=r"'fleet' breaks its schema at row 5, column 'stock_share': value '1.5' is above"):
        check_table("fleet", _conform("fleet", bad))
