"""Experiment files: defaults, strict validation with key paths, and the resolved config."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from model.config import LAST_YEAR, load_config, resolved_toml
from model.errors import VmobError
from model.outputs import TABLES
from model.settings import BASE_YEAR

MINIMAL = 'name = "demo"\nquestion = "What happens?"\n\n[scenarios.baseline]\n'


def write(folder: Path, text: str, name: str = "experiment.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(VmobError) as info:
        load_config(path)
    return str(info.value)


def test_minimal_config_gets_every_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert (config.start_year, config.end_year) == (BASE_YEAR, LAST_YEAR)
    assert config.sample_fraction == 1.0
    assert config.seed_list() == [1]
    assert config.outputs.tables == list(TABLES) and config.outputs.link_volumes and config.outputs.report
    assert config.inputs.network == "default" and config.inputs.zones is None
    assert config.sweep is None and config.parameters == {}
    assert config.scenarios["baseline"].description == "" and config.scenarios["baseline"].levers == []


def test_replications_expand_from_base_seed(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, 'replications = 3\nbase_seed = 10\n' + MINIMAL))
    assert config.seed_list() == [10, 11, 12]


def test_nested_and_quoted_parameter_paths_are_the_same(tmp_path: Path) -> None:
    quoted = load_config(write(tmp_path, MINIMAL + '[parameters]\n"choice.coefficients.habit" = 0.5\n', "a.toml"))
    nested = load_config(write(tmp_path, MINIMAL + "[parameters]\nchoice.coefficients.habit = 0.5\n", "b.toml"))
    assert quoted.parameters == nested.parameters == {"choice.coefficients.habit": 0.5}


def test_resolved_toml_reads_back_to_the_same_config(tmp_path: Path) -> None:
    text = (
        "replications = 2\nend_year = 2030\n"
        + MINIMAL
        + '[sweep]\nmode = "list"\nparameters = {"parameters.choice.coefficients.habit" = [0.5, 1.0]}\n'
    )
    config = load_config(write(tmp_path, text))
    resolved = resolved_toml(config)
    assert "sample_fraction = 1.0" in resolved and "seeds = [1, 2]" in resolved
    again = load_config(write(tmp_path, resolved, "resolved.toml"))
    assert again.model_dump(exclude={"base_seed"}) == config.model_dump(exclude={"base_seed"})


def test_year_keyed_lever_tables_print_as_toml(tmp_path: Path) -> None:
    text = MINIMAL + 'levers = [{kind = "chargers", start = 2020-01-01, path = {2020 = 40, 2030 = 200}}]\n'
    resolved = tomllib.loads(resolved_toml(load_config(write(tmp_path, text))))
    assert resolved["scenarios"]["baseline"]["levers"][0]["path"] == {"2020": 40.0, "2030": 200.0}


def test_relative_input_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "zones.toml").write_text("", encoding="utf-8")
    config = load_config(write(tmp_path, MINIMAL + '[inputs]\nzones = "data/zones.toml"\n'))
    assert config.inputs.zones == str((tmp_path / "data" / "zones.toml").resolve())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL + 'descripton = "typo"\n', "key 'scenarios.baseline.descripton': unknown key"),
        ('end_yaer = 2030\n' + MINIMAL, "key 'end_yaer': unknown key"),
        ('end_year = "2030"\n' + MINIMAL, "key 'end_year': Input should be a valid integer"),
        ('end_year = 2051\n' + MINIMAL, "key 'end_year'"),
        ('start_year = 2030\nend_year = 2025\n' + MINIMAL, "key 'end_year': 2025 is before start_year 2030"),
        ('sample_fraction = 0\n' + MINIMAL, "key 'sample_fraction'"),
        ('sample_fraction = 1.5\n' + MINIMAL, "key 'sample_fraction'"),
        ('seeds = [1, 2]\nreplications = 2\n' + MINIMAL, "key 'replications': give either seeds or replications"),
        ('seeds = [1, 1]\n' + MINIMAL, "key 'seeds': seeds repeat"),
        ('seeds = []\n' + MINIMAL, "key 'seeds'"),
        ('name = "demo"\nquestion = "q"\n', "key 'scenarios': Field required"),
        ('name = "two words"\nquestion = "q"\n[scenarios.b]\n', "key 'name'"),
        (MINIMAL + '[sweep]\nparameters = {"parameters.choice.coefficients.habit" = []}\n',
         "key 'sweep.parameters.parameters.choice.coefficients.habit': List should have at least 1 item"),
        (MINIMAL + "[sweep]\nparameters = {}\n", "key 'sweep.parameters'"),
        (MINIMAL + '[sweep]\nparameters = {"choice.habit" = [1.0]}\n', "must start with 'parameters.'"),
        (MINIMAL + '[sweep]\nparameters = {"levers.narrow.lanes" = [1]}\n', "no scenario has a lever with id 'narrow'"),
        (MINIMAL + '[sweep]\nmode = "list"\nparameters = {"parameters.a.b" = [1, 2], "parameters.a.c" = [1]}\n',
         "in list mode every value list needs the same length"),
        (MINIMAL + '[sweep]\nmode = "zip"\nparameters = {"parameters.a.b" = [1]}\n', "key 'sweep.mode'"),
        (MINIMAL + '[outputs]\ntables = ["mode_split", "co3"]\n', "unknown table 'co3'"),
        (MINIMAL + '[inputs]\nzones = "missing.toml"\n', "key 'inputs.zones': file not found"),
    ],
)
def test_mistakes_name_the_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    message = error_of(path)
    assert message.startswith(str(path)) and expected in message
    assert "\n" not in message


def test_bad_toml_names_line_and_column(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, 'name = "demo"\nquestion = \n'))
    assert "invalid TOML" in message and "line 2, column 12" in message


def test_missing_file(tmp_path: Path) -> None:
    assert "file not found" in error_of(tmp_path / "nope.toml")


def test_example_experiments_are_valid() -> None:
    folder = Path(__file__).resolve().parents[1] / "experiments"
    files = sorted(folder.glob("*.toml"))
    assert files, "no experiment files"
    for path in files:
        config = load_config(path)
        assert tomllib.loads(resolved_toml(config))["name"] == config.name
