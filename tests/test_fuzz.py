"""Fuzzing the inputs: any config, parameter or network file gives a one-line error or a valid run.

Hypothesis changes one value of a valid input at a time (to NaN, infinity, a negative, zero, a
huge number, text, a list, a table, or a scaled copy of the value) and checks that the loaders and
a short run on the tiny test network end either in a :class:`VmobError` of one line naming the
file, or in output tables without a missing value; never in another exception. The examples are
derandomized, so the suite is the same on every run and takes well under a minute.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from model.config import load_config
from model.errors import VmobError
from model.external_demand import load_counts
from model.files import read_toml
from model.inventory import INVENTORY_VALUES
from model.parameters import load_parameter_data, validate_parameters
from model.simulation import MobilityModel, ModelContext
from model.transit import load_transit
from model.zones import load_zones

#: Overrides that make the population fit the tiny test network (as the runner's tests do).
TINY_OVERRIDES = {"population.gravity.target_mean_km": 2.0}
#: A short run: one year, a small sample.
RUN_YEARS = (2019, 2019)
RUN_SAMPLE = 0.05

FAST = settings(derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))

#: Hostile replacements for any value.
SPECIAL = st.sampled_from(
    [math.nan, math.inf, -math.inf, -1.0, 0.0, -1, 0, 1e308, 10**15, "80", "", True, [], {}, [math.nan], {"x": 1}]
)


# ------------------------------------------------------------------------------------ helpers


@pytest.fixture(scope="module")
def tiny_context(tiny: dict[str, Path]) -> ModelContext:
    return ModelContext.load(
        network=tiny["osm"], zones=tiny["zones"], transit=tiny["transit"], counts=tiny["counts"], boundary=tiny["boundary"]
    )


def leaves(data: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Path (keys and list positions) of every scalar, list and table in ``data``."""
    if prefix:
        yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaves(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from leaves(value, (*prefix, index))


def get(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


def replaced(data: Any, path: tuple, value: Any) -> Any:
    """A copy of ``data`` with the value at ``path`` replaced."""
    out = copy.deepcopy(data)
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def mutation(data: dict[str, Any]) -> st.SearchStrategy[tuple[tuple, Any]]:
    """A path into ``data`` and a new value for it: hostile, or the old number scaled."""
    paths = list(leaves(data))

    def new_value(path: tuple) -> st.SearchStrategy[Any]:
        old = get(data, path)
        if isinstance(old, (int, float)) and not isinstance(old, bool):
            scaled = st.sampled_from([0.0, -1.0, 0.5, 1.5, 3.0, 100.0]).map(lambda f: type(old)(old * f))
            return st.one_of(SPECIAL, scaled)
        return SPECIAL

    return st.sampled_from(paths).flatmap(lambda path: new_value(path).map(lambda value: (path, value)))


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(tomlkit.dumps(data), encoding="utf-8")
    return path


def note_outcome(outcome: str) -> None:
    """Count outcomes in Hypothesis's statistics (``pytest --hypothesis-show-statistics``)."""
    if currently_in_test_context():
        event(outcome)


def assert_clean_error(err: VmobError) -> None:
    """A user-facing error: one line, naming a file."""
    message = str(err)
    note_outcome("clean error")
    assert message and "\n" not in message, message
    assert ".toml" in message or ".geojson" in message or ".osm" in message, message


def assert_valid_run(context: ModelContext, overrides: dict[str, Any] | None = None, **parameters: Any) -> None:
    """Run the tiny model one year; its tables must have no missing value (a VmobError is fine)."""
    try:
        params = validate_parameters(load_parameter_data(), {**TINY_OVERRIDES, **(overrides or {})}, "fuzz.toml: parameters")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = MobilityModel(context, params, start_year=RUN_YEARS[0], end_year=RUN_YEARS[1],
                                  sample_fraction=RUN_SAMPLE, rng=1, create_agents=False, **parameters)
            model.run(progress=False)
            tables = model.results()
    except VmobError as err:
        assert_clean_error(err)
        return
    note_outcome("valid run")
    for name, table in tables.items():
        if name == "fleet":  # only the agents' segments have vehicle counts; buses and the municipal fleet have no sales
            counts = ["stock_vehicles", "new_vehicles"]
            agents = table["segment"].isin(["resident", "in_commuter"])
            assert not table.loc[agents, counts].isna().any().any(), "NaN in fleet counts"
            sold = (table["vehicle"] != "bus") & (table["segment"] != "municipal")  # dated paths, no sales
            assert not table.loc[sold, "new_sales_share"].isna().any(), "NaN in new-sales shares"
            table = table.drop(columns=[*counts, "new_sales_share"])
        if name == "inventory":  # a line's empty columns are by design (docs/outputs.md); fuel lines have none
            fuel = table[table["carrier"] != "electricity"]
            assert not fuel.isna().any().any(), f"NaN in inventory fuel lines: {fuel[fuel.isna().any(axis=1)].head()}"
            table = table[[c for c in table.columns if c not in INVENTORY_VALUES or c == "co2e_t"]]
        assert not table.isna().any().any(), f"NaN in {name}: {table[table.isna().any(axis=1)].head()}"


# ------------------------------------------------------------------------------------ configs

VALID_CONFIG = {
    "name": "fuzz",
    "question": "Does every input end well?",
    "start_year": 2019,
    "end_year": 2021,
    "sample_fraction": 0.05,
    "seeds": [1, 2],
    "parameters": {"choice": {"coefficients": {"habit": 0.5}}},
    "scenarios": {
        "baseline": {},
        "plan": {"levers": [
            {"kind": "speed_limit", "id": "mw", "start": dt.date(2020, 1, 1), "road_category": ["motorway"], "limit_kph": 80},
            {"kind": "chargers", "start": dt.date(2020, 1, 1), "path": {"2020": 5, "2030": 50}},
            {"kind": "lane_reduction", "start": dt.date(2020, 1, 1), "roads": ["Ring"], "lanes_from": 4, "lanes_to": 2},
            {"kind": "transit_line", "start": dt.date(2020, 1, 1), "services": [
                {"start": dt.date(2020, 1, 1), "headway_peak_min": 5.0, "headway_offpeak_min": 10.0}]},
        ]},
    },
    "sweep": {"parameters": {"levers.mw.limit_kph": [70, 90], "parameters.assignment.car_occupancy": [1.1, 1.2]}},
}


@FAST
@given(change=mutation(VALID_CONFIG))
def test_config_files(tmp_path_factory: pytest.TempPathFactory, change: tuple[tuple, Any]) -> None:
    path, value = change
    file = write_toml(tmp_path_factory.mktemp("config") / "fuzz.toml", replaced(VALID_CONFIG, path, value))
    try:
        load_config(file)
    except VmobError as err:
        assert_clean_error(err)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_no_config_value_accepts_nan_or_infinity(tmp_path: Path, value: float) -> None:
    accepted = []
    for path in leaves(VALID_CONFIG):
        if path[0] == "parameters":
            continue  # parameter overrides are checked against the parameter files (above)
        try:
            load_config(write_toml(tmp_path / "fuzz.toml", replaced(VALID_CONFIG, path, value)))
        except VmobError as err:
            assert_clean_error(err)
        else:
            accepted.append(".".join(map(str, path)))
    assert not accepted, f"{value} accepted at {accepted}"


@FAST
@given(text=st.text(alphabet='[]{}="., \n#abc019-:\'', max_size=60))
def test_any_text_as_toml(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    file = tmp_path_factory.mktemp("text") / "fuzz.toml"
    file.write_text(text, encoding="utf-8")
    try:
        load_config(file)
    except VmobError as err:
        assert_clean_error(err)


# -------------------------------------------------------------------------------- parameters

PARAMETER_DATA = load_parameter_data()


def as_override(path: tuple, value: Any) -> tuple[str, Any]:
    """The dotted override that puts ``value`` at ``path`` (a list element: the whole list)."""
    if not any(isinstance(p, int) for p in path):
        return ".".join(path), value
    table_path = path[: next(i for i, p in enumerate(path) if isinstance(p, int))]
    return ".".join(table_path), get(replaced(PARAMETER_DATA, path, value), table_path)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_no_parameter_accepts_nan_or_infinity(value: float) -> None:
    accepted = []
    for path in leaves(PARAMETER_DATA):
        dotted, new = as_override(path, value)
        try:
            validate_parameters(PARAMETER_DATA, {dotted: new}, "fuzz.toml: parameters")
        except VmobError as err:
            assert_clean_error(err)
        else:
            accepted.append(".".join(map(str, path)))
    assert not accepted, f"{value} accepted at {accepted}"


@settings(FAST, max_examples=300)
@given(change=mutation(PARAMETER_DATA))
def test_parameter_values(change: tuple[tuple, Any]) -> None:
    try:
        validate_parameters(PARAMETER_DATA, dict([as_override(*change)]), "fuzz.toml: parameters")
    except VmobError as err:
        assert_clean_error(err)


@settings(FAST, max_examples=25)
@given(change=mutation(PARAMETER_DATA))
def test_parameter_values_in_a_run(tiny_context: ModelContext, change: tuple[tuple, Any]) -> None:
    dotted, value = as_override(*change)
    try:
        validate_parameters(PARAMETER_DATA, {dotted: value}, "fuzz.toml: parameters")
    except VmobError as err:
        assert_clean_error(err)
        return
    assert_valid_run(tiny_context, {dotted: value})


# ------------------------------------------------------------------------------ network inputs


@pytest.fixture(scope="module")
def network_files(tiny: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {name: read_toml(tiny[name]) for name in ("zones", "transit", "counts")}


@pytest.mark.parametrize("name", ["zones", "transit", "counts"])
def test_no_network_input_accepts_nan_or_infinity(
    tmp_path: Path, network_files: dict[str, dict[str, Any]], name: str
) -> None:
    loader = {"zones": load_zones, "transit": load_transit, "counts": load_counts}[name]
    accepted = []
    for path in leaves(network_files[name]):
        for value in (math.nan, math.inf):
            file = write_toml(tmp_path / f"{name}.toml", replaced(network_files[name], path, value))
            try:
                loader(file)
            except VmobError as err:
                assert_clean_error(err)
            else:
                accepted.append((".".join(map(str, path)), value))
    assert not accepted, f"{name}: accepted {accepted}"


@settings(FAST, max_examples=30)
@given(data=st.data())
def test_network_input_files(
    tmp_path_factory: pytest.TempPathFactory, tiny: dict[str, Path], network_files: dict[str, dict[str, Any]], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(network_files)))
    path, value = data.draw(mutation(network_files[name]))
    folder = tmp_path_factory.mktemp("inputs")
    files = {key: str(tiny[key]) for key in ("zones", "transit", "counts", "boundary")}
    files[name] = str(write_toml(folder / f"{name}.toml", replaced(network_files[name], path, value)))
    try:
        context = ModelContext.load(network=tiny["osm"], **files)
    except VmobError as err:
        assert_clean_error(err)
        return
    assert_valid_run(context)
