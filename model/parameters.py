"""Every parameter file of ``experiments/parameters/*.toml``, read by one loader with one schema.

Every number the model uses lives in those files with its source; this module
gives them a schema and reads them all the same way: :func:`load_parameters`
reads every file of :data:`PARAMETER_FILES` (population, purposes, mode choice, assignment,
fleet, network, emissions, local traffic, appraisal, municipal account, ...) and the calibrated constants, applies an
experiment's overrides by
dotted path (``choice.coefficients.habit = 0.5``, ``network.speeds_kph.bike = 18``,
``emissions.cars.phev_utility_factor = 0.5``; see :func:`apply_overrides`) and
validates the whole. An error names the file that holds the fault: the parameter
file and its key, or the experiment for a value it overrides.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator

from model.cobenefits import AppraisalParameters
from model.emissions import EmissionFactors
from model.errors import VmobError
from model.files import StrictModel, YearKey, join_faults, load_toml_model, read_toml, validation_errors
from model.municipal_account import MunicipalAccountParameters
from model.settings import CALIBRATION_DIR, PARAMETERS_DIR
from model.vocabulary import (
    AGE_GROUPS,
    EXTERNAL_CLASSES,
    FALLBACK_MODE,
    GENERATED_PURPOSES,
    NESTS,
    PERIODS,
    PERSON_GROUPS,
    POWERTRAINS,
    ROAD_CATEGORIES,
    TRUCK_POWERTRAINS,
    VAN_POWERTRAINS,
    known_modes,
)

YearSeries = dict[YearKey, float]
#: A share of a whole.
Share = Annotated[float, Field(ge=0, le=1)]
#: Money, time or distance that cannot be negative.
NonNegative = Annotated[float, Field(ge=0)]
#: Tolerance of shares that must sum to 1.
SHARE_SUM_TOLERANCE = 1e-6


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


class Residents(StrictModel):
    """The ``[residents]`` table of ``population.toml``: resident counts by year and their car, bike and e-bike shares."""

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


class Jobs(StrictModel):
    """The ``[jobs]`` table of ``population.toml``: jobs in the municipality by year and their growth."""

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


class InCommuters(StrictModel):
    """The ``[in_commuters]`` table of ``population.toml``: the share of in-commuters without a car."""

    no_car_share: float = Field(ge=0, le=1)


class Gravity(StrictModel):
    """The ``[gravity]`` table of ``population.toml``: calibration targets and bounds of the workplace gravity model."""

    target_mean_km: float = Field(gt=0)
    target_local_share: float = Field(gt=0, lt=1)
    beta_min: float = Field(ge=0)
    beta_max: float = Field(gt=0)
    local_factor_max: float = Field(gt=1)


class ValueOfTime(StrictModel):
    """The ``[value_of_time]`` table of ``population.toml``: the log-normal value of time (DKK per hour)."""

    mean_dkk_per_hour: float
    log_sd: float = Field(ge=0, le=2)

    @field_validator("mean_dkk_per_hour")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("the value of time must be positive (DKK per hour)")
        return value


def _refuse_unknown(value: Iterable[str], known: Iterable[str], what: str) -> None:
    """Raise a ValueError naming the keys of ``value`` that are not in ``known``."""
    known = tuple(known)
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} {', '.join(unknown)} (known: {', '.join(known)})")


def _require_keys(value: dict[str, Any], known: tuple[str, ...], what: str) -> None:
    """Raise a ValueError naming missing and unknown keys of a table keyed by a vocabulary."""
    missing = [k for k in known if k not in value]
    if missing:
        raise ValueError(f"lacks {what} {', '.join(missing)} (every one of {', '.join(known)} is needed)")
    _refuse_unknown(value, known, what)


class Households(StrictModel):
    """The ``[households]`` table of ``population.toml``: household size, cars, students and bikes of the residents."""

    persons_per_household: float = Field(ge=1, le=6)
    no_car_share: Share
    students_per_adult: Share
    bike_share: dict[str, Share]

    @field_validator("bike_share")
    @classmethod
    def _groups(cls, value: dict[str, float]) -> dict[str, float]:
        _require_keys(value, PERSON_GROUPS, "person group")
        return value


class PopulationParameters(StrictModel):
    """Everything of ``population.toml``: residents, age groups, households, jobs, in-commuters, gravity, value of time, tastes."""

    residents: Residents
    age_groups: dict[str, Share]
    households: Households
    jobs: Jobs
    in_commuters: InCommuters
    gravity: Gravity
    value_of_time: ValueOfTime
    taste_sd: dict[str, NonNegative]

    @field_validator("age_groups")
    @classmethod
    def _age_groups(cls, value: dict[str, float]) -> dict[str, float]:
        _require_keys(value, AGE_GROUPS, "age group")
        if abs(sum(value.values()) - 1.0) > 1e-3:
            raise ValueError(f"shares must sum to 1 (they sum to {sum(value.values()):.4f})")
        return value

    @field_validator("taste_sd")
    @classmethod
    def _taste_modes(cls, value: dict[str, float]) -> dict[str, float]:
        _refuse_unknown(value, known_modes(), "mode")
        return value


class Coefficients(StrictModel):
    """The ``[coefficients]`` table of ``mode_choice.toml``: time weights, bike distance decay, habit and penalties."""

    time_min: float = Field(ge=-1)
    bike_time_weight: float = Field(gt=0, le=10)
    walk_time_weight: float = Field(gt=0, le=10)
    bike_distance_decay_per_km: float = Field(ge=0, le=1)
    bike_decay_free_km: float = Field(ge=0, le=100)
    ebike_decay_factor: float = Field(ge=0, le=1)
    cycletrack: float = Field(ge=-10, le=10)
    wait_weight: float = Field(gt=0, le=10)
    access_weight: float = Field(gt=0, le=10)
    transfer_penalty_min: float = Field(ge=0, le=120)
    habit: float = Field(ge=0, le=10)

    @field_validator("time_min")
    @classmethod
    def _negative_time(cls, value: float) -> float:
        if value >= 0:
            raise ValueError("the time coefficient must be negative (more time is worse)")
        return value


class Access(StrictModel):
    """The ``[access]`` table of ``mode_choice.toml``: access, egress, waiting and detour limits of the trip legs."""

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
    rail_time_factor: float = Field(default=1.0, gt=0, le=10)
    headway_factor: float = Field(default=1.0, gt=0, le=10)


class Availability(StrictModel):
    """The ``[availability]`` table of ``mode_choice.toml``: the longest trip for walking, cycling and e-cycling."""

    walk_max_km: float = Field(gt=0)
    bike_max_km: float = Field(gt=0)
    ebike_max_km: float = Field(gt=0)


class Costs(StrictModel):
    """The ``[costs]`` table of ``mode_choice.toml``: car running, ownership and parking costs and public-transport fares."""

    running_dkk_per_km: dict[str, NonNegative]
    ownership_dkk_per_km: dict[str, NonNegative]
    ownership_share_perceived: float = Field(ge=0, le=1)
    parking_dkk_per_trip: dict[str, NonNegative]
    fare_by_zones: list[NonNegative] = Field(min_length=2)
    fare_per_extra_zone: float = Field(ge=0)
    zone_km: float = Field(gt=0)
    period_card_factor: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _powertrains(self) -> Costs:
        for key in ("running_dkk_per_km", "ownership_dkk_per_km"):
            missing = set(POWERTRAINS) - set(getattr(self, key))
            if missing:
                raise ValueError(f"{key} lacks {', '.join(sorted(missing))}")
        return self


class Reconsideration(StrictModel):
    """The ``[reconsideration]`` table of ``mode_choice.toml``: yearly rates at which commuters rethink their mode."""

    base_rate: float = Field(ge=0, le=1)
    job_change_rate: float = Field(ge=0, le=1)


class ChoiceParameters(StrictModel):
    """Everything of ``mode_choice.toml``: the modes, their coefficients, constants, costs and limits."""

    modes: list[str]
    coefficients: Coefficients
    access: Access
    availability: Availability
    costs: Costs
    constants: dict[str, Annotated[float, Field(ge=-30, le=30)]]
    reconsideration: Reconsideration
    nests: dict[str, Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=dict, description="Nest scale μ in (0, 1] by nest (1, i.e. no nesting, where not given)."
    )

    @field_validator("nests")
    @classmethod
    def _known_nests(cls, value: dict[str, float]) -> dict[str, float]:
        _refuse_unknown(value, NESTS, "nest")
        return value

    @model_validator(mode="after")
    def _modes(self) -> ChoiceParameters:
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


class AssignmentParameters(StrictModel):
    """Everything of ``assignment.toml``: the BPR curve, the equilibrium stopping rule and the scaling to years."""

    bpr_alpha: float = Field(ge=0)
    bpr_beta: float = Field(ge=1)
    max_iterations: int = Field(ge=1, le=100)
    relative_gap: float = Field(gt=0)
    attendance: float = Field(gt=0, le=1)
    working_days_per_year: float = Field(gt=0, le=366)
    peak_hour_share: float = Field(gt=0, le=1)
    peak_period_vkm_share: float = Field(ge=0, le=1)
    car_occupancy: float = Field(ge=1)
    days_per_year: float = Field(gt=0, le=366)
    visitor_trips_per_job: float = Field(ge=0)
    visitor_days_per_year: float = Field(gt=0, le=366)
    congestion_buffer_km: float = Field(ge=0)
    route_classes: dict[str, list[str]] = Field(min_length=1)

    @field_validator("route_classes")
    @classmethod
    def _every_powertrain_once(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        named = [p for members in value.values() for p in members]
        unknown = sorted(set(named) - set(POWERTRAINS))
        if unknown:
            raise ValueError(f"unknown powertrain {', '.join(unknown)} (known: {', '.join(POWERTRAINS)})")
        twice = sorted({p for p in named if named.count(p) > 1})
        missing = [p for p in POWERTRAINS if p not in named]
        if twice or missing:
            raise ValueError("every powertrain must be in exactly one class"
                             + (f"; twice: {', '.join(twice)}" if twice else "") + (f"; missing: {', '.join(missing)}" if missing else ""))
        return value


class Replacement(StrictModel):
    """The ``[replacement]`` table of ``fleet.toml``: how long residents keep a car and the oldest car in 2019."""

    mean_holding_years: float = Field(gt=0)
    max_initial_age: int = Field(ge=0)


def _check_fleet_shares(stock: dict[str, float], sales: dict[str, YearSeries], known: tuple[str, ...], prefix: str) -> None:
    """A base-year stock and new-sales paths: known powertrains, a stock summing to 1, shares in [0, 1] summing to at most 1."""
    unknown = (set(stock) | set(sales)) - set(known)
    if unknown:
        raise ValueError(
            f"{prefix}stock_2019 or {prefix}new_sales: unknown powertrain {', '.join(sorted(unknown))} (known: {', '.join(known)})"
        )
    if abs(sum(stock.values()) - 1.0) > SHARE_SUM_TOLERANCE:
        raise ValueError(f"{prefix}stock_2019 shares must sum to 1")
    for powertrain, path in sales.items():
        for year, value in path.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{prefix}new_sales.{powertrain}.{year}: a share must lie between 0 and 1 (0 % and 100 %), got {value}")
    for year in sorted({y for path in sales.values() for y in path}):
        total = sum(interpolate(path, year) for path in sales.values())
        if total > 1.0 + 1e-9:
            raise ValueError(f"{prefix}new_sales: shares in {year} sum to {total:.3f}, above 1 (100 %)")


class Rules(StrictModel):
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
        _refuse_unknown(value, POWERTRAINS, "powertrain")
        if "bev" in value:
            raise ValueError("bev cannot be banned: it is what the banned sales go to")
        return value

    def bans(self, year: int) -> frozenset[str]:
        """Powertrains that may not be sold new in ``year``."""
        return frozenset(self.banned_powertrains) if self.new_car_ban and year >= self.new_car_ban_year else frozenset()


class PurchaseChoice(StrictModel):
    """The ``[choice]`` table of ``fleet.toml``: the log-odds of charging access in the powertrain purchase logit."""

    home_charging_log_odds: float = Field(ge=0)
    public_charger_log_odds_per_log_density: float = Field(ge=0)
    local_weight: float = Field(gt=0, lt=1)  # below 1: with no local charger the density seen stays positive


class HomeCharging(StrictModel):
    """The ``[home_charging]`` table of ``fleet.toml``: national and local shares of households that can charge at home."""

    national_share: float = Field(gt=0, lt=1)
    vallensbaek_share: float = Field(ge=0, le=1)


class Chargers(StrictModel):
    """The ``[chargers]`` table of ``fleet.toml``: the national charger density and the baseline local charger count."""

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


class NationalStock(StrictModel):
    """The ``[national]`` table of ``fleet.toml``: the yearly turnover of the national car stock."""

    turnover_per_year: float = Field(gt=0, le=1)


def _non_negative_series(value: YearSeries) -> YearSeries:
    if not value:
        raise ValueError("needs at least one year")
    bad = [year for year, v in value.items() if v < 0]
    if bad:
        raise ValueError(f"the value for {bad[0]} is negative ({value[bad[0]]})")
    return value


def _share_series(value: YearSeries) -> YearSeries:
    if not value:
        raise ValueError("needs at least one year")
    bad = [year for year, v in value.items() if not 0.0 <= v <= 1.0]
    if bad:
        raise ValueError(f"the share for {bad[0]} must lie between 0 and 1, got {value[bad[0]]}")
    return value


class TruckToll(StrictModel):
    """The ``[trucks.toll]`` table of ``fleet.toml``: the Danish CO2-differentiated km toll and its log-odds term."""

    diesel_dkk_per_km: YearSeries
    zero_emission_dkk_per_km: YearSeries
    log_odds_per_dkk_per_km: float = Field(ge=0)

    @field_validator("diesel_dkk_per_km", "zero_emission_dkk_per_km")
    @classmethod
    def _non_negative(cls, value: YearSeries) -> YearSeries:
        return _non_negative_series(value)

    def advantage_dkk_per_km(self, year: int) -> float:
        """Toll saved per km by a zero-emission truck against a diesel truck in ``year``."""
        return interpolate(self.diesel_dkk_per_km, year) - interpolate(self.zero_emission_dkk_per_km, year)


class Trucks(StrictModel):
    """The ``[trucks]`` table of ``fleet.toml``: the truck stock by powertrain in 2019, its turnover and new sales.

    New sales follow ``new_sales`` (observed) until ``observed_until``; after it the EU heavy-duty
    standards' zero-emission share (``standard_zero_emission_share``) plus the toll's log-odds term.
    """

    stock_2019: dict[str, Share]
    turnover_per_year: float = Field(gt=0, le=1)
    new_sales: dict[str, Annotated[YearSeries, Field(min_length=1)]]
    observed_until: int = Field(ge=2019)
    standard_zero_emission_share: YearSeries
    toll: TruckToll

    @field_validator("standard_zero_emission_share")
    @classmethod
    def _standard(cls, value: YearSeries) -> YearSeries:
        return _share_series(value)

    @model_validator(mode="after")
    def _shares(self) -> Trucks:
        _check_fleet_shares(self.stock_2019, self.new_sales, TRUCK_POWERTRAINS, "trucks.")
        return self


class Vans(StrictModel):
    """The ``[vans]`` table of ``fleet.toml``: the van stock by powertrain in 2019, its turnover and new sales (EU van standards)."""

    stock_2019: dict[str, Share]
    turnover_per_year: float = Field(gt=0, le=1)
    new_sales: dict[str, Annotated[YearSeries, Field(min_length=1)]]

    @model_validator(mode="after")
    def _shares(self) -> Vans:
        _check_fleet_shares(self.stock_2019, self.new_sales, VAN_POWERTRAINS, "vans.")
        return self


class Buses(StrictModel):
    """The ``[buses]`` table of ``fleet.toml``: zero-emission share of the bus-km of municipal and regional lines by year."""

    zero_emission_share: dict[str, Annotated[YearSeries, Field(min_length=1)]]

    @field_validator("zero_emission_share")
    @classmethod
    def _owners(cls, value: dict[str, YearSeries]) -> dict[str, YearSeries]:
        if set(value) != {"municipal", "regional"}:
            raise ValueError(f"needs exactly the owners municipal and regional, got {', '.join(sorted(value)) or 'none'}")
        for owner, path in value.items():
            for year, share in path.items():
                if not 0.0 <= share <= 1.0:
                    raise ValueError(f"{owner}.{year}: a share must lie between 0 and 1, got {share}")
        return value


class FleetParameters(StrictModel):
    """Everything of ``fleet.toml``: the car stock and sales paths, the EU rule, replacement, purchase choice and trucks."""

    stock_2019: dict[str, Share]
    new_sales: dict[str, Annotated[YearSeries, Field(min_length=1)]]
    rules: Rules
    replacement: Replacement
    national: NationalStock
    choice: PurchaseChoice
    home_charging: HomeCharging
    chargers: Chargers
    trucks: Trucks
    vans: Vans
    buses: Buses

    @model_validator(mode="after")
    def _shares(self) -> FleetParameters:
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


class VanService(StrictModel):
    """The ``[vans]`` table of ``local_traffic.toml``: van trips serving Vallensbæk's homes and firms."""

    trips_per_household_per_day: float = Field(ge=0)
    trips_per_job_per_day: float = Field(ge=0)
    households_per_resident: float = Field(gt=0, le=1)
    external_decay_km: float = Field(gt=0)


class BusLine(StrictModel):
    """One ``[[buses]]`` entry of ``local_traffic.toml``: a bus service on named roads, departures by year."""

    name: str
    owner: Literal["municipal", "regional"]
    roads: list[str] = Field(min_length=1)
    departures_per_day_per_direction: YearSeries
    source: str

    @field_validator("departures_per_day_per_direction")
    @classmethod
    def _non_negative(cls, value: YearSeries) -> YearSeries:
        return _non_negative_series(value)


class MunicipalFleet(StrictModel):
    """The ``[municipal_fleet]`` table of ``local_traffic.toml``: the municipality's own cars and vans."""

    vehicles: dict[Literal["car", "van"], Annotated[float, Field(ge=0)]]
    km_per_vehicle_per_year: dict[Literal["car", "van"], Annotated[float, Field(ge=0)]]

    @model_validator(mode="after")
    def _same_classes(self) -> MunicipalFleet:
        if set(self.vehicles) != set(self.km_per_vehicle_per_year):
            raise ValueError("vehicles and km_per_vehicle_per_year must name the same classes")
        return self


class LocalTrafficParameters(StrictModel):
    """Everything of ``local_traffic.toml``: vans, buses and the municipal fleet (model/local_traffic.py)."""

    pce: dict[Literal["car", "van", "truck", "bus"], Annotated[float, Field(gt=0, le=5)]]
    vans: VanService
    buses: list[BusLine]
    municipal_fleet: MunicipalFleet

    @field_validator("pce")
    @classmethod
    def _all_classes(cls, value: dict[str, float]) -> dict[str, float]:
        missing = sorted({"car", "van", "truck", "bus"} - set(value))
        if missing:
            raise ValueError(f"lacks {', '.join(missing)}")
        return value


class LimitChange(StrictModel):
    """The ``[limit_change]`` table of ``network.toml``: how much of a new posted limit drivers take up."""

    compliance: float = Field(ge=0, le=1)
    compliance_low: float = Field(ge=0, le=1)
    compliance_high: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _inside_range(self) -> LimitChange:
        if not self.compliance_low <= self.compliance <= self.compliance_high:
            raise ValueError(f"compliance {self.compliance} must lie in [compliance_low, compliance_high] = "
                             f"[{self.compliance_low}, {self.compliance_high}]")
        return self


class NetworkParameters(StrictModel):
    """Tag-to-attribute rules of ``network.toml`` (read by :mod:`model.network`) and the non-car speeds."""

    default_maxspeed_kph: dict[str, Annotated[float, Field(gt=0, le=200)]]
    default_lanes_per_direction: dict[str, Annotated[int, Field(ge=1, le=10)]]
    capacity_per_lane_vph: dict[str, Annotated[float, Field(gt=0, le=4000)]]
    compliance: dict[str, Annotated[float, Field(gt=0, le=2)]]
    road_category: dict[str, list[str]]
    speeds_kph: dict[str, Annotated[float, Field(gt=0, le=60)]]
    limit_change: LimitChange

    @field_validator("compliance")
    @classmethod
    def _categories(cls, value: dict[str, float]) -> dict[str, float]:
        _refuse_unknown(value, ROAD_CATEGORIES, "road category")
        return value

    @field_validator("road_category")
    @classmethod
    def _category_keys(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        _refuse_unknown(value, (*ROAD_CATEGORIES, "ring_roads"), "road category")
        return value

    @field_validator("speeds_kph")
    @classmethod
    def _modes(cls, value: dict[str, float]) -> dict[str, float]:
        missing = sorted({"bike", "ebike", "walk"} - set(value))
        if missing:
            raise ValueError(f"lacks {', '.join(missing)}")
        return value


class PurposeChoice(StrictModel):
    """One purpose's table in ``purposes.toml``: destinations, trip length target and mode-choice terms."""

    target_mean_km: float = Field(gt=0)
    logsum_min: float = Field(gt=0)
    logsum_max: float = Field(gt=0)
    inside_only: list[str] = Field(default_factory=list)
    value_of_time_factor: float = Field(gt=0)
    car_occupancy: float = Field(ge=1)
    constants: dict[str, float]

    @field_validator("inside_only")
    @classmethod
    def _groups(cls, value: list[str]) -> list[str]:
        _refuse_unknown(value, PERSON_GROUPS, "person group")
        return value

    @field_validator("constants")
    @classmethod
    def _modes(cls, value: dict[str, float]) -> dict[str, float]:
        _refuse_unknown(value, known_modes(), "mode")
        return value


class PurposeParameters(StrictModel):
    """Everything of ``purposes.toml``: trip rates by person group and purpose, destinations and choice by purpose."""

    rates: dict[str, dict[str, NonNegative]]
    min_driving_age_group: str
    car_occupancy: float = Field(ge=1)
    escort_vehicle_trips_per_child_car_trip: float = Field(ge=0)
    education_change_rate: Share
    choice: dict[str, PurposeChoice]

    @field_validator("rates")
    @classmethod
    def _rates(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        _require_keys(value, PERSON_GROUPS, "person group")
        for group, rates in value.items():
            unknown = sorted(set(rates) - set(GENERATED_PURPOSES))
            if unknown:
                raise ValueError(
                    f"{group}: no rate for purpose {', '.join(unknown)} (rates are given for "
                    f"{', '.join(GENERATED_PURPOSES)}; escort trips follow from children's car trips)"
                )
        return value

    @field_validator("min_driving_age_group")
    @classmethod
    def _age_group(cls, value: str) -> str:
        if value not in AGE_GROUPS:
            raise ValueError(f"unknown age group '{value}' (known: {', '.join(AGE_GROUPS)})")
        return value

    @field_validator("choice")
    @classmethod
    def _purposes(cls, value: dict[str, PurposeChoice]) -> dict[str, PurposeChoice]:
        _require_keys(value, GENERATED_PURPOSES, "purpose")
        return value


class Period(StrictModel):
    """One period of the day in ``traffic.toml``: its hours, its share of the day's road traffic, its commute."""

    hours: float = Field(gt=0, le=24)
    external_share: Share
    commute: Literal["outbound", "return", "none"]


class Elasticity(StrictModel):
    """External demand's elasticity with respect to travel time: short run (one year) and long run."""

    short_run: float
    long_run: float

    @model_validator(mode="after")
    def _negative(self) -> Elasticity:
        for key in ("short_run", "long_run"):
            value = getattr(self, key)
            if not value < 0:
                raise ValueError(f"{key}: an elasticity of traffic with respect to travel time must be negative "
                                 f"(traffic falls when travel time rises), got {value}")
        if abs(self.short_run) > abs(self.long_run):
            raise ValueError(f"short_run ({self.short_run}) must not exceed long_run ({self.long_run}) in size")
        return self


class Growth(StrictModel):
    """Growth index of external vehicle-km by class and road type (``motorway`` or ``other``), base year = 1."""

    enabled: bool
    index: dict[str, dict[str, YearSeries]]

    @field_validator("index")
    @classmethod
    def _classes(cls, value: dict[str, dict[str, YearSeries]]) -> dict[str, dict[str, YearSeries]]:
        for klass, by_type in value.items():
            if klass not in EXTERNAL_CLASSES:
                raise ValueError(f"index.{klass}: unknown class (known: {', '.join(EXTERNAL_CLASSES)})")
            if set(by_type) != {"motorway", "other"}:
                raise ValueError(f"index.{klass}: needs exactly the road types motorway and other")
            for road_type, series in by_type.items():
                if not series or any(v <= 0 for v in series.values()):
                    raise ValueError(f"index.{klass}.{road_type}: needs positive values by year")
        missing = set(EXTERNAL_CLASSES) - set(value)
        if missing:
            raise ValueError(f"index: lacks {', '.join(sorted(missing))}")
        return value

    def factor(self, klass: str, year: int) -> tuple[float, float]:
        """Index (motorway, other) of a class in ``year``; 1 when growth is off."""
        if not self.enabled:
            return 1.0, 1.0
        by_type = self.index[klass]
        return interpolate(by_type["motorway"], year), interpolate(by_type["other"], year)


class TrafficParameters(StrictModel):
    """Everything of ``traffic.toml``: external demand's estimation, the periods, elasticity and growth."""

    van_share_of_light: Share
    prior_decay_per_km: float = Field(ge=0)
    estimation_rounds: int = Field(ge=0, le=20)
    count_tolerance: float = Field(gt=0, lt=1)
    periods: dict[str, Period]
    elasticity: Elasticity
    growth: Growth

    @field_validator("periods")
    @classmethod
    def _periods(cls, value: dict[str, Period]) -> dict[str, Period]:
        if list(value) != list(PERIODS):
            raise ValueError(f"needs the periods {', '.join(PERIODS)}, in this order")
        if abs(sum(p.external_share for p in value.values()) - 1.0) > SHARE_SUM_TOLERANCE:
            raise ValueError("external_share must sum to 1 over the periods")
        if sum(p.hours for p in value.values()) > 24.0:
            raise ValueError("the periods' hours add up to more than 24")
        if value[PERIODS[0]].commute != "outbound":
            raise ValueError(f"{PERIODS[0]}.commute: the first period carries the outbound commute (the mode choice is in its loop)")
        return value

    def per_hour(self, period: str) -> float:
        """Share of a day's road traffic in one hour of ``period``."""
        p = self.periods[period]
        return p.external_share / p.hours


class ModelParameters(StrictModel):
    """Everything behavioural and technical the simulation needs, in one object."""

    population: PopulationParameters
    purposes: PurposeParameters
    choice: ChoiceParameters
    assignment: AssignmentParameters
    fleet: FleetParameters
    network: NetworkParameters
    emissions: EmissionFactors
    appraisal: AppraisalParameters
    municipal_account: MunicipalAccountParameters
    local_traffic: LocalTrafficParameters
    traffic: TrafficParameters


#: Section of :class:`ModelParameters` → its file in the parameter folder.
PARAMETER_FILES = {
    "population": "population.toml",
    "purposes": "purposes.toml",
    "choice": "mode_choice.toml",
    "assignment": "assignment.toml",
    "fleet": "fleet.toml",
    "network": "network.toml",
    "emissions": "emissions.toml",
    "appraisal": "appraisal.toml",
    "municipal_account": "municipal_account.toml",
    "local_traffic": "local_traffic.toml",
    "traffic": "traffic.toml",
}
#: Network rules read once, while the graph is built: an experiment cannot override them per run.
BUILD_TIME_PARAMETERS = ("network.default_maxspeed_kph", "network.default_lanes_per_direction", "network.road_category")
#: The calibrated constants merged into ``choice.constants``.
CONSTANTS_FILE = CALIBRATION_DIR / "constants.toml"


def load_parameter_data(folder: Path | None = None, calibrated: bool = True) -> dict[str, Any]:
    """Raw parameter data from the files, with the calibrated constants merged in."""
    folder = Path(folder or PARAMETERS_DIR)
    data = {section: read_toml(folder / name) for section, name in PARAMETER_FILES.items()}
    if calibrated and CONSTANTS_FILE.is_file():
        constants = read_toml(CONSTANTS_FILE).get("constants", {})
        if not isinstance(constants, dict) or not isinstance(data["choice"].get("constants", {}), dict):
            raise VmobError(f"{CONSTANTS_FILE}: key 'constants': must be a table of mode = constant")
        data["choice"]["constants"] = {**data["choice"].get("constants", {}), **constants}
    return data


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any], source: str = "overrides") -> dict[str, Any]:
    """Return a copy of ``data`` with dotted-path overrides applied.

    Raises
    ------
    VmobError
        If a path does not name an existing parameter; the message names the closest one.
    """
    merged, unknown = _merge(data, overrides, source)
    if unknown:
        raise VmobError(join_faults(unknown))
    return merged


def _merge(data: dict[str, Any], overrides: dict[str, Any], source: str) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``data`` with the overrides whose path exists applied, and a fault line for each other one."""
    merged = copy.deepcopy(data)
    unknown = []
    for path, value in overrides.items():
        node: Any = merged
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        leaf = parts[-1]
        if not isinstance(node, dict) or (leaf not in node and not _is_open_table(node)):
            unknown.append(_unknown_parameter(path, data, source))
            continue
        node[leaf] = value
    return merged, unknown


def _unknown_parameter(path: str, data: dict[str, Any], source: str) -> str:
    """One line naming an unknown override path and the closest existing one."""
    close = difflib.get_close_matches(path, parameter_paths(data), n=1, cutoff=0.0)
    hint = f" (closest: '{close[0]}')" if close else ""
    return f"{source}: unknown parameter '{path}'{hint}"


def parameter_paths(data: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted path of every parameter (leaf or year-keyed table) that an override may set."""
    paths = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and not _is_open_table(value):
            paths.extend(parameter_paths(value, f"{path}."))
        else:
            paths.append(path)
    return paths


def _is_open_table(node: dict) -> bool:
    """Tables keyed by data (years, destination ids) accept new keys."""
    return all(str(k).isdigit() for k in node) or node.get("__open__", False)


def validate_parameters(
    data: dict[str, Any],
    overrides: dict[str, Any] | None = None,
    source: str = "overrides",
    folder: Path | None = None,
    calibrated: bool = True,
) -> ModelParameters:
    """Apply ``overrides`` to raw parameter ``data`` and validate the whole.

    Parameters
    ----------
    data
        From :func:`load_parameter_data`.
    overrides
        Dotted paths to values, e.g. ``{"network.speeds_kph.bike": 18.0}``.
    source
        Names the overrides in errors, e.g. ``experiments/x.toml: parameters``.
    folder
        Parameter folder the data came from, named in errors.
    calibrated
        Whether ``data`` holds the calibrated constants (then ``constants.toml`` is named for them).

    Raises
    ------
    VmobError
        One line listing every fault: an overridden value names ``source``, any other the
        parameter file (``mode_choice.toml``) or ``constants.toml`` that holds it, with the key.
        An override of a path that does not exist (naming the closest one) or of one of
        :data:`BUILD_TIME_PARAMETERS`.
    """
    overrides = overrides or {}
    folder = Path(folder or PARAMETERS_DIR)
    lines = [
        f"{source}: key '{path}': read once while the network is built, not per run; "
        f"change {folder / PARAMETER_FILES['network']} instead"
        for path in overrides
        if any(path == key or path.startswith(f"{key}.") for key in BUILD_TIME_PARAMETERS)
    ]
    merged, unknown = _merge(data, overrides, source)
    lines += unknown
    try:
        parameters = ModelParameters.model_validate(merged)
    except ValidationError as err:
        faults = validation_errors(err, merged)
        lines += [_blame(where, message, overrides, source, folder, calibrated) for where, message in faults]
    else:
        if not lines:
            return parameters
    raise VmobError(join_faults(lines))


def _blame(where: str, message: str, overrides: dict[str, Any], source: str, folder: Path, calibrated: bool) -> str:
    """The error line for one fault, naming the file that holds it."""
    if any(where == path or where.startswith(f"{path}.") or path.startswith(f"{where}.") for path in overrides):
        return f"{source}: key '{where}': {message}"
    section, _, key = where.partition(".")
    if (
        calibrated and section == "choice" and key.startswith("constants.") and CONSTANTS_FILE.is_file()
        and key.split(".")[1] in read_toml(CONSTANTS_FILE).get("constants", {})
    ):
        return f"{CONSTANTS_FILE}: key '{key}': {message}"
    if section in PARAMETER_FILES:
        return f"{folder / PARAMETER_FILES[section]}: key '{key or '(top level)'}': {message}"
    return f"{folder}: key '{where}': {message}"


def load_parameters(
    overrides: dict[str, Any] | None = None, folder: Path | None = None, calibrated: bool = True, source: str = "overrides"
) -> ModelParameters:
    """Read, override and validate all parameter files.

    Parameters
    ----------
    overrides
        Dotted paths to values, e.g. ``{"choice.coefficients.habit": 0.5}``.
    folder
        Parameter folder; defaults to ``experiments/parameters``.
    calibrated
        Merge ``experiments/calibration/constants.toml`` into the constants.
    source
        Names the overrides in errors.
    """
    return validate_parameters(load_parameter_data(folder, calibrated), overrides, source, folder, calibrated)


def load_section(section: str, path: Path | None = None) -> Any:
    """Read and validate one parameter file on its own, e.g. ``load_section("network")``.

    Parameters
    ----------
    section
        A key of :data:`PARAMETER_FILES`.
    path
        The file; defaults to the one in ``experiments/parameters``.
    """
    schema = ModelParameters.model_fields[section].annotation
    assert isinstance(schema, type)  # every section is a model class
    return load_toml_model(schema, Path(path or PARAMETERS_DIR / PARAMETER_FILES[section]))
