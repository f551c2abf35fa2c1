"""The dashboard (model/app/): generated controls, runs and folders without a browser, and end to end in Chromium.

The browser tests start ``solara run model.app.dashboard`` on a free localhost port, drive
Debian's Chromium (``/usr/bin/chromium``) with Playwright for Python, and save screenshots to
``tests/artifacts/``. They are skipped only where Chromium is absent and the ``CI`` environment
variable is unset; in CI a missing browser fails them.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

pytest.importorskip("solara", reason="the dashboard extra is not installed (pip install -e '.[test]')")

from model import report
from model.app import RESULTS_ENV, controls, runs
from model.config import load_config
from model.errors import VmobError
from model.levers import SpeedLimit

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("VMOB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Seconds to wait for runs (sampled, 2019-2030) and their figures to show.
RUN_TIMEOUT_S = 240
SHORT = runs.RunSettings(sample_fraction=0.02, seeds=1, first_seed=3, end_year=2025)


# ------------------------------------------------------------------------------ generated controls


def test_every_lever_class_and_field_has_a_control() -> None:
    forms = {f.kind: f for f in controls.control_table()}
    assert list(forms) == list(controls.lever_classes())
    for kind, cls in controls.lever_classes().items():
        shown = {c.name for c in forms[kind].fields}
        assert shown == set(cls.model_fields) - set(controls.HIDDEN_FIELDS), kind
    limit = forms["speed_limit"].field("limit_kph")
    assert (limit.widget, limit.required, limit.range_text()) == ("number", True, "> 0 and ≤ 130")
    assert forms["speed_limit"].field("roads").choices == "roads"
    assert forms["speed_limit"].field("road_category").choices == ("motorway", "ring", "urban", "local")
    assert forms["lane_reduction"].field("lanes_from").help  # from docs/levers.md where the class has no description


def test_a_new_lever_field_gets_a_control_from_its_type_alone() -> None:
    class Congestion(BaseModel):  # a lever's fields as a future lever class would declare them
        price_dkk: float = Field(ge=0, le=500, description="Charge per passage.")
        hours: list[int] = Field(default_factory=list)
        zone: Literal["inner", "outer"] = "inner"
        roads: list[str] = Field(default_factory=list)
        exempt_ev: bool = False
        tariff: dict[int, float] = Field(default_factory=dict)

    made = {name: controls.field_control(name, info) for name, info in Congestion.model_fields.items()}
    assert {name: c.widget for name, c in made.items()} == {
        "price_dkk": "number", "hours": "numbers", "zone": "select", "roads": "multiselect", "exempt_ev": "checkbox",
        "tariff": "toml",
    }
    assert made["price_dkk"].range_text() == "≥ 0 and ≤ 500" and made["price_dkk"].help == "Charge per passage."


def test_presets_are_the_climate_plan_scenarios() -> None:
    config = load_config(controls.PRESETS_FILE)
    presets = {p.name: p for p in controls.presets()}
    assert list(presets) == list(config.scenarios)
    chargers = presets["chargers"].levers[0]
    assert chargers.path == config.scenarios["chargers"].levers[0].path and chargers.path[2030] == 200
    # every preset lever survives the round trip through the form's values
    for lever in controls.preset_levers():
        assert controls.lever_from_values(lever.kind, controls.values_of(lever)) == lever.model_copy(update={"id": None})


def test_a_per_road_limit_from_form_values() -> None:
    values = {**controls.initial_values("speed_limit", examples=[]), "start": "2020-01-01", "limit_kph": "40",
              "roads": ["Søndre Ringvej"]}
    lever = controls.lever_from_values("speed_limit", values)
    assert isinstance(lever, SpeedLimit) and lever.roads == ["Søndre Ringvej"] and lever.limit_kph == 40.0
    assert lever.start == dt.date(2020, 1, 1) and lever.road_category == []
    state = controls.road_state(["Søndre Ringvej"], runs.context())
    assert state.startswith("Søndre Ringvej: 60 km/h, 4 lanes inside")


def test_per_road_lanes_are_checked_against_the_road() -> None:
    values = {**controls.initial_values("lane_reduction", examples=[]), "start": "2027-01-01", "roads": ["Vejlegårdsvej"]}
    lever = controls.lever_from_values("lane_reduction", values)
    runs.check_run_levers([lever], runs.RunSettings())  # Vejlegårdsvej has 4 lanes inside the boundary
    three = controls.lever_from_values("lane_reduction", {**values, "lanes_from": "3"})
    with pytest.raises(VmobError, match=r"lanes_from: road 'Vejlegårdsvej' has 4 lanes inside the boundary, not 3"):
        runs.check_run_levers([three], runs.RunSettings())
    with pytest.raises(VmobError, match=r"lanes to: lanes_to .2. must be below lanes_from .2."):
        controls.lever_from_values("lane_reduction", {**values, "lanes_from": "2"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"limit_kph": "140"}, r"^Speed limit, limit \(km/h\): Input should be less than or equal to 130$"),
        ({"limit_kph": "fast"}, r"limit \(km/h\): 'fast' is not a number"),
        ({"limit_kph": "nan"}, "not a finite number"),
        ({"start": "26/10/2025"}, "start: '26/10/2025' is not a date"),
        ({"roads": [], "road_category": []}, "give roads or road_category"),
    ],
)
def test_bad_form_values_are_one_line_naming_the_field(change: dict, message: str) -> None:
    values = {**controls.initial_values("speed_limit"), **change}
    with pytest.raises(VmobError, match=message) as caught:
        controls.lever_from_values("speed_limit", values)
    assert "\n" not in str(caught.value)


def test_a_lever_outside_the_run_is_refused_before_running() -> None:
    lever = controls.lever_from_values("speed_limit", {**controls.initial_values("speed_limit"), "start": "2045-01-01"})
    with pytest.raises(VmobError, match="outside the run"):
        runs.run_scenario([lever], "late", SHORT)
    with pytest.raises(VmobError, match="reference run's"):
        runs.run_scenario([], runs.REFERENCE, SHORT)


# ------------------------------------------------------------------------------ messages and folders


def test_an_internal_failure_is_one_line_without_path_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise OSError(f"cannot read {runs.results_root().resolve()}/secret/summary.parquet\nmore detail")
    except OSError as err:
        with caplog.at_level(logging.ERROR, logger="model.app"):
            text = runs.public_message(err)
    assert text == "The run failed (OSError); the details are in the server log."
    assert "Traceback" in caplog.text and "secret/summary.parquet" in caplog.text
    refused = runs.public_message(VmobError(f"{ROOT}/experiments/x.toml: key 'end_year' is wrong\nsecond line"))
    assert refused == "The run was refused: experiments/x.toml: key 'end_year' is wrong"
    assert runs.strip_paths("in /elsewhere/data/file.csv", roots=(ROOT,)) == "in file.csv"


def _experiment_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "datapackage.json").write_text('{"resources": [{"name": "summary"}]}', encoding="utf-8")
    (path / "summary.parquet").write_bytes(b"not a parquet file")
    return path


def test_a_results_folder_is_confined_to_the_results_root(tmp_path: Path) -> None:
    root = tmp_path / "results"
    _experiment_folder(root / "damaged")
    outside = _experiment_folder(tmp_path / "elsewhere")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    _experiment_folder(root / "damaged" / ".staging")  # a run writing its combined outputs
    assert runs.results_folders(root) == ["damaged"]  # neither the link out of the root nor a hidden folder is offered
    assert runs.resolve_results_folder(root, "damaged") == root / "damaged"
    for name, message in (("../elsewhere", "inside the results folder"), (str(outside), "inside the results folder"),
                          ("escape", "outside the results folder"), ("missing", "not an experiment folder")):
        with pytest.raises(VmobError, match=message) as caught:
            runs.open_results_folder(root, name)
        assert str(tmp_path) not in str(caught.value)


# ------------------------------------------------------------------------------ a run, without the browser


def test_a_run_gives_changes_noise_and_the_report_figures() -> None:
    lever = controls.lever_from_values("speed_limit", {**controls.initial_values("speed_limit", examples=[]),
                                                       "start": "2020-01-01", "limit_kph": "30",
                                                       "roads": ["Søndre Ringvej", "Vejlegårdsvej"]})
    seen: list[float] = []
    reference, current = runs.run_scenario([lever], "ring roads 30", SHORT, seen.append)
    assert seen[-1] == pytest.approx(100.0)
    view = runs.view_of_runs(reference, [("current", current)], SHORT)
    assert view.labels == [runs.REFERENCE, "ring roads 30"]
    # commuters' cars leave the two roads once they are posted 30 km/h
    volumes = view.link_volumes[view.link_volumes["year"] == 2025]
    edges = set(view.links.loc[view.links["name"].isin(["Søndre Ringvej", "Vejlegårdsvej"]), "edge"])
    on_roads = volumes[volumes["edge"].isin(edges)].groupby("scenario")["car_commute_daily"].sum()
    assert on_roads["ring roads 30"] < on_roads[runs.REFERENCE]
    screen = runs.screen_of(view)
    changes = screen.changes.set_index(["metric", "year"])
    assert changes.at[("co2", 2019), "mean"] == 0.0  # before the lever, paired seeds are identical
    assert changes.at[("co2", 2025), "mean"] != 0.0
    assert "id='chg-current-co2-2025'" in runs.change_html(screen)
    assert list(screen.headline["Scenario"].unique()) == view.labels
    assert any("One seed" in note for note in screen.notes)
    assert any("sampling error of about ±" in note for note in screen.notes)
    assert [f.key for f in screen.figures][:3] == ["co2_saved", "co2", "mode_split"]
    assert all(f.png[:4] == b"\x89PNG" for f in screen.figures)
    # pinned, the run stays beside the next one (here the same run again), under its own label
    from model.app import dashboard

    pinned = dashboard._runs_view(reference, current, SHORT, current)
    assert pinned.labels == [runs.REFERENCE, "ring roads 30 (pinned)", "ring roads 30"]
    assert pinned.roles == {runs.REFERENCE: "baseline", "ring roads 30 (pinned)": "pinned", "ring roads 30": "current"}
    both = runs.change_vs_baseline(pinned).pivot_table(index=["metric", "year"], columns="scenario", values="mean")
    assert (both["ring roads 30 (pinned)"] == both["ring roads 30"]).all()
    # a scenario name is the user's text: escaped in the page's tables
    odd = runs.view_of_runs(reference, [("current", current.relabelled("<img src=x onerror=alert(1)>"))], SHORT)
    odd_screen = runs.Screen(odd, report.headline_table(odd.summary, odd.labels), runs.change_vs_baseline(odd), [], [])
    for text in (runs.change_html(odd_screen), runs.headline_html(odd_screen)):
        assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text


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


def _wait_for(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            pytest.fail(f"the dashboard server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the dashboard did not answer on {url} within 90 s:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def results_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results root with a damaged experiment and a symbolic link to an experiment outside it."""
    base = tmp_path_factory.mktemp("dashboard")
    root = base / "results"
    _experiment_folder(root / "damaged")
    (root / "escape").symlink_to(_experiment_folder(base / "elsewhere"), target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def server(results_root: Path, tmp_path_factory: pytest.TempPathFactory):
    _browser_or_skip()
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
    port = _free_port()
    env = {**os.environ, RESULTS_ENV: str(results_root), "PYTHONPATH": str(ROOT)}
    log = tmp_path_factory.mktemp("server") / "solara.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "solara", "run", "model.app.dashboard", "--host", "127.0.0.1", "--port", str(port),
             "--production", "--no-open", "--no-check-version"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for(url, process, log)
        yield url
    finally:
        _stop(process)


@pytest.fixture()
def browser(server: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def _open(browser, url: str):
    page = browser.new_context(viewport={"width": 1500, "height": 1000}).new_page()
    page.set_default_timeout(90_000)
    page.goto(url)
    page.get_by_text("Add a lever").wait_for()
    return page


@pytest.fixture()
def page(browser, server: str):
    return _open(browser, server)


def _press(page, label: str, *keys: str) -> None:
    """Move the slider whose label starts with ``label`` with the keyboard."""
    thumb = page.locator(".v-input", has_text=label).locator("[role=slider]").first
    thumb.focus()
    for key in keys:
        thumb.press(key)


def _pick(page, label: str, *options: str) -> None:
    """Toggle options of the (multi-)select labelled ``label``."""
    page.locator(".v-select", has_text=label).first.locator(".v-select__slot").click()
    for option in options:
        page.locator(".menuable__content__active .v-list-item", has_text=option).first.click()
    page.keyboard.press("Escape")


def _screenshot(page, path: Path) -> None:
    """The whole page: Solara scrolls inside its layout, so make the window as tall as the content."""
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))")
    page.set_viewport_size({"width": 1500, "height": min(max(int(height) + 80, 1000), 4000)})
    page.wait_for_timeout(500)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))


def _value(page, cell: str) -> float:
    return float(page.locator(f"#{cell}").get_attribute("data-value"))


def _set_short_run(page, seeds_right: int = 0) -> None:
    _press(page, "Population sample", "Home")             # 2 %
    _press(page, "Seeds", "Home", *["ArrowRight"] * seeds_right)
    _press(page, "End year", "Home", *["ArrowRight"] * 5)  # 2030
    page.get_by_text("Population sample: 2%").wait_for()
    page.get_by_text(f"Seeds: {1 + seeds_right}").wait_for()
    page.get_by_text("End year: 2030").wait_for()


def _add_road_limit(page, road: str, limit: str) -> None:
    """The speed-limit form (the first shown) as a per-road limit from 2020.

    Each step waits for the server's answer (the form's message, the road's state today), so the
    lever added is the one typed: the page's messages reach the server in order.
    """
    page.get_by_label("start").fill("2020-01-01")
    page.get_by_label("limit (km/h)", exact=True).fill(limit)
    page.get_by_label("only limit (km/h)").fill("")
    _pick(page, "road category", "urban", "local")  # off: the example from the plan had them on
    page.locator(".vmob-form-error", has_text="give roads or road_category").wait_for()
    _pick(page, "roads", road)
    page.locator(".vmob-road-state", has_text=f"Today: {road}: 60 km/h, 4 lanes inside").wait_for()
    page.locator(".vmob-form-error").wait_for(state="detached")
    page.get_by_role("button", name="Add to the scenario").click()
    summary = page.locator(".vmob-lever", has_text=f"roads: {road}")
    summary.wait_for()
    assert summary.inner_text() == f"Speed limit: start 2020-01-01; limit (km/h) {limit}; roads: {road}; inside only"


def test_a_per_road_limit_and_its_change_vs_baseline(page) -> None:
    from playwright.sync_api import expect

    started = time.monotonic()
    _set_short_run(page, seeds_right=1)  # two seeds: the page measures their spread
    _add_road_limit(page, "Søndre Ringvej", "30")
    page.get_by_label("Scenario name").fill("Søndre Ringvej 30")
    page.get_by_role("button", name="Run", exact=True).click()
    page.locator("#chg-current-co2-2030").wait_for(timeout=RUN_TIMEOUT_S * 1000)
    assert _value(page, "chg-current-co2-2019") == 0.0  # the lever starts in 2020; same seeds, same 2019
    assert _value(page, "chg-current-co2-2030") != 0.0
    assert page.locator(".vmob-figure-co2_saved").is_visible()  # the report's CO2-saved chart, vs the baseline
    assert page.locator("#headline tr", has_text="Søndre Ringvej 30").count() == 2  # 2019 and 2030
    noise = page.locator(".vmob-noise").inner_text()
    assert "The 2 seeds shown differ by up to" in noise and "sampling error of about ±" in noise
    expect(page.get_by_role("button", name="Pin", exact=True)).to_be_enabled()  # once the task has finished
    _screenshot(page, ARTIFACTS / "dashboard.png")
    assert time.monotonic() - started < RUN_TIMEOUT_S


def test_bad_input_shows_one_line(page) -> None:
    from playwright.sync_api import expect

    add = page.get_by_role("button", name="Add to the scenario")
    limit = page.get_by_label("limit (km/h)", exact=True)
    limit.fill("fast")
    page.locator(".vmob-form-error", has_text="'fast' is not a number").wait_for()
    expect(add).to_be_disabled()
    limit.fill("140")
    page.locator(".vmob-form-error", has_text="less than or equal to 130").wait_for()
    limit.fill("40")
    page.get_by_label("start").fill("2045-01-01")
    expect(add).to_be_enabled()
    add.click()
    _press(page, "End year", "Home", *["ArrowRight"] * 5)  # 2030: the lever would start after the run
    page.get_by_text("End year: 2030").wait_for()
    page.get_by_role("button", name="Run", exact=True).click()
    banner = page.locator(".vmob-run-error")
    banner.wait_for()
    text = banner.inner_text().strip()
    assert text.startswith("The run was refused: levers[0].start: 2045-01-01 is outside the run") and "\n" not in text


def test_a_damaged_or_outside_folder_shows_one_line(browser, server: str, results_root: Path) -> None:
    page = _open(browser, server)
    page.get_by_role("button", name="Open", exact=True).click()  # the only folder offered: "damaged"
    banner = page.locator(".vmob-run-error")
    banner.wait_for()
    text = banner.inner_text().strip()
    # an internal failure ("failed …; the details are in the server log") or, where the reader knows the
    # damage, a refusal naming the file relative to the results folder: one line either way
    assert text.startswith(("Opening 'damaged' failed", "Opening 'damaged' was refused: damaged/")) and "\n" not in text
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and str(results_root.parent) not in body
    for name, reason in (("../elsewhere", "inside the results folder"), ("escape", "is outside the results folder")):
        page = _open(browser, f"{server}?folder={name}")
        banner = page.locator(".vmob-run-error")
        banner.wait_for()
        assert f"Opening '{name}' was refused" in banner.inner_text() and reason in banner.inner_text()
    _screenshot(page, ARTIFACTS / "dashboard-error.png")


# ------------------------------------------------------------------------------ the command


def test_vmob_dashboard_stops_quietly_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "vmob.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "from model.cli import app; app()", "dashboard", "--port", str(port), "--results", str(tmp_path)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(f"http://127.0.0.1:{port}/", process, log)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            _stop(process)
    output = log.read_text()
    assert "dashboard stopped" in output and "error:" not in output and "exit status" not in output
