"""Rail lines (S-train and Hovedstadens Letbane): stations, stops, dated services."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from model.errors import VmobError
from model.files import StrictModel, load_toml_model
from model.settings import DEFAULT_NETWORK_DIR

DEFAULT_TRANSIT = DEFAULT_NETWORK_DIR / "transit.toml"


class Station(StrictModel):
    """A station or stop, shared by every line that calls there."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    source: str


class Service(StrictModel):
    """A dated service pattern; the latest one that has started applies."""

    start: dt.date
    headway_peak_min: float = Field(ge=0)
    headway_offpeak_min: float = Field(ge=0)
    last_stop: str | None = None


class Line(StrictModel):
    """A rail line: ordered stops, in-vehicle minutes between them, and its services."""

    id: str
    name: str
    mode: Literal["s_train", "light_rail"]
    source: str
    stops: list[str] = Field(min_length=2)
    minutes: list[float]
    skip: list[str] = Field(default_factory=list)
    services: list[Service] = Field(min_length=1)
    planned: bool = Field(default=False, description="Runs only once a transit_line lever opens it.")
    extra_stop_min: float = Field(default=1.0, ge=0, description="Minutes added when a skipped stop is served.")

    @model_validator(mode="after")
    def _consistent(self) -> Line:
        if len(self.minutes) != len(self.stops) - 1:
            raise ValueError(
                f"line {self.id}: {len(self.stops)} stops need {len(self.stops) - 1} 'minutes' values, not {len(self.minutes)}"
            )
        if any(m <= 0 for m in self.minutes):
            raise ValueError(f"line {self.id}: in-vehicle minutes must be positive")
        for name in self.skip:
            if name not in self.stops:
                raise ValueError(f"line {self.id}: skipped stop '{name}' is not one of its stops")
        for service in self.services:
            if service.last_stop is not None and service.last_stop not in self.stops:
                raise ValueError(f"line {self.id}: last_stop '{service.last_stop}' is not one of its stops")
        return self

    def service_on(self, date: dt.date) -> Service | None:
        """The service pattern running on ``date``, or None before the line opens."""
        started = [s for s in self.services if s.start <= date]
        return max(started, key=lambda s: s.start) if started else None


class TransitFile(StrictModel):
    """The schema of ``transit.toml``."""

    stations: dict[str, Station] = Field(min_length=1)
    lines: list[Line] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_stations(self) -> TransitFile:
        for line in self.lines:
            for stop in line.stops:
                if stop not in self.stations:
                    raise ValueError(f"line {line.id}: stop '{stop}' is not in [stations]")
        ids = [line.id for line in self.lines]
        if len(set(ids)) != len(ids):
            raise ValueError("line ids must be unique")
        return self


@dataclass(frozen=True)
class RunningLine:
    """A line as it runs on one date: the stops it serves, minutes, headway."""

    id: str
    mode: str
    stops: tuple[str, ...]
    minutes: tuple[float, ...]
    headway_min: float


class Transit:
    """The rail network and the service each line runs on a date.

    Levers change it through :meth:`open_line` and :meth:`set_stop`; a copy per
    run keeps scenarios independent.
    """

    def __init__(self, spec: TransitFile, source: str = "transit.toml") -> None:
        self.source = source
        self.stations: dict[str, Station] = dict(spec.stations)
        self.lines: dict[str, Line] = {line.id: line for line in spec.lines}
        self.opened: set[str] = set()

    def copy(self) -> Transit:
        """An independent copy (levers modify lines)."""
        clone = Transit.__new__(Transit)
        clone.source = self.source
        clone.stations = dict(self.stations)
        clone.lines = dict(self.lines)
        clone.opened = set(self.opened)
        return clone

    def open_line(self, line_id: str, services: list[Service] | None = None) -> None:
        """Let a planned line run, optionally with other dated services."""
        line = self.line(line_id)
        new = list(services) if services else list(line.services)
        self.lines[line_id] = line.model_copy(update={"services": new})
        self.opened.add(line_id)

    def line(self, line_id: str) -> Line:
        """A line by id; a :class:`VmobError` lists the known lines otherwise."""
        if line_id not in self.lines:
            raise VmobError(f"unknown transit line '{line_id}' (known: {', '.join(self.lines)})")
        return self.lines[line_id]

    def check_station(self, name: str) -> None:
        """Raise a :class:`VmobError` naming the station if it does not exist."""
        if name not in self.stations:
            raise VmobError(f"unknown station '{name}' (known: {', '.join(sorted(self.stations))})")

    def set_stop(self, line_id: str, station: str, stops: bool) -> None:
        """Make ``line_id`` call at (or pass) ``station``, which must be on its route."""
        line = self.line(line_id)
        self.check_station(station)
        if station not in line.stops:
            raise VmobError(f"station '{station}' is not on line {line_id} (its stops: {', '.join(line.stops)})")
        if (station in line.skip) == (not stops):
            return
        skip = [s for s in line.skip if s != station] + ([] if stops else [station])
        minutes = list(line.minutes)
        leg = line.stops.index(station) - 1  # the leg arriving at the station carries the stop's time
        minutes[max(leg, 0)] += line.extra_stop_min if stops else -line.extra_stop_min
        self.lines[line_id] = line.model_copy(update={"skip": skip, "minutes": minutes})

    def add_service(self, line_id: str, service: Service) -> None:
        """Add a dated service pattern (e.g. a new headway from a date)."""
        line = self.line(line_id)
        self.lines[line_id] = line.model_copy(update={"services": [*line.services, service]})

    def running(self, date: dt.date, peak: bool = True) -> list[RunningLine]:
        """The lines that run on ``date`` with their served stops and headway."""
        result = []
        for line in self.lines.values():
            if line.planned and line.id not in self.opened:
                continue
            service = line.service_on(date)
            if service is None:
                continue
            headway = service.headway_peak_min if peak else service.headway_offpeak_min
            if headway <= 0:
                continue
            end = line.stops.index(service.last_stop) + 1 if service.last_stop else len(line.stops)
            stops, minutes, pending = [line.stops[0]], [], 0.0
            for stop, leg in zip(line.stops[1:end], line.minutes[: end - 1], strict=True):
                pending += leg
                if stop in line.skip:
                    continue
                stops.append(stop)
                minutes.append(pending)
                pending = 0.0
            if len(stops) >= 2:
                result.append(RunningLine(line.id, line.mode, tuple(stops), tuple(minutes), headway))
        return result


def load_transit(path: str | Path | None = None) -> Transit:
    """Read and validate ``transit.toml``.

    Parameters
    ----------
    path
        Defaults to the embedded ``networks/vallensbaek/transit.toml``.
    """
    path = Path(path or DEFAULT_TRANSIT)
    return Transit(load_toml_model(TransitFile, path), source=str(path))
