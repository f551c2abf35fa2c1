"""2019 calibration of the territorial CO2 against the climate plan (docs/emissions.md §7).

Runs the full-population 2019 baseline (about 2 s) and checks the plan's figures (52,009 t in
2019, climate-plan.md): territorial transport ≈ 60 % (±5 %), passenger cars ≈ half (±10 %, our
reading of "about half"), motorway through traffic ≈ 45 % (±10 %). None of the three is reached with
defensible inputs since through traffic is routed OD demand fitted to the counts (issue 13): territorial
about +10 %, motorway through about +24 %, cars about −10 % (12 % of the light through traffic are vans
now, emitted as vans). The bands are kept as strict xfails so that the gaps stay visible, and a
regression guard pins today's values. See docs/emissions.md §7.
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


@pytest.mark.xfail(strict=True, reason="known gap: about +10 %, from the motorway through traffic the counts imply "
                   "(+24 % on the plan's 45 %) less the cars' share the vans now take (docs/emissions.md §7)")
def test_territorial_within_5_percent(baseline):
    assert baseline["territorial"] == pytest.approx(TERRITORIAL_T, rel=0.05)


@pytest.mark.xfail(strict=True, reason="known gap: cars about -10 % of half the plan total, since 12 % of the light "
                   "through traffic are vans, emitted as vans (traffic.toml van_share_of_light; docs/emissions.md §7)")
def test_passenger_cars_near_half(baseline):
    assert baseline["cars"] == pytest.approx(CARS_T, rel=0.10)


@pytest.mark.xfail(strict=True, reason="known gap: motorway through CO2 is ~+24 % above 45 % of the plan "
                   "total with defensible ÅDT, lengths and factors (docs/emissions.md §7)")
def test_motorway_through_within_10_percent(baseline):
    assert baseline["motorway_through"] == pytest.approx(THROUGH_T, rel=0.10)


def test_motorway_through_gap_is_as_documented(baseline):
    """Regression guard for the documented gaps (motorway through, territorial and cars against the plan)."""
    assert 1.15 < baseline["motorway_through"] / THROUGH_T < 1.35
    assert 1.05 < baseline["territorial"] / TERRITORIAL_T < 1.15
    assert 0.85 < baseline["cars"] / CARS_T < 0.95


def test_summary_through_adds_the_ring_road(baseline):
    """co2_through_t also holds the through traffic on Søndre Ringvej and the municipal roads (a few kt)."""
    assert baseline["summary_through"] > baseline["motorway_through"]
    assert baseline["summary_through"] - baseline["motorway_through"] < 4000.0
