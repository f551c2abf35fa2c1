"""2019 calibration of the territorial CO2 against the climate plan (docs/emissions.md §7).

Runs the full-population 2019 baseline (about 2 s) and checks the plan's figures (52,009 t in
2019, climate-plan.md): territorial transport ≈ 60 % (±5 %), passenger cars ≈ half (±10 %, our
reading of "about half"), motorway through traffic ≈ 45 % (±10 %). The last band is NOT reached
with defensible inputs (the model gives about +17 %); it is kept as a strict xfail so that the gap
stays visible, and a regression guard pins today's value. See docs/emissions.md §7.
"""

from __future__ import annotations

import warnings

import pytest

from model import emissions
from model.simulation import MobilityModel, ModelContext

PLAN_TOTAL_T = 52009.0
TERRITORIAL_T = 0.60 * PLAN_TOTAL_T
THROUGH_T = 0.45 * PLAN_TOTAL_T
CARS_T = 0.50 * PLAN_TOTAL_T


@pytest.fixture(scope="module")
def baseline():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctx = ModelContext.load()
        model = MobilityModel(ctx, end_year=2019, rng=1)
        model.run()
        tables = model.results()
    co2 = tables["co2"]
    terr = co2[co2["accounting"] == "territorial"]
    energy = tables["energy"]
    inside = energy[energy["area"] == "inside"].assign(co2_t=lambda e: emissions.energy_co2_t(e, 2019, ctx.factors))
    motorway_through = inside[(inside["traffic"] == "through") & (inside["road_category"] == "motorway")]
    return {
        "territorial": float(terr["co2_t"].sum()),
        "cars": float(terr.loc[terr["source"] == "car", "co2_t"].sum()),
        "motorway_through": float(motorway_through["co2_t"].sum()),
        "summary_through": float(tables["summary"]["co2_through_t"].iloc[0]),
    }


@pytest.mark.xfail(strict=True, reason="local vans, buses and background traffic (issue 13 item 5) no longer offset the "
                   "+17 % motorway through excess: 2019 is about +10 % (docs/emissions.md §7-8); recalibration is issue 13 item 8")
def test_territorial_within_5_percent(baseline):
    assert baseline["territorial"] == pytest.approx(TERRITORIAL_T, rel=0.05)


def test_passenger_cars_near_half(baseline):
    assert baseline["cars"] == pytest.approx(CARS_T, rel=0.10)


@pytest.mark.xfail(strict=True, reason="known gap: motorway through CO2 is ~+17 % above 45 % of the plan "
                   "total with defensible ÅDT, lengths and factors (docs/emissions.md §7)")
def test_motorway_through_within_10_percent(baseline):
    assert baseline["motorway_through"] == pytest.approx(THROUGH_T, rel=0.10)


def test_motorway_through_gap_is_as_documented(baseline):
    """Regression guard for the documented gap: +10 % to +25 % above the plan's 45 %."""
    ratio = baseline["motorway_through"] / THROUGH_T
    assert 1.10 < ratio < 1.25


def test_summary_through_adds_the_ring_road(baseline):
    """co2_through_t also holds Søndre Ringvej's background flow (a few kt), so it exceeds the motorway part."""
    assert baseline["summary_through"] > baseline["motorway_through"]
    assert baseline["summary_through"] - baseline["motorway_through"] < 4000.0
