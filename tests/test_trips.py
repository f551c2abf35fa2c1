"""Residents' trips by purpose: who drives, where they go, and that purposes add up to the totals."""

from __future__ import annotations

import numpy as np
import pytest

from model.destinations import destination_probabilities, load_destination_sizes
from model.errors import VmobError
from model.parameters import load_parameters
from model.persons import can_drive
from model.trips import logsums
from model.vocabulary import AGE_GROUPS, GENERATED_PURPOSES, PURPOSES
from model.yearly_tables import year_tables
from tests.abm_fixtures import default_context, small_model


@pytest.fixture(scope="module")
def stepped():
    """A model after its first year."""
    model = small_model(sample_fraction=0.15)
    model.step()
    return model


def test_a_household_without_a_car_makes_no_car_driver_trips(stepped):
    model = stepped
    trips, persons, households = model.trip_state, model.persons, model.households
    person = model.trip_model.rows.person
    no_car = ~households.car[persons.household[person]]
    assert no_car.any() and (~no_car).any()
    assert (trips.vehicle_trips_per_day[no_car] == 0).all()
    assert not trips.driver[no_car].any()
    # With a car in the household, adults do drive.
    assert (trips.vehicle_trips_per_day[~no_car] > 0).any()


def test_children_never_drive_their_car_trips_are_a_parents_escort_trips(stepped):
    model = stepped
    trips, persons = model.trip_state, model.persons
    person = model.trip_model.rows.person
    young = persons.age_group[person] < AGE_GROUPS.index("18-64")
    assert not can_drive(persons, model.households, model.population, "18-64")[persons.age_group < AGE_GROUPS.index("18-64")].any()
    assert not trips.driver[young].any()
    car = trips.mode == model.params.choice.modes.index("car")
    lifts = young & car & (trips.powertrain >= 0)
    assert lifts.any(), "some children are driven"
    assert (trips.vehicle_purpose[lifts] == PURPOSES.index("escort")).all()
    factor = model.params.purposes.escort_vehicle_trips_per_child_car_trip / model.params.purposes.car_occupancy
    np.testing.assert_allclose(trips.vehicle_trips_per_day[lifts], trips.trips_per_day[lifts] * factor)
    # Adults' own car trips keep their purpose.
    assert (trips.vehicle_purpose[~young] == trips.purpose[~young]).all()


def test_destination_choice_prefers_nearer_and_more_accessible_places():
    logsum = np.array([[-1.0, -2.0, -1.0]])
    size = np.array([100.0, 100.0, 300.0])
    p = destination_probabilities(logsum, size, theta=1.0, allowed=np.ones(3, dtype=bool))[0]
    assert p[0] > p[1], "the better-served of two equal places is preferred"
    assert p[2] > p[0], "a larger place at the same accessibility is preferred"
    inside = destination_probabilities(logsum, size, theta=1.0, allowed=np.array([False, True, False]))[0]
    assert inside.tolist() == [0.0, 1.0, 0.0]


def test_destination_choice_on_the_network_prefers_the_nearer_of_two_equal_places(stepped):
    model = stepped
    zones, trip_model = model.context.zones, model.trip_model
    k = GENERATED_PURPOSES.index("shopping")
    ls = logsums(trip_model.segments, model.skims, zones, trip_model.choice["shopping"], 1.5, trip_model.ratio,
                 model.supply.parking_dkk_per_trip)
    near, far = zones.index("ishoj"), zones.index("koge")
    size = np.zeros(len(zones.ids))
    size[[near, far]] = 1000.0
    p = destination_probabilities(ls, size, trip_model.theta["shopping"], np.ones(len(zones.ids), dtype=bool))
    home = trip_model.segments.home
    assert (model.skims.car_dist_km[home, near] < model.skims.car_dist_km[home, far]).all()
    assert (p[:, near] > p[:, far]).all()
    # The calibrated destinations meet the purpose's mean trip length (weighted by trips, free flow at start-up).
    assert trip_model.theta["shopping"] > 0 and k >= 0


def test_totals_by_purpose_add_up_to_the_totals(stepped):
    model = stepped
    state = model.year_state(model.start_year)
    tables = year_tables(state).tables
    split, vkm = tables["mode_split"], tables["vehicle_km"]
    residents = split[split["road_user"] == "resident"]
    by_purpose = residents.groupby("purpose")["trips_per_day"].sum()
    assert set(by_purpose.index) == set(PURPOSES)
    assert by_purpose.sum() == pytest.approx(residents["trips_per_day"].sum())
    trips = model.trip_state
    for purpose in GENERATED_PURPOSES:
        expected = trips.trips_per_day[trips.purpose == PURPOSES.index(purpose)].sum()
        assert by_purpose[purpose] == pytest.approx(expected, rel=1e-12)
    assert by_purpose["escort"] == pytest.approx(trips.vehicle_trips_per_day[trips.vehicle_purpose == PURPOSES.index("escort")].sum())
    assert vkm.groupby("purpose")["vkm_per_year"].sum().sum() == pytest.approx(vkm["vkm_per_year"].sum())
    resident_car = vkm[(vkm["road_user"] == "resident")]
    assert set(resident_car["purpose"]) <= set(PURPOSES) and "leisure" in set(resident_car["purpose"])
    assert "other_local" not in set(resident_car["traffic"]), "no scaled copy of the commute is left"


def test_trips_per_person_and_day_are_near_the_travel_survey(stepped):
    model = stepped
    split = model.tables["mode_split"][0]
    residents = split[split["road_user"] == "resident"]
    per_person = residents["trips_per_day"].sum() / model.params.population.residents.population_in(model.start_year)
    # TU: 2.8-2.9 trips per person and day (ages 10-84), about 3 % of them overnight journeys left out.
    assert 2.4 < per_person < 3.1


def test_a_negative_trip_rate_names_the_file_and_key():
    from model.parameters import load_parameter_data, validate_parameters

    data = load_parameter_data()
    data["purposes"]["rates"]["child"]["education"] = -0.5
    with pytest.raises(VmobError, match=r"purposes\.toml: key 'rates\.child\.education'"):
        validate_parameters(data)
    with pytest.raises(VmobError, match=r"overrides: key 'purposes\.rates\.child\.education'"):
        load_parameters({"purposes.rates.child.education": -0.5})


def test_a_missing_age_group_names_the_file_and_key(tmp_path):
    from model.parameters import load_parameter_data, validate_parameters

    data = load_parameter_data()
    del data["population"]["age_groups"]["65+"]
    with pytest.raises(VmobError, match=r"population\.toml: key 'age_groups': .*lacks age group 65\+"):
        validate_parameters(data)


def test_a_purpose_without_destinations_names_the_file_and_key(tmp_path):
    from model.destinations import DEFAULT_DESTINATIONS

    text = DEFAULT_DESTINATIONS.read_text(encoding="utf-8")
    start = text.index("[shopping]")
    end = text.index("[leisure]")
    block = (
        '[shopping]\nsource = "test"\nexternal_column = "jobs"\nexternal_factor = 0.0\nlocal = {}\n\n'
    )
    path = tmp_path / "destinations.toml"
    path.write_text(text[:start] + block + text[end:], encoding="utf-8")
    with pytest.raises(VmobError, match=r"destinations\.toml: key 'shopping': the purpose has no destinations"):
        load_destination_sizes(default_context().zones, path)
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(VmobError, match=r"destinations\.toml.*shopping"):
        load_destination_sizes(default_context().zones, path)


def test_an_unreachable_trip_length_takes_the_nearest_bound_and_says_so():
    from model.destinations import calibrate_theta

    def mean_km(theta: float) -> float:
        return 10.0 / (1.0 + theta)

    assert calibrate_theta(mean_km, 5.0, 0.05, 20.0, "x.toml: key 'k'") == pytest.approx(1.0, rel=1e-6)
    with pytest.warns(UserWarning, match=r"x\.toml: key 'k': target_mean_km = 50\.0 cannot be reached"):
        assert calibrate_theta(mean_km, 50.0, 0.05, 20.0, "x.toml: key 'k'") == 0.05


def test_the_report_table_gives_trips_per_resident_by_purpose_adding_up_to_all():
    import pandas as pd

    from model.report import purpose_table

    rows = []
    for purpose, persons, trips in (("commute", 500.0, (300.0, 100.0)), ("leisure", 1000.0, (400.0, 600.0))):
        for mode, n in zip(("car", "bike"), trips, strict=True):
            rows.append({"scenario": "baseline", "seed": 1, "year": 2030, "road_user": "resident", "purpose": purpose,
                         "mode": mode, "commuters": persons / 2, "trips_per_day": n})
    table = purpose_table(pd.DataFrame(rows), ["baseline"], 2030).set_index("Purpose")
    assert table.loc["leisure", "Trips per resident and day"] == "1.00"
    assert table.loc["commute", "Trips per resident and day"] == "0.40"
    assert table.loc["all", "Trips per resident and day"] == "1.40"
    assert table.loc["all", "car"] == "50.0 %" and table.loc["leisure", "bike"] == "60.0 %"


def test_pupils_keep_their_schools_from_year_to_year_other_destinations_are_drawn_anew():
    model = small_model(sample_fraction=0.05, end_year=2020)
    model.step()
    first = model.trip_state.dest.copy()
    model.step()
    second = model.trip_state.dest
    rows = model.trip_model.rows
    education = rows.purpose == GENERATED_PURPOSES.index("education")
    kept = float(np.mean(first[education] == second[education]))
    rate = model.params.purposes.education_change_rate
    assert kept >= 1.0 - rate - 0.05
    shopping = rows.purpose == GENERATED_PURPOSES.index("shopping")
    assert float(np.mean(first[shopping] == second[shopping])) < kept
