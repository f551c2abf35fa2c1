"""Co-benefits of a scenario from the result tables: health, NOx, PM2.5, accidents, noise, air.

Pure functions of the ``mode_split`` and ``vehicle_km`` tables and the unit values of
``experiments/parameters/appraisal.toml`` (schema :class:`AppraisalParameters`, loaded by
:func:`model.parameters.load_parameters` as ``params.appraisal``). Every figure is per run
(``experiment, scenario, seed, year``); the report compares scenarios with their baseline
(:func:`model.appraisal.cobenefit_changes`). What no source supports is listed in
:data:`NOT_COMPUTED` and shown as "not computed"; nothing is guessed without the word
"assumption" in the parameter file. Method: docs/report.md, "Co-benefits".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from model.files import StrictModel
from model.vocabulary import POWERTRAINS, ROAD_CATEGORIES

#: Run key columns of every table.
RUN_KEYS: tuple[str, ...] = ("experiment", "scenario", "seed", "year")
#: Active modes whose passenger-km count as physical activity (keys of the health tables).
ACTIVE_MODES: tuple[str, ...] = ("bike", "walk")
#: Weeks per year (365.25 / 7), to turn yearly minutes into minutes per week.
WEEKS_PER_YEAR = 365.25 / 7.0

#: Co-benefit columns of :func:`cobenefits`: name → (unit, meaning).
COBENEFIT_COLUMNS: dict[str, tuple[str, str]] = {
    "deaths_avoided_bike": ("deaths/year", "Deaths avoided per year by residents' cycling, all trip purposes (HEAT, vs no cycling)"),
    "deaths_avoided_walk": ("deaths/year", "Deaths avoided per year by residents' walking, all trip purposes (HEAT, vs no walking)"),
    "nox_diesel_car_t": ("t/year", "Exhaust NOx of diesel cars inside the boundary"),
    "pm25_non_exhaust_car_kg": ("kg/year", "Tyre and brake PM2.5 of cars inside the boundary"),
    "accident_cost_dkk": ("DKK/year", "External accident cost of car-km inside the boundary"),
    "noise_cost_dkk": ("DKK/year", "Noise cost of car-km inside the boundary"),
    "air_cost_dkk": ("DKK/year", "Local air-pollution cost of car-km inside the boundary"),
}

#: What the facts give no source for, so the model does not compute it (shown in the report).
NOT_COMPUTED: tuple[str, ...] = (
    "exhaust PM2.5 (the guidebook's Tier-2 factors by Euro class were not read)",
    "NOx of petrol and plug-in hybrid cars and of trucks (no factor in the facts)",
    "road-abrasion PM2.5 and all non-exhaust PM2.5 of trucks (no rate in the facts)",
    "the number of accidents (no Danish accidents per vehicle-km in the facts); only their external cost is valued",
    "accident, noise and air-pollution costs of trucks (car values only)",
    "health of walking to and from public transport",
)


class Health(StrictModel):
    """The ``[health]`` table: HEAT relative risks, METs, speeds, caps and the baseline mortality."""

    reference_met_hours_per_week: float = Field(gt=0)
    mortality_per_year: float = Field(gt=0, lt=0.1)
    relative_risk: dict[str, float]
    met: dict[str, float]
    speed_kph: dict[str, float]
    max_risk_reduction: dict[str, float]

    @model_validator(mode="after")
    def _per_mode(self) -> Health:
        """Every active mode must have a value in each per-mode table, in range."""
        for table in ("relative_risk", "met", "speed_kph", "max_risk_reduction"):
            values = getattr(self, table)
            missing = [m for m in ACTIVE_MODES if m not in values]
            if missing:
                raise ValueError(f"[health.{table}] lacks {', '.join(missing)}")
            if not all(values[m] > 0 for m in ACTIVE_MODES):
                raise ValueError(f"[health.{table}] values must be above 0")
        if not all(self.relative_risk[m] < 1 and self.max_risk_reduction[m] < 1 for m in ACTIVE_MODES):
            raise ValueError("[health] relative risks and risk-reduction caps must be below 1")
        return self


class Nox(StrictModel):
    """The ``[nox]`` table: exhaust NOx per diesel car-km."""

    diesel_car_g_per_vkm: float = Field(ge=0)


class Wear(StrictModel):
    """One wear source of ``[non_exhaust_pm25]``: TSP per vkm, PM2.5 share and the speed factor."""

    tsp_g_per_vkm: float = Field(ge=0)
    pm25_share: float = Field(ge=0, le=1)
    factor_below_40: float = Field(ge=0)
    slope_per_kph: float
    intercept: float
    factor_above_90: float = Field(ge=0)

    def speed_factor(self, speed_kph: np.ndarray) -> np.ndarray:
        """The guidebook's speed correction: constant below 40 and above 90 km/h, linear between."""
        speed = np.asarray(speed_kph, dtype=float)
        middle = self.slope_per_kph * speed + self.intercept
        return np.where(speed < 40.0, self.factor_below_40, np.where(speed > 90.0, self.factor_above_90, middle))

    def pm25_g_per_vkm(self, speed_kph: np.ndarray) -> np.ndarray:
        """PM2.5 per vehicle-km at ``speed_kph``."""
        return self.tsp_g_per_vkm * self.pm25_share * self.speed_factor(speed_kph)


class NonExhaust(StrictModel):
    """The ``[non_exhaust_pm25]`` table: tyre and brake wear of cars."""

    tyre: Wear
    brake: Wear


class Values(StrictModel):
    """The ``[values]`` table: money values of a death avoided, and car-km costs by road and powertrain."""

    prevented_death_dkk: float = Field(ge=0)
    dkk_per_nok: float = Field(gt=0)
    accident_ore_per_car_vkm: dict[str, float]
    noise_nok_per_car_vkm: dict[str, float]
    air_nok_per_car_vkm: dict[str, float]

    @model_validator(mode="after")
    def _complete(self) -> Values:
        """Each road category (accidents, noise) and each powertrain (air) must have a value ≥ 0."""
        for table, keys in (("accident_ore_per_car_vkm", ROAD_CATEGORIES), ("noise_nok_per_car_vkm", ROAD_CATEGORIES),
                            ("air_nok_per_car_vkm", POWERTRAINS)):
            values = getattr(self, table)
            missing = [k for k in keys if k not in values]
            if missing:
                raise ValueError(f"[values.{table}] lacks {', '.join(missing)}")
            if any(v < 0 for v in values.values()):
                raise ValueError(f"[values.{table}] values must be 0 or more")
        return self


class AppraisalParameters(StrictModel):
    """Everything of ``appraisal.toml``: the co-benefits' unit values."""

    health: Health
    nox: Nox
    non_exhaust_pm25: NonExhaust
    values: Values


def health_effects(mode_split: pd.DataFrame, params: AppraisalParameters) -> pd.DataFrame:
    """Deaths avoided per year by residents' walking and cycling (WHO HEAT, linear and capped).

    Per run, mode and trip purpose, the mean traveller of the mode is active ``pkm / travellers / speed``
    hours a year; in MET-hours per week against the reference dose this scales the relative risk's
    reduction ``1 − RR`` linearly up to the cap; deaths avoided = commuters × mortality × reduction.

    Returns
    -------
    pandas.DataFrame
        :data:`RUN_KEYS` and ``deaths_avoided_bike``, ``deaths_avoided_walk`` (deaths/year).
    """
    h = params.health
    rows = mode_split[(mode_split["road_user"] == "resident") & mode_split["mode"].isin(ACTIVE_MODES)]
    out = rows[list(RUN_KEYS)].drop_duplicates().reset_index(drop=True)
    for mode in ACTIVE_MODES:
        # One row per purpose where mode_split has a purpose column: each purpose's travellers get
        # their own dose, and the deaths avoided add up over the purposes of a run.
        part = rows[rows["mode"] == mode]
        commuters = part["commuters"].to_numpy(float)
        hours = np.divide(part["pkm_per_year"].to_numpy(float), commuters * h.speed_kph[mode],
                          out=np.zeros(len(part)), where=commuters > 0)
        dose = hours / WEEKS_PER_YEAR * h.met[mode] / h.reference_met_hours_per_week
        reduction = np.minimum((1.0 - h.relative_risk[mode]) * dose, h.max_risk_reduction[mode])
        deaths = pd.Series(commuters * h.mortality_per_year * reduction,
                           index=pd.MultiIndex.from_frame(part[list(RUN_KEYS)])).groupby(level=list(RUN_KEYS)).sum()
        out[f"deaths_avoided_{mode}"] = deaths.reindex(pd.MultiIndex.from_frame(out[list(RUN_KEYS)])).fillna(0.0).to_numpy()
    return out


def car_effects(vehicle_km: pd.DataFrame, params: AppraisalParameters) -> pd.DataFrame:
    """NOx, non-exhaust PM2.5 and the accident, noise and air costs of the car-km inside the boundary.

    Returns
    -------
    pandas.DataFrame
        :data:`RUN_KEYS` and ``nox_diesel_car_t``, ``pm25_non_exhaust_car_kg``,
        ``accident_cost_dkk``, ``noise_cost_dkk``, ``air_cost_dkk`` (per year).
    """
    v = params.values
    cars = vehicle_km[(vehicle_km["vehicle"] == "car") & (vehicle_km["area"] == "inside")]
    vkm = cars["vkm_per_year"].to_numpy(float)
    speed = cars["speed_limit_kph"].to_numpy(float)
    wear = params.non_exhaust_pm25
    road, powertrain = cars["road_category"], cars["powertrain"]
    terms = pd.DataFrame({
        "nox_diesel_car_t": np.where(powertrain == "diesel", vkm * params.nox.diesel_car_g_per_vkm / 1e6, 0.0),
        "pm25_non_exhaust_car_kg": vkm * (wear.tyre.pm25_g_per_vkm(speed) + wear.brake.pm25_g_per_vkm(speed)) / 1e3,
        "accident_cost_dkk": vkm * road.map(v.accident_ore_per_car_vkm).to_numpy(float) / 100.0,
        "noise_cost_dkk": vkm * road.map(v.noise_nok_per_car_vkm).to_numpy(float) * v.dkk_per_nok,
        "air_cost_dkk": vkm * powertrain.map(v.air_nok_per_car_vkm).to_numpy(float) * v.dkk_per_nok,
    }, index=cars.index)
    keys = vehicle_km[list(RUN_KEYS)].drop_duplicates()
    summed = pd.concat([cars[list(RUN_KEYS)], terms], axis=1).groupby(list(RUN_KEYS), as_index=False).sum()
    return keys.merge(summed, on=list(RUN_KEYS), how="left").fillna(0.0).reset_index(drop=True)


def cobenefits(mode_split: pd.DataFrame, vehicle_km: pd.DataFrame, params: AppraisalParameters) -> pd.DataFrame:
    """Every co-benefit of :data:`COBENEFIT_COLUMNS` per run and year, plus ``health_value_dkk``.

    ``health_value_dkk`` is the deaths avoided times the value of a prevented death.
    """
    health = health_effects(mode_split, params)
    table = health.merge(car_effects(vehicle_km, params), on=list(RUN_KEYS), how="outer").fillna(0.0)
    deaths = table["deaths_avoided_bike"] + table["deaths_avoided_walk"]
    table["health_value_dkk"] = deaths * params.values.prevented_death_dkk
    return table.sort_values(list(RUN_KEYS)).reset_index(drop=True)
