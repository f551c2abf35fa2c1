"""The experiment report: figures, report.md and report.html rebuilt from a results folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from model import plots
from model.cli import app
from model.errors import VmobError
from model.outputs import read_tables
from model.report import build_report, headline_table
from tests.report_fixtures import Scenario, default_scenarios, write_demo_results


@pytest.fixture(scope="session")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two results folders made by the model on the tiny network: scenarios with seeds, and a 2 × 2 sweep."""
    root = tmp_path_factory.mktemp("results")
    demo = write_demo_results(root / "demo", scenarios=default_scenarios()[:2], end_year=2031, sample_fraction=0.05)
    sweep = write_demo_results(
        root / "sweep", experiment="sweep", scenarios=[Scenario("baseline")], seeds=(1,), end_year=2030, sample_fraction=0.05,
        sweep={"levers.motorway.maxspeed_kph": [80, 110], "levers.chargers.path": ["slow", "fast"]},
    )
    return {"demo": demo, "sweep": sweep}


@pytest.fixture
def demo(made: dict[str, Path], tmp_path: Path) -> Path:
    folder = tmp_path / "demo"
    shutil.copytree(made["demo"], folder)
    return folder


def _pngs(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in (folder / "figures").glob("*.png")}


def test_report_regenerates_from_the_tables(demo: Path) -> None:
    first = build_report(demo).read_text(encoding="utf-8")
    shutil.rmtree(demo / "figures")
    (demo / "report.md").unlink()
    (demo / "report.html").unlink()

    written = build_report(demo)

    assert written == demo / "report.md"
    assert (demo / "report.html").is_file()
    pngs = _pngs(demo)
    assert {"mode_split.png", "co2.png", "co2_saved.png", "car_volume_change_ring_narrowing_2030.png"} <= set(pngs)
    assert all(size > 10_000 for size in pngs.values())
    assert all((demo / "figures" / name).with_suffix(".svg").stat().st_size > 0 for name in pngs)
    text = written.read_text(encoding="utf-8")
    assert text == first  # the same tables give the same report
    summary = read_tables(demo)["summary"]
    for label in summary["scenario"].unique():
        assert f"**{label}**" in text
    for year in (2019, 2030, 2031):  # 2050 was not simulated: the last year stands in
        assert f"| {year} |" in text
    row = summary[(summary["scenario"] == "baseline") & (summary["year"] == 2030)]
    assert f"{row['co2_territorial_t'].mean():,.0f}" in text
    assert f"{100 * row['share_car'].mean():.1f} %" in text
    assert f"{row['co2_through_t'].mean():,.0f}" in text
    assert "config hash" in text.lower() and "0123456789" in text
    assert "not drawn" in text  # the 2030 target is stated, not drawn against 2019
    assert "    - Søndre Ringvej: 4 → 2 lanes from 2024-01-01, inside and outside the boundary\n" in text
    assert "    - Søndre Ringvej: limit 40 km/h from 2024-01-01, inside and outside the boundary\n" in text
    for name in pngs:
        assert f"figures/{name}" in text
    html = (demo / "report.html").read_text(encoding="utf-8")
    assert "<table>" in html and 'src="figures/co2.png"' in html


def test_headline_table_has_the_seed_band(made: dict[str, Path]) -> None:
    summary = read_tables(made["demo"])["summary"]
    table = headline_table(summary, ["baseline"])
    assert list(table["Year"]) == ["2019", "2030", "2031"]
    assert " to " in table.loc[1, "Territorial transport CO2 (t/year)"]  # two seeds: a range


@pytest.mark.parametrize("missing", ["summary.parquet", "datapackage.json", "network_links.parquet"])
def test_missing_table_names_the_file(demo: Path, missing: str) -> None:
    (demo / missing).unlink()
    with pytest.raises(VmobError, match=missing.replace(".", r"\.")):
        build_report(demo)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(VmobError, match="results folder not found"):
        build_report(tmp_path / "nowhere")


def test_cli_report_with_a_sweep_heat_map(made: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "sweep"
    shutil.copytree(made["sweep"], folder)
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(folder)])
    assert result.exit_code == 0, result.output
    assert str(folder / "report.md") in result.output
    pngs = _pngs(folder)
    assert "sweep_co2_territorial_t_2030.png" in pngs
    assert "co2_saved.png" not in pngs  # no scenario labelled 'baseline' on its own
    text = (folder / "report.md").read_text(encoding="utf-8")
    assert "motorway.maxspeed_kph" in text and "baseline__motorway.maxspeed_kph=80__chargers.path=slow" in text
    runs = pd.read_csv(folder / "runs.csv")
    assert plots.sweep_heatmap(read_tables(folder)["summary"], runs.iloc[:, :4], tmp_path) is None  # no sweep columns

    (folder / "mode_split.parquet").unlink()
    result = runner.invoke(app, ["report", str(folder)])
    assert result.exit_code == 1
    assert "error:" in result.output and "mode_split.parquet" in result.output


# ------------------------------------------------------------------------- text from the folder is escaped

HOSTILE_QUESTION = "Does <script>alert('q')</script> run?"
HOSTILE_DESCRIPTION = "Narrowed <img src=x onerror=alert('d')> & [more](javascript:alert('l'))"
REAL_LEVERS = [
    {"kind": "lane_reduction", "start": "2026-01-01", "roads": ["Søndre Ringvej"], "lanes_from": 4, "lanes_to": 2},
    {"kind": "speed_limit", "start": "2027-01-01", "road_category": ["motorway"], "only_limit_kph": 110, "limit_kph": 80},
]


def _edit_manifest(folder: Path, edit) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    edit(manifest)
    path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


def test_report_escapes_text_and_shows_levers_in_words(demo: Path) -> None:
    def hostile(manifest: dict) -> None:
        manifest["question"] = manifest["config"]["question"] = HOSTILE_QUESTION
        scenario = manifest["config"]["scenarios"]["ring_narrowing"]
        scenario["description"] = HOSTILE_DESCRIPTION
        scenario["levers"] = REAL_LEVERS
    _edit_manifest(demo, hostile)

    build_report(demo)

    html = (demo / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html and "&lt;img src=x onerror=alert(" in html
    md = (demo / "report.md").read_text(encoding="utf-8")
    assert "<script>" not in md and "<img src" not in md  # raw HTML in Markdown would run in a viewer too
    assert "&lt;script>alert('q')&lt;/script> run?" in md
    assert "& \\[more](javascript:" in md  # no Markdown link either
    assert 'href="javascript' not in html
    words = "Søndre Ringvej: 4 → 2 lanes from 2026-01-01, inside the boundary only"
    assert f"    - {words}" in md  # a nested bullet under its scenario
    assert "motorways: 110 → 80 km/h from 2027-01-01" in md
    assert "inside_only" not in md and "inside_only" not in html
    # nested lists in HTML: the levers sit in a list inside the scenario's item
    item = html[html.index("<strong>ring_narrowing</strong>"):]
    item = item[: item.index("</li>\n</ul>\n</li>") + 5]
    assert "<ul>" in item and f"<li>{words}</li>" in item


def test_lever_descriptions_in_words() -> None:
    from model.report import lever_description

    assert lever_description({"kind": "station_stop", "start": "2025-10-26", "transfer_min_saved": 1.0}) == (
        "line E stops at Vallensbæk St. from 2025-10-26; 1 min off the transfer")
    assert lever_description({"kind": "chargers", "start": "2024-01-01", "path": {"2030": 200, "2024": 10}}) == (
        "public EV chargers from 2024-01-01: 10 in 2024, 200 in 2030")
    assert lever_description({"kind": "cycling", "start": "2026-01-01", "roads": ["Park Allé"]}) == (
        "better cycle routes on Park Allé from 2026-01-01: bikes 10 % faster, perceived time 15 % shorter; counted as cycle tracks")
    assert lever_description({"kind": "transit_line", "start": "2025-10-26"}) == (
        "line L opens from 2025-10-26 with the services of the transit file")
    assert lever_description({"kind": "speed_limit", "start": "2027-01-01", "roads": ["A", "B"], "limit_kph": 40,
                              "inside_only": True}) == "A and B: limit 40 km/h from 2027-01-01, inside the boundary only"
    # a record that is no valid lever any more is still listed, field by field
    assert lever_description({"kind": "teleporter", "start": "2030-01-01", "range_km": 5}) == (
        "teleporter from 2030-01-01; range_km: 5")


# ------------------------------------------------------------------------- headline numbers


def test_headline_table_changes_against_the_baseline(made: dict[str, Path]) -> None:
    summary = read_tables(made["demo"])["summary"]
    table = headline_table(summary, ["baseline", "ring_narrowing"]).set_index(["Scenario", "Year"])
    assert table.loc[("baseline", "2030"), "CO2 vs baseline (t/year)"] == "–"
    base = summary[(summary["scenario"] == "baseline") & (summary["year"] == 2030)]
    own = summary[(summary["scenario"] == "ring_narrowing") & (summary["year"] == 2030)]
    change = own["co2_territorial_t"].mean() - base["co2_territorial_t"].mean()
    assert abs(change) > 1  # the narrowing changes CO2, so the columns have something to show
    assert table.loc[("ring_narrowing", "2030"), "CO2 vs baseline (t/year)"] == f"{change:+,.0f}"
    pct = 100 * change / base["co2_territorial_t"].mean()
    assert table.loc[("ring_narrowing", "2030"), "CO2 vs baseline (%)"] == f"{pct:+.1f} %"
    points = 100 * (own["share_car"].mean() - base["share_car"].mean())
    assert table.loc[("ring_narrowing", "2030"), "Car share vs baseline"] == f"{points:+.1f} points"


def test_shares_have_one_decimal() -> None:
    rows = [{"experiment": "x", "scenario": label, "seed": 1, "year": 2030, "share_car": share,
             "co2_territorial_t": 1000.0, "co2_through_t": 10.0, "co2_territorial_change_vs_2019_pct": -1.0}
            for label, share in (("baseline", 0.606), ("plan", 0.605))]
    table = headline_table(pd.DataFrame(rows), ["baseline", "plan"]).set_index("Scenario")
    assert table.loc["baseline", "Car share of resident commuters"] == "60.6 %"
    assert table.loc["plan", "Car share of resident commuters"] == "60.5 %"
    assert table.loc["plan", "Car share vs baseline"] == "-0.1 points"


# ------------------------------------------------------------------------- the report's own files only


def test_report_deletes_only_its_own_files(demo: Path, tmp_path: Path) -> None:
    figures = demo / "figures"
    build_report(demo)
    drawn = json.loads((figures / ".report-files.json").read_text(encoding="utf-8"))
    assert "co2.png" in drawn and "co2.svg" in drawn
    (figures / "my_own_map.png").write_bytes(b"a user's file")
    (figures / "notes.svg").write_bytes(b"<svg/>")
    # a figure an earlier report drew that this one does not draw again (a scenario since renamed)
    (figures / "car_volume_change_old_name_2030.png").write_bytes(b"stale")
    (figures / "data.csv").write_text("a,b\n")
    listed = [*drawn, "car_volume_change_old_name_2030.png", "data.csv", "../report.md", "/etc/hostname"]
    (figures / ".report-files.json").write_text(json.dumps(listed))  # a damaged list names only figures
    outside = tmp_path / "elsewhere_runs"
    outside.mkdir()
    (outside / "keep.parquet").write_bytes(b"not the report's")
    (demo / "runs").symlink_to(outside)

    build_report(demo)

    assert (figures / "my_own_map.png").read_bytes() == b"a user's file"
    assert (figures / "notes.svg").is_file()
    assert not (figures / "car_volume_change_old_name_2030.png").exists()
    assert (figures / "data.csv").is_file() and (demo / "report.md").is_file()
    assert set(json.loads((figures / ".report-files.json").read_text(encoding="utf-8"))) == set(drawn)
    assert [p.name for p in outside.iterdir()] == ["keep.parquet"]


def test_report_does_not_write_through_a_linked_figures_folder(demo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "co2.png").write_bytes(b"someone else's")
    (outside / ".report-files.json").write_text(json.dumps(["co2.png"]))
    shutil.rmtree(demo / "figures", ignore_errors=True)
    (demo / "figures").symlink_to(outside)

    result = CliRunner().invoke(app, ["report", str(demo)])

    assert result.exit_code == 1
    assert _one_error_line(result).endswith("refused.") and "figures" in result.output
    assert sorted(p.name for p in outside.iterdir()) == [".report-files.json", "co2.png"]
    assert (outside / "co2.png").read_bytes() == b"someone else's"


# ------------------------------------------------------------------------- damaged folders: one line


def _one_error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return lines[0]


def _rewrite_json(path: Path, edit) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(edit(data)), encoding="utf-8")


def _rewrite_parquet(path: Path, edit) -> None:
    edit(pd.read_parquet(path)).to_parquet(path)


def _drop_first_resource_name(package: dict) -> dict:
    package["resources"][0].pop("name")
    return package


DAMAGE = {
    "malformed-datapackage": (lambda f: (f / "datapackage.json").write_text('{"resources": [', encoding="utf-8"),
                              "datapackage.json: not readable JSON"),
    "nameless-resource": (lambda f: _rewrite_json(f / "datapackage.json", _drop_first_resource_name),
                          "resources[0] has no name"),
    "datapackage-list": (lambda f: _rewrite_json(f / "datapackage.json", lambda d: d["resources"]),
                         "datapackage.json: expected a JSON object, found list"),
    "manifest-list": (lambda f: (f / "manifest.json").write_text("[]", encoding="utf-8"),
                      "manifest.json: expected a JSON object, found list"),
    "garbage-parquet": (lambda f: (f / "summary.parquet").write_bytes(b"\x00garbage" * 50),
                        "summary.parquet: not a readable Parquet file"),
    "garbage-link-volumes": (lambda f: (f / "link_volumes.parquet").write_text("no table", encoding="utf-8"),
                             "link_volumes.parquet: not a readable Parquet file"),
    "garbage-csv": (lambda f: (f / "runs.csv").write_bytes(b"\xff\xfe\x00\x81" * 20), "runs.csv"),
    "missing-table": (lambda f: (f / "mode_split.parquet").unlink(), "mode_split.parquet"),
    "missing-column": (lambda f: pd.read_parquet(f / "summary.parquet").drop(columns="share_car")
                       .to_parquet(f / "summary.parquet"), "summary.parquet: column 'share_car' is missing"),
    "text-in-a-number-column": (lambda f: _rewrite_parquet(f / "summary.parquet", lambda t: t.assign(year=t["year"].astype(str))),
                                "summary.parquet: column 'year' is not numeric"),
    "missing-number": (lambda f: _rewrite_parquet(f / "summary.parquet", lambda t: t.assign(co2_territorial_t=float("nan"))),
                       "summary.parquet: column 'co2_territorial_t' has a missing or infinite value in row 1"),
    "no-resident-commuters": (lambda f: _rewrite_parquet(f / "mode_split.parquet", lambda t: t.assign(road_user="non_resident")),
                              "mode_split.parquet has no rows for resident commuters"),
    "text-in-link-volumes": (lambda f: _rewrite_parquet(f / "link_volumes.parquet", lambda t: t.assign(year="2030")),
                             "link_volumes.parquet: column 'year' is not numeric"),
    "resource-out-of-folder": (lambda f: _rewrite_json(f / "datapackage.json", lambda d: {
        **d, "resources": [{**r, "name": "../../" + r["name"]} for r in d["resources"]]}), "refused"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_folder_gives_one_error_line(made: dict[str, Path], tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "damaged"
    shutil.copytree(made["demo"], folder, ignore=shutil.ignore_patterns("figures", "report.*"))
    spoil, fragment = DAMAGE[damage]
    spoil(folder)

    result = CliRunner().invoke(app, ["report", str(folder)])

    assert result.exit_code == 1, result.output
    assert fragment in _one_error_line(result)
    assert not (folder / "report.md").exists()


def test_network_map_to_an_unwritable_path_gives_one_error_line(tmp_path: Path) -> None:
    from tests.osm_fixtures import write_tiny_inputs

    tiny = write_tiny_inputs(tmp_path / "inputs")
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder", encoding="utf-8")
    for out in (blocker / "map.png", tmp_path):  # under a file; a folder's own name
        result = CliRunner().invoke(app, ["network", "map", "--source", str(tiny["osm"]), "--transit",
                                          str(tiny["transit"]), "--out", str(out)])
        assert result.exit_code == 1, result.output
        assert f"cannot write {out}" in _one_error_line(result)


def test_report_has_effect_verdicts_cobenefits_cost_per_tonne_and_the_decision_split(demo: Path) -> None:
    from model.effects import paired_effects

    manifest_path = demo / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for lever in manifest["config"]["scenarios"]["ring_narrowing"]["levers"]:
        lever["decided_by"] = "municipality"
        lever["cost"] = {"investment_dkk": 2.0e6, "operation_dkk_per_year": 0.0, "lifetime_years": 20, "source": "assumption"}
    manifest["config"]["discount_rate"] = 0.0
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")

    text = build_report(demo).read_text(encoding="utf-8")

    # effects with intervals, each marked as the paired statistics say
    effects = paired_effects(read_tables(demo)["summary"])
    assert "## Lever effects against the baseline, 2030" in text
    for row in effects[(effects["year"] == 2030) & effects["figure"].isin(["share_car", "co2_territorial_t"])].itertuples():
        verdict = "yes" if row.distinguishable_from_zero == "yes" else "**no: not distinguishable from zero**"
        name = "car share of resident commuters" if row.figure == "share_car" else "territorial CO2"
        assert f"| {row.scenario} | {name} |" in text and f"| 2 | {verdict} |" in text
    # co-benefits: one row per scenario against the baseline, and what is not computed
    cobenefits = text[text.index("## Co-benefits, 2030"):text.index("## Cost per tonne")]
    assert "| Deaths avoided (per year) | NOx (t/year) |" in cobenefits and "| ring_narrowing |" in cobenefits
    assert "Not computed" in cobenefits and "exhaust PM2.5" in cobenefits
    # cost per tonne: two levers of 2 M DKK over 20 years, undiscounted = 2 x 100,000 DKK a year in 2024-2031,
    # over the tonnes saved in those years
    summary = read_tables(demo)["summary"]
    pivot = summary.pivot_table(index=["seed", "year"], columns="scenario", values="co2_territorial_t")
    saved = (pivot["baseline"] - pivot["ring_narrowing"]).groupby(level="year").mean()
    per_t = 2 * 8 * 100_000.0 / saved.loc[2024:].sum()
    costs = text[text.index("## Cost per tonne"):text.index("## Figures")]
    assert f"| ring_narrowing | municipality | {saved.loc[2030]:+,.0f}" in costs and "discount rate 0 %" in costs
    # a narrowing may save CO2 or, with traffic pushed onto slower roads, add some: no cost per tonne then
    saves = saved.loc[2024:].sum() > 0
    assert (f"| {per_t:,.0f} |" if saves else "| no saving |") in costs
    # the split by who decides: the one municipal group takes all of a saving, no share of an increase
    split = costs[costs.index("| Decided by | Lever groups |"):]
    assert "| municipality | ring_narrowing |" in split and ("| 100 % |" if saves else "| – |") in split
    html = (demo / "report.html").read_text(encoding="utf-8")
    assert "<h2>Co-benefits, 2030</h2>" in html and "<th>Decided by</th>" in html
