"""The experiment report: figures, report.md and report.html rebuilt from a results folder."""

from __future__ import annotations

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
from report_fixtures import Scenario, default_scenarios, write_demo_results


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
