"""Reading inputs and writing outputs safely: TOML with clear errors, atomic writes."""

from __future__ import annotations

import hashlib
import os
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic import Strict as StrictType

from model.errors import VmobError

M = TypeVar("M", bound=BaseModel)

#: Deepest nesting of tables and arrays an input file may have (deeper is an error, not a crash).
MAX_TOML_DEPTH = 32

#: A year as a table key: TOML keys are text, so ``2019 = ...`` is read as the year 2019.
YearKey = Annotated[int, StrictType(False)]


class StrictModel(BaseModel):
    """The one base of every input schema: unknown keys, wrong types and NaN or infinity are errors.

    ``strict`` refuses text where a number belongs (``limit_kph = "80"``) and a float where an
    integer belongs; an integer is still accepted where a float belongs.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file; a missing file or a syntax error becomes a one-line error.

    Parameters
    ----------
    path
        The file.

    Raises
    ------
    VmobError
        Naming the file, and the line and column of a syntax error.
    """
    path = Path(path)
    if not path.is_file():
        raise VmobError(f"file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise VmobError(f"{path}: invalid TOML: {err}") from None
    except RecursionError:
        raise VmobError(f"{path}: tables or arrays nested too deeply (at most {MAX_TOML_DEPTH} levels)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise VmobError(f"{path}: cannot read file ({err})") from None
    if _depth(data) > MAX_TOML_DEPTH:
        raise VmobError(f"{path}: tables or arrays nested too deeply (at most {MAX_TOML_DEPTH} levels)")
    return data


def _depth(value: Any) -> int:
    """Nesting depth of tables and arrays, counted without recursion (a hostile file cannot overflow it)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_TOML_DEPTH:
            break
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def key_path(loc: tuple[Any, ...]) -> str:
    """Format a pydantic error location as ``a.b[0].c``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _input_path(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop the parts of a pydantic location that are not keys of the input.

    Tagged unions add the tag (``levers[0].lane_reduction.lanes_to``) and
    validators add ``function-...`` parts; users know only their file's keys.
    """
    kept: list[Any] = []
    node = data
    for part in loc:
        if isinstance(part, str) and part.startswith("function-"):
            continue
        if isinstance(part, str) and kept and node is not None and not isinstance(node, (dict, list)):
            continue  # a union member's name after a plain value (``zones.str``)
        if isinstance(node, dict) and isinstance(part, str) and part not in node and node.get("kind") == part:
            continue
        kept.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(kept)


#: Most faults listed in one error message.
MAX_FAULTS_SHOWN = 10


def join_faults(faults: list[str]) -> str:
    """Several faults as one line: ``fault; fault; ... and N more``."""
    shown = "; ".join(faults[:MAX_FAULTS_SHOWN])
    more = len(faults) - MAX_FAULTS_SHOWN
    return f"{shown}; and {more} more" if more > 0 else shown


def validation_message(err: ValidationError, source: str | Path, data: Any = None) -> str:
    """Every pydantic error on one line: the file, then each key path and problem."""
    faults = [f"key '{where}': {message}" for where, message in validation_errors(err, data)]
    return f"{source}: {join_faults(faults)}"


def validation_errors(err: ValidationError, data: Any = None) -> list[tuple[str, str]]:
    """``(key path, problem)`` of every pydantic error, in the input's own key names, one per key."""
    found: list[tuple[str, str]] = []
    for error in err.errors():
        loc = _input_path(tuple(error["loc"]), data)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "finite_number":
            message = f"must be a finite number, not {error.get('input')}"
        where = key_path(loc) or "(top level)"
        if where not in {key for key, _ in found}:  # a union reports each member; its first says enough
            found.append((where, message))
    return found


def parse_model(model: type[M], data: dict[str, Any], source: str | Path) -> M:
    """Validate ``data`` with a pydantic model, raising a one-line :class:`VmobError`."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise VmobError(validation_message(err, source, data)) from None


def load_toml_model(model: type[M], path: str | Path) -> M:
    """Read a TOML file and validate it with ``model``."""
    return parse_model(model, read_toml(path), path)


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it into place on success.

    Nothing is left behind if the block raises.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_umask())  # mkstemp makes it private; give it an ordinary file's mode
    try:
        yield tmp_path
        tmp_path.replace(target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    """The process's file-creation mask."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_sha256(path: str | Path) -> str:
    """sha256 hex digest of a file's bytes (for provenance and config hashes)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def project_relative(path: str | Path) -> str:
    """``path`` relative to the project root when it lies inside it, else as given."""
    from model.settings import PROJECT_ROOT

    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)
