"""Public transport as one nest in a run: no rider on a dominated path, and the ridership table.

A 10 % sample runs 2019–2027 with the Letbane lever (its full line runs from 2027); the
ridership table must count the riders of each mode's paths on the lines they ride, board them
at the three Vallensbæk stops, and the habit steady state must hold with the nested
probabilities.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from model.choice import ChoiceInputs, choice_structure, probabilities, transit_attributes, utilities
from model.levers import TransitLine
from model.outputs import columns
from model.simulation import habit_steady_state
from model.yearly_tables import ALL_STATIONS
from tests.abm_fixtures import small_model

VALLENSBAEK_STOPS = ("Strandhaven", "Vallensbæk", "Delta Park")


@pytest.fixture(scope="module")
def letbane_run():
    model = small_model(end_year=2027, sample_fraction=0.1, levers=[TransitLine(kind="transit_line", start=dt.date(2025, 10, 26))])
    model.run()
    return model


def test_no_rider_is_on_a_dominated_public_transport_path(letbane_run):
    """After a Letbane year, nobody rides a PT path that another of their PT paths beats on every attribute."""
    model = letbane_run
    pop, skims = model.population, model.skims
    modes = model.params.choice.modes
    s, lr = modes.index("s_train"), modes.index("light_rail")
    ratio = model.skim_settings.bike_kph / model.skim_settings.ebike_kph
    inputs = ChoiceInputs(pop, skims, model.context.zones, model.params.choice, ratio, model.supply.parking_dkk_per_trip)
    xs, xl = transit_attributes(inputs, "s_train"), transit_attributes(inputs, "light_rail")
    both = skims.transit["s_train"].available[pop.home, pop.work] & skims.transit["light_rail"].available[pop.home, pop.work]
    with np.errstate(invalid="ignore"):
        lr_dominated = both & (xs <= xl).all(axis=1) & (xs < xl).any(axis=1)
        s_dominated = both & (xl <= xs).all(axis=1) & (xl < xs).any(axis=1)
    assert lr_dominated.sum() > 20, "dominated Letbane feeder paths exist in this population"
    assert (pop.mode == lr).sum() > 20, "the Letbane has riders"
    assert not ((pop.mode == lr) & lr_dominated).any()
    assert not ((pop.mode == s) & s_dominated).any()


def test_ridership_counts_the_riders_of_each_line(letbane_run):
    model = letbane_run
    table = model.results()["ridership"]
    assert set(table.columns) == set(columns("ridership"))
    assert set(table["year"]) == set(range(2019, 2028))
    a = model.params.assignment
    y2027 = table[table["year"] == 2027].set_index(["line", "station"])
    # Before the Letbane runs, nobody rides it; in 2027 it carries riders at all three Vallensbæk stops.
    assert not (table[table["year"] < 2026]["line"] == "L").any()
    for stop in VALLENSBAEK_STOPS:
        assert y2027.loc[("L", stop), "boardings_per_weekday"] > 0
    # A line's boardings: two a working day per rider; its stations' boardings add up to the line's.
    lines = y2027.xs(ALL_STATIONS, level="station")
    np.testing.assert_allclose(lines["boardings_per_weekday"], 2 * a.attendance * lines["commuters"])
    stations = y2027.drop(index=ALL_STATIONS, level="station").groupby(level="line")["boardings_per_weekday"].sum()
    np.testing.assert_allclose(stations.reindex(lines.index), lines["boardings_per_weekday"])
    np.testing.assert_allclose(y2027["boardings_per_year"], y2027["boardings_per_weekday"] * a.working_days_per_year)
    # Every light-rail rider rides line L; S-train riders ride S-train lines only.
    pop, weights = model.population, model.weights
    modes = model.params.choice.modes
    light_rail = weights[pop.mode == modes.index("light_rail")].sum()
    assert lines.loc["L", "commuters"] == pytest.approx(light_rail)
    rail = weights[np.isin(pop.mode, [modes.index("s_train"), modes.index("light_rail")])].sum()
    s_lines = [line for line in lines.index if line != "L"]
    assert lines.loc[s_lines, "commuters"].sum() >= weights[pop.mode == modes.index("s_train")].sum() - 1e-6
    assert lines.loc[s_lines, "commuters"].sum() <= 2 * rail  # at most a transfer each, in this network


def test_the_habit_steady_state_is_a_fixed_point_of_the_nested_choice(letbane_run):
    """With the nest, p = Σ_l p(l) · P(· | last = l) still holds, the habit going to both PT paths."""
    model = letbane_run
    ratio = model.skim_settings.bike_kph / model.skim_settings.ebike_kph
    V, available = utilities(model.population, model.skims, model.context.zones, model.params.choice, ratio, habit=False)
    structure = choice_structure(model.params.choice)
    habit = model.params.choice.coefficients.habit
    steady = habit_steady_state(V, available, habit, structure=structure, iterations=200)
    conditional = np.stack(
        [probabilities(V + structure.habit_bonus(last, habit), available, structure) for last in range(V.shape[1])], axis=1
    )
    np.testing.assert_allclose(np.einsum("nl,nlm->nm", steady, conditional), steady, atol=1e-6)
    np.testing.assert_allclose(steady.sum(axis=1), 1.0, atol=1e-12)
    assert (steady[~available] == 0).all()


def test_the_ridership_table_is_in_the_output_contract():
    from model.outputs import SCHEMAS, TABLES

    assert "ridership" in TABLES
    assert SCHEMAS["ridership"]["primaryKey"] == ["experiment", "scenario", "seed", "year", "line", "station"]
    assert isinstance(pd.DataFrame(columns=columns("ridership")), pd.DataFrame)
