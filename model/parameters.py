"""Behavioural and technical parameters, read from ``experiments/parameters/*.toml``.

Every number the model uses lives in those files with its source; this module
only gives them a schema. An experiment may override any value by its dotted
path (``choice.coefficients.habit = 0.5``); see :func:`apply_overrides`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from model.errors import VmobError
from model.files import parse_model, read_toml
from model.settings import CALIBRATION_DIR, PARAMETERS_DIR
from model.vocabulary import FALLBACK_MODE, POWERTRAINS, Schema, known_modes

YearSeries = dict[int, float]


def interpolate(series: YearSeries, year: int, growth_after: float = 0.0) -> float:
    """Value of a year-keyed series: linear between known years, then growth or flat.

    Parameters
    ----------
    series
        ``{year: value}`` with at least one entry.
    year
        The year wanted.
    growth_after
        Yearly relative growth after the last known year (0 keeps it flat).
    """
    years = sorted(series)
    if year >= years[-1]:
        return series[years[-1]] * (1.0 + growth_after) ** (year - years[-1])
    return float(np.interp(year, years, [series[y] for y in years]))


class Residents(Schema):
    population: YearSeries
    growth_after_last_year: float = Field(ge=-0.05, le=0.05)
    commuters_per_resident: float = Field(gt=0, le=1)
    no_car_share: float = Field(ge=0, le=1)
    bike_share: float = Field(ge=0, le=1)
    ebike_share_2019: float = Field(ge=0, le=1)
    ebike_share_growth_per_year: float = Field(ge=0, le=0.1)

    @field_validator("population")
    @classmethod
    def _positive(cls, value: YearSeries) -> YearSeries:
        if not value or any(v <= 0 for v in value.values()):
            raise ValueError("population counts must be positive")
        return value

    def population_in(self, year: int) -> float:
        """Residents on 1 January of ``year``."""
        return interpolate(self.population, year, self.growth_after_last_year)


class Jobs(Schema):
    count: YearSeries
    growth_after_last_year: float = Field(ge=-0.05, le=0.05)
    growth_until: int

    @field_validator("count")
    @classmethod
    def _positive(cls, value: YearSeries) -> YearSeries:
        if not value or any(v <= 0 for v in value.values()):
            raise ValueError("job counts must be positive")
        return value

    def count_in(self, year: int) -> float:
        """Jobs located in the municipality in ``year``."""
        capped = min(year, max(self.growth_until, max(self.count)))
        return interpolate(self.count, capped, self.growth_after_last_year)


class InCommuters(Schema):
    no_car_share: float = Field(ge=0, le=1)


class Gravity(Schema):
    target_mean_km: float = Field(gt=0)
    target_local_share: float = Field(gt=0, lt=1)
    beta_min: float = Field(ge=0)
    beta_max: float = Field(gt=0)
    local_factor_max: float = Field(gt=1)


class ValueOfTime(Schema):
    mean_dkk_per_hour: float
    log_sd: float = Field(ge=0, le=2)

    @field_validator("mean_dkk_per_hour")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("the value of time must be positive (DKK per hour)")
        return value


class PopulationParameters(Schema):
    residents: Residents
    jobs: Jobs
    in_commuters: InCommuters
    gravity: Gravity
    value_of_time: ValueOfTime
    taste_sd: dict[str, float]


class Coefficients(Schema):
    time_min: float
    bike_time_weight: float = Field(gt=0)
    walk_time_weight: float = Field(gt=0)
    bike_distance_decay_per_km: float = Field(ge=0)
    bike_decay_free_km: float = Field(ge=0)
    ebike_decay_factor: float = Field(ge=0, le=1)
    cycletrack: float
    wait_weight: float = Field(gt=0)
    access_weight: float = Field(gt=0)
    transfer_penalty_min: float = Field(ge=0)
    habit: float = Field(ge=0)

    @field_validator("time_min")
    @classmethod
    def _negative_time(cls, value: float) -> float:
        if value >= 0:
            raise ValueError("the time coefficient must be negative (more time is worse)")
        return value


class Access(Schema):
    walk_access_max_km: float = Field(gt=0)
    bike_access_max_km: float = Field(gt=0)
    egress_max_km: float = Field(gt=0)
    bike_parking_min: float = Field(ge=0)
    max_wait_min: float = Field(gt=0)
    rail_detour: float = Field(ge=1)
    transfer_walk_max_m: float = Field(ge=0)
    walk_detour: float = Field(ge=1)
    no_cycletrack_penalty: float = Field(ge=0)
    intra_zone_km: float = Field(gt=0)
    intra_zone_car_kph: float = Field(gt=0)


class Availability(Schema):
    walk_max_km: float = Field(gt=0)
    bike_max_km: float = Field(gt=0)
    ebike_max_km: float = Field(gt=0)


class Costs(Schema):
    running_dkk_per_km: dict[str, float]
    ownership_dkk_per_km: dict[str, float]
    ownership_share_perceived: float = Field(ge=0, le=1)
    parking_dkk_per_trip: dict[str, float]
    fare_by_zones: list[float] = Field(min_length=2)
    fare_per_extra_zone: float = Field(ge=0)
    zone_km: float = Field(gt=0)
    period_card_factor: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _powertrains(self) -> "Costs":
        for key in ("running_dkk_per_km", "ownership_dkk_per_km"):
            missing = set(POWERTRAINS) - set(getattr(self, key))
            if missing:
                raise ValueError(f"{key} lacks {', '.join(sorted(missing))}")
            if any(v < 0 for v in getattr(self, key).values()):
                raise ValueError(f"{key}: costs cannot be negative")
        return self


class Reconsideration(Schema):
    base_rate: float = Field(ge=0, le=1)
    job_change_rate: float = Field(ge=0, le=1)


class ChoiceParameters(Schema):
    modes: list[str]
    coefficients: Coefficients
    access: Access
    availability: Availability
    costs: Costs
    constants: dict[str, float]
    reconsideration: Reconsideration

    @model_validator(mode="after")
    def _modes(self) -> "ChoiceParameters":
        unknown = [m for m in self.modes if m not in known_modes()]
        if unknown:
            raise ValueError(f"unknown mode {', '.join(unknown)} (known: {', '.join(known_modes())})")
        if len(set(self.modes)) != len(self.modes):
            raise ValueError("modes lists a mode twice")
        if FALLBACK_MODE not in self.modes:
            raise ValueError(f"modes must include '{FALLBACK_MODE}' (it loads the road network)")
        missing = set(self.modes) - set(self.constants)
        if missing:
            raise ValueError(f"constants lacks {', '.join(sorted(missing))}")
        return self


class AssignmentParameters(Schema):
    bpr_alpha: float = Field(ge=0)
    bpr_beta: float = Field(ge=1)
    max_iterations: int = Field(ge=1, le=100)
    relative_gap: float = Field(gt=0)
    attendance: float = Field(gt=0, le=1)
    working_days_per_year: float = Field(gt=0, le=366)
    peak_hour_share: float = Field(gt=0, le=1)
    peak_period_vkm_share: float = Field(ge=0, le=1)
    car_occupancy: float = Field(ge=1)
    through_peak_hour_factor: float = Field(gt=0, le=1)
    days_per_year: float = Field(gt=0, le=366)
    visitor_trips_per_job: float = Field(ge=0)
    visitor_days_per_year: float = Field(gt=0, le=366)


class Replacement(Schema):
    mean_holding_years: float = Field(gt=0)
    max_initial_age: int = Field(ge=0)


class Chargers(Schema):
    elasticity: float = Field(ge=0)
    home_charging_floor_per_1000: float = Field(ge=0)
    national_per_1000: YearSeries
    baseline_local: YearSeries


class NationalStock(Schema):
    turnover_per_year: float = Field(gt=0, le=1)


class FleetParameters(Schema):
    stock_2019: dict[str, float]
    new_sales: dict[str, YearSeries]
    replacement: Replacement
    chargers: Chargers
    national: NationalStock

    @model_validator(mode="after")
    def _shares(self) -> "FleetParameters":
        unknown = (set(self.stock_2019) | set(self.new_sales)) - set(POWERTRAINS)
        if unknown:
            raise ValueError(f"unknown powertrain {', '.join(sorted(unknown))} (known: {', '.join(POWERTRAINS)})")
        if abs(sum(self.stock_2019.values()) - 1.0) > 1e-6:
            raise ValueError("stock_2019 shares must sum to 1")
        return self

    def new_sales_shares(self, year: int) -> dict[str, float]:
        """New-car sales shares by powertrain in ``year`` (petrol takes the rest)."""
        shares = {p: min(max(interpolate(s, year), 0.0), 1.0) for p, s in self.new_sales.items() if p != "petrol"}
        total = sum(shares.values())
        if total > 1.0:
            shares = {p: v / total for p, v in shares.items()}
            total = 1.0
        shares["petrol"] = 1.0 - total
        return {p: shares.get(p, 0.0) for p in POWERTRAINS}


class ModelParameters(Schema):
    """Everything behavioural and technical the simulation needs, in one object."""

    population: PopulationParameters
    choice: ChoiceParameters
    assignment: AssignmentParameters
    fleet: FleetParameters


PARAMETER_FILES = {
    "population": "population.toml",
    "choice": "mode_choice.toml",
    "assignment": "assignment.toml",
    "fleet": "fleet.toml",
}


def load_parameter_data(folder: Path | None = None, calibrated: bool = True) -> dict[str, Any]:
    """Raw parameter data from the files, with the calibrated constants merged in."""
    folder = Path(folder or PARAMETERS_DIR)
    data = {section: read_toml(folder / name) for section, name in PARAMETER_FILES.items()}
    constants_file = CALIBRATION_DIR / "constants.toml"
    if calibrated and constants_file.is_file():
        constants = read_toml(constants_file).get("constants", {})
        data["choice"]["constants"] = {**data["choice"]["constants"], **constants}
    return data


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any], source: str = "overrides") -> dict[str, Any]:
    """Return a copy of ``data`` with dotted-path overrides applied.

    Raises
    ------
    VmobError
        If a path does not name an existing parameter.
    """
    data = copy.deepcopy(data)
    for path, value in overrides.items():
        node = data
        parts = path.split(".")
        for depth, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node:
                raise VmobError(f"{source}: unknown parameter '{path}' (no '{'.'.join(parts[: depth + 1])}')")
            node = node[part]
        leaf = parts[-1]
        if not isinstance(node, dict) or (leaf not in node and not _is_open_table(node)):
            raise VmobError(f"{source}: unknown parameter '{path}'")
        node[leaf] = value
    return data


def _is_open_table(node: dict) -> bool:
    """Tables keyed by data (years, destination ids) accept new keys."""
    return all(str(k).isdigit() for k in node) or node.get("__open__", False)


def load_parameters(overrides: dict[str, Any] | None = None, folder: Path | None = None, calibrated: bool = True) -> ModelParameters:
    """Read, override and validate all parameter files.

    Parameters
    ----------
    overrides
        Dotted paths to values, e.g. ``{"choice.coefficients.habit": 0.5}``.
    folder
        Parameter folder; defaults to ``experiments/parameters``.
    calibrated
        Merge ``experiments/calibration/constants.toml`` into the constants.
    """
    data = apply_overrides(load_parameter_data(folder, calibrated), overrides or {})
    return parse_model(ModelParameters, data, Path(folder or PARAMETERS_DIR))
