"""The dashboard's lever controls, generated from the lever classes of :mod:`model.levers`.

Every lever class in :data:`model.levers.LeverConfig` becomes a :class:`LeverForm`: one
:class:`FieldControl` per pydantic field, whose widget follows the field's type (a checkbox
for ``bool``, a number box with the field's range for ``int``/``float``, a date box, a select
for a ``Literal`` or a name the inputs know, a multi-select for a list of them, a text box for
lists of words or numbers, and an inline TOML value, as in an experiment file, for anything
else). Labels and help come from the field's ``description``, else from the lever's table in
``docs/levers.md``. A new lever class therefore appears on the page without a dashboard edit.

The forms' values are plain text, booleans and lists; :func:`lever_from_values` parses them and
validates the lever with the same pydantic model an experiment file goes through, so the page
refuses exactly what ``vmob run`` refuses, with a one-line message naming the field.

Presets are the scenarios of ``experiments/climate_plan.toml`` (:func:`presets`), read from the
file, so the page and the experiments never disagree on a number.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, SupportsFloat, cast

import annotated_types
import numpy as np
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from model.errors import VmobError
from model.levers import APPRAISAL_FIELDS, Lever, LeverConfig
from model.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from model.simulation import ModelContext

#: The experiment whose scenarios are the page's presets.
PRESETS_FILE = PROJECT_ROOT / "experiments" / "climate_plan.toml"
#: The lever documentation whose per-lever tables give a field's help when the class has no description.
LEVER_DOCS = PROJECT_ROOT / "docs" / "levers.md"
#: Fields not shown: the discriminator, the sweep id (the page runs no sweeps), and the lever's cost and
#: decision tag (they do not change a run; a preset's are kept, see :func:`values_of`).
HIDDEN_FIELDS = ("kind", "id", *sorted(APPRAISAL_FIELDS))
#: Fields whose values are names the inputs know: the network's roads, the transit lines and stations.
NAMED_CHOICES = {"roads": "roads", "line": "lines", "station": "stations", "last_stop": "stations"}

Widget = Literal["checkbox", "integer", "number", "date", "select", "multiselect", "words", "numbers", "toml"]


@dataclass(frozen=True)
class FieldControl:
    """One input of a lever form, derived from a pydantic field.

    Attributes
    ----------
    name
        The lever field.
    widget
        How the page edits it (see the module docstring).
    label
        The field name in words.
    help
        The field's description (empty when neither the class nor docs/levers.md has one).
    required
        The field has no default.
    optional
        ``None`` is allowed (a blank box).
    minimum, maximum
        Bounds of a number, with ``exclusive_minimum`` / ``exclusive_maximum`` for ``gt`` / ``lt``.
    choices
        The values of a ``Literal``, or the name of the inputs' list (``"roads"``, ``"lines"``,
        ``"stations"``) for :func:`choices`.
    """

    name: str
    widget: Widget
    label: str
    help: str
    required: bool
    optional: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple[str, ...] | str = ()

    def range_text(self) -> str:
        """The allowed range in words, e.g. ``"> 0 and ≤ 130"`` (empty when unbounded)."""
        parts = []
        if self.minimum is not None:
            parts.append(f"{'>' if self.exclusive_minimum else '≥'} {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"{'<' if self.exclusive_maximum else '≤'} {self.maximum:g}")
        return " and ".join(parts)


@dataclass(frozen=True)
class LeverForm:
    """The controls of one lever kind."""

    kind: str
    title: str
    summary: str
    fields: tuple[FieldControl, ...]

    def field(self, name: str) -> FieldControl:
        """The control of the field ``name``."""
        return next(f for f in self.fields if f.name == name)


# ----------------------------------------------------------------------------- the table


def lever_classes() -> dict[str, type[Lever]]:
    """Kind → lever class, in the order of :data:`model.levers.LeverConfig`."""
    union = typing.get_args(LeverConfig)[0]
    classes = typing.get_args(union)
    return {typing.get_args(cls.model_fields["kind"].annotation)[0]: cls for cls in classes}


@functools.cache
def control_table() -> tuple[LeverForm, ...]:
    """One form per lever class, generated from the classes' fields (see the module docstring)."""
    documented = _documented_fields()
    forms = []
    for kind, cls in lever_classes().items():
        docs = {**documented.get("", {}), **documented.get(kind, {})}
        fields = tuple(
            field_control(name, info, docs.get(name, ""))
            for name, info in cls.model_fields.items() if name not in HIDDEN_FIELDS
        )
        summary = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        forms.append(LeverForm(kind, _words(kind).capitalize(), summary, fields))
    return tuple(forms)


def form(kind: str) -> LeverForm:
    """The form of one lever kind; a :class:`VmobError` for an unknown kind."""
    for lever_form in control_table():
        if lever_form.kind == kind:
            return lever_form
    raise VmobError(f"unknown lever kind '{kind}' (known: {', '.join(lever_classes())})")


def field_control(name: str, info: FieldInfo, documented: str = "") -> FieldControl:
    """The control of one pydantic field: widget from its type, bounds from its constraints."""
    annotation, optional = _strip_none(info.annotation)
    bounds: dict[str, Any] = {}
    for constraint in info.metadata:
        if isinstance(constraint, annotated_types.Ge):
            bounds.update(minimum=float(cast(SupportsFloat, constraint.ge)))
        elif isinstance(constraint, annotated_types.Gt):
            bounds.update(minimum=float(cast(SupportsFloat, constraint.gt)), exclusive_minimum=True)
        elif isinstance(constraint, annotated_types.Le):
            bounds.update(maximum=float(cast(SupportsFloat, constraint.le)))
        elif isinstance(constraint, annotated_types.Lt):
            bounds.update(maximum=float(cast(SupportsFloat, constraint.lt)), exclusive_maximum=True)
    widget, choices = _widget(name, annotation)
    return FieldControl(
        name=name, widget=widget, label=_words(name), help=info.description or documented,
        required=info.is_required(), optional=optional, choices=choices, **bounds,
    )


def _strip_none(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) < len(typing.get_args(annotation))
    return annotation, False


def _widget(name: str, annotation: Any) -> tuple[Widget, tuple[str, ...] | str]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is bool:
        return "checkbox", ()
    if annotation is int:
        return "integer", ()
    if annotation is float:
        return "number", ()
    if annotation is dt.date:
        return "date", ()
    if origin is Literal:
        return "select", tuple(str(a) for a in args)
    if annotation is str:
        return ("select", NAMED_CHOICES[name]) if name in NAMED_CHOICES else ("words", ())
    if origin is list and len(args) == 1:
        item = args[0]
        if typing.get_origin(item) is Literal:
            return "multiselect", tuple(str(a) for a in typing.get_args(item))
        if item is str:
            return ("multiselect", NAMED_CHOICES[name]) if name in NAMED_CHOICES else ("words", ())
        if item in (int, float):
            return "numbers", ()
    return "toml", ()


def _words(name: str) -> str:
    return name.replace("_kph", " (km/h)").replace("_min", " (min)").replace("_", " ")


@functools.cache
def _documented_fields(path: Path = LEVER_DOCS) -> dict[str, dict[str, str]]:
    """``{kind: {field: meaning}}`` from the key tables of docs/levers.md (``""``: keys every lever has)."""
    if not path.is_file():
        return {}
    tables: dict[str, dict[str, str]] = {"": {}}
    section = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## (\w+)\s*$", line)
        if heading:
            section = heading.group(1)
            tables.setdefault(section, {})
            continue
        row = re.match(r"^\| `(\w+)` \|(.*)\|\s*$", line)
        if row:
            cells = [c.strip() for c in row.group(2).split("|")]
            tables.setdefault(section, {})[row.group(1)] = cells[-1].replace("`", "")
    return tables


# ----------------------------------------------------------------------------- choices from the inputs


def choices(control: FieldControl, context: ModelContext) -> list[str]:
    """The values a select offers: a ``Literal``'s, or the inputs' roads (inside the boundary first), lines or stations."""
    if isinstance(control.choices, tuple):
        return list(control.choices)
    if control.choices == "roads":  # the municipality's own roads first
        edges = context.edges
        named = edges.drive | edges.bike
        inside = sorted({str(n) for n in edges.name[named & (edges.inside_share > 0.5)] if n})
        return inside + sorted({str(n) for n in edges.name[named] if n} - set(inside))
    if control.choices == "lines":
        return list(context.transit.lines)
    return sorted(context.transit.stations)


def road_state(roads: list[str], context: ModelContext) -> str:
    """What the roads are today: posted limits and total lanes, inside and outside the boundary.

    E.g. ``"Søndre Ringvej: 60 km/h, 4 lanes inside; 60 km/h, 4 lanes outside"``.
    """
    edges = context.edges
    inside = edges.inside_share > 0.5
    parts = []
    for road in roads:
        on = edges.road_mask([road]) & edges.drive
        if not on.any():
            parts.append(f"{road}: no drivable link")
            continue
        areas = []
        for where, mask in (("inside", on & inside), ("outside", on & ~inside)):
            if mask.any():
                limits = "/".join(f"{v:g}" for v in np.unique(np.rint(edges.maxspeed_kph[mask])))
                lanes = "/".join(str(v) for v in np.unique(edges.lanes_total[mask]))
                areas.append(f"{limits} km/h, {lanes} lanes {where}")
        parts.append(f"{road}: {'; '.join(areas)}")
    return " · ".join(parts)


# ----------------------------------------------------------------------------- values ↔ levers


def values_of(lever: Lever) -> dict[str, Any]:
    """The form values that give back ``lever`` (for editing a lever or loading a preset)."""
    lever_form = form(lever.kind)  # type: ignore[attr-defined]
    data = lever.model_dump(mode="python")
    values = {control.name: _to_widget(control, data.get(control.name)) for control in lever_form.fields}
    # cost and decision tag have no control (they do not change a run) but stay with the lever
    values.update({name: data[name] for name in sorted(APPRAISAL_FIELDS) if data.get(name) is not None})
    return values


def initial_values(kind: str, examples: list[Lever] | None = None) -> dict[str, Any]:
    """A new form's values: the first preset lever of that kind when there is one, else the defaults."""
    for lever in examples if examples is not None else preset_levers():
        if lever.kind == kind:  # type: ignore[attr-defined]
            return values_of(lever)
    cls = lever_classes()[kind]
    return {
        control.name: _to_widget(
            control, None if control.required else cls.model_fields[control.name].get_default(call_default_factory=True)
        )
        for control in form(kind).fields
    }


def _to_widget(control: FieldControl, value: Any) -> Any:
    if control.widget == "checkbox":
        return bool(value)
    if control.widget == "multiselect":
        return [str(v) for v in value or []]
    if value is None:
        return ""
    if control.widget in ("integer", "number"):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if control.widget == "date":
        return value.isoformat()
    if control.widget in ("words", "numbers"):
        return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) if isinstance(value, list) else str(value)
    if control.widget == "select":
        return str(value)
    return inline_toml(value)


def inline_toml(value: Any) -> str:
    """A value as inline TOML, as it would be written in an experiment file (``None`` entries left out)."""
    import tomlkit

    if isinstance(value, BaseModel):
        value = value.model_dump(mode="python")
    if isinstance(value, dict):
        items = [f"{_toml_key(k)} = {inline_toml(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(inline_toml(v) for v in value) + "]"
    return tomlkit.item(value).as_string()


def _toml_key(key: Any) -> str:
    text = str(key)
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else f'"{text}"'


def lever_from_values(kind: str, values: dict[str, Any]) -> Lever:
    """Parse a form's values and validate the lever as an experiment file's entry would be.

    Raises
    ------
    VmobError
        One line naming the lever and the field, e.g.
        ``"Speed limit, limit (km/h): Input should be less than or equal to 130"``.
    """
    lever_form = form(kind)
    data: dict[str, Any] = {"kind": kind}
    for control in lever_form.fields:
        raw = values.get(control.name)
        try:
            parsed = _parse(control, raw)
        except ValueError as err:
            raise VmobError(f"{lever_form.title}, {control.label}: {err}") from None
        if parsed is not _UNSET:
            data[control.name] = parsed
    data.update({name: values[name] for name in sorted(APPRAISAL_FIELDS) if values.get(name) is not None})
    try:
        return TypeAdapter(LeverConfig).validate_python(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = [str(part) for part in first["loc"][1:]]  # the first element is the kind (the union's tag)
        where = lever_form.field(loc[0]).label if loc and loc[0] in {f.name for f in lever_form.fields} else ""
        detail = ".".join(loc[1:])
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        message = str(first["msg"]).removeprefix("Value error, ")
        label = f"{lever_form.title}, {where}{'.' + detail if detail else ''}" if where else lever_form.title
        raise VmobError(f"{label}: {message}{more}") from None


_UNSET = object()


def _parse(control: FieldControl, raw: Any) -> Any:
    """A widget's value as the field's Python value; :data:`_UNSET` leaves the field at its default."""
    if control.widget in ("checkbox", "multiselect"):
        return raw if raw is not None else _UNSET
    text = "" if raw is None else str(raw).strip()
    if not text:
        if control.optional:
            return None
        if control.widget in ("words", "numbers"):
            return []
        if control.required:
            raise ValueError("required")
        return _UNSET
    if control.widget == "integer":
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(f"'{text}' is not a whole number")
        return int(text)
    if control.widget == "number":
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a number") from None
        if not np.isfinite(value):
            raise ValueError(f"'{text}' is not a finite number")
        return value
    if control.widget == "date":
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a date; write it as YYYY-MM-DD") from None
    if control.widget == "words":
        return [part.strip() for part in text.split(",") if part.strip()]
    if control.widget == "numbers":
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if not all(re.fullmatch(r"[+-]?\d+", p) for p in parts):
            raise ValueError(f"'{text}' is not a comma-separated list of whole numbers")
        return [int(p) for p in parts]
    if control.widget == "select":
        return text
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"'{text}' is not a TOML value ({err})") from None


def lever_summary(lever: Lever) -> str:
    """A short line for the lever list: its kind and the fields set away from their defaults."""
    lever_form = form(lever.kind)  # type: ignore[attr-defined]
    defaults = initial_values(lever.kind, examples=[])  # type: ignore[attr-defined]
    values = values_of(lever)
    shown = []
    for control in lever_form.fields:
        value = values[control.name]
        if control.name != "start" and value == defaults.get(control.name):
            continue
        if control.widget == "checkbox":
            shown.append(control.label if value else f"not {control.label}")
        elif control.widget == "multiselect":
            shown.append(f"{control.label}: {', '.join(value)}")
        else:
            shown.append(f"{control.label} {value}")
    return f"{lever_form.title}: " + "; ".join(shown)


# ----------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class Preset:
    """A scenario of the presets file: its name, description and levers."""

    name: str
    description: str
    levers: tuple[Lever, ...]


@functools.cache
def presets(path: Path = PRESETS_FILE) -> tuple[Preset, ...]:
    """The scenarios of ``path`` (default ``experiments/climate_plan.toml``), in file order."""
    from model.config import load_config

    config = load_config(path)
    return tuple(Preset(name, scenario.description, tuple(scenario.levers)) for name, scenario in config.scenarios.items())


def preset_levers() -> list[Lever]:
    """Every lever of every preset (the example values of new forms)."""
    return [lever for preset in presets() for lever in preset.levers]
