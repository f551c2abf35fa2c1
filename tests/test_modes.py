"""A new mode is data plus one function: the mode table drives choice, skims and outputs."""

from __future__ import annotations

import numpy as np
import pytest

from model.choice import MODE_RULES, ChoiceInputs, ModeRule
from model.errors import VmobError
from model.parameters import load_parameters
from model.vocabulary import MODES, Mode, known_modes, mode_table, register_mode, unregister_mode
from tests.abm_fixtures import small_model

#: Shared e-scooters (assumption for the test): 20 km/h on the bike network, up to 6 km,
#: 10 DKK to unlock plus 2.5 DKK a minute.
SCOOTER_KPH, SCOOTER_MAX_KM, UNLOCK_DKK, DKK_PER_MIN = 20.0, 6.0, 10.0, 2.5


def scooter_terms(x: ChoiceInputs, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """The one function a new behaviour needs: utility and availability of an e-scooter ride."""
    km = x.skims.bike_dist_km[x.home, x.work]
    minutes = km / SCOOTER_KPH * 60.0
    utility = x.beta_time * x.params.coefficients.bike_time_weight * minutes + x.beta_cost * (UNLOCK_DKK + DKK_PER_MIN * minutes)
    return utility, km <= SCOOTER_MAX_KM


@pytest.fixture
def e_scooter(monkeypatch):
    """Register the mode in the vocabulary and its rule in the choice model, for one test."""
    register_mode(Mode("e_scooter", nest="active", rule="e_scooter"))
    monkeypatch.setitem(MODE_RULES, "e_scooter", ModeRule(scooter_terms, MODE_RULES["bike"].distance_km))
    yield "e_scooter"
    unregister_mode("e_scooter")


def scooter_parameters():
    """The parameter-file entry: the mode in the list, with a constant."""
    base = load_parameters()
    constants = {**base.choice.constants, "e_scooter": -1.0}
    return load_parameters({"choice.modes": [*base.choice.modes, "e_scooter"], "choice.constants": constants})


def test_a_model_with_an_extra_mode_from_data_runs_a_year(e_scooter):
    model = small_model(sample_fraction=0.1, parameters=scooter_parameters())
    assert [m.name for m in model.modes] == [*MODES, "e_scooter"]
    model.step()
    split = model.results()["mode_split"]
    split = split[split["purpose"] == "commute"]  # residents' other purposes: tests/test_trips.py
    for user, group in split.groupby("road_user"):
        assert group["share"].sum() == pytest.approx(1.0), user
    residents = split[split["road_user"] == "resident"].set_index("mode")
    assert set(residents.index) == {*MODES, "e_scooter"}
    assert 0.0 < residents.loc["e_scooter", "share"] < residents.loc["bike", "share"]
    scooter_km = residents.loc["e_scooter", "pkm_per_year"] / (
        residents.loc["e_scooter", "trips_per_weekday"] * model.params.assignment.working_days_per_year
    )
    assert 0.0 < scooter_km <= SCOOTER_MAX_KM
    riders = [agent for agent in model.agents if agent.mode == "e_scooter"]
    assert riders and all(
        model.skims.bike_dist_km[model.population.home[a.index], model.population.work[a.index]] <= SCOOTER_MAX_KM for a in riders
    )


def test_the_extra_mode_draws_its_riders_from_the_other_modes(e_scooter):
    with_scooters = small_model(sample_fraction=0.1, parameters=scooter_parameters())
    without = small_model(sample_fraction=0.1)
    with_scooters.step()
    without.step()
    car = MODES.index("car")
    assert with_scooters.resident_share(car) < without.resident_share(car)
    assert sum(with_scooters.resident_share(k) for k in range(len(with_scooters.modes))) == pytest.approx(1.0)


def test_a_mode_list_naming_an_unregistered_mode_is_refused():
    assert "e_scooter" not in known_modes()
    with pytest.raises(VmobError, match="unknown mode e_scooter"):
        load_parameters({"choice.modes": [*MODES, "e_scooter"]})


def test_the_vocabulary_refuses_unknown_nests_and_conflicting_registrations():
    with pytest.raises(ValueError, match="unknown nest 'air'"):
        Mode("plane", nest="air", rule="car")
    with pytest.raises(ValueError, match="unknown vehicle 'tram'"):
        Mode("tram", nest="public_transport", rule="car", vehicle="tram")
    with pytest.raises(ValueError, match="already registered differently"):
        register_mode(Mode("car", nest="active", rule="bike"))
    assert [m.nest for m in mode_table(("bike", "s_train"))] == ["active", "public_transport"]


def test_calibration_asks_for_a_target_share_of_the_extra_mode(e_scooter):
    from model.calibration import calibrate, load_targets
    from tests.abm_fixtures import default_context

    base = load_parameters()
    overrides = {"choice.modes": [*base.choice.modes, "e_scooter"], "choice.constants": {**base.choice.constants, "e_scooter": -1.0}}
    with pytest.raises(VmobError, match="give a target share for each simulated mode"):
        calibrate(default_context(), load_targets(), overrides)
