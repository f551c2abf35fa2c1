"""Bad input of every kind ends in one clear VmobError naming the file and key (issue 18).

One test per input that was silently accepted, crashed with a traceback or gave a misleading
error: NaN and infinity anywhere, values outside their domain, text for numbers, a key given
twice, geography that does not fit the network, hostile sizes, and errors that blamed the
experiment for a fault in a parameter file.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import pytest

from model.config import load_config
from model.edges import edge_arrays
from model.errors import VmobError
from model.experiments import model_parameters
from model.files import read_toml
from model.network import load_network
from model.parameters import PARAMETER_FILES, load_parameter_data, load_parameters
from model.settings import PARAMETERS_DIR
from model.simulation import MobilityModel, ModelContext
from model.transit import load_transit
from model.zones import check_home_zones_near, load_zones

LEVER_START = "2025-01-01"


# ------------------------------------------------------------------------------------ helpers


@pytest.fixture()
def parameters_copy(tmp_path: Path) -> Path:
    """A writable copy of the parameter folder."""
    folder = tmp_path / "parameters"
    shutil.copytree(PARAMETERS_DIR, folder)
    return folder


def edit(folder: Path, section: str, old: str, new: str) -> Path:
    """Replace ``old`` by ``new`` in one parameter file of ``folder``; return the file."""
    path = folder / PARAMETER_FILES[section]
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def parameter_error(folder: Path) -> str:
    """The message of the error that loading ``folder`` raises (uncalibrated: the file's constants count)."""
    with pytest.raises(VmobError) as info:
        load_parameters(folder=folder, calibrated=False)
    message = str(info.value)
    assert "\n" not in message
    return message


def experiment_text(body: str = "", levers: str = "") -> str:
    """A minimal experiment on the embedded inputs, with extra top-level keys and one scenario's levers."""
    return f'name = "bad"\nquestion = "Is the input refused?"\n{body}\n[scenarios.plan]\nlevers = [{levers}]\n'


def config_error(tmp_path: Path, body: str = "", levers: str = "") -> str:
    path = tmp_path / "bad.toml"
    path.write_text(experiment_text(body, levers), encoding="utf-8")
    with pytest.raises(VmobError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def override_error(overrides: dict) -> str:
    with pytest.raises(VmobError) as info:
        load_parameters(overrides, source="exp.toml: parameters")
    return str(info.value)


# ------------------------------------------------------------ NaN and infinity in parameter files


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("time_min = -0.040", "time_min = nan", "coefficients.time_min"),
        ("cycletrack = 0.35", "cycletrack = nan", "coefficients.cycletrack"),
        ("bike = -0.5\n", "bike = nan\n", "constants.bike"),
        ("car = 0.0\n", "car = inf\n", "constants.car"),
    ],
)
def test_nan_and_infinity_in_mode_choice_name_the_file_and_key(parameters_copy: Path, old: str, new: str, key: str) -> None:
    edit(parameters_copy, "choice", old, new)
    message = parameter_error(parameters_copy)
    assert f"mode_choice.toml: key '{key}'" in message and "finite number" in message


def test_nan_modal_constant_override_is_refused() -> None:
    message = override_error({"choice.constants.bike": math.nan})
    assert message.startswith("exp.toml: parameters: key 'choice.constants.bike'") and "finite" in message


def test_infinite_constant_is_a_clear_error_not_a_speed_error() -> None:
    message = override_error({"choice.constants.car": math.inf})
    assert "key 'choice.constants.car'" in message and "Speed" not in message


# ------------------------------------------------------------------ values outside their domain


@pytest.mark.parametrize(
    ("section", "old", "new", "key"),
    [
        ("choice", "fare_by_zones = [18.0, 18.0, 23.5, 30.0]", "fare_by_zones = [-18.0, 18.0, 23.5, 30.0]", "costs.fare_by_zones[0]"),
        ("population", "bike = 0.9\n", "bike = -0.9\n", "taste_sd.bike"),
        ("fleet", "petrol = 0.655\ndiesel = 0.335", "petrol = 1.3\ndiesel = -0.31", "stock_2019.petrol"),
        ("network", "motorway = 1900", "motorway = 0", "capacity_per_lane_vph.motorway"),
        ("network", "motorway = 110", "motorway = 0", "default_maxspeed_kph.motorway"),
    ],
)
def test_values_outside_their_domain_name_the_file_and_key(
    parameters_copy: Path, section: str, old: str, new: str, key: str
) -> None:
    edit(parameters_copy, section, old, new)
    message = parameter_error(parameters_copy)
    assert f"{PARAMETER_FILES[section]}: key '{key}'" in message


def test_stock_shares_that_sum_to_one_but_leave_zero_to_one_are_refused(parameters_copy: Path) -> None:
    edit(parameters_copy, "fleet", "petrol = 0.655\ndiesel = 0.335", "petrol = 1.3\ndiesel = -0.31")
    message = parameter_error(parameters_copy)
    assert "stock_2019.petrol" in message and "stock_2019.diesel" in message  # both, in one line


def test_negative_parking_fare_override_is_refused() -> None:
    assert "choice.costs.parking_dkk_per_trip.kobenhavn" in override_error({"choice.costs.parking_dkk_per_trip.kobenhavn": -35.0})


# --------------------------------------------------------------------- errors name their file


def test_a_fault_in_a_parameter_file_names_that_file_not_the_experiment(
    parameters_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("model.parameters.PARAMETERS_DIR", parameters_copy)
    path = edit(parameters_copy, "choice", "habit = 0.8", "habit = -0.8")
    with pytest.raises(VmobError) as info:  # as the runner validates an experiment's parameters
        model_parameters(load_parameter_data(), {"choice.coefficients.wait_weight": 2.0}, "experiments/x.toml: parameters")
    message = str(info.value)
    assert message.startswith(f"{path}: key 'coefficients.habit'") and "experiments/x.toml" not in message


def test_an_overridden_value_names_the_experiment(parameters_copy: Path) -> None:
    data = load_parameter_data(parameters_copy, False)
    with pytest.raises(VmobError) as info:
        model_parameters(data, {"choice.coefficients.habit": -1.0}, "experiments/x.toml: parameters")
    assert str(info.value).startswith("experiments/x.toml: parameters: key 'choice.coefficients.habit'")


def test_faults_in_several_parameter_files_are_reported_together(parameters_copy: Path) -> None:
    edit(parameters_copy, "choice", "habit = 0.8", "habit = -0.8")
    edit(parameters_copy, "emissions", "phev_utility_factor = 0.4", "phev_utility_factor = 4.0")
    message = parameter_error(parameters_copy)
    assert "mode_choice.toml: key 'coefficients.habit'" in message
    assert "emissions.toml: key 'cars.phev_utility_factor'" in message


def test_unknown_override_names_the_closest_parameter() -> None:
    message = override_error({"network.speeds_kph.bicycle": 18.0})
    assert message == "exp.toml: parameters: unknown parameter 'network.speeds_kph.bicycle' (closest: 'network.speeds_kph.bike')"


def test_every_fault_of_the_overrides_is_reported_together() -> None:
    message = override_error({"network.speeds_kph.bicycle": 18.0, "choice.constants.car": math.inf,
                              "network.road_category.ring_roads": ["Ring"]})
    assert "\n" not in message
    assert "unknown parameter 'network.speeds_kph.bicycle'" in message
    assert "key 'choice.constants.car': must be a finite number" in message
    assert "key 'network.road_category.ring_roads': read once while the network is built" in message


def test_network_and_emission_overrides_reach_the_run(tiny: dict[str, Path]) -> None:
    context = ModelContext.load(network=tiny["osm"], zones=tiny["zones"], transit=tiny["transit"],
                                counts=tiny["counts"], boundary=tiny["boundary"])
    tiny_population = {"population.gravity.target_mean_km": 2.0}

    def co2_and_model(overrides: dict) -> tuple[float, MobilityModel]:
        params = load_parameters({**tiny_population, **overrides})
        model = MobilityModel(context, params, start_year=2019, end_year=2019, sample_fraction=0.05, rng=1, create_agents=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.run()
        co2 = model.results()["co2"]
        return float(co2.loc[(co2["source"] == "truck") & (co2["accounting"] == "territorial"), "co2_t"].sum()), model

    base_co2, base = co2_and_model({})
    more_co2, heavier = co2_and_model({"network.speeds_kph.bike": 18.0, "network.compliance.motorway": 1.0,
                                       "emissions.trucks.diesel_l_per_100km": 60.0})
    assert heavier.skim_settings.bike_kph == 18.0 and base.skim_settings.bike_kph == 16.0
    motorway = context.edges.road_category == "motorway"
    assert (heavier.edges.speed_kph[motorway] == context.edges.maxspeed_kph[motorway]).all()
    assert (base.edges.speed_kph == context.edges.speed_kph).all()
    # twice the diesel per truck-km. Trucks are routed through traffic only, and the tiny network's motorway
    # is a spur no path between its gates uses (no through traffic): the factor must reach the run's context.
    assert heavier.context.factors.trucks.diesel_l_per_100km == 60.0
    assert more_co2 == pytest.approx(2 * base_co2, rel=0.05)


def test_build_time_network_rules_cannot_be_overridden() -> None:
    message = override_error({"network.default_maxspeed_kph.motorway": 100.0})
    assert message.startswith("exp.toml: parameters: key 'network.default_maxspeed_kph.motorway': read once") and "network.toml" in message


# ------------------------------------------------------------------------------ levers and types


@pytest.mark.parametrize(
    ("lever", "key"),
    [
        (f'{{kind = "chargers", start = {LEVER_START}, path = {{2030 = nan}}}}', "path.2030"),
        (f'{{kind = "chargers", start = {LEVER_START}, path = {{2030 = inf}}}}', "path.2030"),
        (f'{{kind = "transit_line", start = {LEVER_START}, services = [{{start = {LEVER_START}, '
         'headway_peak_min = inf, headway_offpeak_min = 10.0}]}', "services[0].headway_peak_min"),
        (f'{{kind = "speed_limit", start = {LEVER_START}, road_category = ["motorway"], limit_kph = "80"}}', "limit_kph"),
    ],
)
def test_bad_lever_numbers_are_refused(tmp_path: Path, lever: str, key: str) -> None:
    message = config_error(tmp_path, levers=lever)
    assert f"key 'scenarios.plan.levers[0].{key}'" in message


def test_text_for_a_number_is_refused_in_levers_as_in_the_config(tmp_path: Path) -> None:
    lever = f'{{kind = "speed_limit", start = {LEVER_START}, road_category = ["motorway"], limit_kph = "80"}}'
    message = config_error(tmp_path, body='start_year = "2019"', levers=lever)
    assert "key 'start_year'" in message and "levers[0].limit_kph" in message  # all errors at once


def test_a_key_given_quoted_and_dotted_is_an_error(tmp_path: Path) -> None:
    body = '[parameters]\n"choice.coefficients.habit" = 0.5\nchoice.coefficients.habit = 0.6\n'
    path = tmp_path / "twice.toml"
    path.write_text(f'name = "twice"\nquestion = "Which wins?"\n{body}[scenarios.plan]\n', encoding="utf-8")
    with pytest.raises(VmobError, match=r"key 'parameters': 'choice\.coefficients\.habit' is given twice"):
        load_config(path)


# ------------------------------------------------------------------------------- network inputs


def test_nan_transit_minutes_and_infinite_headway_are_refused(tmp_path: Path, tiny: dict[str, Path]) -> None:
    text = tiny["transit"].read_text(encoding="utf-8")
    edits = (("minutes = [", "minutes = [nan, ", "minutes[0]"), ("headway_peak_min = ", "headway_peak_min = inf #", "headway_peak_min"))
    for old, new, key in edits:
        path = tmp_path / "transit.toml"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(VmobError, match=r"transit\.toml: key 'lines\[0\]\.") as info:
            load_transit(path)
        assert key in str(info.value) and "finite" in str(info.value)


def test_a_boundary_far_from_the_network_is_refused(tmp_path: Path, tiny: dict[str, Path]) -> None:
    far = json.loads(tiny["boundary"].read_text(encoding="utf-8"))
    ring = far["features"][0]["geometry"]["coordinates"][0] if "features" in far else far["coordinates"][0]
    for point in ring:
        point[0] += 2.0  # about 130 km east
    path = tmp_path / "far.boundary.geojson"
    path.write_text(json.dumps(far), encoding="utf-8")
    with pytest.raises(VmobError, match="does not overlap the drivable roads") as info:
        load_network(tiny["osm"], boundary=path)
    assert str(path) in str(info.value)


def test_a_home_zone_at_zero_zero_is_refused(tmp_path: Path, tiny: dict[str, Path]) -> None:
    text = tiny["zones"].read_text(encoding="utf-8")
    first = text.index("lat = ")
    lines = text[first:].split("\n", 2)
    path = tmp_path / "zones.toml"
    path.write_text(text[:first] + "lat = 0.0\nlon = 0.0\n" + lines[2], encoding="utf-8")
    edges = edge_arrays(load_network(tiny["osm"], boundary=tiny["boundary"]).graph)
    check_home_zones_near(load_zones(tiny["zones"]), edges)  # the original zones are fine
    with pytest.raises(VmobError, match=r"zones\.toml: home zone '\w+' is [\d,]+\.\d km from the nearest street") as info:
        check_home_zones_near(load_zones(path), edges)
    assert str(path) in str(info.value)


# ------------------------------------------------------------------------ hostile sizes and files


def test_deeply_nested_toml_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(VmobError, match="nested too deeply"):
        read_toml(path)
    path.write_text("x = " + "[" * 40 + "]" * 40 + "\n", encoding="utf-8")  # parses, but deeper than allowed
    with pytest.raises(VmobError, match="nested too deeply"):
        read_toml(path)


def test_a_billion_replications_is_bounded(tmp_path: Path) -> None:
    message = config_error(tmp_path, body="replications = 1000000000")
    assert "key 'replications'" in message and "1000" in message


def test_too_many_runs_in_all_is_refused(tmp_path: Path) -> None:
    habits = ", ".join(f"{0.1 * k:.1f}" for k in range(1, 12))
    body = f'replications = 1000\n[sweep]\nparameters = {{"parameters.choice.coefficients.habit" = [{habits}]}}'
    message = config_error(tmp_path, body=body)
    assert "11,000 runs" in message


def test_a_tiny_sample_fraction_is_a_clear_error(tmp_path: Path) -> None:
    message = config_error(tmp_path, body="sample_fraction = 1e-9")
    assert "key 'sample_fraction': must be at least 0.001" in message and "reconcile" not in message


def test_a_config_reports_all_its_errors_at_once(tmp_path: Path) -> None:
    message = config_error(tmp_path, body='sample_fraction = 2.0\nend_year = 1990\nseeds = [1, "2"]\nquestionn = "typo"')
    for key in ("sample_fraction", "end_year", "seeds[1]", "questionn"):
        assert f"key '{key}'" in message
