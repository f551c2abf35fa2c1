"""docs/outputs.md is generated from the schemas: the committed page must equal what the generator writes."""

from __future__ import annotations

import pytest

from model import outputs_docs
from model.errors import VmobError
from model.outputs import SCHEMAS, TABLES


def test_committed_page_equals_the_generated_text():
    text = outputs_docs.PAGE.read_text(encoding="utf-8")
    assert outputs_docs.render(text) == text, "docs/outputs.md is out of date: run python -m model.outputs_docs"


def test_every_column_of_every_table_is_on_the_page():
    text = outputs_docs.PAGE.read_text(encoding="utf-8")
    for name, schema in SCHEMAS.items():
        section = text.split(f"### `{name}`\n", 1)[1].split("\n### ", 1)[0]
        for field in schema["fields"]:
            assert f"`{field['name']}`" in section, (name, field["name"])


def test_a_new_table_appears_with_one_schema_entry(monkeypatch):
    monkeypatch.setitem(SCHEMAS, "ridership", {"description": "Boardings per stop.", "vmobDerived": False, "primaryKey": ["experiment"],
                            "fields": [{"name": "experiment", "type": "string", "description": "Experiment name."},
                                       {"name": "boardings", "type": "number", "unit": "persons/day",
                                        "description": "Boardings.", "constraints": {"minimum": 0}}]})
    monkeypatch.setattr(outputs_docs, "TABLES", (*TABLES, "ridership"))
    page = outputs_docs.render(outputs_docs.PAGE.read_text(encoding="utf-8"))
    assert "### `ridership`" in page
    assert "| `boardings` | number | persons/day | ≥ 0 | Boardings. |" in page
    assert "| [`ridership`](#ridership) | Boardings per stop." in page


def test_a_page_without_the_blocks_is_refused():
    with pytest.raises(VmobError, match="generated:index"):
        outputs_docs.render("# Outputs\n\nno blocks\n")


def test_check_mode_reports_a_stale_page(tmp_path):
    stale = tmp_path / "outputs.md"
    text = outputs_docs.PAGE.read_text(encoding="utf-8")
    stale.write_text(text.replace("| `co2_t` |", "| `co2_tonnes` |"), encoding="utf-8")
    assert outputs_docs.main(["--check", "--page", str(stale)]) == 1
    assert outputs_docs.main(["--page", str(stale)]) == 0
    assert outputs_docs.main(["--check", "--page", str(stale)]) == 0
