"""The dashboard (model/app.py): its plain functions, and end to end in headless Chromium.

The browser tests start ``solara run model.app`` on a free localhost port, drive Debian's
Chromium (``/usr/bin/chromium``) with Playwright for Python, and save a screenshot to
``tests/artifacts/dashboard.png``. They are skipped only where Chromium is absent and
the ``CI`` environment variable is unset; in CI a missing browser fails them.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("solara", reason="the dashboard extra is not installed (pip install -e '.[test]')")

from model import app  # noqa: E402
from model.errors import VmobError  # noqa: E402
from model.levers import Chargers, Cycling, LaneReduction, SpeedLimit, StationStop, TransitLine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("VMOB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Seconds to wait for a run (two sampled runs 2019-2030) to show its numbers.
RUN_TIMEOUT_S = 240


# ------------------------------------------------------------------------------ plain functions


def test_default_settings_have_no_levers() -> None:
    assert app.build_levers(app.Settings()) == []
    assert app.describe(app.Settings()) == "no levers (as the reference)"


def test_every_control_maps_to_its_lever() -> None:
    settings = app.Settings(
        motorway_kph=80, municipal_kph=30, lanes_sondre_ringvej=True, lanes_vejlegardsvej=True, letbane=True,
        letbane_opening="2026-08-22", letbane_headway_min=7, e_stop=True,
        chargers="Plan: 50 in 2030, 100 in 2050", cycling=True, measures_year=2027,
    )
    levers = app.build_levers(settings)
    kinds = [type(lever) for lever in levers]
    assert kinds == [SpeedLimit, SpeedLimit, LaneReduction, LaneReduction, TransitLine, StationStop, Chargers, Cycling]
    motorway, municipal = levers[0], levers[1]
    assert motorway.limit_kph == 80 and motorway.road_category == ["motorway"] and motorway.start == dt.date(2027, 1, 1)
    assert municipal.limit_kph == 30 and set(municipal.road_category) == {"urban", "local"}
    assert [lever.roads for lever in levers[2:4]] == [["Søndre Ringvej"], ["Vejlegårdsvej"]]
    letbane = levers[4]
    assert letbane.start == dt.date(2026, 8, 22) and letbane.services[0].headway_peak_min == 7
    assert levers[6].path[2030] == 50


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"motorway_kph": 140}, "Motorway speed limit"),
        ({"sample_fraction": 0.0}, "Sample fraction"),
        ({"end_year": 2060}, "End year"),
        ({"seed": -1}, "Seed"),
        ({"letbane": True, "letbane_opening": "26/10/2025"}, "not a date"),
        ({"chargers": "lots"}, "unknown preset"),
    ],
)
def test_out_of_range_settings_are_refused(change: dict, message: str) -> None:
    with pytest.raises(VmobError, match=message):
        app.build_levers(app.Settings(**change))


def test_a_letbane_after_the_end_year_is_refused_before_running() -> None:
    settings = app.Settings(letbane=True, letbane_opening="2045-01-01", end_year=2030, sample_fraction=0.02)
    with pytest.raises(VmobError, match="outside the run"):
        app.run_scenario(settings)


def test_headline_table_and_results_folder(tmp_path: Path) -> None:
    settings = app.Settings(motorway_kph=80, sample_fraction=0.02, end_year=2030, seed=3)
    seen: list[float] = []
    reference, current = app.run_scenario(settings, seen.append)
    assert seen and seen[-1] == pytest.approx(100.0)
    assert current.agents and current.agents < 1000
    headline = app.headline_table([reference, current]).set_index("role")
    assert list(app.headline_years([reference, current])) == [2019, 2030]
    # a lower motorway limit lowers the territorial CO2 (the through traffic drives slower, nearer the curves' minimum)
    assert headline.at["current", "co2_territorial_2030_t"] < headline.at["baseline", "co2_territorial_2030_t"]
    html = app.headline_html([reference, current])
    assert "id='hl-current-co2-2030'" in html and "id='hl-baseline-car-2019'" in html
    assert app.tables_xlsx([reference, current])[:2] == b"PK"
    assert app.figure_png(app.co2_figure([reference, current]))[:4] == b"\x89PNG"
    links = app.run_links()
    assert app.figure_png(app.volume_change_map(links, [reference, current], 2030))[:4] == b"\x89PNG"

    # the same two runs as a results folder written like `vmob run` does
    from model.outputs import write_tables

    folder = tmp_path / "results" / "motorway"
    tables = {}
    for scenario, label in ((reference, "baseline"), (current, "motorway_80")):
        for name, table in scenario.tables.items():
            tables.setdefault(name, []).append(table.assign(scenario=label))
    import pandas as pd

    write_tables({k: pd.concat(v, ignore_index=True) for k, v in tables.items()}, folder, experiment_name="motorway")
    assert app.results_folders(tmp_path / "results") == [folder]
    view = app.open_results_folder(folder)
    assert [s.label for s in view.scenarios] == ["baseline", "motorway_80"]
    assert view.links is None and view.warnings  # no link files: said, not failed
    with pytest.raises(VmobError, match="datapackage.json"):
        app.open_results_folder(tmp_path)


# ------------------------------------------------------------------------------ in the browser


def _browser_or_skip() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing under CI; .ci/run installs Debian's chromium with apt-get")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); the browser tests run in CI")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    _browser_or_skip()
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
    port = _free_port()
    env = {**os.environ, app.RESULTS_ENV: str(tmp_path_factory.mktemp("results")), "PYTHONPATH": str(ROOT)}
    log = tmp_path_factory.mktemp("server") / "solara.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "solara", "run", "model.app", "--host", "127.0.0.1", "--port", str(port),
             "--production", "--no-open", "--no-check-version"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"the dashboard server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the dashboard did not answer on {url} within 90 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture()
def page(server: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(90_000)
        page.goto(server)
        page.get_by_text("Motorway speed limit").wait_for()
        yield page
        browser.close()


def _slider(page, label: str):
    """The keyboard-driven thumb of the slider whose label starts with ``label``."""
    return page.locator(".v-input", has_text=label).locator("[role=slider]").first


def _press(page, label: str, *keys: str) -> None:
    thumb = _slider(page, label)
    thumb.focus()
    for key in keys:
        thumb.press(key)


def _check(page, label: str) -> None:
    """Tick a Vuetify checkbox by its label (the ripple layer covers the input itself)."""
    page.locator("label", has_text=label).click()
    assert page.get_by_label(label).is_checked()


def _screenshot(page, path: Path) -> None:
    """The whole page: Solara scrolls inside its layout, so make the window as tall as the content."""
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))")
    page.set_viewport_size({"width": 1500, "height": min(max(int(height) + 80, 1000), 4000)})
    page.wait_for_timeout(500)
    page.screenshot(path=str(path))


def _value(page, cell: str) -> float:
    return float(page.locator(f"#{cell}").get_attribute("data-value"))


def _set_short_run(page) -> None:
    _press(page, "Population sample", "Home")            # 2 %
    _press(page, "End year", "Home", *["ArrowRight"] * 5)  # 2030
    page.get_by_text("Population sample: 2%").wait_for()
    page.get_by_text("End year: 2030").wait_for()


def test_dashboard_run_changes_the_numbers(page) -> None:
    started = time.monotonic()
    _set_short_run(page)
    _press(page, "Motorway speed limit", "ArrowLeft", "ArrowLeft", "ArrowLeft")
    page.get_by_text("Motorway speed limit: 80 km/h").wait_for()
    _check(page, "Letbane runs")
    page.get_by_role("button", name="Run", exact=True).click()
    page.locator("#hl-current-co2-2030").wait_for(timeout=RUN_TIMEOUT_S * 1000)
    page.locator("img").nth(2).wait_for()  # co2, mode split and map figures
    # the motorway at 80 km/h lowers territorial CO2; the Letbane carries commuters
    assert _value(page, "hl-current-co2-2030") < _value(page, "hl-baseline-co2-2030")
    assert _value(page, "hl-current-change-2030") < _value(page, "hl-baseline-change-2030")
    assert _value(page, "hl-current-lightrail-2030") > 0.0
    assert _value(page, "hl-baseline-lightrail-2030") == 0.0
    assert _value(page, "hl-current-co2-2019") == pytest.approx(_value(page, "hl-baseline-co2-2019"))
    assert page.get_by_text("1990 transport figure is not in the model's facts").is_visible()
    assert page.get_by_text("All tables (XLSX)").is_visible()
    # pin it; the next run (cycling, motorway back to 110) is compared side by side
    page.get_by_role("button", name="Pin", exact=True).click()
    page.locator("#hl-pinned-co2-2030").wait_for()
    pinned_co2 = _value(page, "hl-pinned-co2-2030")
    _press(page, "Motorway speed limit", "ArrowRight", "ArrowRight", "ArrowRight")
    page.get_by_text("Motorway speed limit: 110 km/h").wait_for()  # the server has the value
    _check(page, "Better cycle routes")
    page.get_by_role("button", name="Run", exact=True).click()
    page.locator("#headline tr", has_text="Letbane 2025-10-26 every 5 min, cycle routes").wait_for(timeout=RUN_TIMEOUT_S * 1000)
    assert page.locator("#headline tr", has_text="motorway").count() == 1  # only the pinned one
    assert _value(page, "hl-pinned-co2-2030") == pytest.approx(pinned_co2)
    assert _value(page, "hl-current-co2-2030") > pinned_co2  # motorway back at 110 km/h
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _screenshot(page, ARTIFACTS / "dashboard.png")
    assert time.monotonic() - started < RUN_TIMEOUT_S


def test_bad_input_shows_a_message(page) -> None:
    from playwright.sync_api import expect

    _check(page, "Letbane runs")
    date = page.get_by_label("Letbane opening date (YYYY-MM-DD)")
    date.fill("2025-13-40")
    page.get_by_text("is not a date").first.wait_for()
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_disabled()
    date.fill("2045-01-01")
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled()
    _press(page, "End year", "Home", *["ArrowRight"] * 5)  # 2030: the Letbane would open after the run
    page.get_by_text("End year: 2030").wait_for()
    page.get_by_role("button", name="Run", exact=True).click()
    banner = page.locator(".vmob-run-error")
    banner.wait_for()
    assert "outside the run" in banner.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _screenshot(page, ARTIFACTS / "dashboard-error.png")
