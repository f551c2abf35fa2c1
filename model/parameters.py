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
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from model.errors import VmobError
from model.files import parse_model, read_toml
from model.settings import CALIBRATION_DIR, PARAMETERS_DIR

MODES = ("car", "bike", "walk", "s_train", "light_rail")
POWERTRAINS = ("petrol", "diesel", "phev", "bev")

YearSeries = dict[int, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class Residents(_Strict):
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


class Jobs(_Strict):
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


class InCommuters(_Strict):
    no_car_share: float = Field(ge=0, le=1)


class Gravity(_Strict):
    target_mean_km: float = Field(gt=0)
    target_local_share: float = Field(gt=0, lt=1)
    beta_min: float = Field(ge=0)
    beta_max: float = Field(gt=0)
    local_factor_max: float = Field(gt=1)


class ValueOfTime(_Strict):
    mean_dkk_per_hour: float
    log_sd: float = Field(ge=0, le=2)

    @field_validator("mean_dkk_per_hour")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("the value of time must be positive (DKK per hour)")
        return value


class PopulationParameters(_Strict):
    residents: Residents
    jobs: Jobs
    in_commuters: InCommuters
    gravity: Gravity
    value_of_time: ValueOfTime
    taste_sd: dict[str, float]


class Coefficients(_Strict):
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


class Access(_Strict):
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


class Availability(_Strict):
    walk_max_km: float = Field(gt=0)
    bike_max_km: float = Field(gt=0)
    ebike_max_km: float = Field(gt=0)


class Costs(_Strict):
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


class Reconsideration(_Strict):
    base_rate: float = Field(ge=0, le=1)
    job_change_rate: float = Field(ge=0, le=1)


class ChoiceParameters(_Strict):
    modes: list[str]
    coefficients: Coefficients
    access: Access
    availability: Availability
    costs: Costs
    constants: dict[str, float]
    reconsideration: Reconsideration

    @model_validator(mode="after")
    def _modes(self) -> "ChoiceParameters":
        if tuple(self.modes) != MODES:
            raise ValueError(f"modes must be {list(MODES)}")
        missing = set(MODES) - set(self.constants)
        if missing:
            raise ValueError(f"constants lacks {', '.join(sorted(missing))}")
        return self


class AssignmentParameters(_Strict):
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


class Replacement(_Strict):
    mean_holding_years: float = Field(gt=0)
    max_initial_age: int = Field(ge=0)


def _check_fleet_shares(stock: dict[str, float], sales: dict[str, YearSeries], known: tuple[str, ...], prefix: str) -> None:
    """A base-year stock and new-sales paths: known powertrains, a stock summing to 1, shares in [0, 1] summing to at most 1."""
    unknown = (set(stock) | set(sales)) - set(known)
    if unknown:
        raise ValueError(f"{prefix}stock_2019 or {prefix}new_sales: unknown powertrain {', '.join(sorted(unknown))} (known: {', '.join(known)})")
    if abs(sum(stock.values()) - 1.0) > 1e-6:
        raise ValueError(f"{prefix}stock_2019 shares must sum to 1")
    for powertrain, path in sales.items():
        for year, value in path.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{prefix}new_sales.{powertrain}.{year}: a share must lie between 0 and 1 (0 % and 100 %), got {value}")
    for year in sorted({y for path in sales.values() for y in path}):
        total = sum(interpolate(path, year) for path in sales.values())
        if total > 1.0 + 1e-9:
            raise ValueError(f"{prefix}new_sales: shares in {year} sum to {total:.3f}, above 1 (100 %)")


class Rules(_Strict):
    """The EU rule for new cars: no new sales of the banned powertrains from the ban year."""

    new_car_ban: bool
    new_car_ban_year: int
    banned_powertrains: list[str]

    @field_validator("new_car_ban_year")
    @classmethod
    def _after_base_year(cls, value: int) -> int:
        if value < 2019:
            raise ValueError(f"the ban year must be 2019 or later (the base year), got {value}")
        return value

    @field_validator("banned_powertrains")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(POWERTRAINS))
        if unknown:
            raise ValueError(f"unknown powertrain {', '.join(unknown)} (known: {', '.join(POWERTRAINS)})")
        if "bev" in value:
            raise ValueError("bev cannot be banned: it is what the banned sales go to")
        return value

    def bans(self, year: int) -> frozenset[str]:
        """Powertrains that may not be sold new in ``year``."""
        return frozenset(self.banned_powertrains) if self.new_car_ban and year >= self.new_car_ban_year else frozenset()


class PurchaseChoice(_Strict):
    home_charging_log_odds: float = Field(ge=0)
    public_charger_log_odds_per_log_density: float = Field(ge=0)
    local_weight: float = Field(gt=0, lt=1)  # below 1: with no local charger the density seen stays positive


class HomeCharging(_Strict):
    national_share: float = Field(gt=0, lt=1)
    vallensbaek_share: float = Field(ge=0, le=1)


class Chargers(_Strict):
    national_per_1000_reference: float = Field(gt=0)
    reference_year: int = Field(ge=2019)
    baseline_local: YearSeries

    @field_validator("baseline_local")
    @classmethod
    def _non_negative(cls, value: YearSeries) -> YearSeries:
        if not value:
            raise ValueError("the baseline charger path needs at least one year")
        for year, count in value.items():
            if count < 0:
                raise ValueError(f"charger count for {year} is negative ({count})")
        return value


class NationalStock(_Strict):
    turnover_per_year: float = Field(gt=0, le=1)


TRUCK_POWERTRAINS = ("diesel", "bev")


class Trucks(_Strict):
    stock_2019: dict[str, float]
    turnover_per_year: float = Field(gt=0, le=1)
    new_sales: dict[str, YearSeries]

    @model_validator(mode="after")
    def _shares(self) -> "Trucks":
        _check_fleet_shares(self.stock_2019, self.new_sales, TRUCK_POWERTRAINS, "trucks.")
        return self


class FleetParameters(_Strict):
    stock_2019: dict[str, float]
    new_sales: dict[str, YearSeries]
    rules: Rules
    replacement: Replacement
    national: NationalStock
    choice: PurchaseChoice
    home_charging: HomeCharging
    chargers: Chargers
    trucks: Trucks

    @model_validator(mode="after")
    def _shares(self) -> "FleetParameters":
        if "petrol" in self.new_sales:
            raise ValueError("new_sales.petrol: petrol takes the rest; give bev, phev and diesel only")
        _check_fleet_shares(self.stock_2019, self.new_sales, POWERTRAINS, "")
        if self.national.turnover_per_year * self.replacement.mean_holding_years > 1.0:
            raise ValueError("national.turnover_per_year x replacement.mean_holding_years is the share of new cars "
                             "among replacements and must not exceed 1")
        return self

    def market_shares(self, year: int) -> dict[str, float]:
        """National new-car market shares by powertrain in ``year``, before the rule (petrol takes the rest)."""
        shares = {p: interpolate(s, year) for p, s in self.new_sales.items()}
        shares["petrol"] = max(1.0 - sum(shares.values()), 0.0)
        return {p: shares.get(p, 0.0) for p in POWERTRAINS}

    def new_sales_shares(self, year: int) -> dict[str, float]:
        """National new-car sales shares in ``year``: the market path with the banned shares moved to BEVs."""
        shares = self.market_shares(year)
        for banned in self.rules.bans(year):
            shares["bev"] += shares[banned]
            shares[banned] = 0.0
        return shares


class ModelParameters(_Strict):
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
