"""Write the generated parts of ``docs/outputs.md`` from the table schemas, so the page cannot drift.

The page is prose written by people with blocks the schemas own, each between two markers::

    <!-- generated:tables:start -->  ...  <!-- generated:tables:end -->

:func:`render` returns the page with every block rebuilt from :data:`model.outputs.SCHEMAS`
(a new table there appears on the page with no other change). Run::

    python -m model.outputs_docs           # rewrite docs/outputs.md
    python -m model.outputs_docs --check   # exit 1 when the committed page differs
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from model.errors import VmobError
from model.outputs import DERIVED_TABLES, SCHEMAS, TABLES, foreign_keys

#: The page the generator keeps.
PAGE = Path(__file__).resolve().parents[1] / "docs" / "outputs.md"
_BLOCK = re.compile(r"(<!-- generated:(?P<name>[a-z_]+):start -->\n)(?P<body>.*?)(<!-- generated:(?P=name):end -->)", re.S)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _range(field: dict[str, Any]) -> str:
    c = field.get("constraints", {})
    parts = []
    if "enum" in c:
        parts.append(", ".join(map(str, c["enum"])))
    if "minimum" in c:
        parts.append(f"≥ {c['minimum']:g}")
    if "maximum" in c:
        parts.append(f"≤ {c['maximum']:g}")
    if c.get("required"):
        parts.append("required")
    return "; ".join(parts)


def _keys_text(name: str) -> str:
    fks = foreign_keys(name, SCHEMAS)
    text = f"Primary key: `{', '.join(SCHEMAS[name]['primaryKey'])}`."
    for fk in fks:
        ref = fk["reference"]
        text += (f" Foreign key: `{', '.join(fk['fields'])}` → `{ref['resource']}` "
                 f"(`{', '.join(ref['fields'])}`).")
    return text


def table_section(name: str) -> str:
    """The Markdown section of one table: description, keys and one line per column."""
    schema = SCHEMAS[name]
    origin = "Written by the runner from all runs' tables." if name in DERIVED_TABLES else "Rows of every run."
    lines = [
        f"### `{name}`",
        "",
        f"{schema['description']} {origin} {_keys_text(name)}",
        "",
        "| column | type | unit | allowed values / range | description |",
        "|---|---|---|---|---|",
    ]
    for f in schema["fields"]:
        column = f"**`{f['name']}`**" if f["name"] in schema["primaryKey"] else f"`{f['name']}`"
        lines.append(f"| {column} | {f['type']} | {_cell(f.get('unit', ''))} | {_cell(_range(f))} | {_cell(f['description'])} |")
    return "\n".join(lines) + "\n"


def tables_block() -> str:
    """Every table's section, in writing order."""
    intro = ("Generated from `model.outputs.SCHEMAS` by `python -m model.outputs_docs`; do not edit by hand. "
             "Key columns are in bold.\n\n")
    return intro + "\n".join(table_section(n) for n in TABLES + DERIVED_TABLES)


def index_block() -> str:
    """One line per table: what it holds, its primary key and where its foreign keys point."""
    lines = ["| table | content | primary key | foreign keys |", "|---|---|---|---|"]
    for name in TABLES + DERIVED_TABLES:
        fks = "; ".join(f"{', '.join(fk['fields'])} → {fk['reference']['resource']}" for fk in foreign_keys(name, SCHEMAS))
        lines.append(f"| [`{name}`](#{name}) | {_cell(SCHEMAS[name]['description'])} | "
                     f"{', '.join(SCHEMAS[name]['primaryKey'])} | {fks} |")
    return "\n".join(lines) + "\n"


#: Generated block name → the function that writes it.
BLOCKS: dict[str, Callable[[], str]] = {"index": index_block, "tables": tables_block}


def render(text: str) -> str:
    """``text`` with every generated block rebuilt.

    Raises
    ------
    VmobError
        A block name without a generator, or a generator whose block is not on the page.
    """
    seen: set[str] = set()

    def rebuild(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in BLOCKS:
            raise VmobError(f"{PAGE}: unknown generated block '{name}' (known: {', '.join(BLOCKS)})")
        seen.add(name)
        return match.group(1) + BLOCKS[name]() + match.group(4)

    out = _BLOCK.sub(rebuild, text)
    missing = [b for b in BLOCKS if b not in seen]
    if missing:
        raise VmobError(f"{PAGE}: no '<!-- generated:{missing[0]}:start -->' ... ':end -->' block")
    return out


def main(argv: list[str] | None = None) -> int:
    """Rewrite the page, or with ``--check`` say whether it is up to date (exit 1 when not)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when docs/outputs.md differs")
    parser.add_argument("--page", type=Path, default=PAGE)
    args = parser.parse_args(argv)
    text = args.page.read_text(encoding="utf-8")
    new = render(text)
    if args.check:
        if new != text:
            print(f"{args.page} is out of date: run python -m model.outputs_docs", file=sys.stderr)
            return 1
        return 0
    args.page.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
